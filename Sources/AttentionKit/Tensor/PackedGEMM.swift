import CKernels

#if canImport(Glibc)
    import Glibc
#endif

/// A float32 weight W [outputs, inputs] (y = x·Wᵀ, `Linear`'s layout) packed once for inference, as ONNX Runtime
/// and CTranslate2 pack theirs when they load a model.
///
/// OpenBLAS packs both operands of every GEMM into its kernel's panel layout on each call. In training that is a
/// small cost, but at inference the weight is usually the larger operand (a ViT image is 65 rows against a 128×384
/// projection; a beam-search step 5–320 rows) and packing it again on every call cost 15–20% of `vit_infer_b1`.
/// `PackedMatrix` keeps W in panels of 32 output columns (AVX-512) or 16 (AVX2 + FMA) and multiplies with its own
/// kernel (`ak_gemm_packed`, Sources/CKernels/packed_gemm.c): bias first, then one fused multiply-add per input in
/// order, so an output's bits do not depend on the CPU's vector width, the number of rows or the threads. On a CPU
/// without AVX2 and FMA nothing is packed (`PackedMatrix.width` is 0) and the BLAS path stays.
public final class PackedMatrix: @unchecked Sendable {
    /// Output features (W's rows).
    public let outputs: Int
    /// Input features (W's columns).
    public let inputs: Int
    /// Output columns per panel: 32 with AVX-512, 16 with AVX2 + FMA.
    public let width: Int
    let data: UnsafeMutablePointer<Float>

    /// The panel width of this CPU's kernel, 0 when it has none (no AVX2 + FMA, or `ATTENTIONKIT_NO_PACKED_GEMM=1`).
    public static var width: Int { ak_packed_width() }

    /// Packs a float32 [outputs, inputs] weight at `width` (default: this CPU's); nil when the CPU has no kernel or
    /// the tensor is not a float32 matrix.
    public init?(packing weight: Tensor, width: Int = PackedMatrix.width) {
        guard width > 0, weight.rank == 2, weight.dtype == .float32, weight.shape[0] > 0, weight.shape[1] > 0 else {
            return nil
        }
        outputs = weight.shape[0]
        inputs = weight.shape[1]
        self.width = width
        let count = ak_packed_count(outputs, inputs, width)
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, TensorStorage.alignment, count * MemoryLayout<Float>.stride) == 0, let raw else {
            return nil
        }
        data = raw.bindMemory(to: Float.self, capacity: count)
        ak_pack_weights(weight.storage.pointer(Float.self), outputs, inputs, width, data)
    }

    deinit { free(data) }

    /// Bytes the packed copy holds.
    public var byteCount: Int { ak_packed_count(outputs, inputs, width) * MemoryLayout<Float>.stride }

    /// Whether output columns `range` can be computed on their own (their start is on a panel boundary).
    public func canCompute(outputs range: Range<Int>) -> Bool {
        range.lowerBound % width == 0 && range.upperBound <= outputs && !range.isEmpty
    }

    /// x·Wᵀ[:, range] (+ bias) for x [..., inputs] float32: [..., range.count]. `bias`, if any, has range.count
    /// values. The columns are split across `Parallel.threads` on panel boundaries.
    public func product(_ x: Tensor, outputs range: Range<Int>? = nil, bias: Tensor? = nil) -> Tensor {
        let range = range ?? 0..<outputs
        precondition(
            x.rank >= 1 && x.shape[x.rank - 1] == inputs && x.dtype == .float32,
            "PackedMatrix: input \(x.shape) (\(x.dtype)) is not [..., \(inputs)] float32")
        precondition(canCompute(outputs: range), "PackedMatrix: outputs \(range) do not start on a panel of \(width)")
        precondition(
            bias == nil || bias!.count == range.count, "PackedMatrix: bias of \(bias!.count) for \(range.count) outputs"
        )
        let rows = x.count / inputs, n = range.count
        let out = Tensor(shape: Array(x.shape.dropLast()) + [n], dtype: .float32, zeroed: false)
        guard rows > 0 else { return out }
        let px = UnsafePointer(x.storage.pointer(Float.self)), po = out.storage.pointer(Float.self)
        let pb = bias.map { UnsafePointer($0.storage.pointer(Float.self)) }
        let panels = (n + width - 1) / width, w = width, k = inputs, lo = range.lowerBound
        let packed = UnsafePointer(data)
        // 4 pieces per thread, claimed one at a time (the two halves ran at different speeds); every output is one FMA
        // chain however the columns are cut (same bits)
        parallelFor(panels, costPerItem: rows * k * w, pieces: 4 * Parallel.threads) { chunk in
            let c0 = chunk.lowerBound * w, c1 = min(chunk.upperBound * w, n)
            ak_gemm_packed(rows, lo + c0, lo + c1, k, px, k, packed, w, pb.map { $0 + c0 }, po + c0, n)
        }
        return out
    }
}

extension Linear {
    /// The packed weight this forward may use: none when a graph through the weight or the input would be
    /// recorded — and then the packed copy is dropped, because the weight may be about to change (training after
    /// `WeightPacking.pack`, or a run loaded with `--init-from`), and a stale copy must never be read.
    func packedWeight(for x: Tensor) -> PackedMatrix? {
        guard let packed else { return nil }
        if GradMode.enabled && (x.requiresGrad || weight.requiresGrad || (bias?.requiresGrad ?? false)) {
            self.packed = nil
            return nil
        }
        return packed
    }
}

/// Packing a model's `Linear` weights for inference (`PackedMatrix`), as inference engines do when they load one:
/// the inference verbs pack every run they load at float32.
///
/// Pack after the weights are final. A forward that records gradients through a packed layer drops its packed copy
/// (the weights may change after it), so training a packed model is correct, just no longer packed; writing
/// weights in place by hand after packing is not detected — call ``unpack(_:)`` first.
public enum WeightPacking {
    /// Packs every float32 `Linear` weight of `model` that is not int8 (a weight shared by two layers is packed once).
    /// Returns the number of layers packed (0 on a CPU without a packed kernel).
    @discardableResult
    public static func pack(_ model: any Module) -> Int {
        guard PackedMatrix.width > 0 else { return 0 }
        var done: [ObjectIdentifier: PackedMatrix] = [:]
        var count = 0
        for (_, module) in model.namedModules() {
            guard let linear = module as? Linear, linear.quantized == nil, linear.weight.dtype == .float32 else {
                continue
            }
            let id = ObjectIdentifier(linear.weight)
            guard let p = done[id] ?? PackedMatrix(packing: linear.weight) else { continue }
            done[id] = p
            linear.packed = p
            count += 1
        }
        return count
    }

    /// Drops every packed copy: the layers compute from their weight tensors again.
    public static func unpack(_ model: any Module) {
        for (_, module) in model.namedModules() { (module as? Linear)?.packed = nil }
    }

    /// Whether any `Linear` of `model` computes from a packed copy.
    public static func isPacked(_ model: any Module) -> Bool {
        model.namedModules().contains { ($0.module as? Linear)?.packed != nil }
    }
}

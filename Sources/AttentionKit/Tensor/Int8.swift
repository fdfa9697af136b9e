import CDNNL
import Foundation

/// A weight matrix [rows, columns] quantized to int8 with one symmetric scale per row (per output feature), as
/// CTranslate2's and PyTorch's `quantize_dynamic` int8 weights: `W[r, c] ≈ scales[r] · values[r, c]`, values in
/// −127…127, `scales[r] = max|W[r, :]| / 127`. Quantizing the dequantized matrix again gives the same values.
public final class Int8Matrix: @unchecked Sendable {
    /// The shape [rows, columns].
    public let rows: Int, columns: Int
    /// The int8 values, row-major.
    public let values: [Int8]
    /// One scale per row.
    public let scales: [Float]
    /// Σ_c values[r, c] per row: the GEMM's correction for the activations' zero points.
    let rowSums: [Int32]

    /// `weight` [rows, columns] (float32) quantized per row.
    public init(quantizing weight: Tensor) {
        precondition(weight.rank == 2 && weight.dtype == .float32, "Int8Matrix: a float32 matrix, not \(weight.shape)")
        let rows = weight.shape[0], n = weight.shape[1]
        var values = [Int8](repeating: 0, count: rows * n), scales = [Float](repeating: 0, count: rows)
        var sums = [Int32](repeating: 0, count: rows)
        weight.withUnsafeFloats { w in
            values.withUnsafeMutableBufferPointer { q in
                for r in 0..<rows {
                    let row = w.baseAddress! + r * n
                    var m: Float = 0
                    for c in 0..<n { m = max(m, abs(row[c])) }
                    let scale = m > 0 ? m / 127 : 1
                    let inverse = 1 / scale
                    var s: Int32 = 0
                    for c in 0..<n {
                        let v = Int8(max(-127, min(127, (row[c] * inverse).rounded(.toNearestOrEven))))
                        q[r * n + c] = v
                        s += Int32(v)
                    }
                    scales[r] = scale
                    sums[r] = s
                }
            }
        }
        (self.rows, columns, self.values, self.scales, rowSums) = (rows, n, values, scales, sums)
    }

    /// A matrix from its int8 values and per-row scales (as a quantized checkpoint stores them).
    public init(rows: Int, columns: Int, values: [Int8], scales: [Float]) {
        precondition(values.count == rows * columns && scales.count == rows, "Int8Matrix: sizes do not fit")
        (self.rows, self.columns, self.values, self.scales) = (rows, columns, values, scales)
        rowSums = (0..<rows).map { r in values[(r * columns)..<((r + 1) * columns)].reduce(Int32(0)) { $0 + Int32($1) }
        }
    }

    /// The float matrix the values stand for: scales[r] · values[r, c].
    public func dequantized() -> Tensor {
        let out = Tensor(shape: [rows, columns], dtype: .float32, zeroed: false)
        out.withUnsafeMutableFloats { o in
            for r in 0..<rows {
                let s = scales[r]
                for c in 0..<columns { o[r * columns + c] = s * Float(values[r * columns + c]) }
            }
        }
        return out
    }

    /// Bytes the quantized matrix occupies (values and scales).
    public var byteCount: Int { values.count + 4 * scales.count }
}

/// int8 GEMM for dynamically quantized inference on oneDNN's `dnnl_gemm_u8s8s32` (int32 accumulation; VNNI's
/// `vpdpbusd` where the CPU has it, AVX2/AVX-512 `vpmaddubsw` otherwise).
///
/// Each activation row is quantized when it arrives, asymmetrically to unsigned 8 bits over its own [min, max]
/// (zero exact): `x ≈ scale · (u − zero)`. Without VNNI the activations use 7 bits (0…127, as PyTorch's fbgemm
/// `reduce_range`): `vpmaddubsw` adds two u8·s8 products in 16 bits, which 255·127·2 would overflow.
public enum Int8GEMM {
    /// Levels of the activations' unsigned range: 255 with VNNI, 127 without.
    public static let activationLevels: Int = {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        return isa & 0x40 != 0 || isa & 0x400 != 0 ? 255 : 127  // avx512_core_vnni, avx2_vnni
    }()

    /// The CPU instruction set oneDNN dispatches to ("avx512_core_vnni", "avx2", …).
    public static var isa: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        default: return "other"
        }
    }

    /// The rows of x [.., K] quantized as `linear` quantizes them: `x[i, c] ≈ scales[i] · (values[i, c] − zeros[i])`,
    /// values in 0…`activationLevels`, each row over its own [min(0, min), max(0, max)].
    public static func quantize(rows x: Tensor) -> (values: [UInt8], scales: [Float], zeros: [Int32]) {
        let k = x.shape.last ?? 1
        let m = k > 0 ? x.count / k : 0
        let levels = Float(activationLevels)
        var quantized = [UInt8](repeating: 0, count: m * k)
        var rowScale = [Float](repeating: 1, count: m), zero = [Int32](repeating: 0, count: m)
        x.withUnsafeFloats { px in
            quantized.withUnsafeMutableBufferPointer { q in
                for i in 0..<m {
                    let row = px.baseAddress! + i * k
                    var lo: Float = 0, hi: Float = 0
                    for c in 0..<k { lo = min(lo, row[c]); hi = max(hi, row[c]) }
                    let scale = hi > lo ? (hi - lo) / levels : 1
                    let z = (-lo / scale).rounded(.toNearestOrEven)
                    let inverse = 1 / scale
                    let out = q.baseAddress! + i * k
                    for c in 0..<k {
                        out[c] = UInt8(max(0, min(levels, (row[c] * inverse).rounded(.toNearestOrEven) + z)))
                    }
                    rowScale[i] = scale
                    zero[i] = Int32(z)
                }
            }
        }
        return (quantized, rowScale, zero)
    }

    /// y = x·Wᵀ + b for x [.., K] (float32) and the rows `rows` of `weight` (all by default): x's rows quantized on the
    /// fly, one int8 GEMM, the int32 result scaled back to float with the bias added. Not differentiable.
    public static func linear(_ x: Tensor, _ weight: Int8Matrix, rows: Range<Int>? = nil, bias: Tensor? = nil)
        -> Tensor
    {
        let range = rows ?? 0..<weight.rows
        let k = weight.columns, n = range.count
        precondition(x.dtype == .float32 && x.shape.last == k, "Int8GEMM.linear: x \(x.shape) against [\(n), \(k)]")
        precondition(bias == nil || bias!.count == n, "Int8GEMM.linear: bias of \(bias!.count) for \(n) outputs")
        let m = x.count / max(k, 1)
        let out = Tensor(shape: Array(x.shape.dropLast()) + [n], dtype: .float32, zeroed: false)
        guard m > 0 && n > 0 else { return out }
        let (quantized, rowScale, zero) = quantize(rows: x)
        var accumulated = [Int32](repeating: 0, count: m * n)
        var noOffset: Int32 = 0
        let status = quantized.withUnsafeBufferPointer { a in
            weight.values.withUnsafeBufferPointer { w in
                accumulated.withUnsafeMutableBufferPointer { c in
                    dnnl_gemm_u8s8s32(
                        CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "T")), CChar(UInt8(ascii: "F")), Int64(m),
                        Int64(n),
                        Int64(k), 1, a.baseAddress, Int64(k), 0, w.baseAddress! + range.lowerBound * k, Int64(k), 0, 0,
                        c.baseAddress, Int64(n), &noOffset)
                }
            }
        }
        precondition(status == dnnl_success, "dnnl_gemm_u8s8s32 failed with status \(status.rawValue)")
        let pb = bias.map { $0.storage.pointer(Float.self) }
        out.withUnsafeMutableFloats { po in
            weight.scales.withUnsafeBufferPointer { ws in
                weight.rowSums.withUnsafeBufferPointer { rs in
                    let ws = ws.baseAddress! + range.lowerBound, rs = rs.baseAddress! + range.lowerBound
                    for i in 0..<m {
                        let sx = rowScale[i], z = zero[i], o = po.baseAddress! + i * n
                        for j in 0..<n { o[j] = Float(accumulated[i * n + j] - z * rs[j]) * (sx * ws[j]) }
                        if let pb { for j in 0..<n { o[j] += pb[j] } }
                    }
                }
            }
        }
        return out
    }
}

/// Fully connected layer: y = x·Wᵀ + b, with W [out, in] as in PyTorch (so state dicts match).
/// Input [..., in] → output [..., out]. Default init: U(±1/√in) for W and b (PyTorch's).
public final class Linear: Layer {
    /// The weight [out, in].
    public var weight: Tensor  // [out, in]
    /// The bias [out], if any.
    public var bias: Tensor?  // [out]
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    public let inFeatures: Int, outFeatures: Int
    /// The weight quantized to int8 (`Quantization.quantize`): when set, the layer computes with it (`Int8GEMM`),
    /// inference only.
    public var quantized: Int8Matrix?
    /// The weight packed for inference (`WeightPacking.pack`): when set, a forward that records no gradient computes
    /// with it (`PackedMatrix`); one that does drops it.
    public var packed: PackedMatrix?

    /// y = x Wᵀ + b (PyTorch's `nn.Linear`), initialised uniformly in ±1/√in as PyTorch does.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, using g: inout RandomGenerator) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Init.torchDefault([outFeatures, inFeatures], fanIn: inFeatures, using: &g).requiringGrad()
        self.bias = bias ? Init.torchDefault([outFeatures], fanIn: inFeatures, using: &g).requiringGrad() : nil
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// Applies the map to the last dimension of `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let quantized {
            precondition(
                !(GradMode.enabled && x.requiresGrad), "Linear: an int8 layer is for inference, it has no gradient")
            return Int8GEMM.linear(x, quantized, bias: bias)
        }
        if let packed = packedWeight(for: x), x.dtype == .float32, x.rank >= 1, x.shape[x.rank - 1] == inFeatures {
            return packed.product(x, bias: bias)
        }
        if let bias, x.rank >= 2 { return linearOp(x, weight: weight, bias: bias) }  // bias added inside the GEMM
        let y = matmul(x, weight, transposeB: true)  // the transpose is a GEMM flag, no copy
        return bias.map { y + $0 } ?? y
    }
}

/// Token embedding: row lookup in a [vocabulary, dim] table. The `paddingIndex` row starts at zero and gets no
/// gradient (PyTorch's `padding_idx`). Default init N(0, 1), as PyTorch.
public final class Embedding: Module {
    /// The table [vocabulary, dim].
    public var weight: Tensor  // [vocabulary, dim]
    /// The index whose row is zero and gets no gradient (PyTorch's `padding_idx`).
    public let paddingIndex: Int?
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A table of `vocabularySize` vectors of width `dim`, drawn from N(0, 1) as in PyTorch.
    public init(_ vocabularySize: Int, _ dim: Int, paddingIndex: Int? = nil, using g: inout RandomGenerator) {
        precondition(
            paddingIndex.map { $0 >= 0 && $0 < vocabularySize } ?? true, "Embedding: padding index out of range")
        self.paddingIndex = paddingIndex
        weight = Self.table(Tensor.normal([vocabularySize, dim], using: &g), paddingIndex: paddingIndex)
    }

    /// Draws the table again from U(−range, range) (Kim's CNN-rand, PyTorch's word_language_model), the padding row
    /// kept at zero.
    public func initializeUniform(range: Float, using g: inout RandomGenerator) {
        weight = Self.table(
            Tensor.uniform(weight.shape, low: -range, high: range, using: &g), paddingIndex: paddingIndex)
    }

    /// `w` with its padding row zeroed, as a trainable leaf.
    private static func table(_ w: Tensor, paddingIndex: Int?) -> Tensor {
        let dim = w.shape[1]
        if let p = paddingIndex { w.withUnsafeMutableFloats { b in for k in 0..<dim { b[p * dim + k] = 0 } } }
        return w.requiringGrad()
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] { [("weight", weight)] }

    /// Looks up `ids` (any shape) → [ids.shape..., dim]. Ids out of range stop with a message naming the id.
    public func callAsFunction(_ ids: [Int], shape: [Int]) -> Tensor {
        precondition(Shape.count(shape) == ids.count, "Embedding: \(ids.count) ids do not fill shape \(fmt(shape))")
        let rows = weight.indexSelect(axis: 0, indices: ids)  // [n, dim]
        var out = rows.reshape(shape + [weight.shape[1]])
        if let p = paddingIndex, ids.contains(p) {
            // zero the gradient of the padding row: mask the looked-up rows that are padding
            let keep = Tensor(ids.map { $0 == p ? 0 : 1 }, shape: shape + [1]).to(out.dtype)
            out = out * keep
        }
        return out
    }

    /// Looks up ids held as float values in a tensor.
    public func callAsFunction(_ ids: Tensor) -> Tensor {
        self(ids.doubles.map { Int($0) }, shape: ids.shape)
    }
}

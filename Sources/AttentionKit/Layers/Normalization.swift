/// Layer normalisation over the trailing `normalizedShape` dimensions (PyTorch's `nn.LayerNorm`):
/// y = (x − μ)/√(σ² + ε)·γ + β. γ starts at 1, β at 0.
public final class LayerNorm: Layer {
    /// The scale γ (shape `normalizedShape`), if affine.
    public var weight: Tensor?  // γ, normalizedShape
    /// The shift β (shape `normalizedShape`), if affine.
    public var bias: Tensor?  // β, normalizedShape
    /// The trailing dimensions normalised over.
    public let normalizedShape: [Int]
    /// Added to the variance before the square root.
    public let eps: Float
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// Layer normalisation over the trailing `normalizedShape` (PyTorch's `nn.LayerNorm`), γ = 1 and β = 0.
    public init(_ normalizedShape: [Int], eps: Float = 1e-5, elementwiseAffine: Bool = true) {
        self.normalizedShape = normalizedShape
        self.eps = eps
        weight = elementwiseAffine ? Tensor.ones(normalizedShape).requiringGrad() : nil
        bias = elementwiseAffine ? Tensor.zeros(normalizedShape).requiringGrad() : nil
    }

    /// Layer normalisation over the last dimension of width `dim`.
    public convenience init(_ dim: Int, eps: Float = 1e-5) { self.init([dim], eps: eps) }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        affineParameters(weight, bias)
    }

    /// (x − mean) / √(var + eps) · γ + β over the trailing dimensions.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard x.shape.suffix(normalizedShape.count).elementsEqual(normalizedShape) else {
            shapeFailure(
                ShapeError(
                    "LayerNorm: input \(fmt(x.shape)) does not end with normalized shape \(fmt(normalizedShape))"))
        }
        return layerNormOp(
            x, gamma: weight, beta: bias, normalizedCount: Shape.count(normalizedShape), eps: Double(eps))
    }

    /// `self(x + residual)`, the post-norm residual block's ending: in inference (nothing needs a gradient) one pass
    /// that adds each row and normalises it while it is in cache (the same values, bit for bit, without the [rows, D]
    /// sum in memory); otherwise the two differentiable ops.
    public func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        guard fusable(x, residual) else { return self(x + residual) }
        return addLayerNormInference(
            x, residual, gamma: weight, beta: bias, normalizedCount: Shape.count(normalizedShape), eps: Double(eps),
            keepSum: false
        ).normalized
    }

    /// The pre-norm residual step: h = x + residual and `self(h)`, both returned; in inference one pass writes both.
    public func residual(_ x: Tensor, adding residual: Tensor) -> (sum: Tensor, normalized: Tensor) {
        guard fusable(x, residual) else {
            let h = x + residual
            return (h, self(h))
        }
        let (h, n) = addLayerNormInference(
            x, residual, gamma: weight, beta: bias, normalizedCount: Shape.count(normalizedShape), eps: Double(eps),
            keepSum: true)
        return (h!, n)
    }

    /// Whether `x + residual` then this norm may run as the fused inference pass: one shape and dtype (no
    /// broadcasting), the normalised shape at the end, and no graph to record.
    private func fusable(_ x: Tensor, _ residual: Tensor) -> Bool {
        x.shape == residual.shape && x.dtype == residual.dtype && weight.map { $0.dtype == x.dtype } ?? true
            && bias.map { $0.dtype == x.dtype } ?? true
            && x.shape.suffix(normalizedShape.count).elementsEqual(normalizedShape) && !normalizedShape.isEmpty
            && !(GradMode.enabled
                && [x, residual, weight, bias].contains { $0?.requiresGrad ?? false })
    }
}

/// Batch normalisation over channel axis 1 (PyTorch's `nn.BatchNorm1d` for [B, C] or [B, C, L] and
/// `nn.BatchNorm2d` for [B, C, H, W]).
///
/// Training: normalises with the batch's mean and biased variance and updates the running statistics
/// r ← (1 − momentum)·r + momentum·batch (the running variance uses the unbiased batch variance).
/// Evaluation: normalises with the running statistics.
public final class BatchNorm: Layer {
    /// The scale γ [C], if affine.
    public var weight: Tensor?  // γ [C]
    /// The shift β [C], if affine.
    public var bias: Tensor?  // β [C]
    /// The running mean [C] used in evaluation.
    public var runningMean: Tensor  // [C]
    /// The running (unbiased) variance [C] used in evaluation.
    public var runningVar: Tensor  // [C]
    /// Training batches seen (a scalar count, as PyTorch stores it).
    public var numBatchesTracked: Tensor  // [] (a count, as PyTorch stores it)
    /// Channels normalised.
    public let numFeatures: Int
    public let eps: Float, momentum: Float
    /// Expected input rank(s): [2, 3] for 1d, [4] for 2d.
    let ranks: [Int]
    let kind: String
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// Normalise with the running statistics and leave them unchanged even in training: a frozen backbone's
    /// BatchNorm (PyTorch users call `.eval()` on the frozen part). `Module.freeze(prefixes:)` sets it.
    public var frozenStatistics = false

    init(_ numFeatures: Int, eps: Float, momentum: Float, affine: Bool, ranks: [Int], kind: String) {
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        self.ranks = ranks
        self.kind = kind
        weight = affine ? Tensor.ones([numFeatures]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([numFeatures]).requiringGrad() : nil
        runningMean = Tensor.zeros([numFeatures])
        runningVar = Tensor.ones([numFeatures])
        numBatchesTracked = Tensor.zeros([])
    }

    /// BatchNorm1d: input [B, C] or [B, C, L].
    public static func oneD(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true)
        -> BatchNorm
    {
        BatchNorm(numFeatures, eps: eps, momentum: momentum, affine: affine, ranks: [2, 3], kind: "BatchNorm1d")
    }

    /// BatchNorm2d: input [B, C, H, W].
    public static func twoD(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true)
        -> BatchNorm
    {
        BatchNorm(numFeatures, eps: eps, momentum: momentum, affine: affine, ranks: [4], kind: "BatchNorm2d")
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        affineParameters(weight, bias)
    }

    /// This module's own non-trainable state saved in checkpoints (running statistics), by local name.
    public var localBuffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
    }

    /// Normalises each channel with batch statistics in training (updating the running ones), running statistics in evaluation.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x, relu: false) }

    /// BatchNorm followed by ReLU in one pass (`Sequential` calls this for a BatchNorm directly followed by a ReLU).
    func forward(_ x: Tensor, relu: Bool) -> Tensor {
        guard ranks.contains(x.rank), x.shape[1] == numFeatures else {
            shapeFailure(
                ShapeError(
                    "\(kind): input \(fmt(x.shape)) does not have \(numFeatures) channels on axis 1 with rank \(ranks.map(String.init).joined(separator: " or "))"
                ))
        }
        if !isTraining || frozenStatistics {
            return batchNormOp(
                x, gamma: weight, beta: bias, mean: runningMean.to(x.dtype), variance: runningVar.to(x.dtype),
                eps: Double(eps), relu: relu
            ).output
        }
        let y = batchNorm(
            x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
            training: true, momentum: momentum, eps: eps, relu: relu)
        countBatch(numBatchesTracked)
        return y
    }
}

/// Dropout (PyTorch's `nn.Dropout`): in training, zeroes each element with probability p and scales the rest by
/// 1/(1−p); identity in evaluation. Its mask comes from its own generator, seeded from the caller's when the
/// module is built (saved with training state through `RandomModule`).
public final class Dropout: Layer, RandomModule {
    /// The probability of zeroing an element.
    public let p: Float
    /// The generator the masks are drawn from.
    public var generator: RandomGenerator
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// - Parameters:
    ///   - p: the probability of zeroing an element.
    ///   - g: the caller's generator; one draw from it seeds this module's own stream.
    public convenience init(p: Float = 0.5, using g: inout RandomGenerator) {
        self.init(p: p, seed: g.next())
    }

    /// A dropout whose stream starts from an explicit seed.
    public init(p: Float, seed: UInt64) {
        precondition(p >= 0 && p < 1, "Dropout: probability \(p) must be in [0, 1)")
        self.p = p
        generator = RandomGenerator(seed: seed)
    }

    /// `x` with dropout applied in training; `x` itself in evaluation.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard isTraining && p > 0 else { return x }
        return dropoutOp(x, p: p, using: &generator)
    }
}

/// Functional layer normalisation over the trailing `normalizedShape` dimensions (PyTorch's `F.layer_norm`).
public func layerNorm(
    _ x: Tensor, normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5
) -> Tensor {
    guard x.shape.suffix(normalizedShape.count).elementsEqual(normalizedShape) else {
        shapeFailure(
            ShapeError("layerNorm: input \(fmt(x.shape)) does not end with normalized shape \(fmt(normalizedShape))"))
    }
    return layerNormOp(x, gamma: weight, beta: bias, normalizedCount: Shape.count(normalizedShape), eps: Double(eps))
}

/// Functional batch normalisation over axis 1 (PyTorch's `F.batch_norm`): with `training`, batch statistics
/// (and the running statistics, if given, are updated with `momentum`); otherwise the running statistics.
public func batchNorm(
    _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil, bias: Tensor? = nil,
    training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, relu: Bool = false
) -> Tensor {
    if !training {
        guard let runningMean, let runningVar else {
            preconditionFailure("batchNorm: evaluation mode needs running statistics")
        }
        return batchNormOp(
            x, gamma: weight, beta: bias, mean: runningMean.to(x.dtype), variance: runningVar.to(x.dtype),
            eps: Double(eps), relu: relu
        ).output
    }
    let (y, mean, variance) = batchNormOp(
        x, gamma: weight, beta: bias, mean: nil, variance: nil, eps: Double(eps), relu: relu)
    for (running, batch) in [(runningMean, mean), (runningVar, variance)] {
        guard let running else { continue }
        running.assign((running.detach() * (1 - momentum) + batch.to(running.dtype) * momentum))
    }
    return y
}

/// Group normalisation (PyTorch's `nn.GroupNorm`, Wu & He 2018): the channels of x [B, C, *] are split into
/// `groups` groups; each sample's group is normalised with its own mean and biased variance (no batch statistics,
/// so it behaves the same in training and evaluation and for any batch size), then a per-channel affine γ·x̂ + β.
/// γ starts at 1, β at 0. The normalisation is the fused layer-norm op over each [C/G · spatial] row (its backward
/// beside it in NormOps); the per-channel affine is broadcast multiply-add.
public final class GroupNorm: Layer {
    /// The scale γ [C], if affine.
    public var weight: Tensor?  // γ [C]
    /// The shift β [C], if affine.
    public var bias: Tensor?  // β [C]
    public let groups: Int, channels: Int
    /// Added to the variance before the square root.
    public let eps: Float
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// Group normalisation of `channels` in `groups` groups (PyTorch's `nn.GroupNorm`).
    public init(groups: Int, channels: Int, eps: Float = 1e-5, affine: Bool = true) {
        precondition(
            groups > 0 && channels > 0 && channels % groups == 0,
            "GroupNorm: \(channels) channels are not divisible into \(groups) groups")
        self.groups = groups
        self.channels = channels
        self.eps = eps
        weight = affine ? Tensor.ones([channels]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([channels]).requiringGrad() : nil
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        affineParameters(weight, bias)
    }

    /// Normalises each group of channels of each sample over the group and the spatial positions.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard x.rank >= 2, x.shape[1] == channels else {
            shapeFailure(ShapeError("GroupNorm: input \(fmt(x.shape)) does not have \(channels) channels on axis 1"))
        }
        return groupNormalized(x, groups: groups, eps: eps, weight: weight, bias: bias)
    }
}

/// x [B, C, *] normalised per sample over groups of C/G channels (and all positions), then the optional per-channel
/// affine: the shared body of GroupNorm and InstanceNorm2d.
func groupNormalized(_ x: Tensor, groups: Int, eps: Float, weight: Tensor?, bias: Tensor?) -> Tensor {
    let (b, c) = (x.shape[0], x.shape[1]), spatial = x.count / max(1, b * c)
    let rowLength = c / groups * spatial
    var y = layerNormOp(
        x.reshape([b, groups, rowLength]), gamma: nil, beta: nil, normalizedCount: rowLength, eps: Double(eps)
    )
    .reshape([b, c, spatial])
    if let weight { y = y * weight.to(x.dtype).reshape([1, c, 1]) }
    if let bias { y = y + bias.to(x.dtype).reshape([1, c, 1]) }
    return y.reshape(x.shape)
}

/// Instance normalisation over [B, C, H, W] (PyTorch's `nn.InstanceNorm2d`): each sample's each channel normalised
/// over its H×W positions. As PyTorch: no affine parameters and no running statistics by default; with
/// `trackRunningStats`, training also updates running mean/variance (momentum, unbiased variance, averaged over the
/// batch) and evaluation normalises with them.
public final class InstanceNorm2d: Layer {
    /// The scale γ [C], if affine.
    public var weight: Tensor?
    /// The shift β [C], if affine.
    public var bias: Tensor?
    /// The running mean [C], when tracking running statistics.
    public var runningMean: Tensor?
    /// The running variance [C], when tracking running statistics.
    public var runningVar: Tensor?
    /// Training batches seen, when tracking running statistics.
    public var numBatchesTracked: Tensor?
    /// Channels normalised.
    public let channels: Int
    public let eps: Float, momentum: Float
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// Instance normalisation (PyTorch's `nn.InstanceNorm2d`): each sample's channel over its H×W.
    public init(
        _ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = false, trackRunningStats: Bool = false
    ) {
        precondition(channels > 0, "InstanceNorm2d: channels must be positive")
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        weight = affine ? Tensor.ones([channels]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([channels]).requiringGrad() : nil
        if trackRunningStats {
            runningMean = Tensor.zeros([channels])
            runningVar = Tensor.ones([channels])
            numBatchesTracked = Tensor.zeros([])
        }
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        affineParameters(weight, bias)
    }

    /// This module's own non-trainable state saved in checkpoints (running statistics), by local name.
    public var localBuffers: [(name: String, tensor: Tensor)] {
        guard let runningMean, let runningVar, let numBatchesTracked else { return [] }
        return [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
    }

    /// Normalises each channel of each image of `x` [B, C, H, W] over its positions.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard x.rank == 4, x.shape[1] == channels else {
            shapeFailure(ShapeError("InstanceNorm2d: input \(fmt(x.shape)) is not [B, \(channels), H, W]"))
        }
        let (b, c) = (x.shape[0], x.shape[1])
        if let runningMean, let runningVar {
            if !isTraining {
                // the running statistics for every sample: BatchNorm's evaluation op
                return batchNormOp(
                    x, gamma: weight, beta: bias, mean: runningMean.to(x.dtype), variance: runningVar.to(x.dtype),
                    eps: Double(eps)
                ).output
            }
            withNoGrad {
                let planes = x.detach().reshape([b, c, x.count / (b * c)])
                let mean = planes.mean(axis: 2).mean(axis: 0),
                    variance = planes.variance(axis: 2, correction: 1).mean(axis: 0)
                runningMean.assign(runningMean * (1 - momentum) + mean.to(runningMean.dtype) * momentum)
                runningVar.assign(runningVar * (1 - momentum) + variance.to(runningVar.dtype) * momentum)
                // (PyTorch's instance norm keeps num_batches_tracked at 0: only BatchNorm counts)
            }
        }
        return groupNormalized(x, groups: c, eps: eps, weight: weight, bias: bias)
    }
}

/// Adds one to a `num_batches_tracked` counter, whatever its dtype (a model moved to float64 moves it too).
private func countBatch(_ counter: Tensor) {
    withNoGrad { counter.assign(counter.detach() + 1) }
}

/// The optional γ/β of a normalisation layer as named parameters ("weight", "bias"; absent ones left out).
func affineParameters(_ weight: Tensor?, _ bias: Tensor?) -> [(name: String, tensor: Tensor)] {
    (weight.map { [("weight", $0)] } ?? []) + (bias.map { [("bias", $0)] } ?? [])
}

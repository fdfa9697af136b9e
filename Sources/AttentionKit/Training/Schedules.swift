import RealModule

/// A learning-rate schedule: the factor applied to each group's base learning rate at a given step (0-based).
/// Apply it with `optimizer.setLearningRateFactor(schedule.factor(step: step))` before `optimizer.step()`.
public protocol LRSchedule {
    func factor(step: Int) -> Float
}

/// Step decay: γ^⌊step/stepSize⌋ (PyTorch's `StepLR`).
public struct StepDecay: LRSchedule {
    public let stepSize: Int, gamma: Float
    /// Multiplies the rate by `gamma` every `stepSize` steps.
    public init(stepSize: Int, gamma: Float = 0.1) {
        precondition(stepSize > 0); self.stepSize = stepSize; self.gamma = gamma
    }
    /// gamma^⌊step / stepSize⌋.
    public func factor(step: Int) -> Float { Float.pow(gamma, Float(step / stepSize)) }
}

/// Exponential decay: γ^step (PyTorch's `ExponentialLR`).
public struct ExponentialDecay: LRSchedule {
    /// The factor per step.
    public let gamma: Float
    /// Multiplies the rate by `gamma` every step.
    public init(gamma: Float) { self.gamma = gamma }
    /// gamma^step.
    public func factor(step: Int) -> Float { Float.pow(gamma, Float(step)) }
}

/// 1/t decay: 1/(1 + decay·step).
public struct InverseTimeDecay: LRSchedule {
    /// The decay rate.
    public let decay: Float
    /// The schedule 1 / (1 + decay · step).
    public init(decay: Float) { self.decay = decay }
    /// 1 / (1 + decay · step).
    public func factor(step: Int) -> Float { 1 / (1 + decay * Float(step)) }
}

/// The transformer schedule of Vaswani et al. ("Noam"), as a factor of the peak rate: linear warmup over
/// `warmupSteps`, then decay with the inverse square root of the step: f = min((s+1)/w, √(w/(s+1))).
public struct WarmupInverseSqrt: LRSchedule {
    /// Steps of linear warmup.
    public let warmupSteps: Int
    /// The inverse-square-root schedule with this warmup.
    public init(warmupSteps: Int) {
        precondition(warmupSteps > 0, "WarmupInverseSqrt: warmup steps must be positive")
        self.warmupSteps = warmupSteps
    }
    /// Linear warmup to 1, then √warmup / √step.
    public func factor(step: Int) -> Float {
        let s = Float(step + 1), w = Float(warmupSteps)
        return Swift.min(s / w, (w / s).squareRoot())
    }
}

/// Linear warmup from 0 over `warmupSteps`, then the peak rate: f = (s+1)/w for s < w, else 1.
public struct WarmupConstant: LRSchedule {
    /// Steps of linear warmup.
    public let warmupSteps: Int
    /// Linear warmup over `warmupSteps`, then constant.
    public init(warmupSteps: Int) {
        precondition(warmupSteps >= 0, "WarmupConstant: warmup steps must be non-negative")
        self.warmupSteps = warmupSteps
    }
    /// Linear warmup to 1, then 1.
    public func factor(step: Int) -> Float { step < warmupSteps ? Float(step + 1) / Float(warmupSteps) : 1 }
}

/// Linear warmup from 0 over `warmupSteps`, then cosine decay to `minFactor` at `totalSteps`:
/// f = (s+1)/w for s < w, else minFactor + (1−minFactor)·½(1 + cos(π·(s−w)/(T−w))).
public struct WarmupCosine: LRSchedule {
    public let warmupSteps: Int, totalSteps: Int, minFactor: Float
    /// Linear warmup over `warmupSteps`, then cosine decay to `minFactor` at `totalSteps`.
    public init(warmupSteps: Int, totalSteps: Int, minFactor: Float = 0) {
        precondition(totalSteps > warmupSteps && warmupSteps >= 0, "WarmupCosine: total steps must exceed warmup steps")
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minFactor = minFactor
    }
    /// Linear warmup to 1, then a half cosine down to `minFactor`.
    public func factor(step: Int) -> Float {
        if step < warmupSteps { return Float(step + 1) / Float(warmupSteps) }
        let progress = Swift.min(1, Float(step - warmupSteps) / Float(totalSteps - warmupSteps))
        return minFactor + (1 - minFactor) * 0.5 * (1 + Float.cos(Float.pi * progress))
    }
}

/// A non-finite gradient norm met while clipping.
public struct NonFiniteGradientError: Error, CustomStringConvertible {
    public let step: Int, norm: Float
    /// The step and norm, and what to do.
    public var description: String {
        "gradient norm is \(norm) at step \(step): training diverged (lower the learning rate)"
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm` (PyTorch's `clip_grad_norm_`) and returns
/// the norm before clipping. Throws, naming the step, if the norm is NaN or infinite.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float, step: Int) throws -> Float {
    var total: Double = 0
    for p in parameters {
        guard let g = p.grad else { continue }
        if g.dtype == .float32 {
            g.withUnsafeFloats { b in
                var s: Float = 0; for v in b { s += v * v }; total += Double(s)
            }
        } else {
            for v in g.doubles { total += v * v }
        }
    }
    let norm = Float(total.squareRoot())
    guard norm.isFinite else { throw NonFiniteGradientError(step: step, norm: norm) }
    let scale = maxNorm / (norm + 1e-6)
    if scale < 1 {
        for p in parameters { p.grad?.withUnsafeMutableFloats { b in for i in 0..<b.count { b[i] *= scale } } }
    }
    return norm
}

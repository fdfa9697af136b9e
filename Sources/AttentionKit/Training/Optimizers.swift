/// A set of parameters sharing optimizer options (PyTorch's param groups), e.g. no weight decay on norms and biases.
public struct ParameterGroup {
    /// The tensors this group updates.
    public var parameters: [Tensor]
    /// The learning rate schedules scale (nil: the optimizer's).
    public var baseLearningRate: Float?
    /// Weight decay for this group (nil: the optimizer's).
    public var weightDecay: Float?
    /// Current learning rate (set by the optimizer and by schedules).
    public internal(set) var learningRate: Float = 0

    /// A group with its own learning rate and weight decay (nil: the optimizer's).
    public init(_ parameters: [Tensor], learningRate: Float? = nil, weightDecay: Float? = nil) {
        self.parameters = parameters
        baseLearningRate = learningRate
        self.weightDecay = weightDecay
    }
}

/// Shared machinery of the optimizers: parameter groups, per-parameter state tensors, step count, schedules,
/// and state export for checkpoints. Subclasses implement `update`.
public class Optimizer {
    /// The parameter groups (PyTorch's `param_groups`).
    public private(set) var groups: [ParameterGroup]
    /// Number of `step()` calls so far.
    public internal(set) var stepCount = 0
    /// Per-parameter state (e.g. "exp_avg"), indexed like `allParameters`.
    var state: [[String: Tensor]]
    let defaultWeightDecay: Float

    init(groups: [ParameterGroup], learningRate: Float, weightDecay: Float) {
        precondition(learningRate >= 0, "optimizer: negative learning rate \(learningRate)")
        var gs = groups
        for i in gs.indices {
            if gs[i].baseLearningRate == nil { gs[i].baseLearningRate = learningRate }
            gs[i].learningRate = gs[i].baseLearningRate!
            for p in gs[i].parameters {
                precondition(p.isLeaf && p.dtype == .float32, "optimizer: parameters must be float32 leaf tensors")
            }
        }
        self.groups = gs
        defaultWeightDecay = weightDecay
        state = Array(repeating: [:], count: gs.reduce(0) { $0 + $1.parameters.count })
    }

    /// Every parameter, group by group.
    public var allParameters: [Tensor] { groups.flatMap(\.parameters) }

    /// Sets each group's learning rate to its base rate times `factor` (what schedules do).
    public func setLearningRateFactor(_ factor: Float) {
        for i in groups.indices { groups[i].learningRate = groups[i].baseLearningRate! * factor }
    }

    /// The first group's current learning rate.
    public var learningRate: Float { groups.first?.learningRate ?? 0 }

    /// Max-norm constraints applied after every step (Hinton et al. 2012; Kim 2014 keeps his output layer's rows at
    /// norm ≤ 3): each tensor's rows along its first axis are rescaled to at most the norm (`renormRows`).
    public var maxNormConstraints: [(parameter: Tensor, maxNorm: Float)] = []

    /// Applies one update to every parameter that has a gradient, then the max-norm constraints.
    public func step() {
        stepCount += 1
        var index = 0
        for group in groups {
            let wd = group.weightDecay ?? defaultWeightDecay
            for p in group.parameters {
                defer { index += 1 }
                guard let g = p.grad else { continue }
                update(p, grad: g, lr: group.learningRate, weightDecay: wd, state: &state[index])
            }
        }
        for (p, norm) in maxNormConstraints { renormRows(p, maxNorm: norm) }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in allParameters { p.zeroGrad() } }

    func update(_ p: Tensor, grad: Tensor, lr: Float, weightDecay: Float, state: inout [String: Tensor]) {
        fatalError("Optimizer.update must be overridden")
    }

    /// State tensors for a checkpoint, named "state.INDEX.KEY" (INDEX as in `allParameters`).
    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (i, s) in state.enumerated() { for (k, t) in s { out["state.\(i).\(k)"] = t } }
        return out
    }

    /// The state keys the optimizers keep, each a tensor of its parameter's shape but Adam's "step" (one number).
    static let stateKeys: Set<String> = [
        "momentum_buffer", "exp_avg", "exp_avg_sq", "square_avg", "sum", "acc_delta", "step"
    ]

    /// Restores state written by `stateTensors()` and the step count; everything is checked first (names, keys,
    /// shapes: an update reads each state tensor as its parameter's size), and nothing changes on an error.
    public func loadState(_ tensors: [String: Tensor], stepCount: Int) throws {
        let fresh = try checkedState(tensors)
        guard stepCount >= 0 else { throw CheckpointError.invalidState("optimizer step \(stepCount) is negative") }
        state = fresh
        self.stepCount = stepCount
    }

    /// The state `loadState` would install, after checking every tensor.
    func checkedState(_ tensors: [String: Tensor]) throws -> [[String: Tensor]] {
        var fresh = Array(repeating: [String: Tensor](), count: state.count)
        let params = allParameters
        for (name, t) in tensors.sorted(by: { $0.key < $1.key }) {
            let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "state", let i = Int(parts[1]), i >= 0, i < fresh.count else {
                throw CheckpointError.invalidState(
                    "optimizer tensor '\(name)' is not state.INDEX.KEY for \(fresh.count) parameters")
            }
            guard Self.stateKeys.contains(parts[2]) else {
                throw CheckpointError.invalidState(
                    "optimizer tensor '\(name)': '\(parts[2])' is not an optimizer state (\(Self.stateKeys.sorted().joined(separator: ", ")))"
                )
            }
            let expected = parts[2] == "step" ? [1] : params[i].shape  // Adam's update count is one number
            guard t.shape == expected else {
                throw CheckpointError.shapeMismatch(name: name, expected: expected, found: t.shape)
            }
            fresh[i][parts[2]] = t.to(.float32).copy()
        }
        return fresh
    }

    /// Installs state from `checkedState`.
    func install(_ fresh: [[String: Tensor]], stepCount: Int) {
        state = fresh
        self.stepCount = stepCount
    }

    /// A state tensor, created as zeros on first use.
    func buffer(_ state: inout [String: Tensor], _ key: String, like p: Tensor) -> Tensor {
        if let t = state[key] { return t }
        let t = Tensor.zeros(like: p)
        state[key] = t
        return t
    }
}

/// Runs `body` over the parameter, gradient and up to two state buffers as raw float pointers.
@inline(__always)
func withBuffers(
    _ p: Tensor, _ g: Tensor, _ a: Tensor?, _ b: Tensor?,
    _ body: (
        UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?,
        Int
    ) -> Void
) {
    precondition(g.shape == p.shape, "optimizer: gradient \(fmt(g.shape)) does not match parameter \(fmt(p.shape))")
    body(
        p.storage.pointer(Float.self), UnsafePointer(g.to(.float32).storage.pointer(Float.self)),
        a?.storage.pointer(Float.self), b?.storage.pointer(Float.self), p.count)
}

/// SGD (PyTorch's `torch.optim.SGD`): g ← g + λθ; v ← μv + (1−τ)g (v = g at first); g ← g + μv (Nesterov) or v;
/// θ ← θ − lr·g.
public final class SGD: Optimizer {
    public let momentum: Float, dampening: Float, nesterov: Bool

    /// SGD over parameter groups (PyTorch's `torch.optim.SGD`).
    public init(
        _ groups: [ParameterGroup], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
        weightDecay: Float = 0, nesterov: Bool = false
    ) {
        precondition(
            !nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum needs momentum > 0 and no dampening")
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay)
    }

    /// SGD over one group of parameters.
    public convenience init(
        parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
        weightDecay: Float = 0, nesterov: Bool = false
    ) {
        self.init(
            [ParameterGroup(parameters)], learningRate: learningRate, momentum: momentum, dampening: dampening,
            weightDecay: weightDecay, nesterov: nesterov)
    }

    override func update(_ p: Tensor, grad: Tensor, lr: Float, weightDecay wd: Float, state: inout [String: Tensor]) {
        let first = state["momentum_buffer"] == nil
        let buf = momentum != 0 ? buffer(&state, "momentum_buffer", like: p) : nil
        let (mu, damp, nest) = (momentum, dampening, nesterov)
        withBuffers(p, grad, buf, nil) { pp, pg, pv, _, n in
            for i in 0..<n {
                var g = pg[i] + wd * pp[i]
                if let pv {
                    pv[i] = first ? g : mu * pv[i] + (1 - damp) * g
                    g = nest ? g + mu * pv[i] : pv[i]
                }
                pp[i] -= lr * g
            }
        }
    }
}

/// Adam (PyTorch's `torch.optim.Adam`, L2 weight decay added to the gradient) and, with `decoupled`, AdamW
/// (θ ← θ·(1 − lr·λ) before the Adam step). m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
/// θ ← θ − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε).
public class Adam: Optimizer {
    public let beta1: Float, beta2: Float, eps: Float
    let decoupled: Bool

    /// Adam over parameter groups (PyTorch's `torch.optim.Adam`, L2 weight decay).
    public init(
        _ groups: [ParameterGroup], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        eps: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false
    ) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.decoupled = decoupled
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay)
    }

    /// Adam over one group of parameters.
    public convenience init(
        parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        eps: Float = 1e-8, weightDecay: Float = 0
    ) {
        self.init(
            [ParameterGroup(parameters)], learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps,
            weightDecay: weightDecay)
    }

    override func update(_ p: Tensor, grad: Tensor, lr: Float, weightDecay wd: Float, state: inout [String: Tensor]) {
        // PyTorch's state["step"]: the parameter's own count of updates, so that one which starts training late
        // (unfrozen while fine-tuning) has its moments bias-corrected from its own first step. A checkpoint from
        // before this counter (moments but no step) had every parameter updated on every step: the global count.
        let counter = state["step"] ?? Tensor([state["exp_avg"] == nil ? 0 : Float(stepCount - 1)])
        counter.storage.pointer(Float.self)[0] += 1
        state["step"] = counter
        let m = buffer(&state, "exp_avg", like: p), v = buffer(&state, "exp_avg_sq", like: p)
        let t = counter.storage.pointer(Float.self)[0]
        let bc1 = 1 - Float.pow(beta1, t), bc2 = 1 - Float.pow(beta2, t)
        let stepSize = lr / bc1, bc2Sqrt = bc2.squareRoot()
        let (b1, b2, e, dec) = (beta1, beta2, eps, decoupled)
        withBuffers(p, grad, m, v) { pp, pg, pm, pv, n in
            let pm = pm!, pv = pv!
            for i in 0..<n {
                var g = pg[i]
                if dec { pp[i] *= 1 - lr * wd } else { g += wd * pp[i] }
                pm[i] = b1 * pm[i] + (1 - b1) * g
                pv[i] = b2 * pv[i] + (1 - b2) * g * g
                pp[i] -= stepSize * pm[i] / (pv[i].squareRoot() / bc2Sqrt + e)
            }
        }
    }
}

/// AdamW (PyTorch's `torch.optim.AdamW`): Adam with decoupled weight decay, default λ = 0.01.
public final class AdamW: Adam {
    /// AdamW over parameter groups (decoupled weight decay, PyTorch's `torch.optim.AdamW`).
    public init(
        _ groups: [ParameterGroup], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        eps: Float = 1e-8, weightDecay: Float = 0.01
    ) {
        super.init(
            groups, learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
            decoupled: true)
    }

    /// AdamW over one group of parameters.
    public convenience init(parameters: [Tensor], learningRate: Float = 1e-3, weightDecay: Float = 0.01) {
        self.init([ParameterGroup(parameters)], learningRate: learningRate, weightDecay: weightDecay)
    }
}

/// RMSProp (PyTorch's `torch.optim.RMSprop`, not centered, no momentum): v ← αv + (1−α)g², θ ← θ − lr·g/(√v + ε).
public final class RMSProp: Optimizer {
    public let alpha: Float, eps: Float

    /// RMSProp over parameter groups (PyTorch's `torch.optim.RMSprop`).
    public init(
        _ groups: [ParameterGroup], learningRate: Float = 1e-2, alpha: Float = 0.99, eps: Float = 1e-8,
        weightDecay: Float = 0
    ) {
        self.alpha = alpha
        self.eps = eps
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay)
    }

    override func update(_ p: Tensor, grad: Tensor, lr: Float, weightDecay wd: Float, state: inout [String: Tensor]) {
        let v = buffer(&state, "square_avg", like: p)
        let (a, e) = (alpha, eps)
        withBuffers(p, grad, v, nil) { pp, pg, pv, _, n in
            let pv = pv!
            for i in 0..<n {
                let g = pg[i] + wd * pp[i]
                pv[i] = a * pv[i] + (1 - a) * g * g
                pp[i] -= lr * g / (pv[i].squareRoot() + e)
            }
        }
    }
}

/// AdaGrad (PyTorch's `torch.optim.Adagrad`): s ← s + g², θ ← θ − lr_t·g/(√s + ε), lr_t = lr/(1 + (t−1)·decay).
public final class AdaGrad: Optimizer {
    public let eps: Float, lrDecay: Float, initialAccumulator: Float

    /// AdaGrad over parameter groups (PyTorch's `torch.optim.Adagrad`).
    public init(
        _ groups: [ParameterGroup], learningRate: Float = 1e-2, lrDecay: Float = 0, weightDecay: Float = 0,
        initialAccumulator: Float = 0, eps: Float = 1e-10
    ) {
        self.eps = eps
        self.lrDecay = lrDecay
        self.initialAccumulator = initialAccumulator
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay)
    }

    override func update(_ p: Tensor, grad: Tensor, lr: Float, weightDecay wd: Float, state: inout [String: Tensor]) {
        if state["sum"] == nil { state["sum"] = Tensor.full(p.shape, initialAccumulator) }
        let s = state["sum"]!
        let clr = lr / (1 + Float(stepCount - 1) * lrDecay)
        let e = eps
        withBuffers(p, grad, s, nil) { pp, pg, ps, _, n in
            let ps = ps!
            for i in 0..<n {
                let g = pg[i] + wd * pp[i]
                ps[i] += g * g
                pp[i] -= clr * g / (ps[i].squareRoot() + e)
            }
        }
    }
}

/// Adadelta (Zeiler 2012; PyTorch's `torch.optim.Adadelta`): v ← ρv + (1−ρ)g², δ = √(u + ε)/√(v + ε)·g,
/// u ← ρu + (1−ρ)δ², θ ← θ − lr·δ (g includes the weight decay λθ). No learning rate to tune (lr 1 is the paper's).
public final class Adadelta: Optimizer {
    public let rho: Float, eps: Float

    /// Adadelta over parameter groups (PyTorch's `torch.optim.Adadelta`).
    public init(
        _ groups: [ParameterGroup], learningRate: Float = 1, rho: Float = 0.9, eps: Float = 1e-6, weightDecay: Float = 0
    ) {
        precondition(
            rho >= 0 && rho <= 1 && eps >= 0, "Adadelta: rho \(rho) must be in [0, 1] and eps \(eps) non-negative")
        self.rho = rho
        self.eps = eps
        super.init(groups: groups, learningRate: learningRate, weightDecay: weightDecay)
    }

    override func update(_ p: Tensor, grad: Tensor, lr: Float, weightDecay wd: Float, state: inout [String: Tensor]) {
        let v = buffer(&state, "square_avg", like: p), u = buffer(&state, "acc_delta", like: p)
        let (r, e) = (rho, eps)
        withBuffers(p, grad, v, u) { pp, pg, pv, pu, n in
            let pv = pv!, pu = pu!
            for i in 0..<n {
                let g = pg[i] + wd * pp[i]
                pv[i] = r * pv[i] + (1 - r) * g * g
                let delta = (pu[i] + e).squareRoot() / (pv[i] + e).squareRoot() * g
                pu[i] = r * pu[i] + (1 - r) * delta * delta
                pp[i] -= lr * delta
            }
        }
    }
}

/// Rescales, in place, each row of `t` (each slice along its first axis) whose Euclidean norm exceeds `maxNorm` to
/// that norm — `torch.renorm(t, p=2, dim=0, maxnorm)` (scale maxNorm / (norm + 1e-7)); rows within it are untouched.
public func renormRows(_ t: Tensor, maxNorm: Float) {
    precondition(
        t.rank >= 1 && t.dtype == .float32 && maxNorm >= 0,
        "renormRows: a float32 tensor of rank ≥ 1 and a non-negative norm")
    let rows = t.shape[0], width = rows == 0 ? 0 : t.count / rows
    let p = t.storage.pointer(Float.self)
    for r in 0..<rows {
        let row = p + r * width
        var sum: Float = 0
        for j in 0..<width { sum += row[j] * row[j] }
        let norm = sum.squareRoot()
        if norm > maxNorm {
            let scale = maxNorm / (norm + 1e-7)
            for j in 0..<width { row[j] *= scale }
        }
    }
}

extension ParameterGroup {
    /// The usual AdamW split: weight decay on weight matrices and embedding tables (rank ≥ 2), none on biases,
    /// norm scales, class tokens and position tables (the nanoGPT/timm rule). Frozen parameters are left out.
    /// With `frozen`, the same two groups of the frozen parameters instead (what `TransferRecipe` unfreezes later).
    public static func weightDecayGroups(_ model: some Module, weightDecay: Float, frozen: Bool = false)
        -> [ParameterGroup]
    {
        // frozen parameters are not optimized
        split(model.namedParameters().filter { $0.tensor.requiresGrad != frozen }, weightDecay: weightDecay)
    }

    /// `parameters` in the two groups of the AdamW split (decayed, then not), at `learningRate` (nil: the optimizer's).
    public static func split(
        _ parameters: [(name: String, tensor: Tensor)], weightDecay: Float, learningRate: Float? = nil
    ) -> [ParameterGroup] {
        var decay: [Tensor] = [], none: [Tensor] = []
        for (name, p) in parameters {
            let exempt =
                p.rank < 2 || name.contains("positionEmbedding") || name.contains("classToken")
                || name.contains("positions.")
            if exempt { none.append(p) } else { decay.append(p) }
        }
        return [
            ParameterGroup(decay, learningRate: learningRate, weightDecay: weightDecay),
            ParameterGroup(none, learningRate: learningRate, weightDecay: 0)
        ]
    }
}

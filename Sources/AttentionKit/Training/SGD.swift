/// Stochastic gradient descent with optional momentum (PyTorch's `torch.optim.SGD` update rule):
///
///     v ← μ·v + g          (v = g on the first step)
///     θ ← θ − lr·v
///
/// Updates parameters in place from their `.grad`; parameters without a gradient are skipped.
public final class SGD {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let momentum: Float
    private var velocity: [Tensor?]

    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0) {
        precondition(learningRate >= 0, "SGD: negative learning rate \(learningRate)")
        precondition(momentum >= 0, "SGD: negative momentum \(momentum)")
        for p in parameters {
            precondition(p.isLeaf && p.requiresGrad && p.dtype == .float32, "SGD: parameters must be float32 leaves that require grad")
        }
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        velocity = Array(repeating: nil, count: parameters.count)
    }

    /// Applies one update from the current gradients.
    public func step() {
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            var direction = g
            if momentum != 0 {
                if let v = velocity[i] {
                    let mu = momentum
                    v.withUnsafeMutableFloats { vb in
                        g.withUnsafeFloats { gb in for k in 0..<vb.count { vb[k] = mu * vb[k] + gb[k] } }
                    }
                    direction = v
                } else {
                    velocity[i] = g.copy()
                    direction = velocity[i]!
                }
            }
            let lr = learningRate
            p.withUnsafeMutableFloats { pb in
                direction.withUnsafeFloats { db in for k in 0..<pb.count { pb[k] -= lr * db[k] } }
            }
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() { parameters.forEach { $0.zeroGrad() } }
}

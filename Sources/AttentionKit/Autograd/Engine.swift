/// Reverse-mode autograd: a define-by-run tape like PyTorch's.
///
/// Every differentiable op computes its forward result and then calls `record`, handing over a closure that maps
/// the upstream gradient of the output to the gradients of each input (its vector-Jacobian product). `backward()`
/// sorts the graph topologically without recursion, runs those closures in reverse order with gradient recording
/// off, sums gradients of tensors used more than once, stores the result in the leaves' `.grad`, and frees the
/// graph (closures and the tensors they saved) as it goes.

/// One recorded op: its name, inputs and vector-Jacobian product.
final class GradNode {
    let op: String
    let inputs: [Tensor]
    /// Maps the output's gradient to one gradient per input (nil where an input needs none).
    let vjp: (Tensor) -> [Tensor?]

    init(op: String, inputs: [Tensor], vjp: @escaping (Tensor) -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.vjp = vjp
    }
}

/// Whether ops record the graph. Scoped per task/thread by `withNoGrad`, never a process-wide flag.
public enum GradMode {
    @TaskLocal static var enabled = true

    /// True unless inside `withNoGrad`.
    public static var isEnabled: Bool { enabled }
}

/// Runs `body` without recording the graph (PyTorch's `torch.no_grad()`), for inference and optimizer updates.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$enabled.withValue(false) { try body() }
}

/// Attaches the backward rule of an op to its freshly computed output, if any input needs gradients.
@inline(__always)
func record(_ op: String, _ out: Tensor, _ inputs: [Tensor], _ vjp: @escaping (Tensor) -> [Tensor?]) -> Tensor {
    guard GradMode.enabled, inputs.contains(where: { $0.requiresGrad }) else { return out }
    out.requiresGrad = true
    out.isNonLeaf = true
    out.node = GradNode(op: op, inputs: inputs, vjp: vjp)
    return out
}

extension Tensor {
    /// Backpropagates from a scalar (one-element) tensor: d(self)/d(self) = 1.
    public func backward() {
        precondition(count == 1, "backward: called on a tensor of shape \(fmt(shape)); pass an explicit gradient for non-scalars")
        backward(Tensor(shape: shape, storage: Tensor.onesStorage(count: 1, dtype: dtype)))
    }

    /// Backpropagates with an explicit upstream gradient of this tensor's shape (PyTorch's `backward(gradient)`).
    ///
    /// Leaf gradients accumulate (`+=`) across calls until `zeroGrad()`. The graph is freed afterwards; calling
    /// backward through it again stops with an error.
    public func backward(_ gradient: Tensor) {
        checked { () throws(ShapeError) in try Shape.same(shape, gradient.shape, op: "backward (tensor vs gradient)") }
        precondition(requiresGrad, "backward: tensor does not require grad and has no graph")
        precondition(!(isNonLeaf && node == nil), "backward: the graph of this tensor was already freed by an earlier backward()")
        let order = topologicalOrder()
        withNoGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): gradient]
            for t in order {
                let id = ObjectIdentifier(t)
                guard let g = grads.removeValue(forKey: id) else { t.node = nil; continue }
                if t.isLeaf || t.retainsGrad { t.accumulateGrad(g) }
                guard let node = t.node else {
                    precondition(t.isLeaf, "backward: a tensor on the path (from op) was freed by an earlier backward()")
                    continue
                }
                let inputGrads = node.vjp(g)
                t.node = nil
                for (input, ig) in zip(node.inputs, inputGrads) {
                    guard input.requiresGrad, let ig else { continue }
                    let key = ObjectIdentifier(input)
                    if let prev = grads[key] { grads[key] = prev + ig } else { grads[key] = ig }
                }
            }
        }
    }

    /// Adds `g` into `.grad`, copying on first use so that no two tensors share a gradient buffer.
    func accumulateGrad(_ g: Tensor) {
        if let existing = grad { grad = existing + g } else { grad = g.copy() }
    }

    /// Clears the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGrad() { grad = nil }

    /// Graph nodes reachable from self, outputs before inputs, by an iterative depth-first search.
    func topologicalOrder() -> [Tensor] {
        var visited = Set<ObjectIdentifier>()
        var postOrder: [Tensor] = []
        var stack: [(Tensor, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (t, start) = stack.popLast() {
            let inputs = t.node?.inputs ?? []
            var i = start
            var descended = false
            while i < inputs.count {
                let c = inputs[i]
                i += 1
                if c.requiresGrad && visited.insert(ObjectIdentifier(c)).inserted {
                    stack.append((t, i))   // resume t after this child
                    stack.append((c, 0))
                    descended = true
                    break
                }
            }
            if !descended { postOrder.append(t) }
        }
        return postOrder.reversed()
    }

    /// Storage of `count` ones.
    static func onesStorage(count: Int, dtype: DType) -> TensorStorage {
        let s = TensorStorage(count: count, dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: s.pointer(Float.self).update(repeating: 1, count: count)
        case .float64: s.pointer(Double.self).update(repeating: 1, count: count)
        }
        return s
    }

    /// Number of recorded ops reachable from this tensor (for tests and debugging).
    public var graphSize: Int { topologicalOrder().filter { $0.node != nil }.count }

    /// Name of the op that produced this tensor, while its graph is alive (like PyTorch's `grad_fn`).
    public var gradFunctionName: String? { node?.op }
}

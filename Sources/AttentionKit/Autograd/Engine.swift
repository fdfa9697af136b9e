/// Reverse-mode autograd: a define-by-run tape like PyTorch's.
///
/// Every differentiable op computes its forward result and then calls `record`, handing over a closure that maps
/// the upstream gradient of the output to the gradients of each input (its vector-Jacobian product). `backward()`
/// sorts the graph topologically without recursion, runs those closures in reverse order with gradient recording
/// off, sums gradients of tensors used more than once, stores the result in the leaves' `.grad`, and frees the
/// graph (closures and the tensors they saved) as it goes.

/// One recorded op: its name, the edges to its inputs' producers and its vector-Jacobian product.
///
/// A node does not hold its input tensors, only where their gradients go: the op that produced each (a non-leaf)
/// or the leaf itself (where gradients accumulate). Input values live only as long as some vjp captured them — an
/// add's or a dropout's inputs are freed as soon as the caller lets go of them (PyTorch saves tensors the same way:
/// per op, only what its backward reads). In a transformer that frees each layer's projection and second linear
/// outputs, and the logits once the loss has saved what it needs.
final class GradNode {
    let op: String
    private(set) var inputs: [GradEdge]
    /// Maps the output's gradient to one gradient per input (nil where an input needs none); nil once it has run,
    /// which frees what it saved.
    var vjp: ((Tensor) -> [Tensor?])?
    /// The tensor this node produced, while someone holds it (for `retainsGrad` and for detaching it afterwards).
    weak var output: Tensor?

    init(op: String, inputs: [GradEdge], vjp: @escaping (Tensor) -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.vjp = vjp
    }
}

/// Where an input's gradient goes.
enum GradEdge {
    /// The input needs no gradient.
    case none
    /// A leaf that requires grad: gradients accumulate in its `.grad`.
    case leaf(Tensor)
    /// A non-leaf: its gradient continues into the op that produced it.
    case node(GradNode)
    /// A non-leaf whose graph an earlier `backward()` already freed.
    case freed(op: String)

    init(_ t: Tensor) {
        guard t.requiresGrad else { self = .none; return }
        if let n = t.node { self = .node(n) } else if t.isLeaf { self = .leaf(t) } else { self = .freed(op: "tensor") }
    }

    /// The graph vertex the edge leads to (nil for `.none` and `.freed`).
    var vertex: GradVertex? {
        switch self {
        case .none, .freed: return nil
        case .leaf(let t): return .leaf(t)
        case .node(let n): return .node(n)
        }
    }
}

/// A vertex of the backward graph: an op node, or a leaf tensor.
enum GradVertex {
    case node(GradNode)
    case leaf(Tensor)

    var id: ObjectIdentifier {
        switch self {
        case .node(let n): return ObjectIdentifier(n)
        case .leaf(let t): return ObjectIdentifier(t)
        }
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
    let node = GradNode(op: op, inputs: inputs.map(GradEdge.init), vjp: vjp)
    node.output = out
    out.node = node
    return out
}

extension Tensor {
    /// Backpropagates from a scalar (one-element) tensor: d(self)/d(self) = 1.
    public func backward() {
        precondition(
            count == 1, "backward: called on a tensor of shape \(fmt(shape)); pass an explicit gradient for non-scalars"
        )
        backward(Tensor(shape: shape, storage: Tensor.onesStorage(count: 1, dtype: dtype)))
    }

    /// Backpropagates with an explicit upstream gradient of this tensor's shape (PyTorch's `backward(gradient)`).
    ///
    /// Leaf gradients accumulate (`+=`) across calls until `zeroGrad()`. The graph is freed afterwards; calling
    /// backward through it again stops with an error.
    public func backward(_ gradient: Tensor) {
        checked { () throws(ShapeError) in try Shape.same(shape, gradient.shape, op: "backward (tensor vs gradient)") }
        precondition(requiresGrad, "backward: tensor does not require grad and has no graph")
        precondition(
            !(isNonLeaf && node == nil), "backward: the graph of this tensor was already freed by an earlier backward()"
        )
        guard let root = node else { withNoGrad { accumulateGrad(gradient) }; return }
        let order = GradVertex.node(root).topologicalOrder()
        withNoGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): gradient]
            for v in order {
                let g = grads.removeValue(forKey: v.id)
                switch v {
                case .leaf(let t):
                    if let g { t.accumulateGrad(g) }
                case .node(let n):
                    guard let g else { n.release(); continue }
                    if let out = n.output, out.retainsGrad { out.accumulateGrad(g) }
                    guard let vjp = n.vjp else {
                        preconditionFailure(
                            "backward: a tensor on the path (from \(n.op)) was freed by an earlier backward()")
                    }
                    let inputGrads = vjp(g), edges = n.inputs
                    n.release()
                    for (edge, ig) in zip(edges, inputGrads) {
                        guard let ig else { continue }
                        if case .freed(let op) = edge {
                            preconditionFailure(
                                "backward: a tensor on the path (from \(op)) was freed by an earlier backward()")
                        }
                        guard let key = edge.vertex?.id else { continue }
                        if let prev = grads[key] { grads[key] = prev + ig } else { grads[key] = ig }
                    }
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

    /// Ops reachable from self, outputs before inputs (empty for a tensor without a live graph).
    func topologicalOrder() -> [GradVertex] {
        guard let node else { return [] }
        return GradVertex.node(node).topologicalOrder()
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
    public var graphSize: Int {
        topologicalOrder().filter {
            if case .node(let n) = $0 { return n.vjp != nil }; return false
        }.count
    }

    /// Name of the op that produced this tensor, while its graph is alive (like PyTorch's `grad_fn`).
    public var gradFunctionName: String? { node?.op }
}

extension GradNode {
    /// Frees what the vjp saved, drops the edges and detaches the output (its graph is gone, as after PyTorch's
    /// backward). Called in topological order, so each input node is still held by the backward pass's list when an
    /// edge to it goes: a deep chain is freed node by node, never by a recursion of deinits.
    func release() {
        vjp = nil
        inputs = []
        output?.node = nil
    }
}

extension GradVertex {
    /// Vertices reachable from self, outputs before inputs, by an iterative depth-first search.
    func topologicalOrder() -> [GradVertex] {
        var visited = Set<ObjectIdentifier>([id])
        var postOrder: [GradVertex] = []
        var stack: [(GradVertex, Int)] = [(self, 0)]
        while let (v, start) = stack.popLast() {
            var descended = false
            if case .node(let n) = v {
                var i = start
                while i < n.inputs.count {
                    let edge = n.inputs[i]
                    i += 1
                    guard let c = edge.vertex else { continue }
                    if visited.insert(c.id).inserted {
                        stack.append((v, i))  // resume v after this child
                        stack.append((c, 0))
                        descended = true
                        break
                    }
                }
            }
            if !descended { postOrder.append(v) }
        }
        return postOrder.reversed()
    }
}

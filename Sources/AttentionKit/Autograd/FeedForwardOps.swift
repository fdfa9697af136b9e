// The transformer feed-forward block linear2(act(linear1(x))) as one differentiable op that recomputes act.

import CKernels

extension FeedForwardActivation {
    /// (act(h), ∂act/∂h ⊙ g): for GELU in one pass that evaluates erf once per element.
    func valueAndGradient(_ g: Tensor, input h: Tensor) -> (value: Tensor, gradient: Tensor) {
        guard self == .gelu, g.shape == h.shape, g.dtype == h.dtype else { return (apply(h), gradient(g, input: h)) }
        let a = Tensor(shape: h.shape, dtype: h.dtype, zeroed: false),
            gh = Tensor(shape: h.shape, dtype: h.dtype, zeroed: false)
        if h.dtype == .float32 && Kernels.avx2 {  // the loop below, 8 or 16 lanes at a time: the same bits
            let ph = UnsafePointer(h.storage.pointer(Float.self)), pg = UnsafePointer(g.storage.pointer(Float.self))
            let pa = a.storage.pointer(Float.self), pgh = gh.storage.pointer(Float.self)
            let kernel = Kernels.avx512 ? ak_gelu_erf_and_grad_avx512 : ak_gelu_erf_and_grad_avx2
            parallelBlocks(h.count, costPerElement: 40) { s, c in kernel(pg + s, ph + s, pa + s, pgh + s, c) }
            return (a, gh)
        }
        func run<T: TensorScalar>(_: T.Type) {
            let ph = h.storage.pointer(T.self), pg = g.storage.pointer(T.self)
            let pa = a.storage.pointer(T.self), pgh = gh.storage.pointer(T.self)
            parallelFor(h.count, costPerItem: 40) { r in
                for i in r { let (v, d) = T.geluErfAndGrad(pg[i], ph[i]); pa[i] = v; pgh[i] = d }
            }
        }
        switch h.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        return (a, gh)
    }

    /// ∂act/∂h ⊙ g, from the activation's input h.
    func gradient(_ g: Tensor, input h: Tensor) -> Tensor {
        switch self {
        case .relu: return mapBinary(g, h, ReluGradK(), op: "relu_backward")
        case .gelu: return mapBinary(g, h, GeluErfGradK(), op: "gelu_backward")
        case .geluTanh: return mapBinary(g, h, GeluTanhGradK(), op: "gelu_backward")
        }
    }
}

/// y = act(x·W1ᵀ + b1)·W2ᵀ + b2, saving x and h = x·W1ᵀ + b1 but not act(h): the backward recomputes act(h) (one
/// elementwise pass) instead of keeping a [rows, F] tensor per layer alive from forward to backward — at 4× MLP width a
/// fifth of a ViT layer's saved activations (Megatron-LM's selective recomputation, for the activation only).
/// Forward values are those of the three ops in sequence; the backward is theirs written out:
/// ∂W2 = gᵀ·act(h), ∂b2 = Σg, ∂h = act′(h) ⊙ (g·W2), ∂W1 = ∂hᵀ·x, ∂b1 = Σ∂h, ∂x = ∂h·W1.
/// Used by the transformer layers when no dropout sits between act and linear2 (evaluation, or p = 0).
func feedForwardOp(_ x: Tensor, _ l1: Linear, _ l2: Linear, activation: FeedForwardActivation) -> Tensor {
    let h = withNoGrad { l1(x) }
    let y = withNoGrad { l2(activation.apply(h)) }
    let w1 = l1.weight, b1 = l1.bias, w2 = l2.weight, b2 = l2.bias
    let inputs = [x, w1] + [b1].compactMap { $0 } + [w2] + [b2].compactMap { $0 }
    return record("feedForward", y, inputs) { g in
        let f = h.shape[h.rank - 1], d = g.shape[g.rank - 1], din = x.shape[x.rank - 1]
        let g2 = g.reshape([-1, d])
        let ga = matmul(g, w2)  // [.., F]
        let (a, gh) = activation.valueAndGradient(ga, input: h)  // act(h) recomputed, and ∂h
        let gw2 = w2.requiresGrad ? matmul(g2, a.reshape([-1, f]), transposeA: true) : nil  // [D, F]
        let gb2 = b2.map { $0.requiresGrad ? g2.sumCopy(to: $0.shape) : nil } ?? nil
        let gh2 = gh.reshape([-1, f])
        let gw1 = w1.requiresGrad ? matmul(gh2, x.reshape([-1, din]), transposeA: true) : nil  // [F, Din]
        let gb1 = b1.map { $0.requiresGrad ? gh2.sumCopy(to: $0.shape) : nil } ?? nil
        let gx = x.requiresGrad ? matmul(gh, w1) : nil  // [.., Din]
        var grads: [Tensor?] = [gx, gw1]
        if b1 != nil { grads.append(gb1) }
        grads.append(gw2)
        if b2 != nil { grads.append(gb2) }
        return grads
    }
}

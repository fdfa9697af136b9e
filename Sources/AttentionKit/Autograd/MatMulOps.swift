// Differentiable matrix product: forward and vector-Jacobian products, all through GEMM transpose flags.

/// Matrix product op(a)·op(b), batched with broadcasting over leading dimensions (`torch.matmul` for rank ≥ 2;
/// 1-D operands are promoted to a row/column and the added dimension removed, as in PyTorch).
///
/// `transposeA`/`transposeB` transpose the last two dimensions without copying (the flag goes to `cblas_sgemm`).
/// Backward, for C = A·B: ∂A = ∂C·Bᵀ, ∂B = Aᵀ·∂C (and the transposed variants), summed over broadcast batches.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    if a.rank == 1 || b.rank == 1 {
        precondition(!(transposeA || transposeB) || (a.rank > 1 && b.rank > 1), "matmul: transpose flags need 2-D operands")
        let a2 = a.rank == 1 ? a.unsqueeze(0) : a
        let b2 = b.rank == 1 ? b.unsqueeze(1) : b
        var r = matmul(a2, b2, transposeA: transposeA, transposeB: transposeB)
        if b.rank == 1 { r = r.squeeze(-1) }
        if a.rank == 1 { r = r.squeeze(a.rank == 1 && b.rank == 1 ? 0 : -2) }
        return r
    }
    let out = matmulKernel(a, b, transposeA: transposeA, transposeB: transposeB)
    return record("matmul", out, [a, b]) { g in
        var ga: Tensor? = nil, gb: Tensor? = nil
        if a.requiresGrad {
            switch (transposeA, transposeB) {
            case (false, false): ga = matmulKernel(g, b, transposeA: false, transposeB: true)   // ∂C·Bᵀ
            case (false, true): ga = matmulKernel(g, b, transposeA: false, transposeB: false)   // ∂C·B
            case (true, false): ga = matmulKernel(b, g, transposeA: false, transposeB: true)    // B·∂Cᵀ
            case (true, true): ga = matmulKernel(b, g, transposeA: true, transposeB: true)      // Bᵀ·∂Cᵀ
            }
            ga = ga!.sumCopy(to: a.shape)
        }
        if b.requiresGrad {
            switch (transposeA, transposeB) {
            case (false, false): gb = matmulGradShared(a, g, transposeA: true, transposeB: false, target: b.shape)   // Aᵀ·∂C
            case (true, false): gb = matmulGradShared(a, g, transposeA: false, transposeB: false, target: b.shape)   // A·∂C
            case (false, true): gb = matmulGradShared(g, a, transposeA: true, transposeB: false, target: b.shape)    // ∂Cᵀ·A
            case (true, true): gb = matmulGradShared(g, a, transposeA: true, transposeB: true, target: b.shape)      // ∂Cᵀ·Aᵀ
            }
        }
        return [ga, gb]
    }
}

/// Gradient of an operand whose batch dimensions were broadcast: when the target is a plain matrix and the
/// other operands share one batch shape, fold the batch into the contraction (one GEMM, no per-batch sum).
private func matmulGradShared(_ x: Tensor, _ y: Tensor, transposeA: Bool, transposeB: Bool, target: [Int]) -> Tensor {
    if transposeA && !transposeB && target.count == 2 && x.rank > 2 && x.shape.dropLast(2) == y.shape.dropLast(2) {
        // Σ_batch X_iᵀ·Y_i: stack the batch along the contraction axis, one GEMM
        let xf = x.reshape([-1, x.shape[x.rank - 1]]), yf = y.reshape([-1, y.shape[y.rank - 1]])
        return matmulKernel(xf, yf, transposeA: true, transposeB: false)
    }
    return matmulKernel(x, y, transposeA: transposeA, transposeB: transposeB).sumCopy(to: target)
}

extension Tensor {
    /// `matmul(self, other)`.
    public func matmul(_ other: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        AttentionKit.matmul(self, other, transposeA: transposeA, transposeB: transposeB)
    }
}

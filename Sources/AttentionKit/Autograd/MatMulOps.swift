// Differentiable matrix product: forward and vector-Jacobian products, all through GEMM transpose flags.

/// Matrix product op(a)·op(b), batched with broadcasting over leading dimensions (`torch.matmul` for rank ≥ 2;
/// 1-D operands are promoted to a row/column and the added dimension removed, as in PyTorch).
///
/// `transposeA`/`transposeB` transpose the last two dimensions without copying (the flag goes to `cblas_sgemm`).
/// Backward, for C = A·B: ∂A = ∂C·Bᵀ, ∂B = Aᵀ·∂C (and the transposed variants), summed over broadcast batches.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    if a.rank == 1 || b.rank == 1 {
        precondition(
            !(transposeA || transposeB) || (a.rank > 1 && b.rank > 1), "matmul: transpose flags need 2-D operands")
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
            case (false, false): ga = matmulKernel(g, b, transposeA: false, transposeB: true)  // ∂C·Bᵀ
            case (false, true): ga = matmulKernel(g, b, transposeA: false, transposeB: false)  // ∂C·B
            case (true, false): ga = matmulKernel(b, g, transposeA: false, transposeB: true)  // B·∂Cᵀ
            case (true, true): ga = matmulKernel(b, g, transposeA: true, transposeB: true)  // Bᵀ·∂Cᵀ
            }
            ga = ga!.sumCopy(to: a.shape)
        }
        if b.requiresGrad {
            switch (transposeA, transposeB) {
            // Aᵀ·∂C
            case (false, false): gb = matmulGradShared(a, g, transposeA: true, transposeB: false, target: b.shape)
            // A·∂C
            case (true, false): gb = matmulGradShared(a, g, transposeA: false, transposeB: false, target: b.shape)
            // ∂Cᵀ·A
            case (false, true): gb = matmulGradShared(g, a, transposeA: true, transposeB: false, target: b.shape)
            // ∂Cᵀ·Aᵀ
            case (true, true): gb = matmulGradShared(g, a, transposeA: true, transposeB: true, target: b.shape)
            }
        }
        return [ga, gb]
    }
}

/// Gradient of an operand whose batch dimensions were broadcast: when the target is a plain matrix and the
/// other operands share one batch shape, fold the batch into the contraction (one GEMM, no per-batch sum).
/// The fully connected op y = x·Wᵀ + b in one GEMM: the output is first filled with the bias rows and the GEMM adds
/// x·Wᵀ onto it (β = 1), which saves the separate bias pass and the zeroing that GEMM does for β = 0.
/// x [..., in], W [out, in], b [out] → y [..., out]. Backward: ∂x = ∂y·W, ∂W = ∂yᵀ·x (batch folded into the
/// contraction), ∂b = Σ ∂y over the leading axes.
func linearOp(_ x: Tensor, weight: Tensor, bias: Tensor) -> Tensor {
    let inF = weight.shape[1], outF = weight.shape[0]
    guard x.rank >= 1, x.shape[x.rank - 1] == inF, bias.shape == [outF], x.dtype == weight.dtype,
        bias.dtype == weight.dtype
    else {
        // shapes the GEMM path does not take: the composed ops report them
        return matmul(x, weight, transposeB: true) + bias
    }
    let rows = x.count / max(inF, 1)
    let out = Tensor(shape: Array(x.shape.dropLast()) + [outF], dtype: x.dtype, zeroed: false)
    func forward<T: GemmScalar>(_: T.Type) {
        let px = x.storage.pointer(T.self), pw = weight.storage.pointer(T.self), pb = bias.storage.pointer(T.self)
        let po = out.storage.pointer(T.self)
        parallelFor(rows, costPerItem: outF) { r in for i in r { (po + i * outF).update(from: pb, count: outF) } }
        if rows > 0 && inF > 0 {
            T.gemm(
                transA: false, transB: true, m: rows, n: outF, k: inF, a: px, lda: inF, b: pw, ldb: inF, beta: 1, c: po,
                ldc: outF)
        }
    }
    switch x.dtype {
    case .float32: forward(Float.self)
    case .float64: forward(Double.self)
    }
    return record("linear", out, [x, weight, bias]) { g in
        let gx = x.requiresGrad ? matmulKernel(g, weight, transposeA: false, transposeB: false) : nil  // ∂y·W
        let gw =
            weight.requiresGrad
            ? matmulGradShared(g, x, transposeA: true, transposeB: false, target: weight.shape) : nil  // ∂yᵀ·x
        let gb = bias.requiresGrad ? g.sumCopy(to: bias.shape) : nil
        return [gx, gw, gb]
    }
}

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

// Fused normalisation ops with their backward passes (llm.c style: forward saves mean and 1/σ).

/// Gradients in the order of the recorded inputs [x, γ?, β?] (the optional affine parameters only when present).
private func affineGradients(_ dx: Tensor, _ dgamma: Tensor?, _ dbeta: Tensor?) -> [Tensor?] {
    [dx] + [dgamma, dbeta].compactMap { $0 }
}

/// One row of layer normalisation, `row` → `y` (another row: the same one would keep the loop from vectorising):
/// returns the row's mean and 1/σ.
@inline(__always)
private func normalizeRow<T: TensorScalar>(
    _ row: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, _ d: Int, eps: Double, _ pg: UnsafePointer<T>?,
    _ pb: UnsafePointer<T>?
) -> (mean: T, rstd: T) {
    let mean = vectorSum(row, d) / T(d)
    let v = vectorSumSquaredDeviations(row, d, mean: mean)
    let rstd = 1 / (v / T(d) + T(eps)).squareRoot()
    if let pg, let pb {
        for i in 0..<d { y[i] = (row[i] - mean) * rstd * pg[i] + pb[i] }
    } else if let pg {
        for i in 0..<d { y[i] = (row[i] - mean) * rstd * pg[i] }
    } else if let pb {
        for i in 0..<d { y[i] = (row[i] - mean) * rstd + pb[i] }
    } else {
        for i in 0..<d { y[i] = (row[i] - mean) * rstd }
    }
    return (mean, rstd)
}

/// Layer normalisation of a residual sum for inference, one pass over the rows (no graph is recorded; the caller
/// checks that no input needs a gradient): each row of x + r is written and normalised while it is in cache, into
/// `sum` when the sum is wanted too (pre-norm blocks carry it on) or a scratch row (post-norm). The same
/// values as `x + r` and `layerNormOp(x + r)`, bit for bit, without the separate add pass (or its re-read).
func addLayerNormInference(
    _ x: Tensor, _ r: Tensor, gamma: Tensor?, beta: Tensor?, normalizedCount d: Int, eps: Double, keepSum: Bool
) -> (sum: Tensor?, normalized: Tensor) {
    precondition(
        x.shape == r.shape && x.dtype == r.dtype && d > 0 && x.count % d == 0,
        "addLayerNorm: \(fmt(x.shape)) + \(fmt(r.shape)) over \(d) elements")
    let rows = x.count / d
    let out = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
    let sum = keepSum ? Tensor(shape: x.shape, dtype: x.dtype, zeroed: false) : nil
    func forward<T: TensorScalar>(_: T.Type) {
        let px = x.storage.pointer(T.self), pr = r.storage.pointer(T.self), py = out.storage.pointer(T.self)
        let psum = sum?.storage.pointer(T.self)
        let pg = gamma.map { UnsafePointer($0.storage.pointer(T.self)) }
        let pb = beta.map { UnsafePointer($0.storage.pointer(T.self)) }
        parallelFor(rows, costPerItem: 5 * d) { range in
            // without `sum`, each row's sum goes to a scratch row in L1 (normalising a row onto itself through two
            // overlapping pointers would keep the loop from vectorising)
            let scratch = psum == nil ? UnsafeMutablePointer<T>.allocate(capacity: d) : nil
            defer { scratch?.deallocate() }
            for row in range {
                let a = px + row * d, b = pr + row * d, s = psum.map { $0 + row * d } ?? scratch!
                for i in 0..<d { s[i] = a[i] + b[i] }
                _ = normalizeRow(s, into: py + row * d, d, eps: eps, pg, pb)
            }
        }
    }
    switch x.dtype {
    case .float32: forward(Float.self)
    case .float64: forward(Double.self)
    }
    return (sum, out)
}

/// Layer normalisation over the last `d` elements of each row:
/// y = (x − μ)·rstd·γ + β, μ and σ² the row's mean and biased variance, rstd = 1/√(σ² + ε).
/// Backward: x̂ = (x−μ)·rstd, ∂β = Σ dy, ∂γ = Σ dy·x̂, ∂x = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = dy·γ.
func layerNormOp(_ x: Tensor, gamma: Tensor?, beta: Tensor?, normalizedCount d: Int, eps: Double) -> Tensor {
    precondition(d > 0 && x.count % d == 0, "layerNorm: \(d) normalised elements do not divide shape \(fmt(x.shape))")
    let rows = x.count / d
    let out = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
    let stats = Tensor(shape: [rows, 2], dtype: x.dtype, zeroed: false)  // mean, rstd per row
    func forward<T: TensorScalar>(_: T.Type) {
        let px = x.storage.pointer(T.self), py = out.storage.pointer(T.self), ps = stats.storage.pointer(T.self)
        let pg = gamma?.storage.pointer(T.self), pb = beta?.storage.pointer(T.self)
        parallelFor(rows, costPerItem: 4 * d) { range in
            for r in range {
                (ps[2 * r], ps[2 * r + 1]) = normalizeRow(px + r * d, into: py + r * d, d, eps: eps, pg, pb)
            }
        }
    }
    switch x.dtype {
    case .float32: forward(Float.self)
    case .float64: forward(Double.self)
    }
    let inputs = [x] + [gamma, beta].compactMap { $0 }
    return record("layerNorm", out, inputs) { g in
        let dx = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
        let dgamma = gamma.map { Tensor.zeros(like: $0) }, dbeta = beta.map { Tensor.zeros(like: $0) }
        func backward<T: TensorScalar>(_: T.Type) {
            let px = x.storage.pointer(T.self), pg = g.storage.pointer(T.self), ps = stats.storage.pointer(T.self)
            let pdx = dx.storage.pointer(T.self)
            let gam = gamma?.storage.pointer(T.self)
            let dgam = dgamma?.storage.pointer(T.self), dbet = dbeta?.storage.pointer(T.self)
            // Rows in one contiguous block per thread, each with its own ∂γ/∂β partial sums, added in block order
            // afterwards (deterministic for a given thread count).
            let blocks = max(1, min(Parallel.threads, rows))
            let partial = UnsafeMutablePointer<T>.allocate(capacity: blocks * 2 * d)
            partial.initialize(repeating: 0, count: blocks * 2 * d)
            defer { partial.deallocate() }
            parallelFor(blocks, costPerItem: max(1, rows / blocks) * 8 * d) { range in
                for block in range {
                    let pdg = partial + block * 2 * d, pdb = partial + block * 2 * d + d
                    for r in (block * rows / blocks)..<((block + 1) * rows / blocks) {
                        let row = px + r * d, dy = pg + r * d, out = pdx + r * d
                        let mean = ps[2 * r], rstd = ps[2 * r + 1]
                        // Σ dx̂ and Σ dx̂·x̂ (= rstd·Σ dx̂·(x − μ)), vectorised; then the elementwise passes
                        let sums =
                            gam.map { vectorWeightedSumAndCenteredDot(dy, $0, row, d, mean: mean) }
                            ?? vectorSumAndCenteredDot(dy, row, d, mean: mean)
                        let meanD = sums.sum / T(d), meanDX = sums.dot * rstd / T(d)
                        for i in 0..<d {
                            let xhat = (row[i] - mean) * rstd
                            pdg[i] += dy[i] * xhat
                            pdb[i] += dy[i]
                        }
                        if let gam {
                            for i in 0..<d {
                                out[i] = rstd * (dy[i] * gam[i] - meanD - (row[i] - mean) * rstd * meanDX)
                            }
                        } else {
                            for i in 0..<d { out[i] = rstd * (dy[i] - meanD - (row[i] - mean) * rstd * meanDX) }
                        }
                    }
                }
            }
            for block in 0..<blocks {
                if let dgam { for i in 0..<d { dgam[i] += partial[block * 2 * d + i] } }
                if let dbet { for i in 0..<d { dbet[i] += partial[block * 2 * d + d + i] } }
            }
        }
        switch x.dtype {
        case .float32: backward(Float.self)
        case .float64: backward(Double.self)
        }
        return affineGradients(dx, dgamma, dbeta)
    }
}

/// Batch normalisation over channel axis 1 of x [B, C, S…]: per channel, statistics over batch and spatial positions.
///
/// Training (`batchStats`): μ, σ² (biased) from the batch; y = (x−μ)·rstd·γ + β; the batch μ and unbiased σ² are
/// returned for the running-statistics update. Backward: ∂x = (γ·rstd/N)·(N·dy − Σdy − x̂·Σ dy·x̂).
/// Evaluation: μ, σ² given (running statistics), treated as constants: ∂x = dy·γ·rstd.
/// `relu`: the ReLU that follows in a conv → BN → ReLU block, fused (y = max(0, ·), one pass instead of two; backward
/// masks dy by y > 0 first).
func batchNormOp(
    _ x: Tensor, gamma: Tensor?, beta: Tensor?, mean givenMean: Tensor?, variance givenVar: Tensor?,
    eps: Double, relu: Bool = false
) -> (output: Tensor, batchMean: Tensor, batchVariance: Tensor) {
    precondition(x.rank >= 2, "batchNorm: input shape \(fmt(x.shape)) needs a channel axis 1")
    let b = x.shape[0], c = x.shape[1], s = x.shape.dropFirst(2).reduce(1, *)
    let n = b * s
    let useBatch = givenMean == nil
    precondition(
        !useBatch || n > 1,
        "batchNorm: expected more than 1 value per channel in training, got input shape \(fmt(x.shape))")
    let out = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
    // batch stats (unbiased var)
    let meanT = Tensor.zeros([c], dtype: x.dtype), varT = Tensor.zeros([c], dtype: x.dtype)
    let rstdT = Tensor.zeros([c], dtype: x.dtype), muT = Tensor.zeros([c], dtype: x.dtype)  // what normalised
    func forward<T: TensorScalar>(_: T.Type) {
        let px = x.storage.pointer(T.self), py = out.storage.pointer(T.self)
        let pm = meanT.storage.pointer(T.self), pv = varT.storage.pointer(T.self)
        let pr = rstdT.storage.pointer(T.self), pmu = muT.storage.pointer(T.self)
        let pg = gamma?.storage.pointer(T.self), pb = beta?.storage.pointer(T.self)
        let gm = givenMean?.storage.pointer(T.self), gv = givenVar?.storage.pointer(T.self)
        parallelFor(c, costPerItem: 3 * n) { channels in
            for ch in channels {
                var mu: T, variance: T
                if useBatch {
                    var sum: T = 0
                    for bi in 0..<b { sum += vectorSum(px + (bi * c + ch) * s, s) }
                    mu = sum / T(n)
                    var sq: T = 0
                    for bi in 0..<b { sq += vectorSumSquaredDeviations(px + (bi * c + ch) * s, s, mean: mu) }
                    variance = sq / T(n)
                    pm[ch] = mu
                    pv[ch] = n > 1 ? sq / T(n - 1) : 0
                } else {
                    mu = gm![ch]
                    variance = gv![ch]
                }
                let rstd = 1 / (variance + T(eps)).squareRoot()
                pr[ch] = rstd
                pmu[ch] = mu
                let scale = (pg?[ch] ?? 1) * rstd, shift = (pb?[ch] ?? 0) - mu * scale
                for bi in 0..<b {
                    let p = px + (bi * c + ch) * s, q = py + (bi * c + ch) * s
                    if relu {
                        for k in 0..<s { q[k] = Swift.max(p[k] * scale + shift, 0) }
                    } else {
                        for k in 0..<s { q[k] = p[k] * scale + shift }
                    }
                }
            }
        }
    }
    switch x.dtype {
    case .float32: forward(Float.self)
    case .float64: forward(Double.self)
    }
    let inputs = [x] + [gamma, beta].compactMap { $0 }
    let outStorage = out.storage  // the fused ReLU's mask (the storage, not the tensor: no cycle through its node)
    let result = record(relu ? "batchNormReLU" : "batchNorm", out, inputs) { g in
        let dx = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
        let dgamma = gamma.map { Tensor.zeros(like: $0) }, dbeta = beta.map { Tensor.zeros(like: $0) }
        func backward<T: TensorScalar>(_: T.Type) {
            let px = x.storage.pointer(T.self), pdx = dx.storage.pointer(T.self)
            let pr = rstdT.storage.pointer(T.self), pmu = muT.storage.pointer(T.self)
            let gam = gamma?.storage.pointer(T.self)
            let pdg = dgamma?.storage.pointer(T.self), pdb = dbeta?.storage.pointer(T.self)
            // with the fused ReLU, the upstream gradient masked by y > 0 goes first into dx (rewritten in place below)
            let pg = relu ? UnsafeMutablePointer(pdx) : g.storage.pointer(T.self)
            parallelFor(c, costPerItem: 3 * n) { channels in
                for ch in channels {
                    let mu = pmu[ch], rstd = pr[ch], gm = gam?[ch] ?? 1
                    if relu {
                        let gy = g.storage.pointer(T.self), py = outStorage.pointer(T.self)
                        for bi in 0..<b { let o = (bi * c + ch) * s; vectorMaskByPositive(pdx + o, gy + o, py + o, s) }
                    }
                    var sumDy: T = 0, sumDyXc: T = 0
                    for bi in 0..<b {
                        let o = (bi * c + ch) * s
                        let r = vectorSumAndCenteredDot(pg + o, px + o, s, mean: mu)
                        sumDy += r.sum
                        sumDyXc += r.dot
                    }
                    let sumDyXhat = sumDyXc * rstd
                    pdg?[ch] = sumDyXhat
                    pdb?[ch] = sumDy
                    for bi in 0..<b {
                        let p = px + (bi * c + ch) * s, dy = pg + (bi * c + ch) * s, q = pdx + (bi * c + ch) * s
                        if useBatch {
                            // k1·(n·dy − Σdy − (x − μ)·rstd·Σdy·x̂), k1 = γ·rstd/n
                            let k1 = gm * rstd / T(n)
                            vectorNormalizationBackward(
                                q, dy, p, s, a: k1 * T(n), b: k1 * rstd * sumDyXhat, c: k1 * sumDy, mean: mu)
                        } else {
                            for k in 0..<s { q[k] = dy[k] * gm * rstd }
                        }
                    }
                }
            }
        }
        switch x.dtype {
        case .float32: backward(Float.self)
        case .float64: backward(Double.self)
        }
        return affineGradients(dx, dgamma, dbeta)
    }
    return (result, meanT, varT)
}

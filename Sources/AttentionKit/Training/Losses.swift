import RealModule

/// How a per-element loss is reduced (PyTorch's `reduction=`).
public enum Reduction: Sendable {
    case mean, sum, none
}

/// Loss functions. Targets holding class indices are float tensors of integral values (shape [N] or [N, d…]).
public enum Loss {
    /// Cross-entropy from logits [N, C] (or [N, C, d…]) and class indices [N] (or [N, d…]), fused and stable.
    ///
    /// With label smoothing ε the target distribution is q = (1−ε)·onehot + ε/C, and per sample
    /// ℓ = −Σ_c q_c·log softmax(x)_c. Samples whose target equals `ignoreIndex` contribute nothing; `.mean` divides by
    /// the number of the others (as PyTorch). Backward: ∂x = (softmax(x) − q)·scale.
    /// `crossEntropy` with class indices given as integers (token ids, labels): [N] for logits [N, C].
    public static func crossEntropy(
        _ logits: Tensor, _ targets: [Int], ignoreIndex: Int? = nil,
        labelSmoothing: Float = 0, weight: [Float]? = nil, reduction: Reduction = .mean
    ) -> Tensor {
        crossEntropy(
            logits, Tensor(targets.map(Float.init), shape: [targets.count]), ignoreIndex: ignoreIndex,
            labelSmoothing: labelSmoothing, weight: weight, reduction: reduction)
    }

    /// - Parameters:
    ///   - logits: [N, C] (or [N, C, d…]).
    ///   - targets: class indices as floats of integral values, [N] (or [N, d…]).
    ///   - ignoreIndex: a target value that contributes nothing (padding).
    ///   - labelSmoothing: ε: the target distribution is (1−ε)·onehot + ε/C.
    ///   - weight: a weight per class (PyTorch's `weight=`): each target's loss is scaled by its class's
    ///     weight, the smoothing term by each class's, and `.mean` divides by the summed weights of the targets.
    ///   - reduction: mean over the (weighted) targets, sum, or none (per target).
    public static func crossEntropy(
        _ logits: Tensor, _ targets: Tensor, ignoreIndex: Int? = nil,
        labelSmoothing: Float = 0, weight: [Float]? = nil, reduction: Reduction = .mean
    ) -> Tensor {
        precondition(
            labelSmoothing >= 0 && labelSmoothing <= 1,
            "crossEntropy: label smoothing \(labelSmoothing) is outside [0, 1]")
        // Move classes last: [N, C, d…] → [N·d…, C].
        let x: Tensor, outShape: [Int]
        guard logits.rank >= 2 else {
            shapeFailure(ShapeError("crossEntropy: logits \(fmt(logits.shape)) need shape [N, C] or [N, C, d…]"))
        }
        let c = logits.shape[1]
        if logits.rank == 2 {
            x = logits
            outShape = [logits.shape[0]]
        } else {
            let order = [0] + Array(2..<logits.rank) + [1]
            x = logits.permute(order).reshape([-1, c])
            outShape = [logits.shape[0]] + Array(logits.shape[2...])
        }
        guard targets.shape == outShape else {
            shapeFailure(
                ShapeError(
                    "crossEntropy: logits \(fmt(logits.shape)) and targets \(fmt(targets.shape)) do not match (targets should be \(fmt(outShape)))"
                ))
        }
        let n = x.shape[0]
        let t = targets.doubles.map { Int($0) }
        for (i, ti) in t.enumerated() where ti != ignoreIndex && (ti < 0 || ti >= c) {
            shapeFailure(ShapeError("crossEntropy: target \(ti) at position \(i) is not a class index in 0..<\(c)"))
        }
        if let weight, weight.count != c {
            shapeFailure(ShapeError("crossEntropy: \(weight.count) class weights for \(c) classes"))
        }
        let w = weight.map { $0.map(Double.init) } ?? [Double](repeating: 1, count: c)
        let wSum = w.reduce(0, +)
        let eps = Double(labelSmoothing)
        let losses = Tensor(shape: [n], dtype: x.dtype, zeroed: true)
        let probs = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
        var counted = 0.0  // the summed weights of the counted targets
        func forward<T: TensorScalar>(_: T.Type) {
            let px = x.storage.pointer(T.self), pl = losses.storage.pointer(T.self), pp = probs.storage.pointer(T.self)
            for i in 0..<n where t[i] != ignoreIndex { counted += w[t[i]] }
            // rows on the thread pool; per row: max, exponentials (a vectorizable pass), their sum, normalise
            parallelFor(n, costPerItem: 8 * c) { rows in
                for i in rows {
                    let row = px + i * c, p = pp + i * c
                    var m = -T.infinity
                    for j in 0..<c { m = Swift.max(m, row[j]) }
                    for j in 0..<c { p[j] = T.expFast(row[j] - m) }
                    var z: T = 0
                    for j in 0..<c { z += p[j] }
                    let logZ = T.log(z)
                    let rz = 1 / z
                    for j in 0..<c { p[j] *= rz }
                    if t[i] == ignoreIndex { continue }
                    // −log p_t = logZ − (x_t − m); the smoothing term: −(1/C) Σ_c w_c log p_c = (1/C) Σ_c w_c (logZ − (x_c − m))
                    var loss = (1 - T(eps)) * T(w[t[i]]) * (logZ - (row[t[i]] - m))
                    if eps > 0 {
                        var smooth: T = 0
                        for j in 0..<c { smooth += T(w[j]) * (logZ - (row[j] - m)) }
                        loss += T(eps) * smooth / T(c)
                    }
                    pl[i] = loss
                }
            }
        }
        switch x.dtype {
        case .float32: forward(Float.self)
        case .float64: forward(Double.self)
        }
        let scale: Double
        let out: Tensor
        switch reduction {
        case .none:
            out = losses.reshape(outShape)
            scale = 1
        case .sum:
            out = losses.reduceKernel([0], .sum, op: "crossEntropy").reshape([])
            scale = 1
        case .mean:
            scale = 1 / counted  // 0 counted → nan, as PyTorch
            out = (losses.reduceKernel([0], .sum, op: "crossEntropy") * Float(scale)).reshape([])
        }
        // The backward reads only the probabilities (not the logits, which are freed once nobody else holds them)
        // and writes ∂x over them in place: the graph runs it once, and the probabilities are needed by nothing else.
        let xShape = x.shape, dtype = x.dtype
        let result = record("crossEntropy", out, [x]) { g in
            let dx = Tensor(shape: xShape, storage: probs.storage)
            let gv = g.doubles
            func backward<T: TensorScalar>(_: T.Type) {
                let pp = probs.storage.pointer(T.self)
                parallelFor(n, costPerItem: 4 * c) { rows in
                    for i in rows {
                        let d = pp + i * c  // p_j on entry, ∂x_j on exit
                        if t[i] == ignoreIndex { d.update(repeating: 0, count: c); continue }
                        // ∂/∂x_j = (1 − ε) w_t (p_j − δ_jt) + (ε/C) (W p_j − w_j), W = Σ_c w_c
                        let g = T(reduction == .none ? gv[i] : gv[0] * scale)
                        let a = (1 - T(eps)) * T(w[t[i]]), b = T(eps) / T(c)
                        for j in 0..<c { d[j] = (a * d[j] + b * (T(wSum) * d[j] - T(w[j]))) * g }
                        d[t[i]] -= a * g
                    }
                }
            }
            switch dtype {
            case .float32: backward(Float.self)
            case .float64: backward(Double.self)
            }
            return [dx]
        }
        return result
    }

    /// Negative log-likelihood from log-probabilities [N, C] and class indices [N]: −logp[i, t_i], reduced.
    public static func nll(_ logProbs: Tensor, _ targets: Tensor, ignoreIndex: Int? = nil, reduction: Reduction = .mean)
        -> Tensor
    {
        guard logProbs.rank == 2, targets.shape == [logProbs.shape[0]] else {
            shapeFailure(
                ShapeError(
                    "nll: log-probabilities \(fmt(logProbs.shape)) and targets \(fmt(targets.shape)) do not match ([N, C] and [N])"
                ))
        }
        let t = targets.doubles.map { Int($0) }
        let keep = Tensor(t.map { $0 == ignoreIndex ? 0 : 1 }, shape: [t.count]).to(logProbs.dtype)
        let safe = Tensor(t.map { Float($0 == ignoreIndex ? 0 : $0) }, shape: [t.count, 1]).to(logProbs.dtype)
        let picked = -logProbs.gather(axis: 1, index: safe).reshape([t.count]) * keep
        return reduce(picked, reduction, count: keep.sum().item())
    }

    /// Mean squared error: (ŷ − y)², reduced.
    public static func mse(_ prediction: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
        checked { () throws(ShapeError) in try Shape.same(prediction.shape, target.shape, op: "mse") }
        let d = prediction - target
        return reduce(d * d, reduction, count: Float(d.count))
    }

    /// Binary cross-entropy from logits, stable: max(x, 0) − x·y + log(1 + e^{−|x|}), reduced.
    /// `posWeight` multiplies the positive term as in PyTorch's `pos_weight`.
    public static func binaryCrossEntropyWithLogits(
        _ logits: Tensor, _ target: Tensor, posWeight: Float? = nil,
        reduction: Reduction = .mean
    ) -> Tensor {
        checked { () throws(ShapeError) in
            try Shape.same(logits.shape, target.shape, op: "binaryCrossEntropyWithLogits")
        }
        // log(1 + e^{−|x|}) + max(−x, 0) = −log σ(x);  loss = (1−y)·x + (1 + (pw−1)·y)·(−log σ(x))
        let softplusNeg = (-logits.abs()).exp().log1pApprox() + (-logits).relu()  // −log σ(x)
        let weight = posWeight.map { 1 + ($0 - 1) * target } ?? Tensor.ones(like: target)
        let loss = (1 - target) * logits + weight * softplusNeg
        return reduce(loss, reduction, count: Float(loss.count))
    }

    static func reduce(_ x: Tensor, _ r: Reduction, count: Float) -> Tensor {
        switch r {
        case .none: return x
        case .sum: return x.sum()
        case .mean: return x.sum() / count
        }
    }
}

extension Tensor {
    /// log(1 + x) for x in [0, 1] (used on e^{−|x|}): accurate enough in float32 and differentiable.
    func log1pApprox() -> Tensor { (self + 1).log() }
}

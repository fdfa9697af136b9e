// Scaled dot-product attention as one fused differentiable op (llm.c's attention_forward / attention_backward).
// Dimension key: B batch, H heads, Tq query length, Tk key length, Dh head width (Dv for values).
//
//   S = Q·Kᵀ·scale + masks        [B, H, Tq, Tk]
//   P = softmax(S) (rows)          the one saved activation (and what attention capture hands out)
//   P̃ = P ⊙ M / (1 − p)            attention dropout (M ~ Bernoulli(1 − p), saved)
//   O = P̃·V                        [B, H, Tq, Dv]
// Backward: dV = P̃ᵀ·dO, dP̃ = dO·Vᵀ, dP = dP̃ ⊙ M/(1−p), dS = P ⊙ (dP − rowsum(dP ⊙ P)),
//           dQ = dS·K·scale, dK = dSᵀ·Q·scale.
// A row whose keys are all masked has P = 0, so its output and all its gradients are 0 (never NaN).

import CKernels

/// Which keys each query may attend to. Components combine (a key is excluded if any component excludes it).
public struct AttentionMask {
    /// [B·Tk] row-major, `true` = ignore this key (PyTorch's `key_padding_mask` convention).
    public var keyPadding: [Bool]?
    /// Query i may attend to keys j ≤ i + (Tk − Tq): the usual lower-triangular mask when Tq = Tk, and aligned
    /// to the end of the keys when a cached decoder feeds fewer queries than keys.
    public var causal: Bool
    /// Added to the scores: [Tq, Tk] or [B or 1, H or 1, Tq, Tk]; −∞ excludes a key. A constant (no gradient).
    public var additive: Tensor?

    /// A mask from padded key positions (true: padding, masked out), a causal flag and an additive bias.
    public init(keyPadding: [Bool]? = nil, causal: Bool = false, additive: Tensor? = nil) {
        self.keyPadding = keyPadding
        self.causal = causal
        self.additive = additive
    }

    /// No masking.
    public static var none: AttentionMask { AttentionMask() }

    /// A key-padding mask from each sequence's true length: keys at positions ≥ lengths[b] are ignored.
    public static func keyLengths(_ lengths: [Int], keyLength tk: Int) -> AttentionMask {
        AttentionMask(keyPadding: lengths.flatMap { n in (0..<tk).map { $0 >= n } })
    }

    /// An additive mask from a boolean one (`true` = not allowed, as PyTorch's boolean `attn_mask`): −∞ / 0.
    public static func additive(fromBool blocked: [Bool], shape: [Int]) -> Tensor {
        Tensor(blocked.map { $0 ? -Float.infinity : 0 }, shape: shape)
    }
}

/// One operand of attention read in place: element (b, h, t, d) lives at
/// `offset + b′·batchStride + h·headStride + t·rowStride + d`, where b′ is `batchRows[b]` (or b). A head of a
/// [B, T, D] projection is then a [T, Dh] matrix with row stride D — passed to `cblas_sgemm` as its leading
/// dimension, so no head is ever copied out.
struct HeadView {
    let base: Tensor
    let offset: Int, batchStride: Int, headStride: Int, rowStride: Int
    /// T (rows) and Dh (columns) of one head.
    let length: Int, width: Int
    /// The row of `base` that batch item b reads (nil: row b) — a key/value cache maps its batch rows to buffer rows
    /// (`KeyValueCache.batchRows`) instead of moving them when beams are reordered or sentences leave.
    var batchRows: [Int]? = nil

    /// Where head h of batch item b starts.
    @inline(__always)
    func start(_ b: Int, _ h: Int) -> Int { offset + (batchRows?[b] ?? b) * batchStride + h * headStride }

    /// Head h of `x` [B, T, W] occupies columns `column + h·Dh ..< column + (h+1)·Dh` (packed QKV: column 0, D, 2D);
    /// batch item b reads row `batchRows[b]` of `x` when given.
    static func merged(
        _ x: Tensor, column: Int, headWidth: Int, length: Int? = nil, batchRows: [Int]? = nil
    ) -> HeadView {
        let t = x.shape[1], w = x.shape[2]
        return HeadView(
            base: x, offset: column, batchStride: t * w, headStride: headWidth, rowStride: w,
            length: length ?? t, width: headWidth, batchRows: batchRows)
    }

    /// x already split as [B, H, T, Dh].
    static func split(_ x: Tensor) -> HeadView {
        let (h, t, d) = (x.shape[1], x.shape[2], x.shape[3])
        return HeadView(
            base: x, offset: 0, batchStride: h * t * d, headStride: t * d, rowStride: d, length: t, width: d)
    }
}

/// What the fused op returns: the output and the saved probabilities.
struct AttentionResult {
    /// [B, Tq, H·Dv] (merged layout) or [B, H, Tq, Dv] (split layout), as requested.
    let output: Tensor
    /// P = softmax(S), [B, H, Tq, Tk], detached; before dropout.
    let weights: Tensor
}

/// Query rows up to which a float32 attention item runs on the small-attention kernels (Sources/CKernels/
/// attention_small.c) rather than BLAS: decoding steps (1 row per hypothesis, or `beams` per source), where a BLAS
/// call per (row, head) costs more than its arithmetic.
let smallAttentionQueries = 16

/// S = Q·Kᵀ on the small-attention kernel when the item is float32 with at most `smallAttentionQueries` rows (and the
/// CPU has AVX2 and FMA); false: nothing written, use BLAS.
@inline(__always)
func smallAttentionScores<T>(
    _ tq: Int, _ tk: Int, _ dh: Int, _ q: UnsafeMutablePointer<T>, _ ldq: Int, _ k: UnsafeMutablePointer<T>,
    _ ldk: Int, _ s: UnsafeMutablePointer<T>, _ lds: Int
) -> Bool {
    guard T.self == Float.self, tq <= smallAttentionQueries else { return false }
    return ak_attention_scores_small(tq, tk, dh, floats(q), ldq, floats(k), ldk, floats(s), lds) != 0
}

/// O = P·V on the small-attention kernel, where `smallAttentionScores` would run; false: nothing written, use BLAS.
@inline(__always)
func smallAttentionWeightedSum<T>(
    _ tq: Int, _ tk: Int, _ dv: Int, _ p: UnsafePointer<T>, _ ldp: Int, _ v: UnsafeMutablePointer<T>, _ ldv: Int,
    _ o: UnsafeMutablePointer<T>, _ ldo: Int
) -> Bool {
    guard T.self == Float.self, tq <= smallAttentionQueries else { return false }
    return ak_attention_weighted_sum_small(
        tq, tk, dv, floats(UnsafeMutablePointer(mutating: p)), ldp, floats(v), ldv, floats(o), ldo) != 0
}

@inline(__always)
private func floats<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}

/// The fused attention op over B·H heads, parallel over heads on the project's worker pool.
/// - Parameters:
///   - mergedOutput: write O as [B, Tq, H·Dv] (heads side by side, ready for the output projection) rather than
///     [B, H, Tq, Dv].
///   - dropout: probability p of attention dropout; masks are drawn from `generator` (required when p > 0).
func attentionOp(
    q: HeadView, k: HeadView, v: HeadView, batch b: Int, heads h: Int, mask: AttentionMask,
    scale: Double, dropout p: Float, generator: inout RandomGenerator?, mergedOutput: Bool
) -> AttentionResult {
    let tq = q.length, tk = k.length, dh = q.width, dv = v.width
    precondition(k.width == dh, "attention: query head width \(dh) and key head width \(k.width) differ")
    precondition(v.length == tk, "attention: \(tk) keys but \(v.length) values")
    precondition(
        q.base.dtype == k.base.dtype && k.base.dtype == v.base.dtype, "attention: query, key and value dtypes differ")
    let dtype = q.base.dtype
    if let kp = mask.keyPadding {
        precondition(
            kp.count == b * tk, "attention: key padding mask has \(kp.count) entries, expected B·Tk = \(b)·\(tk)")
    }
    // additive mask strides (broadcast over B and H when those dimensions are 1)
    var addStrideB = 0, addStrideH = 0
    let additive = mask.additive?.to(dtype)
    if let a = additive {
        let s = a.shape
        let ok =
            (s == [tq, tk])
            || (s.count == 4 && (s[0] == 1 || s[0] == b) && (s[1] == 1 || s[1] == h) && s[2] == tq && s[3] == tk)
        guard ok else {
            shapeFailure(
                ShapeError("attention: additive mask \(fmt(s)) does not fit [B, H, Tq, Tk] = \(fmt([b, h, tq, tk]))"))
        }
        if s.count == 4 {
            addStrideB = s[0] == 1 ? 0 : s[1] * tq * tk
            addStrideH = s[1] == 1 ? 0 : tq * tk
        }
    }
    let weights = Tensor(shape: [b, h, tq, tk], dtype: dtype, zeroed: false)
    // dropout mask M, one byte per weight, drawn serially so the stream does not depend on thread timing (the same
    // draws as Tensor.bernoulli); the kept weights are scaled by 1/(1−p)
    var dropMask: TensorStorage? = nil
    if p > 0 {
        precondition(generator != nil, "attention: dropout \(p) needs a generator")
        dropMask = drawDropoutMask(count: b * h * tq * tk, p: p, using: &generator!)
    }
    let dropScale = 1 / (1 - p)
    // P̃ = P ⊙ M lives only in a per-thread scratch row block, in forward and again in backward (recomputed: one
    // multiply per weight, instead of keeping a third [B, H, Tq, Tk] tensor from forward to backward)
    let outShape = mergedOutput ? [b, tq, h * dv] : [b, h, tq, dv]
    let out = Tensor(shape: outShape, dtype: dtype, zeroed: tk == 0)
    // output strides (b, h, t)
    let oB = tq * h * dv, oH = mergedOutput ? dv : tq * dv, oT = mergedOutput ? h * dv : dv
    let causalShift = tk - tq
    _ = splitsGEMMItself  // OpenBLAS single-threaded before calling it from our threads

    func forward<T: GemmScalar>(_: T.Type) {
        let pq = q.base.storage.pointer(T.self), pk = k.base.storage.pointer(T.self),
            pv = v.base.storage.pointer(T.self)
        let pw = weights.storage.pointer(T.self), po = out.storage.pointer(T.self)
        let pa = additive?.storage.pointer(T.self), pm = dropMask.map(dropoutMaskBytes)
        let ms = T(dropScale)
        let kp = mask.keyPadding, causal = mask.causal, sc = T(scale)
        // float32 rows' softmax on the AVX2 / AVX-512 kernels (ATTENTIONKIT_NO_AVX2 keeps the Swift loops)
        let rowKernels = T.self == Float.self && Kernels.avx2
        let scaleMax = Kernels.avx512 ? ak_scale_max_avx512 : ak_scale_max_avx2
        let finishRow = Kernels.avx512 ? ak_softmax_row_finish_avx512 : ak_softmax_row_finish_avx2
        parallelFor(b * h, costPerItem: tq * tk * (dh + dv + 8)) { items in
            let scratch = pm == nil ? nil : UnsafeMutablePointer<T>.allocate(capacity: tq * tk)
            defer { scratch?.deallocate() }
            for i in items {
                let bi = i / h, hi = i % h
                let qp = pq + q.start(bi, hi), kpp = pk + k.start(bi, hi), vp = pv + v.start(bi, hi)
                let s = pw + i * tq * tk
                if tk == 0 { continue }
                if tq > 0 && !smallAttentionScores(tq, tk, dh, qp, q.rowStride, kpp, k.rowStride, s, tk) {
                    T.gemmSerial(
                        transA: false, transB: true, m: tq, n: tk, k: dh, a: qp, lda: q.rowStride, b: kpp,
                        ldb: k.rowStride,
                        beta: 0, c: s, ldc: tk)  // S = Q·Kᵀ
                }
                let addBase = pa.map { $0 + bi * addStrideB + hi * addStrideH }
                let masked = addBase != nil || kp != nil || causal
                for r in 0..<tq {
                    let row = s + r * tk
                    var m = -T.infinity
                    if rowKernels && !masked {  // the unmasked loop below, 8 or 16 lanes at a time: the same bits
                        m = unsafeBitCast(scaleMax(row.floats, tk, unsafeBitCast(sc, to: Float.self)), to: T.self)
                    } else if masked {
                        for j in 0..<tk {
                            var x = row[j] * sc
                            if let addBase { x += addBase[r * tk + j] }
                            if let kp, kp[bi * tk + j] { x = -T.infinity }
                            if causal && j > r + causalShift { x = -T.infinity }
                            row[j] = x
                            if x > m { m = x }
                        }
                    } else {  // no mask (a ViT): a plain scale the compiler vectorizes
                        for j in 0..<tk { row[j] *= sc }
                        for j in 0..<tk { m = Swift.max(m, row[j]) }
                    }
                    if m == -T.infinity {  // every key masked: zero weights, zero output
                        for j in 0..<tk { row[j] = 0 }
                        continue
                    }
                    if rowKernels {  // the three loops below, 8 or 16 lanes at a time: the same bits
                        finishRow(row.floats, tk, unsafeBitCast(m, to: Float.self))
                        continue
                    }
                    // exponentials in one vectorizable pass, their (ordered) sum in another
                    for j in 0..<tk { row[j] = T.expFast(row[j] - m) }
                    let z = vectorSum(row, tk)
                    let rz = 1 / z
                    for j in 0..<tk { row[j] *= rz }
                }
                var pUsed = UnsafePointer(s)
                if let pm, let scratch {
                    applyDropoutMask(scratch, s, pm + i * tq * tk, tq * tk, scale: ms)
                    pUsed = UnsafePointer(scratch)
                }
                if tq > 0 && dv > 0
                    && !smallAttentionWeightedSum(tq, tk, dv, pUsed, tk, vp, v.rowStride, po + bi * oB + hi * oH, oT)
                {
                    T.gemmSerial(
                        transA: false, transB: false, m: tq, n: dv, k: tk, a: pUsed, lda: tk, b: vp, ldb: v.rowStride,
                        beta: 0, c: po + bi * oB + hi * oH, ldc: oT)  // O = P̃·V
                }
            }
        }
    }
    switch dtype {
    case .float32: forward(Float.self)
    case .float64: forward(Double.self)
    }

    // inputs by identity: packed QKV (or K and V from one tensor) share one gradient buffer
    var bases: [Tensor] = []
    for t in [q.base, k.base, v.base] where !bases.contains(where: { $0 === t }) { bases.append(t) }
    let output = record("attention", out, bases) { g in
        let grads = bases.map { Tensor.zeros(like: $0) }
        func gradOf(_ t: Tensor) -> Tensor { grads[bases.firstIndex { $0 === t }!] }
        let dq = gradOf(q.base), dk = gradOf(k.base), dvT = gradOf(v.base)
        func backward<T: GemmScalar>(_: T.Type) {
            let pq = q.base.storage.pointer(T.self), pk = k.base.storage.pointer(T.self),
                pv = v.base.storage.pointer(T.self)
            let pdq = dq.storage.pointer(T.self), pdk = dk.storage.pointer(T.self), pdv = dvT.storage.pointer(T.self)
            let pw = weights.storage.pointer(T.self), pg = g.storage.pointer(T.self)
            let pm = dropMask.map(dropoutMaskBytes)
            let ms = T(dropScale)
            let sc = T(scale)
            if tq == 0 || tk == 0 { return }
            parallelFor(b * h, costPerItem: tq * tk * (2 * dh + 2 * dv + 8)) { items in
                let dP = UnsafeMutablePointer<T>.allocate(capacity: tq * tk)
                let scratch = pm == nil ? nil : UnsafeMutablePointer<T>.allocate(capacity: tq * tk)
                defer { dP.deallocate(); scratch?.deallocate() }
                for i in items {
                    let bi = i / h, hi = i % h
                    let qo = q.start(bi, hi), ko = k.start(bi, hi), vo = v.start(bi, hi)
                    let probs = pw + i * tq * tk
                    var pUsed = UnsafePointer(probs)
                    if let pm, let scratch {  // P̃ again
                        applyDropoutMask(scratch, probs, pm + i * tq * tk, tq * tk, scale: ms)
                        pUsed = UnsafePointer(scratch)
                    }
                    let dO = pg + bi * oB + hi * oH
                    if dv > 0 {
                        T.gemmSerial(
                            transA: true, transB: false, m: tk, n: dv, k: tq, a: pUsed, lda: tk, b: dO, ldb: oT,
                            beta: 1, c: pdv + vo, ldc: v.rowStride)  // dV += P̃ᵀ·dO
                        T.gemmSerial(
                            transA: false, transB: true, m: tq, n: tk, k: dv, a: dO, lda: oT, b: pv + vo,
                            ldb: v.rowStride,
                            beta: 0, c: dP, ldc: tk)  // dP̃ = dO·Vᵀ
                    } else {
                        dP.update(repeating: 0, count: tq * tk)
                    }
                    if let pm { applyDropoutMask(dP, dP, pm + i * tq * tk, tq * tk, scale: ms) }
                    for r in 0..<tq {  // dS = P ⊙ (dP − rowsum(dP ⊙ P)), times the scale of S
                        let pr = probs + r * tk, dr = dP + r * tk
                        let dot = vectorDot(dr, pr, tk)
                        for j in 0..<tk { dr[j] = pr[j] * (dr[j] - dot) * sc }
                    }
                    if dh > 0 {
                        T.gemmSerial(
                            transA: false, transB: false, m: tq, n: dh, k: tk, a: dP, lda: tk, b: pk + ko,
                            ldb: k.rowStride,
                            beta: 1, c: pdq + qo, ldc: q.rowStride)  // dQ += dS·K
                        T.gemmSerial(
                            transA: true, transB: false, m: tk, n: dh, k: tq, a: dP, lda: tk, b: pq + qo,
                            ldb: q.rowStride,
                            beta: 1, c: pdk + ko, ldc: k.rowStride)  // dK += dSᵀ·Q
                    }
                }
            }
        }
        switch g.dtype {
        case .float32: backward(Float.self)
        case .float64: backward(Double.self)
        }
        return grads
    }
    return AttentionResult(output: output, weights: weights)
}

/// Scaled dot-product attention on split heads (PyTorch's `F.scaled_dot_product_attention`):
/// softmax(Q·Kᵀ/√Dh + masks)·V, one fused op with its own backward.
/// - Parameters:
///   - q: the queries, [B, H, Tq, Dh].
///   - k: the keys, [B, H, Tk, Dh].
///   - v: the values, [B, H, Tk, Dv].
///   - mask: key padding, causal and additive masks, combined (`AttentionMask`).
///   - scale: defaults to 1/√Dh.
///   - dropout: attention dropout probability (masks drawn from `generator`).
///   - generator: the source of the dropout masks (unused without dropout).
/// - Returns: the output [B, H, Tq, Dv] and the attention weights P [B, H, Tq, Tk] (detached, before dropout).
public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask = .none,
    scale: Float? = nil, dropout: Float = 0,
    generator: inout RandomGenerator?
) -> (output: Tensor, weights: Tensor) {
    guard q.rank == 4, k.rank == 4, v.rank == 4, q.shape[0] == k.shape[0], k.shape[0] == v.shape[0],
        q.shape[1] == k.shape[1], k.shape[1] == v.shape[1], q.shape[3] == k.shape[3], k.shape[2] == v.shape[2]
    else {
        shapeFailure(
            ShapeError(
                "scaledDotProductAttention: shapes \(fmt(q.shape)), \(fmt(k.shape)), \(fmt(v.shape)) are not [B, H, Tq, Dh], [B, H, Tk, Dh], [B, H, Tk, Dv]"
            ))
    }
    let r = attentionOp(
        q: .split(q), k: .split(k), v: .split(v), batch: q.shape[0], heads: q.shape[1], mask: mask,
        scale: Double(scale ?? 1 / Float(q.shape[3]).squareRoot()), dropout: dropout,
        generator: &generator, mergedOutput: false)
    return (r.output, r.weights)
}

/// `scaledDotProductAttention` without dropout.
public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask = .none,
    scale: Float? = nil
) -> (output: Tensor, weights: Tensor) {
    var none: RandomGenerator? = nil
    return scaledDotProductAttention(q, k, v, mask: mask, scale: scale, dropout: 0, generator: &none)
}

import RealModule

// One recurrent layer in one direction over a whole batch-first sequence as one differentiable op: the forward
// through time and, beside it, the backward through time. PyTorch's equations, gate order and biases:
//
//   RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)                    (act: tanh or relu)
//   LSTM: i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh) split in four; c' = f c + i g; h' = o tanh(c')
//   GRU:  r, z = σ of (W_ir x + b_ir + W_hr h + b_hr), (W_iz x + … ); n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));
//         h' = (1 − z) n + z h
//
// The input projections of all steps are one GEMM before the loop; each step is one GEMM [B, H]·W_hhᵀ and one
// elementwise pass. Variable lengths work as PyTorch's packed sequences: row b runs its first lengths[b] steps (the
// reverse direction runs them from lengths[b] − 1 down to 0), padded steps neither change its state nor produce output
// (their outputs are 0), and its final state is the state after its last real step.

/// The recurrent cells AttentionKit has, with PyTorch's equations.
public enum RecurrentCell: String, Codable, Sendable, CaseIterable {
    case rnnTanh = "rnn_tanh", rnnReLU = "rnn_relu", lstm, gru

    /// Rows of `weight_ih` per hidden unit: the gates.
    public var gates: Int {
        switch self {
        case .lstm: return 4
        case .gru: return 3
        case .rnnTanh, .rnnReLU: return 1
        }
    }

    /// Whether the cell carries a second state (the LSTM's c).
    public var hasCellState: Bool { self == .lstm }
}

// σ and tanh through `expFast` (float32: the polynomial exp, so that the gate loops vectorise; float64: libm), tanh as
// 2σ(2v) − 1 (absolute error ~1e-7 in float32, ~1e-16 in float64).
@inline(__always) private func sigmoid<T: TensorScalar>(_ v: T) -> T { 1 / (1 + T.expFast(-v)) }
@inline(__always) private func tanhFast<T: TensorScalar>(_ v: T) -> T { 2 / (1 + T.expFast(-2 * v)) - 1 }

/// Runs one layer and direction. Returns one tensor [B, T + S, H]: the outputs of the T steps, then h_n, then (LSTM)
/// c_n, so that one graph node carries all three; `RecurrentNetwork` slices it.
/// - Parameters:
///   - x: [B, T, I]; h0, c0: [B, H]; weightIH: [G·H, I]; weightHH: [G·H, H]; biases [G·H] or nil.
///   - lengths: the real steps of each row (1…T), nil for all T.
func recurrentLayerOp(
    _ cell: RecurrentCell, x: Tensor, h0: Tensor, c0: Tensor?, weightIH: Tensor, weightHH: Tensor,
    biasIH: Tensor?, biasHH: Tensor?, lengths: [Int]?, reverse: Bool
) -> Tensor {
    let b = x.shape[0], steps = x.shape[1], inSize = x.shape[2], h = weightHH.shape[1], g = cell.gates * h
    precondition(
        x.rank == 3 && weightIH.shape == [g, inSize] && weightHH.shape == [g, h] && h0.shape == [b, h],
        "recurrent layer: shapes x \(fmt(x.shape)), h0 \(fmt(h0.shape)), weight_ih \(fmt(weightIH.shape)), weight_hh \(fmt(weightHH.shape)) do not fit"
    )
    precondition(cell.hasCellState == (c0 != nil), "recurrent layer: the LSTM needs c0, the others none")
    let len = lengths ?? [Int](repeating: steps, count: b)
    precondition(
        len.count == b && len.allSatisfy { $0 >= 1 && $0 <= steps },
        "recurrent layer: lengths must be 1…\(steps), one per row")
    let dtype = x.dtype, extra = cell.hasCellState ? 2 : 1
    let out = Tensor(shape: [b, steps + extra, h], dtype: dtype, zeroed: true)
    // saved for the backward, step-major: gate activations [T, B, G], the state before each step [T, B, H], the LSTM's
    // cell after each step [T, B, H], the GRU's W_hn h + b_hn [T, B, H]
    let act = Tensor(shape: [steps, b, g], dtype: dtype, zeroed: true)
    let hPrev = Tensor(shape: [steps, b, h], dtype: dtype, zeroed: true)
    let cAll = cell == .lstm ? Tensor(shape: [steps, b, h], dtype: dtype, zeroed: true) : nil
    let hn = cell == .gru ? Tensor(shape: [steps, b, h], dtype: dtype, zeroed: true) : nil
    let xp = Tensor(shape: [b, steps, g], dtype: dtype, zeroed: false)

    @inline(__always) func time(_ row: Int, _ s: Int) -> Int { reverse ? len[row] - 1 - s : s }

    func forward<T: GemmScalar>(_: T.Type) {
        let px = x.storage.pointer(T.self), pxp = xp.storage.pointer(T.self)
        let wih = weightIH.storage.pointer(T.self), whh = weightHH.storage.pointer(T.self)
        // all steps' input projections, with the biases that simply add (the GRU's b_hn stays inside r ⊙ (…))
        T.gemm(
            transA: false, transB: true, m: b * steps, n: g, k: inSize, a: px, lda: inSize, b: wih, ldb: inSize,
            beta: 0, c: pxp, ldc: g)
        var bias = [T](repeating: 0, count: g)
        if let biasIH { let p = biasIH.storage.pointer(T.self); for j in 0..<g { bias[j] += p[j] } }
        if let biasHH {
            let p = biasHH.storage.pointer(T.self); for j in 0..<(cell == .gru ? 2 * h : g) { bias[j] += p[j] }
        }
        let bhn: [T] =
            cell == .gru
            ? (biasHH.map { bh in
                let p = bh.storage.pointer(T.self); return (0..<h).map { p[2 * h + $0] }
            } ?? [T](repeating: 0, count: h)) : []
        bias.withUnsafeBufferPointer { bp in
            parallelFor(b * steps, costPerItem: g) { rows in
                for r in rows { let row = pxp + r * g; for j in 0..<g { row[j] += bp[j] } }
            }
        }
        let state = Tensor(shape: [b, h], dtype: dtype, zeroed: false),
            cellState = Tensor(shape: [b, h], dtype: dtype, zeroed: false)
        let ps = state.storage.pointer(T.self), pc = cellState.storage.pointer(T.self)
        ps.update(from: h0.storage.pointer(T.self), count: b * h)
        if let c0 { pc.update(from: c0.storage.pointer(T.self), count: b * h) }
        let hh = Tensor(shape: [b, g], dtype: dtype, zeroed: false), phh = hh.storage.pointer(T.self)
        let pact = act.storage.pointer(T.self), pprev = hPrev.storage.pointer(T.self),
            pout = out.storage.pointer(T.self)
        let pcall = cAll?.storage.pointer(T.self), phn = hn?.storage.pointer(T.self)
        let rowsOut = steps + extra
        bhn.withUnsafeBufferPointer { bn in
            for s in 0..<steps {
                pprev.advanced(by: s * b * h).update(from: ps, count: b * h)
                T.gemm(
                    transA: false, transB: true, m: b, n: g, k: h, a: ps, lda: h, b: whh, ldb: h, beta: 0, c: phh,
                    ldc: g)
                parallelFor(b, costPerItem: g * 20) { rows in
                    for r in rows where s < len[r] {
                        let t = time(r, s)
                        let xr = pxp + (r * steps + t) * g, hr = phh + r * g, a = pact + (s * b + r) * g
                        let hs = ps + r * h, o = pout + (r * rowsOut + t) * h
                        switch cell {
                        case .rnnTanh, .rnnReLU:
                            for j in 0..<h {
                                let v = xr[j] + hr[j]
                                let y = cell == .rnnTanh ? tanhFast(v) : max(v, 0)
                                a[j] = y; hs[j] = y; o[j] = y
                            }
                        case .lstm:
                            // in simple passes over contiguous rows, so that each vectorises
                            let cs = pc + r * h, cr = pcall! + (s * b + r) * h
                            for j in 0..<g { a[j] = xr[j] + hr[j] }
                            for j in 0..<(2 * h) { a[j] = sigmoid(a[j]) }
                            for j in (2 * h)..<(3 * h) { a[j] = tanhFast(a[j]) }
                            for j in (3 * h)..<g { a[j] = sigmoid(a[j]) }
                            for j in 0..<h { cs[j] = a[h + j] * cs[j] + a[j] * a[2 * h + j] }
                            for j in 0..<h { cr[j] = cs[j] }
                            for j in 0..<h { hs[j] = a[3 * h + j] * tanhFast(cs[j]) }
                            for j in 0..<h { o[j] = hs[j] }
                        case .gru:
                            let nr = phn! + (s * b + r) * h
                            for j in 0..<h {
                                let rg = sigmoid(xr[j] + hr[j]), z = sigmoid(xr[h + j] + hr[h + j])
                                let hnv = hr[2 * h + j] + bn[j]
                                let n = tanhFast(xr[2 * h + j] + rg * hnv)
                                let y = (1 - z) * n + z * hs[j]
                                a[j] = rg; a[h + j] = z; a[2 * h + j] = n; nr[j] = hnv
                                hs[j] = y; o[j] = y
                            }
                        }
                    }
                }
            }
        }
        for r in 0..<b {
            (pout + (r * rowsOut + steps) * h).update(from: ps + r * h, count: h)
            if cell.hasCellState { (pout + (r * rowsOut + steps + 1) * h).update(from: pc + r * h, count: h) }
        }
    }
    switch dtype {
    case .float32: forward(Float.self)
    case .float64: forward(Double.self)
    }

    let inputs = [x, h0] + [c0].compactMap { $0 } + [weightIH, weightHH] + [biasIH, biasHH].compactMap { $0 }
    return record("recurrent." + cell.rawValue, out, inputs) { grad in
        let gx = Tensor(shape: x.shape, dtype: dtype, zeroed: false)
        let gh0 = Tensor(shape: [b, h], dtype: dtype, zeroed: false),
            gc0 = Tensor(shape: [b, h], dtype: dtype, zeroed: false)
        let gwih = Tensor(shape: weightIH.shape, dtype: dtype, zeroed: false),
            gwhh = Tensor(shape: weightHH.shape, dtype: dtype, zeroed: false)
        let gbih = Tensor(shape: [g], dtype: dtype, zeroed: true), gbhh = Tensor(shape: [g], dtype: dtype, zeroed: true)

        func backward<T: GemmScalar>(_: T.Type) {
            let pg = grad.storage.pointer(T.self), rowsOut = steps + extra
            // ∂ of the input projections
            let dxp = Tensor(shape: [b, steps, g], dtype: dtype, zeroed: true), pdxp = dxp.storage.pointer(T.self)
            // ∂ of W_hh h (+ b_hh)
            let dhh = Tensor(shape: [steps, b, g], dtype: dtype, zeroed: true), pdhh = dhh.storage.pointer(T.self)
            let pdh = gh0.storage.pointer(T.self), pdc = gc0.storage.pointer(T.self)
            for r in 0..<b {
                pdh.advanced(by: r * h).update(from: pg + (r * rowsOut + steps) * h, count: h)
                if cell.hasCellState {
                    pdc.advanced(by: r * h).update(from: pg + (r * rowsOut + steps + 1) * h, count: h)
                }
            }
            let pact = act.storage.pointer(T.self), pprev = hPrev.storage.pointer(T.self)
            let pcall = cAll?.storage.pointer(T.self), phn = hn?.storage.pointer(T.self),
                pc0 = c0?.storage.pointer(T.self)
            let tmp = Tensor(shape: [b, h], dtype: dtype, zeroed: false), ptmp = tmp.storage.pointer(T.self)
            // GRU: z ⊙ ∂h'
            let direct = Tensor(shape: [b, h], dtype: dtype, zeroed: true), pdirect = direct.storage.pointer(T.self)
            let whh = weightHH.storage.pointer(T.self)
            for s in stride(from: steps - 1, through: 0, by: -1) {
                parallelFor(b, costPerItem: g * 20) { rows in
                    for r in rows where s < len[r] {
                        let t = time(r, s)
                        let dh = pdh + r * h, go = pg + (r * rowsOut + t) * h
                        for j in 0..<h { dh[j] += go[j] }
                        let a = pact + (s * b + r) * g, dx = pdxp + (r * steps + t) * g, dr = pdhh + (s * b + r) * g
                        switch cell {
                        case .rnnTanh, .rnnReLU:
                            for j in 0..<h {
                                let y = a[j]
                                let d = cell == .rnnTanh ? dh[j] * (1 - y * y) : (y > 0 ? dh[j] : 0)
                                dx[j] = d; dr[j] = d
                            }
                        case .lstm:
                            let dc = pdc + r * h, c = pcall! + (s * b + r) * h
                            let cPrev = s == 0 ? pc0! + r * h : pcall! + ((s - 1) * b + r) * h
                            // simple passes, each vectorising: ∂o and ∂c (into dc), then ∂i, ∂f, ∂g and ∂c_prev
                            for j in 0..<h {
                                let og = a[3 * h + j], tc = tanhFast(c[j])
                                dx[3 * h + j] = dh[j] * tc * og * (1 - og)
                                dc[j] += dh[j] * og * (1 - tc * tc)
                            }
                            for j in 0..<h { let i = a[j]; dx[j] = dc[j] * a[2 * h + j] * i * (1 - i) }
                            for j in 0..<h { let f = a[h + j]; dx[h + j] = dc[j] * cPrev[j] * f * (1 - f) }
                            for j in 0..<h { let gg = a[2 * h + j]; dx[2 * h + j] = dc[j] * a[j] * (1 - gg * gg) }
                            for j in 0..<h { dc[j] *= a[h + j] }
                            dr.update(from: dx, count: g)
                        case .gru:
                            let prev = pprev + (s * b + r) * h, nr = phn! + (s * b + r) * h, direct = pdirect + r * h
                            for j in 0..<h {
                                let rg = a[j], z = a[h + j], n = a[2 * h + j]
                                let dn = dh[j] * (1 - z) * (1 - n * n)
                                let dz = dh[j] * (prev[j] - n) * z * (1 - z)
                                let drg = dn * nr[j] * rg * (1 - rg)
                                dx[j] = drg; dx[h + j] = dz; dx[2 * h + j] = dn
                                dr[j] = drg; dr[h + j] = dz; dr[2 * h + j] = dn * rg
                                direct[j] = dh[j] * z
                            }
                        }
                    }
                }
                // ∂h before the step = ∂(W_hh h)ᵀ·W_hh (+ z ⊙ ∂h' for the GRU); rows past their length keep theirs
                T.gemm(
                    transA: false, transB: false, m: b, n: h, k: g, a: pdhh + s * b * g, lda: g, b: whh, ldb: h,
                    beta: 0, c: ptmp, ldc: h)
                for r in 0..<b where s < len[r] {
                    let dh = pdh + r * h, tr = ptmp + r * h
                    if cell == .gru {
                        let d = pdirect + r * h; for j in 0..<h { dh[j] = tr[j] + d[j] }
                    } else {
                        for j in 0..<h { dh[j] = tr[j] }
                    }
                }
            }
            // weights: one GEMM each over all steps
            T.gemm(
                transA: true, transB: false, m: g, n: h, k: steps * b, a: pdhh, lda: g, b: pprev, ldb: h, beta: 0,
                c: gwhh.storage.pointer(T.self), ldc: h)
            T.gemm(
                transA: true, transB: false, m: g, n: inSize, k: b * steps, a: pdxp, lda: g,
                b: x.storage.pointer(T.self), ldb: inSize, beta: 0,
                c: gwih.storage.pointer(T.self), ldc: inSize)
            if x.requiresGrad {  // the first layer's input (embeddings aside) usually needs none: one GEMM in six saved
                T.gemm(
                    transA: false, transB: false, m: b * steps, n: inSize, k: g, a: pdxp, lda: g,
                    b: weightIH.storage.pointer(T.self), ldb: inSize, beta: 0,
                    c: gx.storage.pointer(T.self), ldc: inSize)
            }
            let pbi = gbih.storage.pointer(T.self), pbh = gbhh.storage.pointer(T.self)
            for r in 0..<(b * steps) { let row = pdxp + r * g; for j in 0..<g { pbi[j] += row[j] } }
            for r in 0..<(steps * b) { let row = pdhh + r * g; for j in 0..<g { pbh[j] += row[j] } }
        }
        switch dtype {
        case .float32: backward(Float.self)
        case .float64: backward(Double.self)
        }
        var grads: [Tensor?] = [x.requiresGrad ? gx : nil, h0.requiresGrad ? gh0 : nil]
        if let c0 { grads.append(c0.requiresGrad ? gc0 : nil) }
        grads += [weightIH.requiresGrad ? gwih : nil, weightHH.requiresGrad ? gwhh : nil]
        if let biasIH { grads.append(biasIH.requiresGrad ? gbih : nil) }
        if let biasHH { grads.append(biasHH.requiresGrad ? gbhh : nil) }
        return grads
    }
}

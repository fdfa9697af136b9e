import CKernels
import RealModule

// Fused, numerically stable softmax and log-softmax along any axis, with their backward passes.
// The tensor is viewed as [outer, n, inner]; each (outer, inner) pair is one softmax over n strided elements.

@inline(__always)
func softmaxTyped<T: TensorScalar>(_: T.Type, _ x: Tensor, _ out: Tensor, outer: Int, n: Int, inner: Int, log: Bool) {
    let s = x.storage.pointer(T.self), d = out.storage.pointer(T.self)
    if inner == 1 {
        // contiguous rows (the last axis: attention rows, a decoder's [N, V] logits): rows over the threads, the max
        // and the sum in 8 independent lanes (one running sum would wait on each add), exponentials in one pass
        parallelFor(outer, costPerItem: 8 * n) { rows in
            for o in rows { softmaxRow(s + o * n, d + o * n, n: n, log: log) }
        }
        return
    }
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var m = -T.infinity
            for j in 0..<n { m = Swift.max(m, s[base + j * inner]) }
            if m == -T.infinity { m = 0 }  // a row of all -inf: softmax gives nan (as PyTorch), log-softmax -inf
            var z: T = 0
            for j in 0..<n {
                let e = T.expFast(s[base + j * inner] - m)
                if !log { d[base + j * inner] = e }
                z += e
            }
            if log {
                let lz = T.log(z)  // (x − m) − log z keeps precision when |m| is large
                for j in 0..<n { d[base + j * inner] = (s[base + j * inner] - m) - lz }
            } else {
                let r = 1 / z
                for j in 0..<n { d[base + j * inner] *= r }
            }
        }
    }
}

/// One contiguous row of `softmaxTyped`: the same formulas, reductions in 8 lanes.
@inline(__always)
func softmaxRow<T: TensorScalar>(_ s: UnsafeMutablePointer<T>, _ d: UnsafeMutablePointer<T>, n: Int, log: Bool) {
    let (m, z) = softmaxRowStatistics(s, exponentials: d, n: n)
    if log {
        let lz = T.log(z)  // (x − m) − log z keeps precision when |m| is large
        for j in 0..<n { d[j] = (s[j] - m) - lz }
    } else {
        let r = 1 / z
        for j in 0..<n { d[j] *= r }
    }
}

/// A row's maximum m (0 for a row of all −∞) and Σ exp(x − m), both in 8 lanes; exp(x − m) is left in
/// `exponentials` (the softmax's numerators; scratch for a caller that wants only log z). Beam search normalises
/// its logits with it (`searchBeams`), so its scores are `softmaxRow`'s log-probabilities bit for bit.
@inline(__always)
func softmaxRowStatistics<T: TensorScalar>(
    _ s: UnsafePointer<T>, exponentials d: UnsafeMutablePointer<T>, n: Int
) -> (max: T, sum: T) {
    if T.self == Float.self && Kernels.avx2 {  // the same bits, eight lanes at a time
        var m: Float = 0, z: Float = 0
        if Kernels.avx512 {
            ak_softmax_statistics_avx512(s.floats, d.floats, n, &m, &z)
        } else {
            ak_softmax_statistics_avx2(s.floats, d.floats, n, &m, &z)
        }
        return (unsafeBitCast(m, to: T.self), unsafeBitCast(z, to: T.self))
    }
    return softmaxRowStatisticsLoop(s, exponentials: d, n: n)
}

/// `softmaxRowStatistics` in Swift (the baseline path, and the reference its AVX2 version is tested against).
@inline(__always)
func softmaxRowStatisticsLoop<T: TensorScalar>(
    _ s: UnsafePointer<T>, exponentials d: UnsafeMutablePointer<T>, n: Int
) -> (max: T, sum: T) {
    let blocks = n - n % 8
    var m0 = -T.infinity, m1 = -T.infinity, m2 = -T.infinity, m3 = -T.infinity
    var m4 = -T.infinity, m5 = -T.infinity, m6 = -T.infinity, m7 = -T.infinity
    var j = 0
    while j < blocks {
        m0 = Swift.max(m0, s[j]); m1 = Swift.max(m1, s[j + 1]); m2 = Swift.max(m2, s[j + 2])
        m3 = Swift.max(m3, s[j + 3]); m4 = Swift.max(m4, s[j + 4]); m5 = Swift.max(m5, s[j + 5])
        m6 = Swift.max(m6, s[j + 6]); m7 = Swift.max(m7, s[j + 7])
        j += 8
    }
    var m = Swift.max(Swift.max(Swift.max(m0, m1), Swift.max(m2, m3)), Swift.max(Swift.max(m4, m5), Swift.max(m6, m7)))
    while j < n { m = Swift.max(m, s[j]); j += 1 }
    if m == -T.infinity { m = 0 }  // a row of all -inf: softmax gives nan (as PyTorch), log-softmax -inf
    for j in 0..<n { d[j] = T.expFast(s[j] - m) }
    var z0: T = 0, z1: T = 0, z2: T = 0, z3: T = 0, z4: T = 0, z5: T = 0, z6: T = 0, z7: T = 0
    j = 0
    while j < blocks {
        z0 += d[j]; z1 += d[j + 1]; z2 += d[j + 2]; z3 += d[j + 3]
        z4 += d[j + 4]; z5 += d[j + 5]; z6 += d[j + 6]; z7 += d[j + 7]
        j += 8
    }
    var z = ((z0 + z1) + (z2 + z3)) + ((z4 + z5) + (z6 + z7))
    while j < n { z += d[j]; j += 1 }
    return (m, z)
}

/// softmax: ∂x = y ⊙ (g − Σ g⊙y);  log-softmax: ∂x = g − softmax ⊙ Σ g.
@inline(__always)
func softmaxBackwardTyped<T: TensorScalar>(
    _: T.Type, _ g: Tensor, _ y: Tensor, _ out: Tensor, outer: Int, n: Int, inner: Int, log: Bool
) {
    let pg = g.storage.pointer(T.self), py = y.storage.pointer(T.self), d = out.storage.pointer(T.self)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * n * inner + i
            var acc: T = 0
            if log {
                for j in 0..<n { acc += pg[base + j * inner] }
                for j in 0..<n { let k = base + j * inner; d[k] = pg[k] - T.exp(py[k]) * acc }
            } else {
                for j in 0..<n { let k = base + j * inner; acc += pg[k] * py[k] }
                for j in 0..<n { let k = base + j * inner; d[k] = py[k] * (pg[k] - acc) }
            }
        }
    }
}

extension Tensor {
    private func softmaxImpl(axis: Int, log: Bool) -> Tensor {
        let op = log ? "logSoftmax" : "softmax"
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: op) }
        if rank == 0 { return log ? self - self : Tensor.ones(like: self) + self * 0 }
        let outer = shape[..<a].reduce(1, *), n = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: softmaxTyped(Float.self, self, out, outer: outer, n: n, inner: inner, log: log)
        case .float64: softmaxTyped(Double.self, self, out, outer: outer, n: n, inner: inner, log: log)
        }
        let y = out.detach()
        return record(op, out, [self]) { g in
            let gi = Tensor(shape: g.shape, dtype: g.dtype, zeroed: false)
            switch g.dtype {
            case .float32: softmaxBackwardTyped(Float.self, g, y, gi, outer: outer, n: n, inner: inner, log: log)
            case .float64: softmaxBackwardTyped(Double.self, g, y, gi, outer: outer, n: n, inner: inner, log: log)
            }
            return [gi]
        }
    }

    /// softmax(x)ᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x) along `axis` (default: last).
    public func softmax(axis: Int = -1) -> Tensor { softmaxImpl(axis: axis, log: false) }

    /// log softmax(x)ᵢ = xᵢ − max x − log Σⱼ exp(xⱼ − max x) along `axis` (default: last).
    public func logSoftmax(axis: Int = -1) -> Tensor { softmaxImpl(axis: axis, log: true) }
}

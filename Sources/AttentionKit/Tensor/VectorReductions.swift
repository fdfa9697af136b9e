// Row reductions with sixteen running partial sums (SIMD16) instead of one. A single accumulator is a chain of
// dependent adds that the compiler may not reorder for floating point: ~4 cycles per element, which made the
// batch-norm and layer-norm statistics slower than the GEMMs around them. Each function has its plain loop beside it
// (`…Reference`) and `VectorReductionTests` holds the two together. The lanes are added in a fixed order, so results
// are deterministic (they differ from the plain loop's by rounding only).

@inline(__always)
private func load16<T: TensorScalar>(_ p: UnsafePointer<T>) -> SIMD16<T> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<T>.self)
}

/// Σ p[i], i < n.
@inline(__always)
func vectorSum<T: TensorScalar>(_ p: UnsafePointer<T>, _ n: Int) -> T {
    var acc = SIMD16<T>(repeating: 0), i = 0
    while i + 16 <= n { acc += load16(p + i); i += 16 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Σ (p[i] − mean)², i < n.
@inline(__always)
func vectorSumSquaredDeviations<T: TensorScalar>(_ p: UnsafePointer<T>, _ n: Int, mean: T) -> T {
    var acc = SIMD16<T>(repeating: 0), i = 0
    let m = SIMD16<T>(repeating: mean)
    while i + 16 <= n { let d = load16(p + i) - m; acc += d * d; i += 16 }
    var s = acc.sum()
    while i < n { let d = p[i] - mean; s += d * d; i += 1 }
    return s
}

/// (Σ g[i], Σ g[i]·(x[i] − mean)), i < n: the two sums of a normalisation's backward pass.
@inline(__always)
func vectorSumAndCenteredDot<T: TensorScalar>(
    _ g: UnsafePointer<T>, _ x: UnsafePointer<T>, _ n: Int,
    mean: T
) -> (sum: T, dot: T) {
    var a = SIMD16<T>(repeating: 0), b = SIMD16<T>(repeating: 0), i = 0
    let m = SIMD16<T>(repeating: mean)
    while i + 16 <= n { let gv = load16(g + i); a += gv; b += gv * (load16(x + i) - m); i += 16 }
    var s = a.sum(), d = b.sum()
    while i < n { s += g[i]; d += g[i] * (x[i] - mean); i += 1 }
    return (s, d)
}

/// (Σ g[i]·w[i], Σ g[i]·w[i]·(x[i] − mean)), i < n: layer norm's backward sums with γ = w.
@inline(__always)
func vectorWeightedSumAndCenteredDot<T: TensorScalar>(
    _ g: UnsafePointer<T>, _ w: UnsafePointer<T>, _ x: UnsafePointer<T>,
    _ n: Int, mean: T
) -> (sum: T, dot: T) {
    var a = SIMD16<T>(repeating: 0), b = SIMD16<T>(repeating: 0), i = 0
    let m = SIMD16<T>(repeating: mean)
    while i + 16 <= n { let gw = load16(g + i) * load16(w + i); a += gw; b += gw * (load16(x + i) - m); i += 16 }
    var s = a.sum(), d = b.sum()
    while i < n { let gw = g[i] * w[i]; s += gw; d += gw * (x[i] - mean); i += 1 }
    return (s, d)
}

/// Σ a[i]·b[i], i < n.
@inline(__always)
func vectorDot<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) -> T {
    var acc = SIMD16<T>(repeating: 0), i = 0
    while i + 16 <= n { acc += load16(a + i) * load16(b + i); i += 16 }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

// The readable references the tests compare with.
func vectorSumReference<T: TensorScalar>(_ p: UnsafePointer<T>, _ n: Int) -> T {
    var s: T = 0
    for i in 0..<n { s += p[i] }
    return s
}

func vectorSumSquaredDeviationsReference<T: TensorScalar>(_ p: UnsafePointer<T>, _ n: Int, mean: T) -> T {
    var s: T = 0
    for i in 0..<n { let d = p[i] - mean; s += d * d }
    return s
}

func vectorSumAndCenteredDotReference<T: TensorScalar>(
    _ g: UnsafePointer<T>, _ x: UnsafePointer<T>, _ n: Int,
    mean: T
) -> (sum: T, dot: T) {
    var s: T = 0, d: T = 0
    for i in 0..<n { s += g[i]; d += g[i] * (x[i] - mean) }
    return (s, d)
}

func vectorDotReference<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) -> T {
    var s: T = 0
    for i in 0..<n { s += a[i] * b[i] }
    return s
}

// Elementwise row kernels that vectorize without data-dependent branches, also when the destination is one of the
// sources (the compiler's own vectorization gives up on possibly-aliasing pointers, hence SIMD16 where that matters).

/// dst[i] = y[i] > 0 ? g[i] : 0: a ReLU's backward (`ReluGradK`) from its output y, which is positive exactly where its
/// input is. Both values are loaded before the select, so the compiler emits a vector blend rather than a branch per
/// element (SIMDMask's `replacing` lowers lane by lane).
@inline(__always)
func vectorMaskByPositive<T: TensorScalar>(
    _ dst: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int
) {
    let relu = ReluGradK()
    for i in 0..<n { dst[i] = relu(g[i], y[i]) }
}

/// dst[i] = a·g[i] − b·(x[i] − mean) − c (batch norm's ∂x with its per-channel constants); dst may be g.
@inline(__always)
func vectorNormalizationBackward<T: TensorScalar>(
    _ dst: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>, _ x: UnsafePointer<T>,
    _ n: Int, a: T, b: T, c: T, mean: T
) {
    var i = 0
    let va = SIMD16<T>(repeating: a), vb = SIMD16<T>(repeating: b), vc = SIMD16<T>(repeating: c),
        vm = SIMD16<T>(repeating: mean)
    while i + 16 <= n {
        let v = va * load16(g + i) - vb * (load16(x + i) - vm) - vc
        UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: SIMD16<T>.self)
        i += 16
    }
    while i < n { dst[i] = a * g[i] - b * (x[i] - mean) - c; i += 1 }
}

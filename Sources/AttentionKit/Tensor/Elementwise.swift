import CKernels

/// A scalar function applied elementwise. Implementations are structs whose `callAsFunction` the compiler
/// specialises and inlines into the loop: no closure is called per element.
protocol UnaryKernel {
    func callAsFunction<T: TensorScalar>(_ x: T) -> T
}

/// A scalar function of two operands applied elementwise with broadcasting.
protocol BinaryKernel {
    func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T
}

@inline(__always)
func unaryTyped<T: TensorScalar, K: UnaryKernel>(_: T.Type, _ x: Tensor, _ out: Tensor, _ k: K) {
    let s = x.storage.pointer(T.self), d = out.storage.pointer(T.self)
    parallelFor(x.count, costPerItem: 4) { r in for i in r { d[i] = k(s[i]) } }
}

/// Applies `k` to every element of `x` in its own storage (inference on a tensor nothing else holds: no autograd).
/// One pointer read and written, so that the loop vectorises (`unaryTyped` with the same tensor twice would be two
/// pointers that overlap, and LLVM's runtime overlap check would send it down the scalar loop).
func mapUnaryInPlace<K: UnaryKernel>(_ x: Tensor, _ k: K) {
    func run<T: TensorScalar>(_: T.Type) {
        let p = x.storage.pointer(T.self)
        parallelFor(x.count, costPerItem: 4) { r in for i in r { p[i] = k(p[i]) } }
    }
    switch x.dtype {
    case .float32: run(Float.self)
    case .float64: run(Double.self)
    }
}

/// GELU (erf form) over `x`'s own storage (inference): `GeluErfK`'s values, through the AVX-512 or AVX2 loop where the
/// CPU has one.
func geluInPlace(_ x: Tensor) {
    guard x.dtype == .float32 && Kernels.avx2 else { return mapUnaryInPlace(x, GeluErfK()) }
    geluKernel(x, into: x)
}

/// GELU (erf form) of `x` into a new tensor: `mapUnary(x, GeluErfK())`'s values, on the AVX2 / AVX-512 kernel for
/// float32 (the same bits, 8 or 16 lanes at a time).
func geluErf(_ x: Tensor) -> Tensor {
    guard x.dtype == .float32 && Kernels.avx2 else { return mapUnary(x, GeluErfK()) }
    let out = Tensor(shape: x.shape, dtype: .float32, zeroed: false)
    geluKernel(x, into: out)
    return out
}

/// GELU of float32 `x` into `y` (the same count; `y` may be `x`) on the AVX2 or AVX-512 kernel.
private func geluKernel(_ x: Tensor, into y: Tensor) {
    let src = UnsafePointer(x.storage.pointer(Float.self)), dst = y.storage.pointer(Float.self)
    let kernel = Kernels.avx512 ? ak_gelu_erf_avx512 : ak_gelu_erf_avx2
    parallelBlocks(x.count, costPerElement: 4) { start, count in kernel(src + start, dst + start, count) }
}

/// Runs `body(start, count)` over `0..<n` in blocks of 64 elements on the worker pool: the unit of work of the
/// elementwise vector kernels (`costPerElement` is `parallelFor`'s `costPerItem` per element).
func parallelBlocks(_ n: Int, costPerElement: Int, _ body: (_ start: Int, _ count: Int) -> Void) {
    parallelFor((n + 63) / 64, costPerItem: 64 * costPerElement) { r in
        let start = r.lowerBound * 64
        body(start, Swift.min(n, r.upperBound * 64) - start)
    }
}

/// ReLU over `x`'s own storage (inference, as `mapUnaryInPlace`), 16 lanes at a time: written element by element,
/// `x > 0 ? x : 0` back in place compiles to a conditional store of the zeros (storing x over itself is dropped),
/// which neither vectorises nor predicts on activations of random sign. The same values as `ReluK`.
func reluInPlace(_ x: Tensor) {
    guard x.dtype == .float32 else { return mapUnaryInPlace(x, ReluK()) }
    let p = x.storage.pointer(Float.self), n = x.count
    parallelFor((n + 15) / 16, costPerItem: 64) { r in
        for c in r {
            let i = c * 16
            guard i + 16 <= n else {
                for j in i..<n { p[j] = ReluK()(p[j]) }
                continue
            }
            let raw = UnsafeMutableRawPointer(p + i)
            let v = raw.loadUnaligned(as: SIMD16<Float>.self)
            raw.storeBytes(of: v.replacing(with: 0, where: .!(v .> 0)), as: SIMD16<Float>.self)
        }
    }
}

/// Applies `k` to every element (no autograd; the differentiable ops wrap this).
func mapUnary<K: UnaryKernel>(_ x: Tensor, _ k: K) -> Tensor {
    let out = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
    switch x.dtype {
    case .float32: unaryTyped(Float.self, x, out, k)
    case .float64: unaryTyped(Double.self, x, out, k)
    }
    return out
}

@inline(__always)
func binaryTyped<T: TensorScalar, K: BinaryKernel>(_: T.Type, _ a: Tensor, _ b: Tensor, _ out: Tensor, _ k: K) {
    let pa = a.storage.pointer(T.self), pb = b.storage.pointer(T.self), po = out.storage.pointer(T.self)
    let n = out.count
    if n == 0 { return }
    if a.shape == b.shape {
        parallelFor(n, costPerItem: 4) { r in for i in r { po[i] = k(pa[i], pb[i]) } }
        return
    }
    if b.count == 1 && a.count == n {
        let bv = pb.pointee
        parallelFor(n, costPerItem: 4) { r in for i in r { po[i] = k(pa[i], bv) } }
        return
    }
    if a.count == 1 && b.count == n {
        let av = pa.pointee
        parallelFor(n, costPerItem: 4) { r in for i in r { po[i] = k(av, pb[i]) } }
        return
    }
    let (shape, views) = coalesce(
        out.shape,
        [
            Shape.broadcastStrides(a.shape, to: out.shape),
            Shape.broadcastStrides(b.shape, to: out.shape),
            Shape.strides(out.shape)
        ])
    if shape.isEmpty { po.pointee = k(pa.pointee, pb.pointee); return }
    let m = shape[shape.count - 1]
    let sa = views[0].last!, sb = views[1].last!
    var it = RowIterator(shape: shape, strides: views, base: [0, 0, 0])
    repeat {
        let xa = pa + it.offsets[0], xb = pb + it.offsets[1], xo = po + it.offsets[2]
        if sa == 1 && sb == 1 {
            for i in 0..<m { xo[i] = k(xa[i], xb[i]) }
        } else if sb == 0 {
            let bv = xb.pointee
            for i in 0..<m { xo[i] = k(xa[i * sa], bv) }
        } else if sa == 0 {
            let av = xa.pointee
            for i in 0..<m { xo[i] = k(av, xb[i * sb]) }
        } else {
            for i in 0..<m { xo[i] = k(xa[i * sa], xb[i * sb]) }
        }
    } while it.next()
}

/// Applies `k` elementwise with NumPy broadcasting (no autograd). `op` names the op in shape errors.
func mapBinary<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ k: K, op: String) -> Tensor {
    precondition(a.dtype == b.dtype, "\(op): dtypes \(a.dtype) and \(b.dtype) differ (convert with .to(_:))")
    let shape =
        a.shape == b.shape
        ? a.shape : checked { () throws(ShapeError) in try Shape.broadcast(a.shape, b.shape, op: op) }
    let out = Tensor(shape: shape, dtype: a.dtype, zeroed: false)
    switch a.dtype {
    case .float32: binaryTyped(Float.self, a, b, out, k)
    case .float64: binaryTyped(Double.self, a, b, out, k)
    }
    return out
}

/// Elementwise select: `cond != 0 ? a : b`, all three broadcast together (no autograd).
func selectKernel(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(
        a.dtype == b.dtype && cond.dtype == a.dtype, "where: dtypes \(cond.dtype), \(a.dtype), \(b.dtype) differ")
    let shape = checked { () throws(ShapeError) in
        try Shape.broadcast(try Shape.broadcast(cond.shape, a.shape, op: "where"), b.shape, op: "where")
    }
    let c = cond.broadcastCopy(to: shape), x = a.broadcastCopy(to: shape), y = b.broadcastCopy(to: shape)
    let out = Tensor(shape: shape, dtype: a.dtype, zeroed: false)
    func run<T: TensorScalar>(_: T.Type) {
        let pc = c.storage.pointer(T.self), px = x.storage.pointer(T.self), py = y.storage.pointer(T.self)
        let po = out.storage.pointer(T.self)
        for i in 0..<out.count { po[i] = pc[i] != 0 ? px[i] : py[i] }
    }
    switch a.dtype {
    case .float32: run(Float.self)
    case .float64: run(Double.self)
    }
    return out
}

extension Tensor {
    /// A contiguous copy broadcast to `shape` (no autograd). Returns self if the shape already matches.
    func broadcastCopy(to target: [Int]) -> Tensor {
        if shape == target { return self }
        guard target.count >= rank, Shape.broadcast2(shape, target) else {
            shapeFailure(ShapeError("broadcastTo: shape \(fmt(shape)) cannot be broadcast to \(fmt(target))"))
        }
        let out = Tensor(shape: target, dtype: dtype, zeroed: false)
        stridedCopy(
            src: storage, srcView: StridedView(offset: 0, strides: Shape.broadcastStrides(shape, to: target)),
            dst: out.storage, dstView: StridedView(offset: 0, strides: Shape.strides(target)), shape: target)
        return out
    }

    /// Sums a (broadcast) tensor back down to `target` (no autograd): the adjoint of broadcasting.
    func sumCopy(to target: [Int]) -> Tensor {
        if shape == target { return self }
        // a bias gradient, [R, C] → [C] (or [1, C]…): column sums, blocks of rows on the threads (`columnSums`)
        if let c = target.last, target.count <= rank, Shape.count(target) == c, shape.last == c, c > 0 {
            return columnSums(columns: c).reshape(target)
        }
        guard rank >= target.count, Shape.broadcast2(target, shape) else {
            shapeFailure(ShapeError("sumToShape: shape \(fmt(shape)) cannot be summed to \(fmt(target))"))
        }
        let out = Tensor(shape: target, dtype: dtype, zeroed: true)
        stridedCopy(
            src: storage, srcView: StridedView(offset: 0, strides: Shape.strides(shape)),
            dst: out.storage, dstView: StridedView(offset: 0, strides: Shape.broadcastStrides(target, to: shape)),
            shape: shape, accumulate: true)
        return out
    }
}

extension Tensor {
    /// Σ over rows of self viewed as [count / c, c] → [c]: each thread adds a contiguous block of rows into its own
    /// [c] partial (sequential reads, a vectorised row add), and the partials are added in block order afterwards
    /// (deterministic for a given thread count, as layer norm's ∂γ).
    func columnSums(columns c: Int) -> Tensor {
        let rows = count / c
        let out = Tensor(shape: [c], dtype: dtype, zeroed: true)
        let parts = Swift.max(1, Swift.min(Parallel.threads, rows))
        func run<T: TensorScalar>(_: T.Type) {
            let src = storage.pointer(T.self), dst = out.storage.pointer(T.self)
            let partial = UnsafeMutablePointer<T>.allocate(capacity: parts * c)
            partial.initialize(repeating: 0, count: parts * c)
            defer { partial.deallocate() }
            parallelFor(parts, costPerItem: Swift.max(1, rows / parts) * c) { range in
                for p in range {
                    let acc = partial + p * c
                    for r in (rows * p / parts)..<(rows * (p + 1) / parts) {
                        let row = src + r * c
                        for j in 0..<c { acc[j] += row[j] }
                    }
                }
            }
            for p in 0..<parts { let acc = partial + p * c; for j in 0..<c { dst[j] += acc[j] } }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        return out
    }
}

extension Shape {
    /// True if `small` broadcasts to exactly `big` (one-directional broadcasting).
    static func broadcast2(_ small: [Int], _ big: [Int]) -> Bool {
        guard small.count <= big.count else { return false }
        let pad = big.count - small.count
        for i in 0..<small.count where small[i] != 1 && small[i] != big[i + pad] { return false }
        return true
    }
}

/// The one strided-copy primitive behind permute, slice, pad, concat, expand and sum-to-shape.
///
/// Copies (or, with `accumulate`, adds) every element of a `shape`-shaped view of `src` into the same position of a
/// view of `dst`. A view is an element offset plus per-dimension strides; a 0 stride repeats (in `src`: broadcast)
/// or sums (in `dst` with `accumulate`: reduction) along that dimension.
struct StridedView {
    var offset: Int
    var strides: [Int]
}

/// Merges adjacent dimensions that are contiguous in every view, so the inner loop runs as long as possible.
func coalesce(_ shape: [Int], _ views: [[Int]]) -> ([Int], [[Int]]) {
    var outShape: [Int] = []
    var outStrides = views.map { _ in [Int]() }
    for d in 0..<shape.count where shape[d] != 1 {
        // Merge into the previous kept dimension when, in every view, it steps exactly over this one.
        if let last = outShape.indices.last,
            views.indices.allSatisfy({ v in outStrides[v][last] == views[v][d] * shape[d] })
        {
            outShape[last] *= shape[d]
            for v in views.indices { outStrides[v][last] = views[v][d] }
        } else {
            outShape.append(shape[d])
            for v in views.indices { outStrides[v].append(views[v][d]) }
        }
    }
    return (outShape, outStrides)
}

/// Iterates over all "rows" (all but the last dimension) of a shape, tracking one offset per view.
struct RowIterator {
    let shape: [Int]
    let strides: [[Int]]
    var index: [Int]
    var offsets: [Int]

    init(shape: [Int], strides: [[Int]], base: [Int]) {
        self.shape = shape
        self.strides = strides
        index = [Int](repeating: 0, count: max(shape.count - 1, 0))
        offsets = base
    }

    /// Advances to the next row; false when done.
    @inline(__always)
    mutating func next() -> Bool {
        var d = shape.count - 2
        while d >= 0 {
            index[d] += 1
            for v in offsets.indices { offsets[v] += strides[v][d] }
            if index[d] < shape[d] { return true }
            for v in offsets.indices { offsets[v] -= strides[v][d] * shape[d] }
            index[d] = 0
            d -= 1
        }
        return false
    }
}

@inline(__always)
func stridedCopyTyped<T: TensorScalar>(
    _: T.Type, src: TensorStorage, srcView: StridedView, dst: TensorStorage,
    dstView: StridedView, shape: [Int], accumulate: Bool
) {
    if Shape.count(shape) == 0 { return }
    let (cs, cv) = coalesce(shape, [srcView.strides, dstView.strides])
    let s = src.pointer(T.self), d = dst.pointer(T.self)
    if cs.isEmpty {
        if accumulate { d[dstView.offset] += s[srcView.offset] } else { d[dstView.offset] = s[srcView.offset] }
        return
    }
    let n = cs[cs.count - 1]
    let ss = cv[0][cv[0].count - 1], ds = cv[1][cv[1].count - 1]
    var it = RowIterator(shape: cs, strides: cv, base: [srcView.offset, dstView.offset])
    repeat {
        let sp = s + it.offsets[0], dp = d + it.offsets[1]
        if accumulate {
            if ds == 0 {
                var acc = dp.pointee
                for i in 0..<n { acc += sp[i * ss] }
                dp.pointee = acc
            } else if ss == 1 && ds == 1 {
                for i in 0..<n { dp[i] += sp[i] }
            } else {
                for i in 0..<n { dp[i * ds] += sp[i * ss] }
            }
        } else if ss == 1 && ds == 1 {
            dp.update(from: sp, count: n)
        } else if ss == 0 && ds == 1 {
            dp.update(repeating: sp.pointee, count: n)
        } else {
            for i in 0..<n { dp[i * ds] = sp[i * ss] }
        }
    } while it.next()
}

/// Copies or accumulates a strided view of `src` into a strided view of `dst` (same dtype).
func stridedCopy(
    src: TensorStorage, srcView: StridedView, dst: TensorStorage, dstView: StridedView,
    shape: [Int], accumulate: Bool = false
) {
    precondition(src.dtype == dst.dtype, "stridedCopy: dtype \(src.dtype) vs \(dst.dtype)")
    switch src.dtype {
    case .float32:
        stridedCopyTyped(
            Float.self, src: src, srcView: srcView, dst: dst, dstView: dstView, shape: shape, accumulate: accumulate)
    case .float64:
        stridedCopyTyped(
            Double.self, src: src, srcView: srcView, dst: dst, dstView: dstView, shape: shape, accumulate: accumulate)
    }
}

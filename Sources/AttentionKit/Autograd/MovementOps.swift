// Differentiable movement ops: reshape, permute/transpose, slice, concat/stack/split, gather/indexSelect,
// expand/broadcastTo, pad. All data movement goes through `stridedCopy`; each backward is the adjoint movement.

extension Tensor {
    // MARK: reshape (shares storage)

    /// Same elements, new shape (one dimension may be -1). Shares storage, like a PyTorch view.
    public func reshape(_ newShape: [Int]) -> Tensor {
        let target = checked { () throws(ShapeError) in try Shape.reshape(shape, to: newShape) }
        if target == shape { return self }
        let inShape = shape
        return record("reshape", Tensor(shape: target, storage: storage), [self]) { g in [g.reshape(inShape)] }
    }

    /// Flattens dimensions `start...end` into one.
    public func flatten(from start: Int = 0, to end: Int = -1) -> Tensor {
        if rank == 0 { return reshape([1]) }
        let s = checked { () throws(ShapeError) in try Shape.axis(start, rank: rank, op: "flatten") }
        let e = checked { () throws(ShapeError) in try Shape.axis(end, rank: rank, op: "flatten") }
        precondition(s <= e, "flatten: start axis \(start) is after end axis \(end) for shape \(fmt(shape))")
        return reshape(Array(shape[..<s]) + [shape[s...e].reduce(1, *)] + Array(shape[(e + 1)...]))
    }

    /// Inserts a size-1 dimension at `axis` (in the output's numbering, −1 = last).
    public func unsqueeze(_ axis: Int) -> Tensor {
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank + 1, op: "unsqueeze") }
        var s = shape
        s.insert(1, at: a)
        return reshape(s)
    }

    /// Removes size-1 dimensions (all of them, or only `axis`).
    public func squeeze(_ axis: Int? = nil) -> Tensor {
        guard let axis else { return reshape(shape.filter { $0 != 1 }) }
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: "squeeze") }
        guard shape[a] == 1 else { return self }
        var s = shape
        s.remove(at: a)
        return reshape(s)
    }

    // MARK: permute / transpose

    /// Copy with axes reordered (no autograd).
    func permuteKernel(_ order: [Int]) -> Tensor {
        let st = strides
        let outShape = order.map { shape[$0] }
        let out = Tensor(shape: outShape, dtype: dtype, zeroed: false)
        stridedCopy(
            src: storage, srcView: StridedView(offset: 0, strides: order.map { st[$0] }),
            dst: out.storage, dstView: StridedView(offset: 0, strides: Shape.strides(outShape)), shape: outShape)
        return out
    }

    /// Reorders the axes: output axis i is input axis `order[i]`.  Backward: the inverse permutation.
    public func permute(_ order: [Int]) -> Tensor {
        let norm = order.map { a in checked { () throws(ShapeError) in try Shape.axis(a, rank: rank, op: "permute") } }
        guard norm.count == rank, Set(norm).count == rank else {
            shapeFailure(
                ShapeError("permute: order \(fmt(order)) is not a permutation of the axes of shape \(fmt(shape))"))
        }
        if norm == Array(0..<rank) { return self }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in norm.enumerated() { inverse[a] = i }
        return record("permute", permuteKernel(norm), [self]) { g in [g.permuteKernel(inverse)] }
    }

    /// Swaps two axes (default: the last two).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        let x = checked { () throws(ShapeError) in try Shape.axis(a, rank: rank, op: "transpose") }
        let y = checked { () throws(ShapeError) in try Shape.axis(b, rank: rank, op: "transpose") }
        var order = Array(0..<rank)
        order.swapAt(x, y)
        return permute(order)
    }

    // MARK: slicing

    /// Elements `start..<end` (step `step` > 0) along `axis`; negative bounds count from the end, bounds clamp
    /// like Python slices.  Backward: the gradient scattered back into zeros of the input's shape.
    public func slice(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: "slice") }
        precondition(step > 0, "slice: step must be positive, got \(step)")
        let n = shape[a]
        func clampIndex(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + n : i, 0), n) }
        let s = clampIndex(start), e = Swift.max(clampIndex(end ?? n), s)
        let len = (e - s + step - 1) / step
        var outShape = shape
        outShape[a] = len
        let st = strides
        var srcStrides = st
        srcStrides[a] *= step
        let view = StridedView(offset: s * st[a], strides: srcStrides)
        let out = Tensor(shape: outShape, dtype: dtype, zeroed: false)
        stridedCopy(
            src: storage, srcView: view, dst: out.storage,
            dstView: StridedView(offset: 0, strides: Shape.strides(outShape)), shape: outShape)
        let inShape = shape
        return record("slice", out, [self]) { g in
            let gi = Tensor.zeros(inShape, dtype: g.dtype)
            stridedCopy(
                src: g.storage, srcView: StridedView(offset: 0, strides: Shape.strides(outShape)),
                dst: gi.storage, dstView: view, shape: outShape)
            return [gi]
        }
    }

    /// Index `i` along `axis`, removing that axis (PyTorch's `select`).
    public func select(axis: Int, index i: Int) -> Tensor {
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: "select") }
        precondition(
            i >= -shape[a] && i < shape[a], "select: index \(i) out of range for axis \(axis) of shape \(fmt(shape))")
        let ix = i < 0 ? i + shape[a] : i
        return slice(axis: a, start: ix, end: ix + 1).squeeze(a)
    }

    // MARK: concat / stack / split

    /// Joins tensors along an existing axis (all other dimensions must match).
    public static func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "concat: no tensors given")
        let first = tensors[0]
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: first.rank, op: "concat") }
        for t in tensors.dropFirst() {
            var x = t.shape, y = first.shape
            guard x.count == y.count else {
                shapeFailure(ShapeError("concat: shapes \(fmt(first.shape)) and \(fmt(t.shape)) have different ranks"))
            }
            x[a] = 0; y[a] = 0
            guard x == y else {
                shapeFailure(
                    ShapeError("concat: shapes \(fmt(first.shape)) and \(fmt(t.shape)) differ outside axis \(axis)"))
            }
            precondition(t.dtype == first.dtype, "concat: dtypes \(first.dtype) and \(t.dtype) differ")
        }
        var outShape = first.shape
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor(shape: outShape, dtype: first.dtype, zeroed: false)
        let outStrides = Shape.strides(outShape)
        var offset = 0
        var starts: [Int] = []
        for t in tensors {
            starts.append(offset)
            stridedCopy(
                src: t.storage, srcView: StridedView(offset: 0, strides: t.strides),
                dst: out.storage, dstView: StridedView(offset: offset * outStrides[a], strides: outStrides),
                shape: t.shape)
            offset += t.shape[a]
        }
        return record("concat", out, tensors) { g in
            zip(tensors, starts).map { t, s in g.slice(axis: a, start: s, end: s + t.shape[a]) }
        }
    }

    /// Joins same-shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: no tensors given")
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: tensors[0].rank + 1, op: "stack") }
        for t in tensors.dropFirst() {
            checked { () throws(ShapeError) in try Shape.same(tensors[0].shape, t.shape, op: "stack") }
        }
        return concat(tensors.map { $0.unsqueeze(a) }, axis: a)
    }

    /// Splits along `axis` into pieces of the given sizes (which must add up to the axis length).
    public func split(_ sizes: [Int], axis: Int = 0) -> [Tensor] {
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: "split") }
        guard sizes.reduce(0, +) == shape[a], !sizes.contains(where: { $0 < 0 }) else {
            shapeFailure(
                ShapeError("split: sizes \(fmt(sizes)) do not add up to dimension \(a) of shape \(fmt(shape))"))
        }
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(axis: a, start: start, end: start + n)
        }
    }

    /// Splits along `axis` into `parts` equal pieces.
    public func chunk(_ parts: Int, axis: Int = 0) -> [Tensor] {
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: "chunk") }
        guard parts > 0, shape[a] % parts == 0 else {
            shapeFailure(
                ShapeError("chunk: dimension \(a) of shape \(fmt(shape)) does not split into \(parts) equal parts"))
        }
        return split([Int](repeating: shape[a] / parts, count: parts), axis: a)
    }

    // MARK: gather / indexSelect

    /// Picks rows along `axis` by integer index (PyTorch's `index_select`; Embedding's lookup).
    /// Backward: index-add of the gradient into zeros (repeated indices accumulate).
    public func indexSelect(axis: Int, indices: [Int]) -> Tensor {
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: "indexSelect") }
        let n = shape[a]
        for (k, i) in indices.enumerated() where i < 0 || i >= n {
            shapeFailure(
                ShapeError(
                    "indexSelect: index \(i) at position \(k) is out of range for axis \(a) of shape \(fmt(shape))"))
        }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = indices.count
        let out = Tensor(shape: outShape, dtype: dtype, zeroed: false)
        let m = indices.count
        func run<T: TensorScalar>(_: T.Type) {
            let s = storage.pointer(T.self), d = out.storage.pointer(T.self)
            for o in 0..<outer {
                for (j, i) in indices.enumerated() {
                    (d + (o * m + j) * inner).update(from: s + (o * n + i) * inner, count: inner)
                }
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        let inShape = shape
        return record("indexSelect", out, [self]) { g in
            let gi = Tensor.zeros(inShape, dtype: g.dtype)
            func back<T: TensorScalar>(_: T.Type) {
                let s = g.storage.pointer(T.self), d = gi.storage.pointer(T.self)
                for o in 0..<outer {
                    for (j, i) in indices.enumerated() {
                        let src = s + (o * m + j) * inner, dst = d + (o * n + i) * inner
                        for k in 0..<inner { dst[k] += src[k] }
                    }
                }
            }
            switch g.dtype {
            case .float32: back(Float.self)
            case .float64: back(Double.self)
            }
            return [gi]
        }
    }

    /// `out[i][j][k] = self[i][index[i][j][k]][k]` for axis 1, and likewise for any axis (PyTorch's `gather`).
    /// `index` holds integer values and has this tensor's rank; outside `axis` its sizes must not exceed ours.
    /// Backward: scatter-add of the gradient.
    public func gather(axis: Int, index: Tensor) -> Tensor {
        let a = checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: "gather") }
        guard index.rank == rank, (0..<rank).allSatisfy({ $0 == a || index.shape[$0] <= shape[$0] }) else {
            shapeFailure(
                ShapeError(
                    "gather: index shape \(fmt(index.shape)) does not fit input shape \(fmt(shape)) along axis \(axis)")
            )
        }
        let values = index.doubles
        let ix = values.map { $0.isFinite ? Int($0) : -1 }
        for (k, i) in ix.enumerated() where i < 0 || i >= shape[a] || Double(i) != values[k] {
            shapeFailure(
                ShapeError(
                    "gather: index value \(values[k]) at flat position \(k) is not a valid index for axis \(a) of shape \(fmt(shape))"
                ))
        }
        // Offsets into self for every index element.
        let st = strides, ist = index.strides
        var offsets = [Int](repeating: 0, count: ix.count)
        for k in 0..<ix.count {
            var rem = k, off = 0
            for d in 0..<rank {
                let c = rem / ist[d]
                rem %= ist[d]
                off += (d == a ? ix[k] : c) * st[d]
            }
            offsets[k] = off
        }
        let out = Tensor(shape: index.shape, dtype: dtype, zeroed: false)
        func run<T: TensorScalar>(_: T.Type) {
            let s = storage.pointer(T.self), d = out.storage.pointer(T.self)
            for k in 0..<offsets.count { d[k] = s[offsets[k]] }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        let inShape = shape
        return record("gather", out, [self]) { g in
            let gi = Tensor.zeros(inShape, dtype: g.dtype)
            func back<T: TensorScalar>(_: T.Type) {
                let s = g.storage.pointer(T.self), d = gi.storage.pointer(T.self)
                for k in 0..<offsets.count { d[offsets[k]] += s[k] }
            }
            switch g.dtype {
            case .float32: back(Float.self)
            case .float64: back(Double.self)
            }
            return [gi]
        }
    }

    // MARK: expand / pad

    /// Broadcasts to `shape` (NumPy rules, one direction), as a contiguous copy.  Backward: sum to the input shape.
    public func broadcastTo(_ target: [Int]) -> Tensor {
        if target == shape { return self }
        let inShape = shape
        return record("broadcastTo", broadcastCopy(to: target), [self]) { g in [g.sumCopy(to: inShape)] }
    }

    /// PyTorch's `expand`: like `broadcastTo`, with -1 meaning "keep this dimension".
    public func expand(_ target: [Int]) -> Tensor {
        let pad = target.count - rank
        let resolved = target.enumerated().map { i, d in d == -1 && i >= pad ? shape[i - pad] : d }
        return broadcastTo(resolved)
    }

    /// Constant padding: `padding[i] = (before, after)` for dimension i (trailing dimensions may be omitted
    /// from the front, i.e. padding applies to the last `padding.count` dimensions).  Backward: the interior slice.
    public func pad(_ padding: [(before: Int, after: Int)], value: Float = 0) -> Tensor {
        guard padding.count <= rank, padding.allSatisfy({ $0.before >= 0 && $0.after >= 0 }) else {
            shapeFailure(
                ShapeError(
                    "pad: padding \(padding.map { "(\($0.before), \($0.after))" }) does not fit shape \(fmt(shape))"))
        }
        let lead = rank - padding.count
        var outShape = shape
        var offset = 0
        let full = (0..<rank).map { $0 < lead ? (before: 0, after: 0) : padding[$0 - lead] }
        for d in 0..<rank { outShape[d] += full[d].before + full[d].after }
        let outStrides = Shape.strides(outShape)
        for d in 0..<rank { offset += full[d].before * outStrides[d] }
        let out = Tensor.full(outShape, value, dtype: dtype)
        let interior = StridedView(offset: offset, strides: outStrides)
        stridedCopy(
            src: storage, srcView: StridedView(offset: 0, strides: strides), dst: out.storage, dstView: interior,
            shape: shape)
        let inShape = shape
        return record("pad", out, [self]) { g in
            let gi = Tensor(shape: inShape, dtype: g.dtype, zeroed: false)
            stridedCopy(
                src: g.storage, srcView: interior, dst: gi.storage,
                dstView: StridedView(offset: 0, strides: Shape.strides(inShape)), shape: inShape)
            return [gi]
        }
    }
}

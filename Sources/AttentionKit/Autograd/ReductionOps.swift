// Differentiable reductions over any set of axes, with keepDims. The kernel moves the reduced axes last
// (one strided copy) and reduces contiguous rows; each op's backward sits under its forward.

/// What a row reduction computes.
enum RowReduction { case sum, max, min, argmax, argmin }

@inline(__always)
func reduceRowsTyped<T: TensorScalar>(
    _: T.Type, _ src: Tensor, rows: Int, length n: Int, _ kind: RowReduction, _ out: Tensor
) {
    let s = src.storage.pointer(T.self), d = out.storage.pointer(T.self)
    for r in 0..<rows {
        let row = s + r * n
        switch kind {
        case .sum:
            var acc: T = 0
            for i in 0..<n { acc += row[i] }
            d[r] = acc
        case .max, .min:
            var best = row[0]
            if kind == .max {
                for i in 1..<Swift.max(n, 1) where row[i] > best || row[i].isNaN {
                    best = row[i]; if best.isNaN { break }
                }
            } else {
                for i in 1..<Swift.max(n, 1) where row[i] < best || row[i].isNaN {
                    best = row[i]; if best.isNaN { break }
                }
            }
            d[r] = best
        case .argmax, .argmin:
            var best = row[0], at = 0
            for i in 1..<Swift.max(n, 1) where kind == .argmax ? row[i] > best : row[i] < best { best = row[i]; at = i }
            d[r] = T(at)
        }
    }
}

extension Tensor {
    /// Shape after reducing `axes` (sorted, normalised), keeping them as size 1 or dropping them.
    static func reducedShape(_ shape: [Int], _ axes: [Int], keepDims: Bool) -> [Int] {
        var out: [Int] = []
        for (i, d) in shape.enumerated() {
            if axes.contains(i) { if keepDims { out.append(1) } } else { out.append(d) }
        }
        return out
    }

    /// Reduces `axes` (nil: all) with `kind`; no autograd. Returns the keepDims-shaped result.
    func reduceKernel(_ axes: [Int], _ kind: RowReduction, op: String) -> Tensor {
        let kept = (0..<rank).filter { !axes.contains($0) }
        let n = axes.reduce(1) { $0 * shape[$1] }
        let outShape = Tensor.reducedShape(shape, axes, keepDims: true)
        if n == 0 && kind != .sum {
            shapeFailure(ShapeError("\(op): cannot reduce over an empty dimension of shape \(fmt(shape))"))
        }
        // Move the reduced axes last so each output element reduces one contiguous row.
        let moved = (axes == Array((rank - axes.count)..<rank)) ? self : permuteKernel(kept + axes)
        let out = Tensor(shape: outShape, dtype: dtype, zeroed: true)
        let rows = out.count
        if n == 0 { return out }
        switch dtype {
        case .float32: reduceRowsTyped(Float.self, moved, rows: rows, length: n, kind, out)
        case .float64: reduceRowsTyped(Double.self, moved, rows: rows, length: n, kind, out)
        }
        return out
    }

    private func normalizedAxes(_ axes: [Int]?, op: String) -> [Int] {
        checked { () throws(ShapeError) in try Shape.axes(axes, rank: rank, op: op) }
    }

    /// Σ over `axes` (nil: all).  Backward: the gradient broadcast back over the reduced axes.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "sum")
        let kd = reduceKernel(ax, .sum, op: "sum")
        let out = keepDims ? kd : kd.reshape(Tensor.reducedShape(shape, ax, keepDims: false))
        let inShape = shape, kdShape = kd.shape
        return record("sum", out.detach(), [self]) { g in [g.reshape(kdShape).broadcastCopy(to: inShape)] }
    }

    /// Σ along one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Arithmetic mean over `axes` (nil: all): Σx / N.
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) / Float(n)
    }

    /// Mean along one axis.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Maximum over `axes` (nil: all). The gradient is shared equally among tied maxima (PyTorch's `amax`).
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(axes, .max, "max", keepDims) }
    /// Maximum along one axis.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }

    /// Minimum over `axes` (nil: all). The gradient is shared equally among tied minima (PyTorch's `amin`).
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(axes, .min, "min", keepDims) }
    /// Minimum along one axis.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }

    private func extremum(_ axes: [Int]?, _ kind: RowReduction, _ op: String, _ keepDims: Bool) -> Tensor {
        let ax = normalizedAxes(axes, op: op)
        let kd = reduceKernel(ax, kind, op: op)
        let out = keepDims ? kd : kd.reshape(Tensor.reducedShape(shape, ax, keepDims: false))
        return record(op, out.detach(), [self]) { g in
            // mask of the positions equal to the extremum, normalised by the number of ties
            let mask = self.eq(kd)
            let ties = mask.reduceKernel(ax, .sum, op: op)
            return [mask / ties * g.reshape(kd.shape)]
        }
    }

    /// Index of the maximum along `axis` (nil: over the flattened tensor), as float values; first index on ties.
    public func argmax(axis: Int? = nil, keepDims: Bool = false) -> Tensor {
        argExtremum(axis, .argmax, "argmax", keepDims)
    }

    /// Index of the minimum along `axis` (nil: over the flattened tensor); first index on ties.
    public func argmin(axis: Int? = nil, keepDims: Bool = false) -> Tensor {
        argExtremum(axis, .argmin, "argmin", keepDims)
    }

    private func argExtremum(_ axis: Int?, _ kind: RowReduction, _ op: String, _ keepDims: Bool) -> Tensor {
        guard let axis else { return reshape([count]).argExtremum(0, kind, op, false) }
        let ax = normalizedAxes([axis], op: op)
        let kd = reduceKernel(ax, kind, op: op)
        return keepDims ? kd : kd.reshape(Tensor.reducedShape(shape, ax, keepDims: false))
    }

    /// Variance over `axes` with Bessel's correction by default (PyTorch: `correction=1`):
    /// Σ(x − x̄)² / (N − correction).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "variance")
        let n = ax.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: ax, keepDims: true)
        return (centered * centered).sum(axes: ax, keepDims: keepDims) / Float(Swift.max(n - correction, 0))
    }

    /// Variance along one axis.
    public func variance(axis: Int, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        variance(axes: [axis], correction: correction, keepDims: keepDims)
    }

    /// log Σ exp(x) over `axes`, stable: m + log Σ exp(x − m) with m the (detached) maximum.
    public func logsumexp(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "logsumexp")
        var m = reduceKernel(ax, .max, op: "logsumexp")
        m = Tensor.where(mapUnary(m, AbsK()).eq(.infinity), m.scalarLike(0), m)  // all -inf rows stay -inf
        let lse = (self - m).exp().sum(axes: ax, keepDims: true).log() + m
        return keepDims ? lse : lse.reshape(Tensor.reducedShape(shape, ax, keepDims: false))
    }

    /// logsumexp along one axis.
    public func logsumexp(axis: Int, keepDims: Bool = false) -> Tensor { logsumexp(axes: [axis], keepDims: keepDims) }
}

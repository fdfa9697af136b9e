import Foundation

/// An n-dimensional array of Float32 (or Float64) in row-major contiguous storage, with reverse-mode autograd.
///
/// Tensors are values from the user's point of view: every op returns a new tensor. `reshape` and `detach` share
/// storage with their input (as PyTorch views do); in-place mutation is reserved for optimizers and is explicit
/// (`withUnsafeMutableFloats`, `assign(_:)`).
public final class Tensor {
    /// Dimensions, outermost first. `[]` is a scalar.
    public let shape: [Int]
    /// The elements. Replaced only by `Module.to(_:)` (a dtype change that keeps the parameter's identity).
    public internal(set) var storage: TensorStorage

    // MARK: autograd state (see Autograd/Engine.swift)

    /// Whether gradients flow to (and, for leaves, accumulate in) this tensor.
    public internal(set) var requiresGrad: Bool = false
    /// Accumulated gradient of a leaf after `backward()` (nil until then, or after `zeroGrad()`).
    public var grad: Tensor?
    /// The op that produced this tensor, while its graph is alive.
    var node: GradNode?
    /// True for tensors produced by a recorded op (non-leaves), even after their graph was freed.
    var isNonLeaf = false
    /// Keep `.grad` on this non-leaf too (PyTorch's `retain_grad()`).
    public var retainsGrad = false

    /// Wraps existing storage (shape must match its count).
    init(shape: [Int], storage: TensorStorage) {
        precondition(
            Shape.count(shape) == storage.count, "Tensor: shape \(fmt(shape)) does not match \(storage.count) elements")
        precondition(!shape.contains { $0 < 0 }, "Tensor: negative dimension in \(fmt(shape))")
        self.shape = shape
        self.storage = storage
    }

    /// A new tensor of `shape` and `dtype`, zero-filled unless `zeroed` is false.
    convenience init(shape: [Int], dtype: DType, zeroed: Bool) {
        self.init(shape: shape, storage: TensorStorage(count: Shape.count(shape), dtype: dtype, zeroed: zeroed))
    }

    /// A float32 tensor holding `scalars` with `shape` (row-major). The count must match.
    public convenience init(_ scalars: [Float], shape: [Int]) {
        precondition(
            Shape.count(shape) == scalars.count,
            "Tensor(_:shape:): \(scalars.count) values cannot fill shape \(fmt(shape))")
        self.init(shape: shape, dtype: .float32, zeroed: false)
        let p = storage.pointer(Float.self)
        scalars.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: scalars.count) }
    }

    /// A 1-D float32 tensor.
    public convenience init(_ scalars: [Float]) { self.init(scalars, shape: [scalars.count]) }

    /// A float64 tensor holding `scalars` with `shape`.
    public convenience init(doubles scalars: [Double], shape: [Int]) {
        precondition(
            Shape.count(shape) == scalars.count,
            "Tensor(doubles:shape:): \(scalars.count) values cannot fill shape \(fmt(shape))")
        self.init(shape: shape, dtype: .float64, zeroed: false)
        let p = storage.pointer(Double.self)
        scalars.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: scalars.count) }
    }

    /// A 0-d tensor.
    public convenience init(scalar: Float, dtype: DType = .float32) {
        self.init(shape: [], dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: storage.pointer(Float.self).pointee = scalar
        case .float64: storage.pointer(Double.self).pointee = Double(scalar)
        }
    }

    // MARK: basic properties

    /// The element type.
    public var dtype: DType { storage.dtype }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { storage.count }
    /// Row-major strides in elements.
    public var strides: [Int] { Shape.strides(shape) }
    /// True if this tensor was not produced by a recorded op.
    public var isLeaf: Bool { !isNonLeaf }

    /// Size of dimension `axis` (negative counts from the end).
    public func size(_ axis: Int) -> Int {
        shape[checked { () throws(ShapeError) in try Shape.axis(axis, rank: rank, op: "size") }]
    }

    /// Marks this leaf as requiring gradients (PyTorch's `requires_grad_()`); returns self for chaining.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        precondition(isLeaf, "requiringGrad: only leaf tensors can change requiresGrad (use detach() first)")
        requiresGrad = flag
        return self
    }

    /// Elements as `[Float]` (converted from float64 if needed).
    public var scalars: [Float] {
        switch dtype {
        case .float32: return Array(UnsafeBufferPointer(start: storage.pointer(Float.self), count: count))
        case .float64: return UnsafeBufferPointer(start: storage.pointer(Double.self), count: count).map { Float($0) }
        }
    }

    /// Elements as `[Double]`.
    public var doubles: [Double] {
        switch dtype {
        case .float32: return UnsafeBufferPointer(start: storage.pointer(Float.self), count: count).map { Double($0) }
        case .float64: return Array(UnsafeBufferPointer(start: storage.pointer(Double.self), count: count))
        }
    }

    /// The single element of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item: tensor of shape \(fmt(shape)) has \(count) elements, not 1")
        return dtype == .float32 ? storage.pointer(Float.self).pointee : Float(storage.pointer(Double.self).pointee)
    }

    /// The single element as Double.
    public func itemDouble() -> Double {
        precondition(count == 1, "itemDouble: tensor of shape \(fmt(shape)) has \(count) elements, not 1")
        return dtype == .float32 ? Double(storage.pointer(Float.self).pointee) : storage.pointer(Double.self).pointee
    }

    /// Element at a multi-index.
    public subscript(index: Int...) -> Float {
        precondition(index.count == rank, "subscript: \(index.count) indices for a tensor of rank \(rank)")
        var off = 0
        let st = strides
        for (i, ix) in index.enumerated() {
            precondition(
                ix >= 0 && ix < shape[i], "subscript: index \(ix) out of range for dimension \(i) of size \(shape[i])")
            off += ix * st[i]
        }
        return dtype == .float32 ? storage.pointer(Float.self)[off] : Float(storage.pointer(Double.self)[off])
    }

    /// Read access to float32 elements.
    public func withUnsafeFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(dtype == .float32, "withUnsafeFloats: tensor is \(dtype)")
        return try body(UnsafeBufferPointer(start: storage.pointer(Float.self), count: count))
    }

    /// In-place write access to float32 elements (for optimizers and loaders). Not recorded by autograd.
    public func withUnsafeMutableFloats<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(dtype == .float32, "withUnsafeMutableFloats: tensor is \(dtype)")
        return try body(UnsafeMutableBufferPointer(start: storage.pointer(Float.self), count: count))
    }

    /// Copies `other`'s elements into this tensor in place (same shape and dtype). Not recorded by autograd.
    public func assign(_ other: Tensor) {
        checked { () throws(ShapeError) in try Shape.same(shape, other.shape, op: "assign") }
        precondition(dtype == other.dtype, "assign: dtype \(other.dtype) into \(dtype)")
        storage.raw.copyMemory(from: other.storage.raw, byteCount: count * dtype.byteSize)
    }

    /// A tensor sharing this one's storage, cut from the graph (PyTorch's `detach()`).
    public func detach() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// A deep copy, cut from the graph.
    public func copy() -> Tensor { Tensor(shape: shape, storage: storage.copy()) }

    /// This tensor converted to `dtype` (differentiable; returns self if already that type).
    public func to(_ dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        switch dtype {
        case .float64:
            let s = storage.pointer(Float.self), d = out.storage.pointer(Double.self)
            for i in 0..<count { d[i] = Double(s[i]) }
        case .float32:
            let s = storage.pointer(Double.self), d = out.storage.pointer(Float.self)
            for i in 0..<count { d[i] = Float(s[i]) }
        }
        let src = self.dtype
        return record("to", out, [self]) { g in [g.to(src)] }
    }
}

extension Tensor: CustomStringConvertible {
    /// PyTorch-like printout: nested brackets for up to 6 elements per dimension, then `…`.
    public var description: String {
        let v = doubles
        func fmtv(_ x: Double) -> String {
            if x.isNaN { return "nan" }
            if x.isInfinite { return x > 0 ? "inf" : "-inf" }
            return String(format: "%.4g", x)
        }
        func render(_ dim: Int, _ offset: Int) -> String {
            if dim == rank { return fmtv(v[offset]) }
            let n = shape[dim], st = strides[dim]
            let shown = n <= 6 ? Array(0..<n) : [0, 1, 2, n - 3, n - 2, n - 1]
            var parts: [String] = []
            for (k, i) in shown.enumerated() {
                if n > 6 && k == 3 { parts.append("…") }
                parts.append(render(dim + 1, offset + i * st))
            }
            return "[" + parts.joined(separator: ", ") + "]"
        }
        let body = count == 0 ? "[]" : render(0, 0)
        var s = "tensor(\(body), shape: \(fmt(shape))"
        if dtype != .float32 { s += ", dtype: \(dtype)" }
        if requiresGrad { s += ", requiresGrad" }
        return s + ")"
    }
}

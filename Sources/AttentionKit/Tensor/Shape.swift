/// A shape error: an op was called with shapes (or axes) it cannot combine. The message names the op and the shapes.
///
/// Ops stop the program with this message (a programmer error, like a PyTorch `RuntimeError`); the
/// `Shape.*` validators below also throw it, so the checks themselves can be tested.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    /// What is wrong with the shapes.
    public let message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Formats a shape the way error messages print it: `[2, 3]`.
@inline(never)
func fmt(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

/// Stops with a shape error. `never` inlined to keep the message-building code off hot paths.
@inline(never)
func shapeFailure(_ error: ShapeError) -> Never {
    fatalError("AttentionKit shape error: \(error.message)")
}

/// Runs a throwing shape check and stops with its message on failure.
@inline(__always)
func checked<R>(_ body: () throws(ShapeError) -> R) -> R {
    do { return try body() } catch { shapeFailure(error) }
}

/// Shape arithmetic shared by every op: element counts, strides, broadcasting, axis normalisation.
public enum Shape {
    /// Number of elements of `shape` (1 for a scalar `[]`).
    @inlinable
    public static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Row-major (C-order) strides in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// NumPy broadcasting: align trailing dimensions; each pair must be equal or contain a 1.
    public static func broadcast(_ a: [Int], _ b: [Int], op: String) throws(ShapeError) -> [Int] {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 {
                out[i] = da
            } else if da == 1 {
                out[i] = db
            } else {
                throw ShapeError(
                    "\(op): shapes \(fmt(a)) and \(fmt(b)) cannot be broadcast together (dimension \(i): \(da) vs \(db))"
                )
            }
        }
        return out
    }

    /// Strides that read a tensor of `shape` as if it had the (broadcast) shape `target`: 0 on broadcast dimensions.
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let s = strides(shape)
        let pad = target.count - shape.count
        var out = [Int](repeating: 0, count: target.count)
        for i in 0..<shape.count where shape[i] != 1 || target[i + pad] == 1 {
            out[i + pad] = shape[i] == 1 ? 0 : s[i]
        }
        return out
    }

    /// Normalises a possibly negative axis against `rank`.
    public static func axis(_ axis: Int, rank: Int, op: String) throws(ShapeError) -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < max(rank, 1) else {
            throw ShapeError("\(op): axis \(axis) is out of range for a tensor of rank \(rank)")
        }
        return a
    }

    /// Normalises a list of axes (nil = all), sorted and without duplicates.
    public static func axes(_ axes: [Int]?, rank: Int, op: String) throws(ShapeError) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        var out: [Int] = []
        for a in axes {
            let n = try axis(a, rank: rank, op: op)
            if out.contains(n) { throw ShapeError("\(op): axis \(a) given twice") }
            out.append(n)
        }
        return out.sorted()
    }

    /// Checks that a matrix product of `a` and `b` (after optional transposes of the last two dims) is defined and
    /// returns the output shape: broadcast batch dimensions + [M, N].
    public static func matmul(_ a: [Int], _ b: [Int], transposeA: Bool = false, transposeB: Bool = false)
        throws(ShapeError) -> [Int]
    {
        guard a.count >= 2 && b.count >= 2 else {
            throw ShapeError("matmul: shapes \(fmt(a)) and \(fmt(b)) need at least 2 dimensions each")
        }
        let (m, ka) = transposeA ? (a[a.count - 1], a[a.count - 2]) : (a[a.count - 2], a[a.count - 1])
        let (kb, n) = transposeB ? (b[b.count - 1], b[b.count - 2]) : (b[b.count - 2], b[b.count - 1])
        guard ka == kb else {
            throw ShapeError(
                "matmul: shapes \(fmt(a))\(transposeA ? "ᵀ" : "") and \(fmt(b))\(transposeB ? "ᵀ" : "") are incompatible (inner dimensions \(ka) vs \(kb))"
            )
        }
        let batch = try broadcast(Array(a.dropLast(2)), Array(b.dropLast(2)), op: "matmul")
        return batch + [m, n]
    }

    /// Checks that two shapes are identical.
    public static func same(_ a: [Int], _ b: [Int], op: String) throws(ShapeError) {
        guard a == b else { throw ShapeError("\(op): shapes \(fmt(a)) and \(fmt(b)) must be equal") }
    }

    /// Resolves a reshape target with at most one `-1`.
    public static func reshape(_ shape: [Int], to target: [Int]) throws(ShapeError) -> [Int] {
        let total = count(shape)
        var out = target
        let unknown = target.indices.filter { target[$0] == -1 }
        guard unknown.count <= 1, !target.contains(where: { $0 < -1 }) else {
            throw ShapeError("reshape: invalid target shape \(fmt(target)) for input \(fmt(shape))")
        }
        if let u = unknown.first {
            let known = target.enumerated().filter { $0.offset != u }.map(\.element).reduce(1, *)
            guard known > 0, total % known == 0 else {
                throw ShapeError("reshape: cannot reshape \(fmt(shape)) into \(fmt(target))")
            }
            out[u] = total / known
        }
        guard count(out) == total else {
            throw ShapeError(
                "reshape: cannot reshape \(fmt(shape)) (\(total) elements) into \(fmt(target)) (\(count(out)) elements)"
            )
        }
        return out
    }
}

/// Tensor factories: constants, ranges, identity and seeded random tensors.
extension Tensor {
    /// All zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        Tensor(shape: shape, dtype: dtype, zeroed: true)
    }

    /// All ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }

    /// Every element equal to `value`.
    public static func full(_ shape: [Int], _ value: Float, dtype: DType = .float32) -> Tensor {
        let t = Tensor(shape: shape, dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: t.storage.pointer(Float.self).update(repeating: value, count: t.count)
        case .float64: t.storage.pointer(Double.self).update(repeating: Double(value), count: t.count)
        }
        return t
    }

    /// Zeros with `other`'s shape and dtype.
    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape, dtype: other.dtype) }
    /// Ones with `other`'s shape and dtype.
    public static func ones(like other: Tensor) -> Tensor { ones(other.shape, dtype: other.dtype) }

    /// `0, 1, …, end−1` (PyTorch's `arange(end)`).
    public static func arange(_ end: Float, dtype: DType = .float32) -> Tensor { arange(0, end, dtype: dtype) }

    /// `start, start+step, …` up to but excluding `end` (PyTorch's `arange(start, end, step)`).
    public static func arange(_ start: Float, _ end: Float, step: Float = 1, dtype: DType = .float32) -> Tensor {
        precondition(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int(((Double(end) - Double(start)) / Double(step)).rounded(.up)))
        return fill([n], dtype: dtype) { Double(start) + Double($0) * Double(step) }
    }

    /// `count` evenly spaced values from `start` to `end` inclusive.
    public static func linspace(_ start: Float, _ end: Float, count: Int, dtype: DType = .float32) -> Tensor {
        precondition(count >= 0, "linspace: negative count \(count)")
        let step = count > 1 ? (Double(end) - Double(start)) / Double(count - 1) : 0
        return fill([count], dtype: dtype) { i in
            i == count - 1 && count > 1 ? Double(end) : Double(start) + Double(i) * step
        }
    }

    /// The n×m identity matrix (m defaults to n).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32) -> Tensor {
        let cols = m ?? n
        let t = zeros([n, cols], dtype: dtype)
        for i in 0..<Swift.min(n, cols) {
            switch dtype {
            case .float32: t.storage.pointer(Float.self)[i * cols + i] = 1
            case .float64: t.storage.pointer(Double.self)[i * cols + i] = 1
            }
        }
        return t
    }

    /// Uniform samples in [low, high), drawn in row-major order from `generator` (zeros, nothing drawn, inside
    /// `Init.skippingRandomValues`).
    public static func uniform(
        _ shape: [Int], low: Float = 0, high: Float = 1, dtype: DType = .float32,
        using generator: inout RandomGenerator
    ) -> Tensor {
        if Init.skipsRandomValues { return zeros(shape, dtype: dtype) }
        let (lo, span) = (Double(low), Double(high) - Double(low))
        return fill(shape, dtype: dtype) { _ in lo + span * generator.nextUnit() }
    }

    /// Normal samples N(mean, std²), drawn in row-major order from `generator` (zeros, nothing drawn, inside
    /// `Init.skippingRandomValues`).
    public static func normal(
        _ shape: [Int], mean: Float = 0, std: Float = 1, dtype: DType = .float32,
        using generator: inout RandomGenerator
    ) -> Tensor {
        if Init.skipsRandomValues { return zeros(shape, dtype: dtype) }
        let (m, s) = (Double(mean), Double(std))
        return fill(shape, dtype: dtype) { _ in m + s * generator.nextNormal() }
    }

    /// Bernoulli samples: 1 with probability `p`, else 0.
    public static func bernoulli(
        _ shape: [Int], p: Float, dtype: DType = .float32,
        using generator: inout RandomGenerator
    ) -> Tensor {
        precondition(p >= 0 && p <= 1, "bernoulli: probability \(p) is outside [0, 1]")
        let pd = Double(p)
        return fill(shape, dtype: dtype) { _ in generator.nextUnit() < pd ? 1 : 0 }
    }

    /// Builds a tensor from a function of the flat index (creation only; not a hot path).
    static func fill(_ shape: [Int], dtype: DType, _ value: (Int) -> Double) -> Tensor {
        let t = Tensor(shape: shape, dtype: dtype, zeroed: false)
        switch dtype {
        case .float32:
            let p = t.storage.pointer(Float.self)
            for i in 0..<t.count { p[i] = Float(value(i)) }
        case .float64:
            let p = t.storage.pointer(Double.self)
            for i in 0..<t.count { p[i] = value(i) }
        }
        return t
    }
}

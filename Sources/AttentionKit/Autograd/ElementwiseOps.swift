import RealModule

// Differentiable elementwise ops. Each op: its scalar kernel(s), its forward, and its vector-Jacobian product,
// side by side. Binary ops broadcast (NumPy rules); their gradients are summed back to each input's shape.

// MARK: - Kernels

struct AddK: BinaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T { a + b } }
struct SubK: BinaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T { a - b } }
struct MulK: BinaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T { a * b } }
struct DivK: BinaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T { a / b } }
/// aᵇ; integral exponents use repeated multiplication so negative bases work ((−2)² = 4, as in PyTorch);
/// a negative base with a fractional exponent gives NaN.
struct PowK: BinaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T {
        if b == b.rounded() && Swift.abs(b) < T(1 << 30) { return T.pow(a, Int(b)) }
        return T.pow(a, b)
    }
}
struct MaxK: BinaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T { a >= b ? a : b }
}
struct MinK: BinaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T { a <= b ? a : b }
}

/// Comparison kernels return 1 for true and 0 for false.
enum Comparison { case eq, ne, lt, le, gt, ge }
struct CompareK: BinaryKernel {
    let c: Comparison
    @inline(__always) func callAsFunction<T: TensorScalar>(_ a: T, _ b: T) -> T {
        let r: Bool
        switch c {
        case .eq: r = a == b
        case .ne: r = a != b
        case .lt: r = a < b
        case .le: r = a <= b
        case .gt: r = a > b
        case .ge: r = a >= b
        }
        return r ? 1 : 0
    }
}

struct NegK: UnaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { -x } }
struct ExpK: UnaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { T.exp(x) } }
struct LogK: UnaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { T.log(x) } }
struct SqrtK: UnaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { x.squareRoot() } }
struct RsqrtK: UnaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { 1 / x.squareRoot() }
}
struct AbsK: UnaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { Swift.abs(x) } }
struct SignK: UnaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { x > 0 ? 1 : (x < 0 ? -1 : 0) }
}
struct TanhK: UnaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { T.tanhFast(x) } }
struct SigmoidK: UnaryKernel {
    /// σ(x) = 1/(1+e^{-x}), evaluated without overflow for large |x|.
    @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T {
        if x >= 0 { return 1 / (1 + T.exp(-x)) }
        let e = T.exp(x)
        return e / (1 + e)
    }
}
struct ReluK: UnaryKernel { @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { x > 0 ? x : 0 } }
struct LeakyReluK: UnaryKernel {
    let slope: Double
    @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { x > 0 ? x : T(slope) * x }
}
struct EluK: UnaryKernel {
    let alpha: Double
    @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { x > 0 ? x : T(alpha) * (T.exp(x) - 1) }
}
/// GELU, exact form: x·Φ(x) = ½x(1 + erf(x/√2)).
struct GeluErfK: UnaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { T.geluErf(x) }
}
/// GELU, tanh form: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
struct GeluTanhK: UnaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T {
        x * (1 + T.tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x))) / 2
    }
}
struct ClampK: UnaryKernel {
    let lo: Double, hi: Double
    @inline(__always) func callAsFunction<T: TensorScalar>(_ x: T) -> T { Swift.min(Swift.max(x, T(lo)), T(hi)) }
}

// Backward kernels: (upstream gradient, saved value) -> input gradient.
struct ReluGradK: BinaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ g: T, _ x: T) -> T { x > 0 ? g : 0 }
}
struct LeakyReluGradK: BinaryKernel {
    let slope: Double
    @inline(__always) func callAsFunction<T: TensorScalar>(_ g: T, _ x: T) -> T { x > 0 ? g : T(slope) * g }
}
/// d/dx elu = 1 for x > 0, else α·eˣ = y + α (saved: x and y via two passes; here from x).
struct EluGradK: BinaryKernel {
    let alpha: Double
    @inline(__always) func callAsFunction<T: TensorScalar>(_ g: T, _ x: T) -> T { x > 0 ? g : g * T(alpha) * T.exp(x) }
}
struct TanhGradK: BinaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ g: T, _ y: T) -> T { g * (1 - y * y) }
}
struct SigmoidGradK: BinaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ g: T, _ y: T) -> T { g * y * (1 - y) }
}
/// d/dx [xΦ(x)] = Φ(x) + x·φ(x).
struct GeluErfGradK: BinaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ g: T, _ x: T) -> T { T.geluErfGrad(g, x) }
}
/// d/dx of the tanh form: ½(1+t) + ½x(1−t²)·√(2/π)(1 + 3·0.044715x²), t = tanh(√(2/π)(x + 0.044715x³)).
struct GeluTanhGradK: BinaryKernel {
    @inline(__always) func callAsFunction<T: TensorScalar>(_ g: T, _ x: T) -> T {
        let c = T(0.7978845608028654), k = T(0.044715)
        let x2: T = x * x
        let t: T = T.tanh(c * (x + k * x2 * x))
        let left: T = (1 + t) / 2
        let inner: T = c * (1 + 3 * k * x2)
        let right: T = x * (1 - t * t) * inner / 2
        return g * (left + right)
    }
}
struct ClampGradK: BinaryKernel {
    let lo: Double, hi: Double
    @inline(__always) func callAsFunction<T: TensorScalar>(_ g: T, _ x: T) -> T { x >= T(lo) && x <= T(hi) ? g : 0 }
}

// MARK: - Arithmetic (broadcasting)

extension Tensor {
    /// A 0-d tensor of this tensor's dtype holding `value`.
    func scalarLike(_ value: Float) -> Tensor { Tensor(scalar: value, dtype: dtype) }
}

/// a + b with broadcasting.  ∂/∂a = g, ∂/∂b = g (each summed to its input's shape).
public func + (a: Tensor, b: Tensor) -> Tensor {
    let out = mapBinary(a, b, AddK(), op: "add")
    let (sa, sb) = (a.shape, b.shape)
    return record("add", out, [a, b]) { g in [g.sumCopy(to: sa), g.sumCopy(to: sb)] }
}

/// a − b with broadcasting.  ∂/∂a = g, ∂/∂b = −g.
public func - (a: Tensor, b: Tensor) -> Tensor {
    let out = mapBinary(a, b, SubK(), op: "sub")
    let (sa, sb) = (a.shape, b.shape)
    return record("sub", out, [a, b]) { g in [g.sumCopy(to: sa), mapUnary(g.sumCopy(to: sb), NegK())] }
}

/// a ⊙ b with broadcasting.  ∂/∂a = g⊙b, ∂/∂b = g⊙a. The backward keeps only the factor it reads: a dropout's
/// x ⊙ mask saves the mask, not x.
public func * (a: Tensor, b: Tensor) -> Tensor {
    let out = mapBinary(a, b, MulK(), op: "mul")
    let sa = a.shape, sb = b.shape
    let forA = a.requiresGrad ? b : nil, forB = b.requiresGrad ? a : nil
    return record("mul", out, [a, b]) { g in
        [forA.map { (g * $0).sumCopy(to: sa) }, forB.map { (g * $0).sumCopy(to: sb) }]
    }
}

/// a ÷ b with broadcasting.  ∂/∂a = g/b, ∂/∂b = −g·a/b² (a is kept only when b needs its gradient).
public func / (a: Tensor, b: Tensor) -> Tensor {
    let out = mapBinary(a, b, DivK(), op: "div")
    let sa = a.shape, sb = b.shape, needA = a.requiresGrad
    let numerator = b.requiresGrad ? a : nil
    return record("div", out, [a, b]) { g in
        [
            needA ? (g / b).sumCopy(to: sa) : nil,
            numerator.map { (-(g * $0) / (b * b)).sumCopy(to: sb) }
        ]
    }
}

/// −x.
public prefix func - (x: Tensor) -> Tensor {
    record("neg", mapUnary(x, NegK()), [x]) { g in [mapUnary(g, NegK())] }
}

/// Adds a scalar to every element.
public func + (a: Tensor, b: Float) -> Tensor { a + a.scalarLike(b) }
/// Adds a scalar to every element.
public func + (a: Float, b: Tensor) -> Tensor { b.scalarLike(a) + b }
/// Subtracts a scalar from every element.
public func - (a: Tensor, b: Float) -> Tensor { a - a.scalarLike(b) }
/// The scalar minus every element.
public func - (a: Float, b: Tensor) -> Tensor { b.scalarLike(a) - b }
/// Multiplies every element by a scalar.
public func * (a: Tensor, b: Float) -> Tensor { a * a.scalarLike(b) }
/// Multiplies every element by a scalar.
public func * (a: Float, b: Tensor) -> Tensor { b.scalarLike(a) * b }
/// Divides every element by a scalar.
public func / (a: Tensor, b: Float) -> Tensor { a / a.scalarLike(b) }
/// The scalar divided by every element.
public func / (a: Float, b: Tensor) -> Tensor { b.scalarLike(a) / b }

extension Tensor {
    /// xᵖ for a scalar exponent.  ∂/∂x = p·xᵖ⁻¹.
    public func pow(_ p: Float) -> Tensor {
        let out = mapBinary(self, scalarLike(p), PowK(), op: "pow")
        return record("pow", out, [self]) { g in [g * self.pow(p - 1) * p] }
    }

    /// aᵇ elementwise with broadcasting.  ∂/∂a = g·b·aᵇ⁻¹, ∂/∂b = g·aᵇ·ln a.
    public func pow(_ b: Tensor) -> Tensor {
        let out = mapBinary(self, b, PowK(), op: "pow")
        let y = out.detach()
        return record("pow", out, [self, b]) { g in
            [
                self.requiresGrad ? (g * b * self.pow(b - 1)).sumCopy(to: self.shape) : nil,
                b.requiresGrad ? (g * y * self.log()).sumCopy(to: b.shape) : nil
            ]
        }
    }

    /// eˣ.  ∂/∂x = eˣ.
    public func exp() -> Tensor {
        let out = mapUnary(self, ExpK())
        let y = out.detach()
        return record("exp", out, [self]) { g in [g * y] }
    }

    /// ln x.  ∂/∂x = 1/x.
    public func log() -> Tensor {
        record("log", mapUnary(self, LogK()), [self]) { g in [g / self] }
    }

    /// √x.  ∂/∂x = 1/(2√x).
    public func sqrt() -> Tensor {
        let out = mapUnary(self, SqrtK())
        let y = out.detach()
        return record("sqrt", out, [self]) { g in [g / (y * 2)] }
    }

    /// 1/√x.  ∂/∂x = −½·x^{−3/2} = −½y³.
    public func rsqrt() -> Tensor {
        let out = mapUnary(self, RsqrtK())
        let y = out.detach()
        return record("rsqrt", out, [self]) { g in [g * y * y * y * -0.5] }
    }

    /// |x|.  ∂/∂x = sign(x) (0 at 0, as PyTorch).
    public func abs() -> Tensor {
        record("abs", mapUnary(self, AbsK()), [self]) { g in [g * mapUnary(self, SignK())] }
    }

    /// Sign of each element (−1, 0, 1); not differentiable (zero gradient).
    public func sign() -> Tensor { mapUnary(self, SignK()) }

    /// tanh x.  ∂/∂x = 1 − tanh²x.
    public func tanh() -> Tensor {
        let out = mapUnary(self, TanhK())
        let y = out.detach()
        return record("tanh", out, [self]) { g in [mapBinary(g, y, TanhGradK(), op: "tanh_backward")] }
    }

    /// σ(x) = 1/(1+e⁻ˣ).  ∂/∂x = σ(1−σ).
    public func sigmoid() -> Tensor {
        let out = mapUnary(self, SigmoidK())
        let y = out.detach()
        return record("sigmoid", out, [self]) { g in [mapBinary(g, y, SigmoidGradK(), op: "sigmoid_backward")] }
    }

    /// max(x, 0).  ∂/∂x = 1 where x > 0, else 0.
    public func relu() -> Tensor {
        record("relu", mapUnary(self, ReluK()), [self]) { g in [mapBinary(g, self, ReluGradK(), op: "relu_backward")] }
    }

    /// x for x > 0, else slope·x (PyTorch default slope 0.01).
    public func leakyRelu(slope: Float = 0.01) -> Tensor {
        let s = Double(slope)
        return record("leaky_relu", mapUnary(self, LeakyReluK(slope: s)), [self]) { g in
            [mapBinary(g, self, LeakyReluGradK(slope: s), op: "leaky_relu_backward")]
        }
    }

    /// x for x > 0, else α(eˣ − 1) (PyTorch default α = 1).
    public func elu(alpha: Float = 1) -> Tensor {
        let a = Double(alpha)
        return record("elu", mapUnary(self, EluK(alpha: a)), [self]) { g in
            [mapBinary(g, self, EluGradK(alpha: a), op: "elu_backward")]
        }
    }

    /// GELU: exact x·Φ(x) by default, or the tanh approximation (PyTorch's `approximate='tanh'`).
    public func gelu(approximate: Bool = false) -> Tensor {
        if approximate {
            return record("gelu_tanh", mapUnary(self, GeluTanhK()), [self]) { g in
                [mapBinary(g, self, GeluTanhGradK(), op: "gelu_backward")]
            }
        }
        return record("gelu", geluErf(self), [self]) { g in
            [mapBinary(g, self, GeluErfGradK(), op: "gelu_backward")]
        }
    }

    /// Clamps into [min, max] (either bound may be omitted). Gradient passes where min ≤ x ≤ max.
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        precondition(lo <= hi, "clamp: min \(lo) is greater than max \(hi)")
        let (l, h) = (Double(lo), Double(hi))
        return record("clamp", mapUnary(self, ClampK(lo: l, hi: h)), [self]) { g in
            [mapBinary(g, self, ClampGradK(lo: l, hi: h), op: "clamp_backward")]
        }
    }

    /// Elementwise maximum with broadcasting; the gradient goes to the larger operand (to `self` on ties).
    public func maximum(_ other: Tensor) -> Tensor {
        let out = mapBinary(self, other, MaxK(), op: "maximum")
        return record("maximum", out, [self, other]) { g in
            let pick = self.ge(other)
            return [(g * pick).sumCopy(to: self.shape), (g * (1 - pick)).sumCopy(to: other.shape)]
        }
    }

    /// Elementwise minimum with broadcasting; the gradient goes to the smaller operand (to `self` on ties).
    public func minimum(_ other: Tensor) -> Tensor {
        let out = mapBinary(self, other, MinK(), op: "minimum")
        return record("minimum", out, [self, other]) { g in
            let pick = self.le(other)
            return [(g * pick).sumCopy(to: self.shape), (g * (1 - pick)).sumCopy(to: other.shape)]
        }
    }

    // MARK: comparisons (not differentiable; 1 for true, 0 for false, same dtype)

    /// 1 where the elements are equal, else 0 (broadcasting; no gradient).
    public func eq(_ o: Tensor) -> Tensor { mapBinary(self, o, CompareK(c: .eq), op: "eq") }
    /// 1 where the elements differ, else 0 (broadcasting; no gradient).
    public func ne(_ o: Tensor) -> Tensor { mapBinary(self, o, CompareK(c: .ne), op: "ne") }
    /// 1 where `self` < `o`, else 0 (broadcasting; no gradient).
    public func lt(_ o: Tensor) -> Tensor { mapBinary(self, o, CompareK(c: .lt), op: "lt") }
    /// 1 where `self` ≤ `o`, else 0 (broadcasting; no gradient).
    public func le(_ o: Tensor) -> Tensor { mapBinary(self, o, CompareK(c: .le), op: "le") }
    /// 1 where `self` > `o`, else 0 (broadcasting; no gradient).
    public func gt(_ o: Tensor) -> Tensor { mapBinary(self, o, CompareK(c: .gt), op: "gt") }
    /// 1 where `self` ≥ `o`, else 0 (broadcasting; no gradient).
    public func ge(_ o: Tensor) -> Tensor { mapBinary(self, o, CompareK(c: .ge), op: "ge") }
    /// 1 where an element equals `v`, else 0.
    public func eq(_ v: Float) -> Tensor { eq(scalarLike(v)) }
    /// 1 where an element differs from `v`, else 0.
    public func ne(_ v: Float) -> Tensor { ne(scalarLike(v)) }
    /// 1 where an element is less than `v`, else 0.
    public func lt(_ v: Float) -> Tensor { lt(scalarLike(v)) }
    /// 1 where an element is at most `v`, else 0.
    public func le(_ v: Float) -> Tensor { le(scalarLike(v)) }
    /// 1 where an element is greater than `v`, else 0.
    public func gt(_ v: Float) -> Tensor { gt(scalarLike(v)) }
    /// 1 where an element is at least `v`, else 0.
    public func ge(_ v: Float) -> Tensor { ge(scalarLike(v)) }

    // MARK: selection

    /// `condition != 0 ? a : b` elementwise, all three broadcast together (PyTorch's `torch.where`).
    /// Gradients flow to `a` where the condition holds and to `b` elsewhere.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let out = selectKernel(condition, a, b)
        return record("where", out, [a, b]) { g in
            let zero = g.scalarLike(0)
            return [
                a.requiresGrad ? selectKernel(condition, g, zero).sumCopy(to: a.shape) : nil,
                b.requiresGrad ? selectKernel(condition, zero, g).sumCopy(to: b.shape) : nil
            ]
        }
    }

    /// Replaces elements where `mask != 0` by `value` (mask broadcasts to self). Gradient passes where the mask is 0.
    public func maskedFill(_ mask: Tensor, _ value: Float) -> Tensor {
        let m = mask.broadcastCopy(to: shape)
        return Tensor.where(m, scalarLike(value), self)
    }
}

/// A dropout mask of `n` bytes, m_i ~ Bernoulli(1 − p) drawn in element order from `generator` (the same draws as
/// `Tensor.bernoulli(_, p: 1 − p, …)`), in a tensor buffer so that it counts in `BufferCache.liveBytes`.
func drawDropoutMask(count n: Int, p: Float, using generator: inout RandomGenerator) -> TensorStorage {
    let keep = Double(1 - p)
    let storage = TensorStorage(count: (n + 3) / 4, dtype: .float32, zeroed: false)  // n bytes
    let mask = storage.raw.bindMemory(to: UInt8.self, capacity: n)
    for i in 0..<n { mask[i] = generator.nextUnit() < keep ? 1 : 0 }
    return storage
}

/// The mask's bytes.
@inline(__always)
func dropoutMaskBytes(_ storage: TensorStorage) -> UnsafePointer<UInt8> {
    UnsafePointer(storage.raw.assumingMemoryBound(to: UInt8.self))
}

/// dst[i] = src[i] · (mask[i] ≠ 0 ? scale : 0) for i < n (dst may be src); the load comes before the select, so the
/// loop vectorises.
@inline(__always)
func applyDropoutMask<T: TensorScalar>(
    _ dst: UnsafeMutablePointer<T>, _ src: UnsafePointer<T>, _ mask: UnsafePointer<UInt8>,
    _ n: Int, scale: T
) {
    for i in 0..<n { let v = src[i]; dst[i] = v * (mask[i] != 0 ? scale : 0) }
}

/// Dropout in training: y = x ⊙ m / (1 − p), m ~ Bernoulli(1 − p) drawn in element order from `generator` (the same
/// draws and values as `x * (Tensor.bernoulli(x.shape, p: 1 − p, using: &g) / (1 − p))`). The mask is saved as one
/// byte per element (a float mask, a quarter of the memory, was a transformer's largest saved tensor after its
/// activations) and x is not saved. Backward: ∂x = g ⊙ m / (1 − p).
func dropoutOp(_ x: Tensor, p: Float, using generator: inout RandomGenerator) -> Tensor {
    let n = x.count
    let maskStorage = drawDropoutMask(count: n, p: p, using: &generator)
    let mask = dropoutMaskBytes(maskStorage)
    let out = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
    func apply<T: TensorScalar>(_: T.Type, _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>) {
        let s = T(1) / T(1 - p)
        parallelFor(n, costPerItem: 2) { r in
            applyDropoutMask(dst + r.lowerBound, src + r.lowerBound, mask + r.lowerBound, r.count, scale: s)
        }
    }
    switch x.dtype {
    case .float32: apply(Float.self, x.storage.pointer(Float.self), out.storage.pointer(Float.self))
    case .float64: apply(Double.self, x.storage.pointer(Double.self), out.storage.pointer(Double.self))
    }
    return record("dropout", out, [x]) { g in
        let gx = Tensor(shape: g.shape, dtype: g.dtype, zeroed: false)
        withExtendedLifetime(maskStorage) {
            switch g.dtype {
            case .float32: apply(Float.self, g.storage.pointer(Float.self), gx.storage.pointer(Float.self))
            case .float64: apply(Double.self, g.storage.pointer(Double.self), gx.storage.pointer(Double.self))
            }
        }
        return [gx]
    }
}

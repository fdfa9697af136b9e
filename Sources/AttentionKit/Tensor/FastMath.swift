import Foundation

// Branch-free float32 exp and erf that the compiler vectorizes inside elementwise loops (libm's expf/erff are scalar
// calls: GELU's erf was a quarter of a ViT training step). The Double path keeps libm (gradient checks); the test
// `FastMathTests` holds these to the libm references: exp within 3e-7 relative, erf within 5e-7 absolute.

/// eˣ for Float: 2ⁿ·p(r) with n = round(x·log₂e) (by the 1.5·2²³ trick, no rounding call), r = x − n·ln 2 in two
/// parts (Cody–Waite), p the degree-6 Taylor polynomial (|r| ≤ ln2/2: truncation ≈ 1e-7); NaN stays NaN, the input is
/// clamped to [−87.3, 88.7]: below, the result is exactly 0 (so −∞, a masked score, gives 0 as libm does); above, it
/// stays at ~3e38.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    let xc: Float = x < -87.3 ? -87.3 : (x > 88.7 ? 88.7 : x)
    let m = xc * 1.442_695_04 + 12_582_912
    let n = m - 12_582_912
    let r = xc - n * 0.693_145_751_953_125 - n * 1.428_606_765_330_187e-06
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let k = Int32(bitPattern: m.bitPattern) &- 0x4B40_0000  // n as an integer, read from m's mantissa
    let y = p * Float(bitPattern: UInt32(bitPattern: (k &+ 127) &<< 23))
    return x < -87.3 ? 0 : y  // exactly 0 for −∞ (masked scores) and below float's normal range
}

/// erf for Float: x·P(x²)/Q(x²) on x clamped to [−4, 4] (erf is ±1 in float beyond), the rational approximation
/// Eigen and TensorFlow use (max abs error ≈ 4e-7 here).
@inline(__always)
func fastErf(_ x: Float) -> Float {
    let xc: Float = x < -4 ? -4 : (x > 4 ? 4 : x)
    let x2 = xc * xc
    var p: Float = -2.726_142_258_013_06e-10
    p = p * x2 + 2.770_681_424_959_02e-08
    p = p * x2 - 2.101_024_020_825_08e-06
    p = p * x2 - 5.692_506_394_623_46e-05
    p = p * x2 - 7.349_906_303_268_55e-04
    p = p * x2 - 2.954_599_808_540_25e-03
    p = p * x2 - 1.609_603_332_624_15e-02
    var q: Float = -1.456_607_184_649_96e-05
    q = q * x2 - 2.133_740_552_789_05e-04
    q = q * x2 - 1.682_826_974_382_03e-03
    q = q * x2 - 7.373_329_167_204_68e-03
    q = q * x2 - 1.426_473_905_141_89e-02
    return xc * p / q
}

/// Φ(x) and φ(x), the standard normal CDF and density, through `fastErf`/`fastExp` (the float32 GELU derivatives).
@inline(__always)
private func normalCDFAndPDF(_ x: Float) -> (cdf: Float, pdf: Float) {
    ((1 + fastErf(x * 0.707_106_78)) * 0.5, fastExp(-0.5 * x * x) * 0.398_942_28)
}

extension TensorScalar {
    /// GELU x·Φ(x) = ½x(1 + erf(x/√2)) — the readable reference (libm).
    @inline(__always) static func geluErfReference(_ x: Self) -> Self {
        x * (1 + Self.erf(x * Self(0.7071067811865476))) / 2
    }
    /// Its derivative Φ(x) + x·φ(x) times the upstream gradient — the readable reference (libm).
    @inline(__always) static func geluErfGradReference(_ g: Self, _ x: Self) -> Self {
        let cdf = (1 + Self.erf(x * Self(0.7071067811865476))) / 2
        let pdf = Self.exp(-x * x / 2) * Self(0.3989422804014327)
        return g * (cdf + x * pdf)
    }
    /// GELU: float32 through `fastErf`, float64 through the reference.
    @inline(__always) static func geluErf(_ x: Self) -> Self {
        if let f = x as? Float { return Self(f * (1 + fastErf(f * 0.707_106_78)) * 0.5) }
        return geluErfReference(x)
    }
    /// (GELU(x), g·GELU′(x)) sharing one erf: the feed-forward op's backward, which recomputes the activation.
    @inline(__always) static func geluErfAndGrad(_ g: Self, _ x: Self) -> (value: Self, grad: Self) {
        if let f = x as? Float, let gf = g as? Float {
            let (cdf, pdf) = normalCDFAndPDF(f)
            return (Self(f * cdf), Self(gf * (cdf + f * pdf)))
        }
        return (geluErfReference(x), geluErfGradReference(g, x))
    }
    @inline(__always) static func geluErfGrad(_ g: Self, _ x: Self) -> Self {
        if let f = x as? Float, let gf = g as? Float {
            let (cdf, pdf) = normalCDFAndPDF(f)
            return Self(gf * (cdf + f * pdf))
        }
        return geluErfGradReference(g, x)
    }
}

/// tanh in float32 without libm, so that the loop vectorises: an odd Taylor polynomial to x⁹ below |x| = 0.25
/// (truncation ~2e-9), (1 − e^{−2|x|})/(1 + e^{−2|x|}) with `fastExp` above (no cancellation there); ±1 from |x| = 9
/// on. Absolute error ≲ 2e-7 against libm's tanhf.
@inline(__always)
func fastTanh(_ x: Float) -> Float {
    let a = min(abs(x), 9)
    let e = fastExp(-2 * a)
    let large = (1 - e) / (1 + e)
    let a2 = a * a
    let small = a * (1 + a2 * (-1 / 3 + a2 * (2 / 15 + a2 * (-17 / 315 + a2 * (62 / 2835)))))
    let t = a < 0.25 ? small : large
    return x < 0 ? -t : t
}

extension TensorScalar {
    /// tanh: float32 through `fastTanh`, float64 through libm.
    @inline(__always) static func tanhFast(_ x: Self) -> Self {
        if let f = x as? Float { return Self(fastTanh(f)) }
        return Self.tanh(x)
    }

    /// eˣ: float32 through `fastExp` (softmax and attention rows), float64 through libm.
    @inline(__always) static func expFast(_ x: Self) -> Self {
        if let f = x as? Float { return Self(fastExp(f)) }
        return Self.exp(x)
    }
}

import Foundation

/// Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) as timm applies them per batch: with probability
/// `probability` a batch is mixed with itself in reverse order; λ ~ Beta(α, α); when both are enabled, each mixed
/// batch uses one of them with equal chance. CutMix pastes a box of area (1 − λ) and then sets λ to the exact kept
/// fraction. The loss is λ·CE(y) + (1 − λ)·CE(y reversed).
public struct ImageMixing: Codable, Sendable, Equatable {
    /// Mixup's Beta(α, α) parameter (0: off).
    public var mixupAlpha: Float
    /// CutMix's Beta(α, α) parameter (0: off).
    public var cutmixAlpha: Float
    /// Chance that a batch is mixed.
    public var probability: Float
    /// Mixing with the given α values (both 0: no mixing), applied to a batch with `probability`.
    public init(mixupAlpha: Float = 0, cutmixAlpha: Float = 0, probability: Float = 1) {
        self.mixupAlpha = mixupAlpha
        self.cutmixAlpha = cutmixAlpha
        self.probability = probability
    }
    /// Whether any batch will be mixed.
    public var isActive: Bool { (mixupAlpha > 0 || cutmixAlpha > 0) && probability > 0 }

    /// The mixed copy of `images` [B, C, H, W] and its λ (1: unmixed).
    public func apply(to images: Tensor, using g: inout RandomGenerator) -> (Tensor, Float) {
        guard isActive, g.nextUnit() < Double(probability) else { return (images, 1) }
        let useCutmix = cutmixAlpha > 0 && (mixupAlpha <= 0 || g.nextUnit() < 0.5)
        var lambda = Float(Self.beta(Double(useCutmix ? cutmixAlpha : mixupAlpha), using: &g))
        let (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let out = images.copy()
        let src = images.scalars
        out.withUnsafeMutableFloats { dst in
            if useCutmix {
                let cut = (1 - Double(lambda)).squareRoot()
                let ch = Int(Double(h) * cut), cw = Int(Double(w) * cut)
                let cy = Int(g.next() % UInt64(h)), cx = Int(g.next() % UInt64(w))
                let y0 = max(cy - ch / 2, 0), y1 = min(cy + ch / 2, h), x0 = max(cx - cw / 2, 0),
                    x1 = min(cx + cw / 2, w)
                for i in 0..<b {
                    let j = b - 1 - i
                    for k in 0..<c {
                        for y in y0..<y1 {
                            for x in x0..<x1 {
                                dst[((i * c + k) * h + y) * w + x] = src[((j * c + k) * h + y) * w + x]
                            }
                        }
                    }
                }
                lambda = 1 - Float((y1 - y0) * (x1 - x0)) / Float(h * w)
            } else {
                let per = c * h * w
                for i in 0..<b {
                    let j = b - 1 - i
                    for k in 0..<per { dst[i * per + k] = lambda * src[i * per + k] + (1 - lambda) * src[j * per + k] }
                }
            }
        }
        return (out, lambda)
    }

    /// A Beta(α, α) draw as X / (X + Y) with X, Y ~ Gamma(α, 1).
    static func beta(_ alpha: Double, using g: inout RandomGenerator) -> Double {
        let x = gamma(alpha, using: &g), y = gamma(alpha, using: &g)
        return x + y > 0 ? x / (x + y) : 0.5
    }

    /// Gamma(α, 1) by Marsaglia and Tsang (2000); α < 1 through Gamma(α + 1)·U^(1/α).
    static func gamma(_ alpha: Double, using g: inout RandomGenerator) -> Double {
        if alpha < 1 { return gamma(alpha + 1, using: &g) * Foundation.pow(max(g.nextUnit(), 1e-300), 1 / alpha) }
        let d = alpha - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat { x = g.nextNormal(); v = 1 + c * x } while v <= 0
            v = v * v * v
            let u = g.nextUnit()
            if u < 1 - 0.0331 * x * x * x * x
                || Foundation.log(max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + Foundation.log(v))
            {
                return d * v
            }
        }
    }
}

import Foundation

/// TrivialAugment (Müller & Hutter 2021; torchvision's `TrivialAugmentWide`): each training image gets one operation
/// drawn uniformly from 14, at a strength drawn uniformly from 31 levels (and a random sign where it has one). No
/// tuned policy, no search: on CIFAR-10 it matches AutoAugment and RandAugment.
///
/// The operations work on 8-bit [3, S, S] images as torchvision's do on tensors (nearest-neighbour geometry with black
/// fill; PIL's blends, posterize, solarize, autocontrast and equalize), before the crop, flip and normalisation.
public enum TrivialAugment {
    /// The 14 operations of the wide search space.
    public enum Operation: Int, CaseIterable, Sendable {
        case identity, shearX, shearY, translateX, translateY, rotate, brightness, color, contrast, sharpness,
            posterize, solarize, autoContrast, equalize
    }

    /// Strength levels (torchvision's `num_magnitude_bins`).
    public static let levels = 31

    /// One image's draw: the operation, its level (0…30) and sign.
    public struct Draw: Sendable, Equatable {
        /// The operation.
        public var operation: Operation
        /// Its strength, 0 (none) … `levels` − 1 (the widest).
        public var level: Int
        /// Whether a signed operation goes the negative way.
        public var negative: Bool

        /// A draw with these parts.
        public init(operation: Operation, level: Int, negative: Bool) {
            (self.operation, self.level, self.negative) = (operation, level, negative)
        }

        /// Draws an operation, level and sign (three numbers from `g`, always).
        public static func random(using g: inout RandomGenerator) -> Draw {
            let op = Operation(rawValue: Int(g.next() % UInt64(Operation.allCases.count)))!
            let level = Int(g.next() % UInt64(levels))
            return Draw(operation: op, level: level, negative: g.next() & 1 == 1)
        }
    }

    /// The operation's magnitude at `level` for images of `side` pixels (torchvision's wide ranges: shear 0…0.99,
    /// translation 0…32 pixels at 32 (side × 1), rotation 0…135°, enhancement factors 1 ± 0…0.99, posterize 8…2
    /// bits, solarize threshold 255…0).
    public static func magnitude(_ op: Operation, level: Int, side: Int) -> Double {
        // torchvision's magnitudes are float32 `torch.linspace` values
        func linspace(_ start: Float, _ end: Float) -> Double {
            let step = (end - start) / Float(levels - 1)
            return Double(level < levels / 2 ? start + step * Float(level) : end - step * Float(levels - 1 - level))
        }
        switch op {
        case .shearX, .shearY, .brightness, .color, .contrast, .sharpness: return linspace(0, 0.99)
        case .translateX, .translateY: return linspace(0, 32) * Double(side) / 32
        case .rotate: return linspace(0, 135)
        case .posterize: return Double(8 - Int((Double(level) / (Double(levels - 1) / 6)).rounded()))
        case .solarize: return linspace(255, 0)
        case .identity, .autoContrast, .equalize: return 0
        }
    }

    /// Applies `draw` in place to one 8-bit image [3, side, side] (channel planes). `scratch` holds 3 × side² bytes.
    public static func apply(
        _ draw: Draw, to image: UnsafeMutablePointer<UInt8>, side: Int, scratch: UnsafeMutablePointer<UInt8>
    ) {
        let m = magnitude(draw.operation, level: draw.level, side: side)
        let signed = draw.negative ? -m : m
        let plane = side * side
        switch draw.operation {
        case .identity: return
        case .shearX, .shearY, .translateX, .translateY, .rotate:
            // PIL's affine transform: the inverse map of each output pixel centre to its source pixel, nearest
            // (truncation; negative coordinates are outside), black outside; the coefficients as torchvision
            // computes them (shear about (0, 0) by the angle atan(m); rotation about the centre, PIL's rotate)
            let (a, b, tx, cc, d, ty): (Double, Double, Double, Double, Double, Double)
            let degToRad = Double.pi / 180, radToDeg = 180 / Double.pi
            switch draw.operation {
            case .shearX: (a, b, tx, cc, d, ty) = (1, tan(atan(signed) * radToDeg * degToRad), 0, 0, 1, 0)
            case .shearY: (a, b, tx, cc, d, ty) = (1, 0, 0, tan(atan(signed) * radToDeg * degToRad), 1, 0)
            case .translateX: (a, b, tx, cc, d, ty) = (1, 0, -signed.rounded(.towardZero), 0, 1, 0)
            case .translateY: (a, b, tx, cc, d, ty) = (1, 0, 0, 0, 1, -signed.rounded(.towardZero))
            default:
                let r = -(signed.truncatingRemainder(dividingBy: 360) + (signed < 0 ? 360 : 0)) * degToRad
                let cs = (cos(r) * 1e15).rounded() / 1e15, sn = (sin(r) * 1e15).rounded() / 1e15
                let c = Double(side) / 2
                (a, b, cc, d) = (cs, sn, -sn, cs)
                (tx, ty) = (a * -c + b * -c + c, cc * -c + d * -c + c)
            }
            scratch.update(from: image, count: 3 * plane)
            var xo = tx + b * 0.5 + a * 0.5, yo = ty + d * 0.5 + cc * 0.5
            for y in 0..<side {
                var xx = xo, yy = yo
                for x in 0..<side {
                    let sx = xx < 0 ? -1 : Int(xx), sy = yy < 0 ? -1 : Int(yy)
                    let inside = sx >= 0 && sx < side && sy >= 0 && sy < side
                    for ch in 0..<3 {
                        image[ch * plane + y * side + x] = inside ? scratch[ch * plane + sy * side + sx] : 0
                    }
                    xx += a
                    yy += cc
                }
                xo += b
                yo += d
            }
        case .brightness:
            blend(image, plane: plane, factor: 1 + signed) { _ in 0 }
        case .color:
            // blend with the grey image (ITU-R 601-2 luma, as PIL's "L")
            blend(image, plane: plane, factor: 1 + signed) { p in
                grey(image, p, plane)
            }
        case .contrast:
            var sum = 0.0
            for p in 0..<plane { sum += grey(image, p, plane) }
            let mean = (sum / Double(plane)).rounded()
            blend(image, plane: plane, factor: 1 + signed) { _ in mean }
        case .sharpness:
            // blend with PIL's SMOOTH filter ([1 1 1; 1 5 1; 1 1 1] / 13), the border pixels kept
            scratch.update(from: image, count: 3 * plane)
            let factor = 1 + signed
            for ch in 0..<3 {
                let src = scratch + ch * plane, dst = image + ch * plane
                for y in 1..<max(1, side - 1) {
                    for x in 1..<max(1, side - 1) {
                        var s = 4 * Int(src[y * side + x])
                        for dy in -1...1 { for dx in -1...1 { s += Int(src[(y + dy) * side + x + dx]) } }
                        let smooth = (Double(s) / 13).rounded()
                        dst[y * side + x] = clamp(smooth + factor * (Double(src[y * side + x]) - smooth))
                    }
                }
            }
        case .posterize:
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - Int(m)))
            for i in 0..<(3 * plane) { image[i] &= mask }
        case .solarize:
            for i in 0..<(3 * plane) where Double(image[i]) >= m { image[i] = 255 - image[i] }
        case .autoContrast:
            for ch in 0..<3 {
                let p = image + ch * plane
                var lo: UInt8 = 255, hi: UInt8 = 0
                for i in 0..<plane { lo = min(lo, p[i]); hi = max(hi, p[i]) }
                guard hi > lo else { continue }
                // PIL's lookup table: int(i × scale + offset), clamped
                let scale = 255 / Double(hi - lo), offset = -Double(lo) * scale
                for i in 0..<plane { p[i] = UInt8(max(0, min(255, Int(Double(p[i]) * scale + offset)))) }
            }
        case .equalize:
            // PIL's ImageOps.equalize per channel
            for ch in 0..<3 {
                let p = image + ch * plane
                var histogram = [Int](repeating: 0, count: 256)
                for i in 0..<plane { histogram[Int(p[i])] += 1 }
                let used = histogram.filter { $0 > 0 }
                guard used.count > 1 else { continue }
                let step = (used.reduce(0, +) - used.last!) / 255
                guard step > 0 else { continue }
                var lut = [UInt8](repeating: 0, count: 256)
                var n = step / 2
                for i in 0..<256 {
                    lut[i] = UInt8(min(255, n / step))
                    n += histogram[i]
                }
                for i in 0..<plane { p[i] = lut[Int(p[i])] }
            }
        }
    }

    /// The pixel's grey value (ITU-R 601-2 luma).
    @inline(__always) static func grey(_ image: UnsafeMutablePointer<UInt8>, _ p: Int, _ plane: Int) -> Double {
        (0.299 * Double(image[p]) + 0.587 * Double(image[plane + p]) + 0.114 * Double(image[2 * plane + p]))
            .rounded()
    }

    /// PIL's `ImageEnhance` blend: degenerate + factor × (image − degenerate), clamped to 0…255.
    @inline(__always) static func blend(
        _ image: UnsafeMutablePointer<UInt8>, plane: Int, factor: Double, degenerate: (Int) -> Double
    ) {
        var base = [Double](repeating: 0, count: plane)
        for p in 0..<plane { base[p] = degenerate(p) }
        for ch in 0..<3 {
            for p in 0..<plane {
                let i = ch * plane + p
                image[i] = clamp(base[p] + factor * (Double(image[i]) - base[p]))
            }
        }
    }

    @inline(__always) static func clamp(_ x: Double) -> UInt8 { UInt8(max(0, min(255, x.rounded()))) }
}

import CPNG
import CTurboJPEG
import Foundation

/// Why an image file could not be read; names the file.
public struct ImageDecodingError: Error, CustomStringConvertible, Equatable {
    public let path: String, reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
}

/// PNG and JPEG decoding through the system libraries (libpng's simplified API, libjpeg-turbo's TurboJPEG API),
/// to 8-bit RGB. Alpha is composited onto white; grayscale and palette images are expanded to RGB.
public enum ImageDecoding {
    public enum Format: String, Sendable { case png, jpeg }

    /// The format told by the file's first bytes (nil: neither PNG nor JPEG).
    public static func format(of data: Data) -> Format? {
        let b = [UInt8](data.prefix(8))
        if b.count >= 8 && b == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if b.count >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF { return .jpeg }
        return nil
    }

    /// Reads and decodes a PNG or JPEG file.
    public static func read(contentsOf url: URL) throws -> RGBImage {
        let data: Data
        do { data = try UserFile.read(url, maxBytes: 1 << 30) } catch {
            throw ImageDecodingError(path: url.path, reason: UserFile.reason(for: error))
        }
        return try decode(data, path: url.path)
    }

    /// Decodes PNG or JPEG bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String = "image") throws -> RGBImage {
        guard !data.isEmpty else { throw ImageDecodingError(path: path, reason: "the file is empty") }
        switch format(of: data) {
        case .png: return try decodePNG(data, path: path)
        case .jpeg: return try decodeJPEG(data, path: path)
        case nil:
            let head = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw ImageDecodingError(path: path, reason: "not a PNG or JPEG image (it starts with bytes \(head))")
        }
    }

    static func decodePNG(_ data: Data, path: String) throws -> RGBImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        func failure() -> ImageDecodingError {
            let message = withUnsafeBytes(of: image.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            return ImageDecodingError(path: path, reason: "invalid PNG: \(message.isEmpty ? "unknown error" : message)")
        }
        let ok = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard ok != 0 else { throw failure() }
        let (w, h) = (Int(image.width), Int(image.height))
        guard w > 0, h > 0, w <= 1 << 15, h <= 1 << 15 else {
            png_image_free(&image)
            throw ImageDecodingError(path: path, reason: "unsupported PNG size \(w)×\(h) (at most 32768 per side)")
        }
        image.format = png_uint_32(PNG_FORMAT_RGB)
        var out = RGBImage(width: w, height: h)
        var white = png_color(red: 255, green: 255, blue: 255)
        let done = out.pixels.withUnsafeMutableBytes { png_image_finish_read(&image, &white, $0.baseAddress, png_int_32(w * 3), nil) }
        guard done != 0 else { throw failure() }
        return out
    }

    static func decodeJPEG(_ data: Data, path: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw ImageDecodingError(path: path, reason: "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        func failure() -> ImageDecodingError {
            ImageDecodingError(path: path, reason: "invalid JPEG: \(String(cString: tjGetErrorStr2(handle)))")
        }
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = data.withUnsafeBytes {
            tjDecompressHeader3(handle, $0.bindMemory(to: UInt8.self).baseAddress, UInt($0.count), &w, &h, &subsampling, &colorspace)
        }
        guard header == 0 else { throw failure() }
        guard w > 0, h > 0 else { throw ImageDecodingError(path: path, reason: "invalid JPEG: no frame header (the file is cut short?)") }
        guard w > 0, h > 0, w <= 1 << 15, h <= 1 << 15 else {
            throw ImageDecodingError(path: path, reason: "unsupported JPEG size \(w)×\(h) (at most 32768 per side)")
        }
        var out = RGBImage(width: Int(w), height: Int(h))
        let status = data.withUnsafeBytes { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.bindMemory(to: UInt8.self).baseAddress, UInt(src.count), dst.baseAddress,
                              w, Int32(w) * 3, h, Int32(TJPF_RGB.rawValue), 0)
            }
        }
        // A warning (e.g. a few bytes missing at the end) still yields an image; an error does not.
        if status != 0 && tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) { throw failure() }
        return out
    }
}

extension RGBImage {
    /// The largest centred square of the picture (itself when square): what a centre crop keeps.
    public var centreSquare: RGBImage {
        let side = min(width, height)
        guard width != height else { return self }
        let x0 = (width - side) / 2, y0 = (height - side) / 2
        var out = RGBImage(width: side, height: side)
        for y in 0..<side {
            let from = ((y0 + y) * width + x0) * 3
            out.pixels.replaceSubrange((y * side * 3)..<((y + 1) * side * 3), with: pixels[from..<(from + side * 3)])
        }
        return out
    }

    /// Resampled to `width`×`height` with a triangle (bilinear) filter whose support widens when shrinking, so
    /// downscaling averages every source pixel (as PIL's `Image.resize(…, BILINEAR)` does).
    public func resized(width outW: Int, height outH: Int) -> RGBImage {
        if outW == width && outH == height { return self }
        // Separable: horizontal pass into a float buffer, then vertical.
        func weights(inSize: Int, outSize: Int) -> [(start: Int, w: [Float])] {
            let scale = Double(inSize) / Double(outSize)
            let support = max(scale, 1.0)
            return (0..<outSize).map { o in
                let center = (Double(o) + 0.5) * scale
                let lo = max(0, Int((center - support).rounded(.down))), hi = min(inSize, Int((center + support).rounded(.up)))
                var w = (lo..<hi).map { i in Float(max(0, 1 - abs((Double(i) + 0.5 - center) / support))) }
                let s = w.reduce(0, +)
                if s > 0 { w = w.map { $0 / s } } else { w = [1] + Array(repeating: 0, count: max(0, w.count - 1)) }
                return (lo, w)
            }
        }
        let wx = weights(inSize: width, outSize: outW), wy = weights(inSize: height, outSize: outH)
        var mid = [Float](repeating: 0, count: height * outW * 3)
        pixels.withUnsafeBufferPointer { src in
            for y in 0..<height {
                for (x, (start, w)) in wx.enumerated() {
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for (k, wk) in w.enumerated() {
                        let p = (y * width + start + k) * 3
                        r += wk * Float(src[p]); g += wk * Float(src[p + 1]); b += wk * Float(src[p + 2])
                    }
                    let q = (y * outW + x) * 3
                    mid[q] = r; mid[q + 1] = g; mid[q + 2] = b
                }
            }
        }
        var out = RGBImage(width: outW, height: outH)
        mid.withUnsafeBufferPointer { m in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for (y, (start, w)) in wy.enumerated() {
                    for x in 0..<outW {
                        var r: Float = 0, g: Float = 0, b: Float = 0
                        for (k, wk) in w.enumerated() {
                            let p = ((start + k) * outW + x) * 3
                            r += wk * m[p]; g += wk * m[p + 1]; b += wk * m[p + 2]
                        }
                        let q = (y * outW + x) * 3
                        dst[q] = UInt8(max(0, min(255, r.rounded())))
                        dst[q + 1] = UInt8(max(0, min(255, g.rounded())))
                        dst[q + 2] = UInt8(max(0, min(255, b.rounded())))
                    }
                }
            }
        }
        return out
    }

    /// The pixels as planes (all R, then G, then B), the CIFAR-10 record layout.
    public var planar: [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let n = width * height
        for i in 0..<n { for c in 0..<3 { out[c * n + i] = pixels[i * 3 + c] } }
        return out
    }

    /// An image from planar RGB bytes (a CIFAR-10 record's 3,072 pixel bytes for 32×32).
    public init(planar: [UInt8], width: Int, height: Int) {
        self.init(width: width, height: height)
        let n = width * height
        for i in 0..<n { for c in 0..<3 { pixels[i * 3 + c] = planar[c * n + i] } }
    }
}

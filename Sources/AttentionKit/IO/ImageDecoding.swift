import CPNG
import CTurboJPEG
import Foundation

/// Why an image file could not be read; names the file.
public struct ImageDecodingError: Error, CustomStringConvertible, Equatable {
    public let path: String, reason: String
    /// An error for the file at `path`.
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    /// The path and the reason, on one line.
    public var description: String { "\(path): \(reason)" }
}

/// PNG and JPEG decoding through the system libraries (libpng's simplified API, libjpeg-turbo's TurboJPEG API),
/// to 8-bit RGB. Alpha is composited onto white; grayscale and palette images are expanded to RGB.
public enum ImageDecoding {
    /// The image formats recognised from a file's first bytes.
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
        let done = out.pixels.withUnsafeMutableBytes {
            png_image_finish_read(&image, &white, $0.baseAddress, png_int_32(w * 3), nil)
        }
        guard done != 0 else { throw failure() }
        return out
    }

    static func decodeJPEG(_ data: Data, path: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else {
            throw ImageDecodingError(path: path, reason: "cannot start the JPEG decoder")
        }
        defer { tjDestroy(handle) }
        func failure() -> ImageDecodingError {
            ImageDecodingError(path: path, reason: "invalid JPEG: \(String(cString: tjGetErrorStr2(handle)))")
        }
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = data.withUnsafeBytes {
            tjDecompressHeader3(
                handle, $0.bindMemory(to: UInt8.self).baseAddress, UInt($0.count), &w, &h, &subsampling, &colorspace)
        }
        guard header == 0 else { throw failure() }
        guard w > 0, h > 0 else {
            throw ImageDecodingError(path: path, reason: "invalid JPEG: no frame header (the file is cut short?)")
        }
        guard w > 0, h > 0, w <= 1 << 15, h <= 1 << 15 else {
            throw ImageDecodingError(path: path, reason: "unsupported JPEG size \(w)×\(h) (at most 32768 per side)")
        }
        var out = RGBImage(width: Int(w), height: Int(h))
        let status = data.withUnsafeBytes { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(
                    handle, src.bindMemory(to: UInt8.self).baseAddress, UInt(src.count), dst.baseAddress,
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
        var out = RGBImage(width: outW, height: outH)
        out.pixels.withUnsafeMutableBufferPointer { dst in
            resample(
                x: ResampleAxis(inSize: width, outSize: outW, offset: 0, count: outW),
                y: ResampleAxis(inSize: height, outSize: outH, offset: 0, count: outH),
                into: dst.baseAddress!, channelStride: 1, pixelStride: 3)
        }
        return out
    }

    /// The picture resized so that it becomes `outW`×`outH` and then cropped to the `count` columns and rows from
    /// (`x0`, `y0`), as planar bytes (R plane, G plane, B plane): resize-and-crop in one pass, only the kept pixels
    /// computed.
    func resizedCrop(width outW: Int, height outH: Int, x0: Int, y0: Int, side: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 3 * side * side) { buffer, initialized in
            resample(
                x: ResampleAxis(inSize: width, outSize: outW, offset: x0, count: side),
                y: ResampleAxis(inSize: height, outSize: outH, offset: y0, count: side),
                into: buffer.baseAddress!, channelStride: side * side, pixelStride: 1)
            initialized = 3 * side * side
        }
    }

    /// `v` clamped to 0…255 and rounded to the nearest byte, without a branch or a trap check: adding 2²³ leaves
    /// the rounded value in the float's low mantissa bits.
    @inline(__always)
    static func byte(_ v: Float) -> UInt8 {
        let clamped = v > 255 ? 255 : (v > 0 ? v : 0)
        return UInt8(truncatingIfNeeded: (clamped + 8_388_608).bitPattern)
    }

    /// Separable resampling: a horizontal pass over the source rows the vertical taps read (each row deinterleaved
    /// into float planes once, then a fixed number of taps per output) into float planes, then a vertical pass
    /// accumulating whole rows (contiguous, vectorised); the output byte of channel c at (x, y) goes to
    /// `dst[c * channelStride + (y * x.count + x) * pixelStride]`.
    func resample(
        x ax: ResampleAxis, y ay: ResampleAxis, into dst: UnsafeMutablePointer<UInt8>, channelStride: Int,
        pixelStride: Int
    ) {
        let ow = ax.count, oh = ay.count, w = width, taps = ax.stride
        let firstRow = ay.starts.min() ?? 0, lastRow = (ay.starts.max() ?? 0) + ay.stride,
            rows = max(0, lastRow - firstRow)
        let mid = UnsafeMutablePointer<Float>.allocate(capacity: max(1, 3 * rows * ow))
        let line = UnsafeMutablePointer<Float>.allocate(capacity: 3 * w)
        let acc = UnsafeMutablePointer<Float>.allocate(capacity: max(1, ow))
        defer { mid.deallocate(); line.deallocate(); acc.deallocate() }
        pixels.withUnsafeBufferPointer { srcBuffer in
            let src = srcBuffer.baseAddress!
            ax.weights.withUnsafeBufferPointer { wxb in
                ax.starts.withUnsafeBufferPointer { sxb in
                    let wx = wxb.baseAddress!, sx = sxb.baseAddress!
                    for y in firstRow..<lastRow {
                        let row = src + y * w * 3
                        for x in 0..<w {
                            line[x] = Float(row[3 * x]); line[w + x] = Float(row[3 * x + 1]);
                            line[2 * w + x] = Float(row[3 * x + 2])
                        }
                        for c in 0..<3 {
                            let plane = line + c * w, out = mid + (c * rows + y - firstRow) * ow
                            switch taps {  // the common tap counts unrolled (the sums are the same)
                            case 2:
                                for j in 0..<ow {
                                    let p = plane + sx[j], wj = wx + j * 2
                                    out[j] = 0 + wj[0] * p[0] + wj[1] * p[1]
                                }
                            case 3:
                                for j in 0..<ow {
                                    let p = plane + sx[j], wj = wx + j * 3
                                    out[j] = 0 + wj[0] * p[0] + wj[1] * p[1] + wj[2] * p[2]
                                }
                            default:
                                for j in 0..<ow {
                                    let p = plane + sx[j], wj = wx + j * taps
                                    var sum: Float = 0
                                    for k in 0..<taps { sum += wj[k] * p[k] }
                                    out[j] = sum
                                }
                            }
                        }
                    }
                }
            }
        }
        ay.weights.withUnsafeBufferPointer { wyb in
            let wy = wyb.baseAddress!
            for c in 0..<3 {
                for i in 0..<oh {
                    let start = ay.starts[i], n = ay.stride, wi = wy + i * ay.stride
                    acc.update(repeating: 0, count: ow)
                    for k in 0..<n {
                        let rowIn = mid + (c * rows + start + k - firstRow) * ow, wk = wi[k]
                        for q in 0..<ow { acc[q] += wk * rowIn[q] }
                    }
                    let o = dst + c * channelStride + i * ow * pixelStride
                    if pixelStride == 1 {
                        for j in 0..<ow { o[j] = Self.byte(acc[j]) }
                    } else {
                        for j in 0..<ow { o[j * pixelStride] = Self.byte(acc[j]) }
                    }
                }
            }
        }
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

/// The taps of one axis of a resize from `inSize` to `outSize` pixels (a triangle filter whose support widens when
/// shrinking), for the `count` outputs from `offset`: each output's first source pixel and its `stride` normalised
/// weights (zero-padded to the same count for every output).
struct ResampleAxis {
    var starts: [Int] = []
    var weights: [Float] = []
    var stride = 0
    var count: Int { starts.count }

    init(inSize: Int, outSize: Int, offset: Int, count: Int) {
        let scale = Double(inSize) / Double(outSize)
        let support = max(scale, 1.0)
        var rows: [(Int, [Float])] = []
        for o in offset..<(offset + count) {
            let center = (Double(o) + 0.5) * scale
            let lo = max(0, Int((center - support).rounded(.down))),
                hi = min(inSize, Int((center + support).rounded(.up)))
            var w = (lo..<hi).map { i in Float(max(0, 1 - abs((Double(i) + 0.5 - center) / support))) }
            let s = w.reduce(0, +)
            if s > 0 { w = w.map { $0 / s } } else { w = [1] + Array(repeating: 0, count: max(0, w.count - 1)) }
            rows.append((lo, w))
        }
        // A fixed number of taps per output: short ones padded with zero weights (after, or before when that would
        // read past the end; adding 0 leaves every sum as it was).
        stride = rows.map(\.1.count).max() ?? 0
        for (lo, w) in rows {
            let start = min(lo, inSize - stride)
            starts.append(start)
            weights +=
                Array(repeating: 0, count: lo - start) + w + Array(repeating: 0, count: stride - w.count - (lo - start))
        }
    }
}

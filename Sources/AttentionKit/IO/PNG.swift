import CPNG
import Foundation

/// An 8-bit RGB image (pixels row-major, R G B), written as PNG by libpng.
public struct RGBImage {
    public let width: Int, height: Int
    /// Row-major RGB bytes.
    public var pixels: [UInt8]

    /// An image of the given size filled with `background`.
    public init(width: Int, height: Int, background: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        precondition(width > 0 && height > 0, "RGBImage: size must be positive")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[3 * i] = background.0; pixels[3 * i + 1] = background.1; pixels[3 * i + 2] = background.2
        }
    }

    /// Sets one pixel (ignored outside the image).
    public mutating func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = 3 * (y * width + x)
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    /// The PNG file bytes, encoded by libpng (8-bit RGB).
    public func pngData() throws -> Data {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = png_uint_32(PNG_FORMAT_RGB)
        var size: png_alloc_size_t = 0
        // first call: the size; second: the bytes
        guard
            pixels.withUnsafeBytes({
                png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, png_int_32(width * 3), nil)
            }) != 0, size > 0
        else {
            throw CanvasError("libpng cannot encode a \(width) × \(height) image: \(Self.message(of: image))")
        }
        var out = Data(count: Int(size))
        let ok = out.withUnsafeMutableBytes { dst in
            pixels.withUnsafeBytes {
                png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, png_int_32(width * 3), nil)
            }
        }
        guard ok != 0 else {
            throw CanvasError("libpng cannot encode a \(width) × \(height) image: \(Self.message(of: image))")
        }
        return out.prefix(Int(size))
    }

    static func message(of image: png_image) -> String {
        var m = image.message
        return withUnsafeBytes(of: &m) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Writes the PNG atomically.
    public func writePNG(to url: URL) throws { try AtomicFile.write(try pngData(), to: url) }
}

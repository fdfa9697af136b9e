import CZlib
import Foundation

/// An 8-bit RGB image with a PNG encoder (image data deflated by zlib at level 9; PNG filter 0 per row).
public struct RGBImage {
    public let width: Int, height: Int
    /// Row-major RGB bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, background: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        precondition(width > 0 && height > 0, "RGBImage: size must be positive")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { pixels[3 * i] = background.0; pixels[3 * i + 1] = background.1; pixels[3 * i + 2] = background.2 }
    }

    /// Sets one pixel (ignored outside the image).
    public mutating func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = 3 * (y * width + x)
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    /// The PNG file bytes.
    public func pngData() -> Data {
        var raw = [UInt8]()
        raw.reserveCapacity(height * (1 + width * 3))
        for y in 0..<height {
            raw.append(0)   // filter: none
            raw.append(contentsOf: pixels[(y * width * 3)..<((y + 1) * width * 3)])
        }
        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = [UInt8]()
        ihdr += PNGCodec.be32(UInt32(width)) + PNGCodec.be32(UInt32(height)) + [8, 2, 0, 0, 0]   // 8-bit RGB
        PNGCodec.chunk("IHDR", ihdr, into: &out)
        PNGCodec.chunk("IDAT", PNGCodec.zlibCompressed(raw), into: &out)
        PNGCodec.chunk("IEND", [], into: &out)
        return out
    }

    /// Writes the PNG atomically.
    public func writePNG(to url: URL) throws { try AtomicFile.write(pngData(), to: url) }
}

enum PNGCodec {
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (ISO 3309), as PNG chunks use.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func chunk(_ type: String, _ body: [UInt8], into out: inout Data) {
        let typeBytes = Array(type.utf8)
        out.append(contentsOf: be32(UInt32(body.count)))
        out.append(contentsOf: typeBytes)
        out.append(contentsOf: body)
        out.append(contentsOf: be32(crc32(typeBytes + body)))
    }

    /// A zlib stream (RFC 1950: header, deflate data, Adler-32) of `data` from zlib's `compress2` at level 9; falls
    /// back to stored blocks if zlib reports an error (it cannot for an in-memory buffer of sufficient bound).
    static func zlibCompressed(_ data: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in compress2(dst.baseAddress, &size, src.baseAddress, uLong(data.count), 9) }
        }
        guard rc == Z_OK else { return zlibStored(data) }
        return Array(out.prefix(Int(size)))
    }

    /// A zlib stream of deflate "stored" (uncompressed) blocks of at most 65,535 bytes, with its Adler-32.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65_535, data.count - i)
            let final: UInt8 = i + n == data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[i..<(i + n)]
            i += n
        } while i < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for x in data { a = (a + UInt32(x)) % 65_521; b = (b + a) % 65_521 }
        return out + be32(b << 16 | a)
    }
}

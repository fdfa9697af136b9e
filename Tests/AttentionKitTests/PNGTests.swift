import AttentionKit
import CZlib
import Foundation
import XCTest

/// The PNG encoder: a valid signature and chunk layout, and IDAT that inflates back to the exact pixels.
final class PNGTests: XCTestCase {
    func testPNGRoundTripsThroughInflate() throws {
        var img = RGBImage(width: 37, height: 5)
        for y in 0..<5 { for x in 0..<37 { img.set(x, y, (UInt8(x * 7 % 256), UInt8(y * 50), UInt8((x + y) % 3 * 100))) } }
        let png = [UInt8](img.pngData())
        XCTAssertEqual(Array(png[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // walk the chunks: IHDR, IDAT…, IEND
        var i = 8, types: [String] = [], idat: [UInt8] = []
        while i + 8 <= png.count {
            let n = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
            let type = String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self)
            types.append(type)
            if type == "IDAT" { idat += png[(i + 8)..<(i + 8 + n)] }
            i += 12 + n
        }
        XCTAssertEqual(types.first, "IHDR")
        XCTAssertEqual(types.last, "IEND")
        XCTAssertEqual(i, png.count)
        let raw = try inflate(Data(idat))
        XCTAssertEqual(raw.count, 5 * (1 + 37 * 3), "one filter byte and 3 bytes per pixel per row")
        for y in 0..<5 {
            XCTAssertEqual(raw[y * 112], 0, "filter 0")
            for x in 0..<37 {
                let o = y * 112 + 1 + x * 3
                XCTAssertEqual([raw[o], raw[o + 1], raw[o + 2]], [UInt8(x * 7 % 256), UInt8(y * 50), UInt8((x + y) % 3 * 100)])
            }
        }
        XCTAssertLessThan(png.count, raw.count, "compressed")
    }

    /// Inflates a zlib stream with zlib itself.
    func inflate(_ d: Data) throws -> [UInt8] {
        var size = uLong(1 << 20)
        var out = [UInt8](repeating: 0, count: Int(size))
        let src = [UInt8](d)
        let rc = out.withUnsafeMutableBufferPointer { o in src.withUnsafeBufferPointer { uncompress(o.baseAddress, &size, $0.baseAddress, uLong(src.count)) } }
        XCTAssertEqual(rc, Z_OK, "zlib inflates the IDAT stream")
        return Array(out.prefix(Int(size)))
    }
}

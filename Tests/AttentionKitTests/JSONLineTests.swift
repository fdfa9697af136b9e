import AttentionKit
import Foundation
import XCTest

/// One output convention: plain numbers, the given key order, UTF-8 kept, control characters escaped.
final class JSONLineTests: XCTestCase {
    func testNumbersArePlainAndKeysKeepTheirOrder() throws {
        XCTAssertEqual(JSONLine.plain(13910.4321), "13910.4")
        XCTAssertEqual(JSONLine.plain(0.000012345678), "0.0000123457")
        XCTAssertEqual(JSONLine.plain(2), "2")
        XCTAssertEqual(JSONLine.plain(-0.5), "-0.5")
        XCTAssertEqual(JSONLine.plain(1e20), "100000000000000000000")
        XCTAssertEqual(JSONLine.plain(.nan), "null")
        XCTAssertEqual(JSONLine.number(Float(0.85)).text, "0.85")
        let line = JSONLine.object([("z", 1), ("a", "Straße \"x\"\n"), ("m", [1.5, .null, true])]).text
        XCTAssertEqual(line, "{\"z\": 1, \"a\": \"Straße \\\"x\\\"\\n\", \"m\": [1.5, null, true]}")
        let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        XCTAssertEqual(parsed?["a"] as? String, "Straße \"x\"\n")
    }
}

import AttentionKit
import Foundation
import XCTest

/// `NPY` and `AttentionExport`: headers numpy accepts, arrays equal to the captured maps, an index that matches.
final class AttentionExportTests: XCTestCase {
    /// Parses an .npy file the way numpy does (magic, version 1.0, header dict, C-order float32 data).
    func parseNPY(_ d: Data) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](d)
        XCTAssertEqual(Array(bytes[0..<6]), [0x93] + Array("NUMPY".utf8))
        XCTAssertEqual(bytes[6], 1); XCTAssertEqual(bytes[7], 0)
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0, "data aligned to 64 bytes")
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasSuffix("\n"))
        XCTAssertTrue(header.contains("'descr': '<f4'"), header)
        XCTAssertTrue(header.contains("'fortran_order': False"), header)
        let inner = try XCTUnwrap(header.range(of: "'shape': (").map { header[$0.upperBound...].prefix { $0 != ")" } })
        let shape = inner.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let body = bytes[(10 + headerLength)...]
        XCTAssertEqual(body.count, 4 * shape.reduce(1, *))
        let values = stride(from: body.startIndex, to: body.endIndex, by: 4).map { i in
            Float(bitPattern: UInt32(body[i]) | UInt32(body[i + 1]) << 8 | UInt32(body[i + 2]) << 16 | UInt32(body[i + 3]) << 24)
        }
        return (shape, values)
    }

    func testNPYHeaderAndData() throws {
        let t = Tensor((0..<24).map { Float($0) * 0.5 - 3 }, shape: [2, 3, 4])
        let (shape, values) = try parseNPY(NPY.encode(t))
        XCTAssertEqual(shape, [2, 3, 4])
        XCTAssertEqual(values, t.scalars)
        XCTAssertEqual(try parseNPY(NPY.encode(Tensor([1, 2, 3]))).shape, [3])
    }

    func testTranslationExportMatchesCapturedMaps() throws {
        var c = Seq2SeqConfig(sourceVocabulary: 12, targetVocabulary: 12)
        c.dModel = 16; c.heads = 2; c.encoderLayers = 1; c.decoderLayers = 1; c.feedForward = 16; c.dropout = 0
        var g = RandomGenerator(seed: 1)
        let words = ["ein", "hund", "läuft", "im", "schnee", "a", "dog", "runs"]
        let tok = Translator.trainWordLevel(words, lowercase: true, minFrequency: 1)
        let translator = Translator(model: Seq2SeqTransformer(c, using: &g), sourceTokenizer: tok, targetTokenizer: tok)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ak-att-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try translator.writeAttention(of: "Ein Hund läuft", to: dir, maxLength: 6)
        let index = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("maps.json"))) as? [String: Any])
        XCTAssertEqual(index["kind"] as? String, "translation")
        let tokens = try XCTUnwrap(index["tokens"] as? [String: [[String: Any]]])
        XCTAssertEqual(tokens["source"]?.map { $0["text"] as? String }, ["ein", "hund", "läuft", "[EOS]"])
        XCTAssertEqual(tokens["source"]?[2]["bytes"] as? [Int], [9, 15], "UTF-8 byte range of 'läuft' in the input")
        let layers = try XCTUnwrap(index["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.map { $0["path"] as? String }, ["encoder.layers.0.selfAttention", "decoder.layers.0.selfAttention", "decoder.layers.0.crossAttention"])
        // the same decoding, captured directly
        let ids = translator.sourceIDs("Ein Hund läuft")
        let (_, maps) = withAttentionCapture(on: translator.model) { translator.model.greedyDecode([ids], maxLength: 6) }
        for layer in layers {
            let file = try XCTUnwrap(layer["file"] as? String), path = try XCTUnwrap(layer["path"] as? String)
            let (shape, values) = try parseNPY(Data(contentsOf: dir.appendingPathComponent(file)))
            XCTAssertEqual(shape, layer["shape"] as? [Int], "\(file): maps.json states the file's shape")
            let q = tokens[layer["queries"] as! String]!.count, k = tokens[layer["keys"] as! String]!.count
            XCTAssertEqual(shape, [2, q, k])
            let captured = maps[path]!.select(axis: 0, index: 0).slice(axis: 1, end: q).slice(axis: 2, end: k)
            XCTAssertEqual(values, captured.copy().scalars, "\(file) equals the captured map")
            for r in 0..<(2 * q) { XCTAssertEqual(values[(r * k)..<(r * k + k)].reduce(0, +), 1, accuracy: 1e-5, "\(file) row \(r) sums to 1") }
        }
    }
}

import AttentionKit
import Foundation
import XCTest

/// BLEU and chrF against sacreBLEU on `Fixtures/metrics.json` (written by `generate_metric_fixtures.py`).
final class MetricsTests: XCTestCase {
    struct Case: Decodable {
        let name: String; let hyp: [String]; let ref: [String]; let bleu: Double; let bleuLowercase: Double;
        let chrf: Double
    }
    struct File: Decodable { let cases: [Case]; let tokenize13a: [[String]] }

    func fixture() throws -> File {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase  // the fixture's bleu_lowercase
        return try decoder.decode(
            File.self, from: Data(contentsOf: fixturesDirectory.appendingPathComponent("metrics.json")))
    }

    func testTokenizer13aEqualsSacreBLEUs() throws {
        let f = try fixture()
        XCTAssertGreaterThan(f.tokenize13a.count, 50)
        for pair in f.tokenize13a {
            XCTAssertEqual(tokenize13a(pair[0]), pair[1], "13a of \(pair[0].debugDescription)")
        }
    }

    func testCorpusBLEUAndChrFEqualSacreBLEUs() throws {
        for c in try fixture().cases {
            XCTAssertEqual(
                corpusBLEU(hypotheses: c.hyp, references: c.ref).score, c.bleu, accuracy: 1e-9, "\(c.name) BLEU")
            XCTAssertEqual(
                corpusBLEU(hypotheses: c.hyp, references: c.ref, lowercase: true).score, c.bleuLowercase,
                accuracy: 1e-9, "\(c.name) lowercased BLEU")
            XCTAssertEqual(corpusChrF(hypotheses: c.hyp, references: c.ref), c.chrf, accuracy: 1e-9, "\(c.name) chrF")
        }
    }

    func testPerfectAndEmpty() {
        XCTAssertEqual(
            corpusBLEU(hypotheses: ["a man rides a red bike ."], references: ["a man rides a red bike ."]).score, 100,
            accuracy: 1e-9)
        XCTAssertEqual(corpusBLEU(hypotheses: [""], references: ["a b c d"]).score, 0)
    }
}

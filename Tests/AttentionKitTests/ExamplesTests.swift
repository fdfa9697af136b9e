import AttentionKit
import Foundation
import XCTest

/// The example programs run as a user runs them (from the repository root, on the samples), briefly.
final class ExamplesTests: XCTestCase {
    func runExample(_ name: String, _ args: [String]) throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = try builtBinary(name)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: repositoryFile("."))
        let out = Pipe()
        (p.standardOutput, p.standardError) = (out, out)
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, o)
    }

    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ak-examples-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testMLPLearnsTheSpiralWithLayers() throws {
        let r = try runExample("mlp", ["300"])
        XCTAssertEqual(r.status, 0, r.out)
        let last = try XCTUnwrap(r.out.split(separator: "\n").last)
        let accuracy = try XCTUnwrap(Double(last.components(separatedBy: "validation accuracy ").last!.dropLast()))
        XCTAssertGreaterThan(accuracy, 90, r.out)
    }

    func testImageClassifierTrainsACNNAndAViTThroughATrainingTaskAndResumes() throws {
        for kind in ["cnn", "vit"] {
            let out = tmp.appendingPathComponent(kind).path
            let r = try runExample("image-classifier", [kind, "corpora/cifar10-sample", "1", out])
            XCTAssertEqual(r.status, 0, r.out)
            XCTAssertTrue(r.out.contains("best validation accuracy"), r.out)
            for f in ["best.safetensors", "resume.safetensors", "metrics.csv"] { XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f) }
            let again = try runExample("image-classifier", [kind, "corpora/cifar10-sample", "2", out])
            XCTAssertEqual(again.status, 0, again.out)
            XCTAssertTrue(again.out.contains("resumed"), again.out)
        }
    }

    func testTokenizersTrainEncodeSaveAndLoad() throws {
        let r = try runExample("tokenizers", ["corpora/multi30k-sample/train.en", tmp.path])
        XCTAssertEqual(r.status, 0, r.out)
        XCTAssertTrue(r.out.contains("loaded back: the same ids: true"), r.out)
        XCTAssertNoThrow(try Tokenizer.load(from: tmp.appendingPathComponent("word-tokenizer.json")))
    }

    func testAttentionMapsGoToNumPyFiles() throws {
        let r = try runExample("attention-to-numpy", ["corpora/cifar10-sample", tmp.path])
        XCTAssertEqual(r.status, 0, r.out)
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: tmp.appendingPathComponent("index.json"))) as! [String: String]
        XCTAssertEqual(index.count, 3, "one file per encoder layer")
        for file in index.values {
            let data = try Data(contentsOf: tmp.appendingPathComponent(file))
            XCTAssertEqual(Array(data.prefix(6)), [0x93] + Array("NUMPY".utf8))
            XCTAssertEqual(data.count % 4, (data.count - (4 * 65 * 65 * 4)) % 4)
            XCTAssertGreaterThan(data.count, 4 * 65 * 65 * 4, "[4 heads, 65, 65] float32")
        }
    }
}

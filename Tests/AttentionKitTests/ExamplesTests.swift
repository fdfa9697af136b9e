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
            for f in ["best.safetensors", "resume.safetensors", "metrics.csv"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f)
            }
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
        let index =
            try JSONSerialization.jsonObject(with: Data(contentsOf: tmp.appendingPathComponent("index.json")))
            as! [String: String]
        XCTAssertEqual(index.count, 3, "one file per encoder layer")
        for file in index.values {
            let data = try Data(contentsOf: tmp.appendingPathComponent(file))
            XCTAssertEqual(Array(data.prefix(6)), [0x93] + Array("NUMPY".utf8))
            XCTAssertEqual(data.count % 4, (data.count - (4 * 65 * 65 * 4)) % 4)
            XCTAssertGreaterThan(data.count, 4 * 65 * 65 * 4, "[4 heads, 65, 65] float32")
        }
    }

    /// Every lesson of the course runs (`--quick`: a few steps of each loop) and prints what its tutorial promises.
    func testEveryCourseLessonRuns() throws {
        let expected = [
            "perceptron": ["0 mistakes", "logistic neuron: accuracy"],
            "mlp": ["SGD:", "SGD, momentum 0.9:", "Adam:"],
            "cnn": ["SmallCNN:", "epoch 1: training loss"],
            "attention": ["largest difference from the fused op", "maps [1, 2, 4, 4]"],
            "translator": ["epoch 1: loss", "BLEU = "],
            "vit": ["ViT: 64 patches", "4 attention layers of [1, 4, 65, 65]"],
            "transfer": [
                "re-initialised [\"classifier.3.weight\", \"classifier.3.bias\"]",
                "validation accuracy: feature extraction"
            ]
        ]
        for (lesson, lines) in expected.sorted(by: { $0.key < $1.key }) {
            let r = try runExample("course", [lesson, "--quick"])
            XCTAssertEqual(r.status, 0, "\(lesson): \(r.out)")
            for line in lines { XCTAssertTrue(r.out.contains(line), "\(lesson) lacks \"\(line)\": \(r.out)") }
        }
        // the hand-written attention equals the fused op to rounding
        let attention = try runExample("course", ["attention", "--quick"]).out
        let difference = try XCTUnwrap(attention.split(separator: "\n").first { $0.hasPrefix("largest difference") })
        XCTAssertLessThan(try XCTUnwrap(Float(difference.split(separator: " ").last!)), 1e-5)
        let wrong = try runExample("course", ["nonsense"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.out.contains("usage: course"), wrong.out)
    }

    /// The DocC tutorials show the compiled lesson files themselves: every `@Code` file is a link into
    /// Examples/Course, and every lesson file there has a tutorial.
    func testCourseTutorialsShowTheCompiledLessons() throws {
        let fm = FileManager.default
        let tutorials = URL(fileURLWithPath: repositoryFile("Sources/AttentionKit/AttentionKit.docc/Course"))
        let lessons = URL(fileURLWithPath: repositoryFile("Examples/Course"))
        var shown = Set<String>()
        for file in try fm.contentsOfDirectory(atPath: tutorials.path) where file.hasSuffix(".tutorial") {
            let text = try String(contentsOf: tutorials.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: /file: "([^"]+)"/) { shown.insert(String(match.1)) }
        }
        XCTAssertFalse(shown.isEmpty)
        for file in shown {
            let shownText = try String(contentsOf: tutorials.appendingPathComponent(file), encoding: .utf8)
            let compiled = try String(contentsOf: lessons.appendingPathComponent(file), encoding: .utf8)
            XCTAssertEqual(shownText, compiled, "\(file): the tutorial shows something else than the compiled lesson")
        }
        let lessonFiles = Set(
            try fm.contentsOfDirectory(atPath: lessons.path).filter { $0.hasSuffix(".swift") && $0 != "main.swift" })
        XCTAssertEqual(lessonFiles, shown, "every lesson has a tutorial step, and every step shows a lesson")
    }
}

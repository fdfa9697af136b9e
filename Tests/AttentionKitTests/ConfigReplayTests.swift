import AttentionKit
import Foundation
import XCTest

/// `attn train … --config RUN/config.json` replays a run's recipe; flags that differ from the verb's defaults override it.
final class ConfigReplayTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ak-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ name: String) -> String { tmp.appendingPathComponent(name).path }
    func config(_ run: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(run) + "/config.json")))
            as! [String: Any]
    }
    func validationAccuracies(_ run: String) throws -> [Double] {
        try String(contentsOfFile: path(run) + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["val_accuracy"] as! Double
        }
    }

    func testAReplayedClassifierRunEqualsTheOriginalAndFlagsOverride() throws {
        let trec = repositoryFile("corpora/trec-sample/train.label")
        let a = try runAttn([
            "train", "classifier", "--data", trec, "--format", "trec", "--out", path("a"), "--epochs", "2", "--d-model",
            "16",
            "--heads", "2", "--layers", "1", "--feed-forward", "16", "--batch-size", "16", "--seed", "3", "--lr",
            "0.002", "--val-fraction", "0.3"
        ])
        XCTAssertEqual(a.status, 0, a.err)
        let b = try runAttn(["train", "classifier", "--config", path("a") + "/config.json", "--out", path("b")])
        XCTAssertEqual(b.status, 0, b.err)
        XCTAssertTrue(b.out.contains("config: the recipe of \(path("a"))/config.json\n"), b.out)
        XCTAssertEqual(
            try config("a") as NSDictionary, try config("b") as NSDictionary,
            "the replay's config.json is the original's")
        XCTAssertEqual(
            try validationAccuracies("a"), try validationAccuracies("b"),
            "the same recipe and seed train the same model")

        let c = try runAttn([
            "train", "classifier", "--config", path("a"), "--epochs", "3", "--lr", "0.001", "--out", path("c")
        ])
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertTrue(c.out.contains("with training.epochs, training.lr from the flags"), c.out)
        var expected = try config("a"), training = expected["training"] as! [String: Any]
        (training["epochs"], training["lr"]) = (3, 0.001)
        expected["training"] = training
        XCTAssertEqual(try config("c") as NSDictionary, expected as NSDictionary)

        // another kind of model from the flags replaces the saved one whole
        let d = try runAttn([
            "train", "classifier", "--config", path("a"), "--model", "cnn", "--epochs", "1", "--out", path("d")
        ])
        XCTAssertEqual(d.status, 0, d.err)
        XCTAssertTrue(d.out.contains("model: TextCNN"), d.out)
        XCTAssertEqual(
            (try config("d")["data"] as! [String: Any])["val_fraction"] as? Double, 0.3,
            "the data still comes from the saved run")
    }

    func testAReplayOfAnotherTaskOrOfNothingIsRefused() throws {
        let cifar = repositoryFile("corpora/cifar10-sample")
        let cnn = try runAttn([
            "train", "cnn", "--data", cifar, "--out", path("cnn"), "--epochs", "1", "--channels", "4,8", "--hidden",
            "8", "--batch-size", "25"
        ])
        XCTAssertEqual(cnn.status, 0, cnn.err)
        let again = try runAttn(["train", "cnn", "--config", path("cnn"), "--out", path("cnn2")])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertEqual(try config("cnn") as NSDictionary, try config("cnn2") as NSDictionary)
        let wrong = try runAttn(["train", "classifier", "--config", path("cnn"), "--out", path("x")])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(
            wrong.err.contains("config.json describes a image-classification run, not a classification run")
                || wrong.err.contains("not a classification run"), wrong.err)
        let missing = try runAttn(["train", "vit", "--config", path("nothing"), "--out", path("y")])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains(path("nothing")) && missing.err.contains("not found"), missing.err)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: path("x")) || FileManager.default.fileExists(atPath: path("y")),
            "nothing written")
    }
}

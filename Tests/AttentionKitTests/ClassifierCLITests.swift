import AttentionKit
import Foundation
import XCTest

/// `attn train classifier`, `attn evaluate --data`, `attn classify` on the shipped samples, and the readers behind them.
final class ClassifierCLITests: XCTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-cls-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    var trec: String { root.appendingPathComponent("corpora/trec-sample/train.label").path }
    var sms: String { root.appendingPathComponent("corpora/sms-spam-sample/SMSSpamCollection").path }
    let small = [
        "--epochs", "2", "--d-model", "16", "--heads", "2", "--layers", "1", "--feed-forward", "16", "--seed", "1"
    ]

    func testTRECReaderHandlesTheLatin1LineAndReportsIt() throws {
        let (examples, notes) = try LabelledCorpus.readTREC(URL(fileURLWithPath: trec))
        XCTAssertEqual(examples.count, 500)
        XCTAssertEqual(Set(examples.map(\.label)), ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"])
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes[0].contains("train.label:66") && notes[0].contains("Latin-1"), notes[0])
        XCTAssertFalse(examples[65].text.contains("\u{FFFD}"), "decoded as Latin-1, not replaced")
        XCTAssertEqual(
            try LabelledCorpus.readTREC(URL(fileURLWithPath: trec), fine: true).examples[0].label, "DESC:manner")
    }

    func testStratifiedSplitKeepsClassRatios() throws {
        let (examples, _) = try LabelledCorpus.readTSV(URL(fileURLWithPath: sms))
        let (train, val) = LabelledCorpus.stratifiedSplit(examples, validationFraction: 0.2, seed: 4)
        XCTAssertEqual(train.count + val.count, examples.count)
        for label in ["ham", "spam"] {
            let all = examples.filter { $0.label == label }.count, v = val.filter { $0.label == label }.count
            XCTAssertEqual(Double(v), Double(all) * 0.2, accuracy: 1, "\(label) keeps its share")
        }
        XCTAssertEqual(
            LabelledCorpus.stratifiedSplit(examples, validationFraction: 0.2, seed: 4).validation, val, "seeded")
    }

    func testClassificationReportMatchesHandComputedValues() {
        let r = ClassificationReport(labels: ["a", "b"], truth: [0, 0, 0, 1, 1], predicted: [0, 0, 1, 1, 0])
        XCTAssertEqual(r.accuracy, 0.6, accuracy: 1e-12)
        XCTAssertEqual(r.perClass(0).precision, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(r.perClass(0).recall, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(r.perClass(1).f1, 0.5, accuracy: 1e-12)
        XCTAssertEqual(r.macroF1, (2.0 / 3 + 0.5) / 2, accuracy: 1e-12)
        XCTAssertEqual(r.confusion, [[2, 1], [1, 1]])
    }

    func testTrainEvaluateClassifyEndToEnd() throws {
        let t = try runAttn(
            [
                "train", "classifier", "--data", sms, "--out", path("run"), "--attention-example",
                "WINNER! claim your prize"
            ] + small)
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.out.contains("attention report of \"WINNER! claim your prize\""), t.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("run/attention/index.html")))
        let report = try runAttn([
            "attention", "--checkpoint", path("run"), "--text", "see you at lunch", "--out", path("att")
        ])
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssertEqual(
            report.out.split(separator: "\n").last.map(String.init), path("att/index.html"),
            "the last line is the page's path")
        let noText = try runAttn(["attention", "--checkpoint", path("run"), "--out", path("att2")])
        XCTAssertNotEqual(noText.status, 0)
        XCTAssertTrue(noText.err.contains("--text"), noText.err)
        for f in [
            "config.json", "tokenizer.json", "labels.json", "best.safetensors", "report.txt", "metrics.csv",
            "curves.png"
        ] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("run/" + f)), f)
        }
        let e = try runAttn(["evaluate", "--checkpoint", path("run"), "--data", sms, "--json"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertEqual(e.out.split(separator: "\n").count, 1, "--json prints the JSON line only: \(e.out)")
        XCTAssertTrue(e.out.hasPrefix("{\"task\": \"classification\", \"metric\": \"accuracy\", \"value\": "), e.out)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(e.out.utf8)) as? [String: Any])
        let readable = try runAttn(["evaluate", "--checkpoint", path("run"), "--data", sms])
        XCTAssertTrue(
            readable.out.contains("precision") && !readable.out.contains("{"),
            "without --json, the report only: \(readable.out)")
        XCTAssertEqual(json["task"] as? String, "classification")
        XCTAssertEqual(json["metric"] as? String, "accuracy")
        XCTAssertEqual(json["n"] as? Int, 600)
        XCTAssertNotNil(json["macro_f1"] as? Double)
        XCTAssertNotNil((json["per_class"] as? [String: Any])?["spam"])
        let c = try runAttn([
            "classify", "--checkpoint", path("run"), "--text", "WINNER! claim your prize now", "--text",
            "see you at lunch", "--top", "2"
        ])
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertEqual(c.out.split(separator: "\n").count, 2)
        XCTAssertTrue(c.out.contains("spam:") && c.out.contains("ham:"), c.out)
        let cj = try runAttn([
            "classify", "--checkpoint", path("run"), "--text", "WINNER! claim your prize now", "--text",
            "see you at lunch", "--top", "2", "--json"
        ])
        XCTAssertEqual(cj.status, 0, cj.err)
        let rows = cj.out.split(separator: "\n")
        XCTAssertEqual(rows.count, 2, cj.out)
        XCTAssertTrue(rows[0].hasPrefix("{\"text\": \"WINNER! claim your prize now\", \"label\": "), cj.out)
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(rows[0].utf8)) as? [String: Any])
        XCTAssertEqual((first["top"] as? [[String: Any]])?.count, 2)
        XCTAssertEqual((first["top"] as? [[String: Any]])?.first?["label"] as? String, first["label"] as? String)

        // Fine-tuning from this run with balanced class weights: same vocabulary, frozen encoder bit-identical.
        let ft = try runAttn([
            "train", "classifier", "--data", sms, "--out", path("ft"), "--init-from", path("run"), "--freeze",
            "embedding,encoder",
            "--class-weights", "balanced", "--epochs", "1", "--seed", "3"
        ])
        XCTAssertEqual(ft.status, 0, ft.err)
        XCTAssertTrue(ft.out.contains("class weights: ham 0.5") && ft.out.contains("spam 3."), ft.out)
        XCTAssertTrue(ft.out.contains("frozen:"), ft.out)
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("run/best.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("ft/last.safetensors"))).tensors
        for (name, tensor) in b where name.hasPrefix("encoder.") && !name.contains("running") {
            XCTAssertEqual(tensor.scalars, a[name]?.scalars, name)
        }
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: path("ft/tokenizer.json"))),
            try Data(contentsOf: URL(fileURLWithPath: path("run/tokenizer.json"))))
    }

    func testTextCNNTrainsEvaluatesAndClassifies() throws {
        let t = try runAttn([
            "train", "classifier", "--format", "trec", "--data", trec, "--out", path("cnn"), "--model", "cnn",
            "--epochs", "2",
            "--d-model", "16", "--filters", "8", "--kernels", "2,3", "--seed", "1"
        ])
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.out.contains("model: TextCNN"), t.out)
        let e = try runAttn(["evaluate", "--checkpoint", path("cnn"), "--data", trec, "--json"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.contains("\"task\": \"classification\""), e.out)
        let c = try runAttn(["classify", "--checkpoint", path("cnn"), "--text", "Who wrote Hamlet ?"])
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertEqual(c.out.split(separator: "\n").count, 1)
        XCTAssertNotEqual(try runAttn(["train", "classifier", "--data", sms, "--model", "rnn"]).status, 0)
    }

    func testClassWeightedLossIsPyTorchsForm() {
        // Two classes, weights (1, 3): mean over the summed target weights.
        let logits = Tensor([0, 0, 0, 0], shape: [2, 2])
        let l = Loss.crossEntropy(logits, [0, 1], weight: [1, 3]).item()
        XCTAssertEqual(l, Float(log(2.0)), accuracy: 1e-6)
        XCTAssertEqual(balancedClassWeights([0, 0, 0, 1], classes: 2), [4 / 6, 2])
    }

    func testClearErrorsNameFileAndLine() throws {
        try "ham\thello\nspam no tab here\n".write(toFile: path("bad.tsv"), atomically: true, encoding: .utf8)
        let bad = try runAttn(["train", "classifier", "--data", path("bad.tsv"), "--out", path("x")] + small)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("bad.tsv:2"), bad.err)
        try "DESC:manner How ?\nbroken line without label\n".write(
            toFile: path("bad.label"), atomically: true, encoding: .utf8)
        let badTrec = try runAttn(
            ["train", "classifier", "--format", "trec", "--data", path("bad.label"), "--out", path("y")] + small)
        XCTAssertNotEqual(badTrec.status, 0)
        XCTAssertTrue(badTrec.err.contains("bad.label:2"), badTrec.err)
        XCTAssertEqual(try runAttn(["train", "classifier", "--data", sms, "--out", path("run")] + small).status, 0)
        try "ham\thello\neggs\tan unknown label\n".write(toFile: path("unknown.tsv"), atomically: true, encoding: .utf8)
        let unknown = try runAttn(["evaluate", "--checkpoint", path("run"), "--data", path("unknown.tsv")])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.err.contains("unknown.tsv:2") && unknown.err.contains("eggs"), unknown.err)
        let help = try runAttn(["train", "classifier", "--help"])
        for f in ["--data", "--format", "--label", "--valid-data", "--val-fraction", "--pooling", "--epochs"] {
            XCTAssertTrue(help.out.contains(f), f)
        }
        XCTAssertTrue(try runAttn(["classify", "--help"]).out.contains("--top"))
    }

    func testTrainViTSmokeRunWritesARunDirectoryThatRebuildsTheModel() throws {
        let cifar = root.appendingPathComponent("corpora/cifar10-sample").path
        let r = try runAttn([
            "train", "vit", "--data", cifar, "--out", path("vit"), "--epochs", "2", "--batch-size", "16", "--d-model",
            "16",
            "--heads", "2", "--depth", "1", "--patch-size", "8", "--warmup-epochs", "1"
        ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("epoch 2/2"), r.out)
        let vit = try ModelFile.load(VisionTransformer.self, from: URL(fileURLWithPath: path("vit/best.safetensors")))
        XCTAssertEqual(vit.config.patchSize, 8)
        XCTAssertEqual(vit.config.positions, .sinusoidal)
        XCTAssertTrue(try runAttn(["train", "vit", "--help"]).out.contains("--drop-path"))
    }
}

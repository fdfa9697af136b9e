import AttentionKit
import Foundation
import XCTest

/// ULMFiT's second half: a backward language model (`attn train lm --backward`), the classifier fine-tuned from it
/// reading its texts last token first, and the ensemble that averages classifiers' probabilities (`--ensemble`).
final class BackwardEnsembleTests: XCTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-backward-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    var trec: String { root.appendingPathComponent("corpora/trec-sample/train.label").path }

    func classifier(backward: Bool, classes: Int = 3, seed: UInt64 = 1) -> RecurrentTextClassifier {
        var c = RecurrentTextClassifierConfig(vocabulary: 20, classes: classes)
        (c.embeddingDim, c.hidden, c.layers, c.bidirectional, c.backward, c.padID) = (6, 5, 2, false, backward, 0)
        var g = RandomGenerator(seed: seed)
        return RecurrentTextClassifier(config: c, using: &g)
    }

    /// A backward classifier on a batch of rows of different lengths gives the forward one's logits on each row's
    /// real tokens reversed (padding stays at the end).
    func testBackwardClassifierReadsEachTextLastTokenFirst() throws {
        let forward = classifier(backward: false), backward = classifier(backward: true)
        forward.eval()
        backward.eval()
        let rows = [[3, 5, 7, 9, 11], [4, 6, 0, 0, 0], [8, 0, 0, 0, 0]]
        let reversed = rows.map { row -> [Int] in
            let n = row.lastIndex { $0 != 0 }! + 1
            return Array(row.prefix(n).reversed()) + row.dropFirst(n)
        }
        let a = withNoGrad { backward(rows).scalars }, b = withNoGrad { forward(reversed).scalars }
        XCTAssertEqual(a, b)
        let unchanged = withNoGrad { forward(rows).scalars }
        XCTAssertNotEqual(a, unchanged, "the first row reads differently backwards")
    }

    /// `backward` is written only when set: a forward configuration's JSON is what earlier versions wrote (and their
    /// checkpoints still load), and a backward one round-trips.
    func testBackwardIsOptionalInTheConfiguration() throws {
        let forward = classifier(backward: false).config
        let json = try JSONValue(forward)
        XCTAssertNil(json[path: "backward"])
        let decoded = try SnakeCase.decoder().decode(
            RecurrentTextClassifierConfig.self, from: SnakeCase.encoder().encode(json))
        XCTAssertEqual(decoded, forward)
        let backward = classifier(backward: true).config
        XCTAssertEqual(try JSONValue(backward)[path: "backward"], .bool(true))
        XCTAssertEqual(
            try SnakeCase.decoder().decode(
                RecurrentTextClassifierConfig.self, from: SnakeCase.encoder().encode(backward)), backward)
    }

    /// An ensemble's probabilities are the mean of its members', each in the first classifier's label order.
    func testEnsembleAveragesProbabilitiesInTheFirstRunsLabelOrder() throws {
        let words = ["[PAD]", "[UNK]"] + (0..<18).map { "w\($0)" }
        let tokenizer = Tokenizer(
            model: .wordLevel(
                WordLevel(
                    vocabulary: Dictionary(uniqueKeysWithValues: words.enumerated().map { ($1, $0) }),
                    unknownToken: "[UNK]")))
        let a = TextClassification(
            model: classifier(backward: false, seed: 1), tokenizer: tokenizer, labels: ["x", "y", "z"])
        let b = TextClassification(
            model: classifier(backward: true, seed: 2), tokenizer: tokenizer, labels: ["z", "x", "y"])
        let texts = ["w1 w2 w3", "w4", "w5 w9 w17 w3"]
        let pa = a.probabilities(texts), pb = b.probabilities(texts)
        var ensemble = a
        try ensemble.addToEnsemble(b)
        let mean = ensemble.probabilities(texts)
        for r in texts.indices {
            // b's columns are z, x, y
            let expected = [(pa[r][0] + pb[r][1]) / 2, (pa[r][1] + pb[r][2]) / 2, (pa[r][2] + pb[r][0]) / 2]
            for k in 0..<3 { XCTAssertEqual(mean[r][k], expected[k], accuracy: 1e-6) }
            XCTAssertEqual(mean[r].reduce(0, +), 1, accuracy: 1e-5)
        }
        XCTAssertNotEqual(mean[0], pa[0])
        // a member of other labels is refused
        let other = TextClassification(
            model: classifier(backward: false, seed: 3), tokenizer: tokenizer, labels: ["x", "y", "w"])
        XCTAssertThrowsError(try ensemble.addToEnsemble(other)) { e in
            XCTAssertTrue("\(e)".contains("same labels"), "\(e)")
        }
    }

    /// The binary: a backward LSTM language model on the TREC sample's questions records `backward` and scores text
    /// read backwards; `attn generate` writes the text before the prompt; a classifier fine-tuned from it reads
    /// backwards; `attn evaluate --ensemble` averages it with a forward one; a resume may not flip the direction.
    func testBackwardLanguageModelToEnsembleOnTheBinary() throws {
        let questions = try String(contentsOfFile: trec, encoding: .isoLatin1).split(separator: "\n").map {
            $0.split(separator: " ", maxSplits: 1).last.map(String.init) ?? ""
        }
        try questions.joined(separator: "\n").write(toFile: path("questions.txt"), atomically: true, encoding: .utf8)
        let lmArgs = [
            "train", "lm", "--model", "lstm", "--data", path("questions.txt"), "--tokenizer", "word", "--vocab-size",
            "300", "--hidden", "12", "--layers", "1", "--block-size", "12", "--batch-size", "8", "--epochs", "1",
            "--sample-prompt", "What", "--sample-tokens", "5", "--seed", "1"
        ]
        let bwd = try runAttn(lmArgs + ["--backward", "--out", path("bwd")])
        XCTAssertEqual(bwd.status, 0, bwd.err)
        XCTAssertTrue(bwd.out.contains("sample: "), bwd.out)
        let config = try RunDirectory(path: path("bwd")).readConfig(LanguageModelConfig.self)
        XCTAssertTrue(config.backward)
        let fwd = try runAttn(lmArgs + ["--out", path("fwd")])
        XCTAssertEqual(fwd.status, 0, fwd.err)
        XCTAssertFalse(try RunDirectory(path: path("fwd")).readConfig(LanguageModelConfig.self).backward)

        // the backward model scores the text's tokens in reverse order
        let lm = try LanguageModel.load(from: RunDirectory(path: path("bwd")), weights: "best.safetensors")
        XCTAssertTrue(lm.backward)
        let text = questions.prefix(40).joined(separator: "\n")
        XCTAssertEqual(lm.sequence(text), lm.encode(text).ids.reversed())
        let (nats, n) = lm.summedLoss(lm.encode(text).ids.reversed())
        XCTAssertEqual(lm.score(text).loss, nats / Double(n), accuracy: 1e-9)
        let forwardReading = lm.summedLoss(lm.encode(text).ids)
        XCTAssertNotEqual(nats, forwardReading.nats)

        // generating backwards: the text comes before the prompt
        let generated = try runAttn([
            "generate", "--checkpoint", path("bwd"), "--prompt", "capital ?", "--max-new-tokens", "4", "--seed", "3"
        ])
        XCTAssertEqual(generated.status, 0, generated.err)
        XCTAssertTrue(
            generated.out.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("capital ?"), generated.out)
        let same = try lm.generate("capital ?", maxNewTokens: 4, seed: 3)[0]
        XCTAssertTrue(same.hasSuffix(" "), "a word-level text joins the prompt with a space: '\(same)'")
        XCTAssertTrue(generated.out.contains(same + "capital ?"), "\(generated.out) vs \(same)")

        // a resume that flips the direction is refused
        let flipped = try runAttn(lmArgs + ["--out", path("bwd"), "--epochs", "2", "--resume"])
        XCTAssertNotEqual(flipped.status, 0)
        XCTAssertTrue(flipped.err.contains("--backward"), flipped.err)

        // classifiers from each direction, and their ensemble
        let cls = [
            "train", "classifier", "--format", "trec", "--data", trec, "--model", "lstm", "--epochs", "1", "--seed", "2"
        ]
        // without --model: a language model gives the classifier its cell (and concat pooling is a recurrent one's)
        let noModel = cls.filter { $0 != "--model" && $0 != "lstm" }
        let back = try runAttn(noModel + ["--init-from", path("bwd"), "--pooling", "concat", "--out", path("cls-bwd")])
        XCTAssertEqual(back.status, 0, back.err)
        XCTAssertTrue(back.out.contains("fine-tuning the backward language model"), back.out)
        XCTAssertTrue(back.out.contains("reading each text last token first"), back.out)
        let model = try RunDirectory(path: path("cls-bwd")).entry(
            "model", as: RecurrentTextClassifierConfig.self, describing: "the model")
        XCTAssertTrue(model.backward)
        XCTAssertEqual(model.pooling, .concat)
        XCTAssertEqual(try runAttn(cls + ["--init-from", path("fwd"), "--out", path("cls-fwd")]).status, 0)
        func accuracy(_ extra: [String]) throws -> Double {
            let r = try runAttn(["evaluate", "--checkpoint", path("cls-fwd"), "--data", trec, "--json"] + extra)
            XCTAssertEqual(r.status, 0, r.err)
            let line = r.out.split(separator: "\n").last.map(String.init) ?? ""
            guard case .number(let v)? = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))[path: "value"]
            else { XCTFail(line); return .nan }
            return v
        }
        let single = try accuracy([]), both = try accuracy(["--ensemble", path("cls-bwd")])
        XCTAssertTrue(single.isFinite && both.isFinite)
        // the ensemble's accuracy is the one of the mean of the two classifiers' probabilities
        let f = try TextClassification.load(from: RunDirectory(path: path("cls-fwd")), weights: "best.safetensors")
        let b = try TextClassification.load(from: RunDirectory(path: path("cls-bwd")), weights: "best.safetensors")
        let examples = try TextFormat(format: .trec).read(trec).examples
        var e = f
        try e.addToEnsemble(b)
        XCTAssertEqual(try e.evaluate(examples).accuracy, both, accuracy: 1e-6)
        // --weights names every member's weights
        let lastBoth = try accuracy(["--weights", "last", "--ensemble", path("cls-bwd")])
        var lastEnsemble = try TextClassification.load(
            from: RunDirectory(path: path("cls-fwd")), weights: "last.safetensors")
        try lastEnsemble.addToEnsemble(
            TextClassification.load(from: RunDirectory(path: path("cls-bwd")), weights: "last.safetensors"))
        XCTAssertEqual(try lastEnsemble.evaluate(examples).accuracy, lastBoth, accuracy: 1e-6)
        let classify = try runAttn([
            "classify", "--checkpoint", path("cls-fwd"), "--ensemble", path("cls-bwd"), "--text", questions[0]
        ])
        XCTAssertEqual(classify.status, 0, classify.err)
        let expected = e.classify([questions[0]])[0][0]
        XCTAssertTrue(classify.out.hasPrefix(expected.label + "\t"), "\(classify.out) vs \(expected)")

        let wrongKind = try runAttn([
            "evaluate", "--checkpoint", path("bwd"), "--ensemble", path("cls-bwd"), "--data", path("questions.txt")
        ])
        XCTAssertNotEqual(wrongKind.status, 0)
        XCTAssertTrue(wrongKind.err.contains("--ensemble averages text classifiers"), wrongKind.err)
    }
}

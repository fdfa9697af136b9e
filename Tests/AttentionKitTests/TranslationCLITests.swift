import AttentionKit
import Foundation
import XCTest

/// `attn train translation`, `attn evaluate`, `attn translate` run as a user runs them, on a few dozen lines.
final class TranslationCLITests: XCTestCase {
    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try runAttn(args) }

    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-tr-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for side in ["de", "en"] {
            let lines = try String(
                contentsOf: root.appendingPathComponent("corpora/multi30k-sample/train.\(side)"), encoding: .utf8
            )
            .split(separator: "\n").prefix(40)
            try (lines.joined(separator: "\n") + "\n").write(
                to: tmp.appendingPathComponent("train.\(side)"), atomically: true, encoding: .utf8)
        }
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }

    func trainArgs(_ out: String, epochs: Int = 2) -> [String] {
        [
            "train", "translation", "--source", path("train.de"), "--target", path("train.en"), "--out", path(out),
            "--epochs", "\(epochs)",
            "--d-model", "16", "--heads", "2", "--layers", "1", "--feed-forward", "16", "--warmup-steps", "1",
            "--max-tokens", "400",
            "--min-frequency", "1", "--seed", "3"
        ]
    }

    func testTrainEvaluateTranslateEndToEnd() throws {
        let t = try run(trainArgs("run"))
        XCTAssertEqual(t.status, 0, t.err + t.out)
        for f in [
            "config.json", "source-tokenizer.json", "target-tokenizer.json", "best.safetensors", "last.safetensors",
            "resume.safetensors", "metrics.jsonl", "metrics.csv", "curves.png"
        ] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("run/" + f)), "run directory lacks \(f)")
        }
        XCTAssertEqual(
            try String(contentsOfFile: path("run/metrics.jsonl"), encoding: .utf8).split(separator: "\n").count, 2)
        let e = try run([
            "evaluate", "--checkpoint", path("run"), "--source", path("train.de"), "--reference", path("train.en"),
            "--beam", "2", "--json"
        ])
        XCTAssertEqual(e.status, 0, e.err)
        let last = try XCTUnwrap(e.out.split(separator: "\n").last)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], String(last))
        XCTAssertEqual(json["task"] as? String, "translation")
        XCTAssertEqual(json["metric"] as? String, "bleu")
        XCTAssertEqual(json["n"] as? Int, 40)
        XCTAssertEqual(json["beam"] as? Int, 2)
        for k in ["value", "bleu_lowercase_tokens", "chrf"] { XCTAssertNotNil(json[k] as? Double, k) }
        let tr = try run([
            "translate", "--checkpoint", path("run"), "--text", "Ein Hund.", "--text", "Zwei Männer.", "--beam", "2",
            "--n-best", "2"
        ])
        XCTAssertEqual(tr.status, 0, tr.err)
        XCTAssertEqual(tr.out.split(separator: "\n", omittingEmptySubsequences: true).count, 4, tr.out)
        let tj = try run([
            "translate", "--checkpoint", path("run"), "--text", "Ein Hund.", "--text", "Zwei Männer.", "--beam", "2",
            "--n-best", "2", "--json"
        ])
        XCTAssertEqual(tj.status, 0, tj.err)
        let rows = try tj.out.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(rows.map { $0["source"] as? String }, ["Ein Hund.", "Zwei Männer."])
        XCTAssertEqual((rows[0]["n_best"] as? [[String: Any]])?.count, 2)
        XCTAssertEqual(
            (rows[0]["n_best"] as? [[String: Any]])?.first?["text"] as? String, rows[0]["translation"] as? String)
        XCTAssertTrue(tj.out.hasPrefix("{\"source\": \"Ein Hund.\", \"translation\": "), tj.out)
    }

    /// Training ends by choosing the weights and length penalty on the validation pairs (generation_config.json);
    /// translate and evaluate use them where no flag says otherwise; `attn tune-decoding` chooses again; a corrupt
    /// file is an error naming it; `attn quantize` carries it over.
    func testDecodingDefaultsChosenOnTheValidationPairs() throws {
        let t = try run(trainArgs("run", epochs: 3) + ["--average-last", "2"])
        XCTAssertEqual(t.status, 0, t.err + t.out)
        XCTAssertTrue(t.out.contains("length penalty"), t.out)
        let file = path("run/generation_config.json")
        let g = try XCTUnwrap(RunDirectory(path: path("run")).generationConfig())
        XCTAssertEqual(g.candidates.count, 2 * Translator.tunedLengthPenalties.count)
        XCTAssertEqual(Set(g.candidates.map(\.weights)), ["best.safetensors", "averaged.safetensors"])
        XCTAssertEqual(
            g.candidates.map(\.score).max(),
            g.candidates.first { $0.weights == g.weights && $0.lengthPenalty == g.lengthPenalty }?.score)
        XCTAssertEqual(g.numBeams, 5)
        let validation = try String(contentsOfFile: path("run/validation.source"), encoding: .utf8)
        XCTAssertEqual(g.pairs, validation.split(separator: "\n").count)
        let raw = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        XCTAssertNotNil(raw["length_penalty"] as? Double)
        XCTAssertNotNil(raw["num_beams"] as? Int)

        // the defaults are the file's: with weights last and α 2 written into it, no flag = those flags
        var edited = g
        edited.weights = "last.safetensors"; edited.lengthPenalty = 2
        try RunDirectory(path: path("run")).writeGenerationConfig(edited)
        let texts = ["--text", "Ein Hund läuft.", "--text", "Zwei Männer sitzen auf einer Bank."]
        let base = ["translate", "--checkpoint", path("run"), "--n-best", "3", "--json"] + texts
        let byDefault = try run(base), explicit = try run(base + ["--weights", "last", "--length-penalty", "2"])
        let other = try run(base + ["--weights", "best", "--length-penalty", "0.6"])
        for r in [byDefault, explicit, other] { XCTAssertEqual(r.status, 0, r.err) }
        XCTAssertEqual(byDefault.out, explicit.out)
        XCTAssertNotEqual(byDefault.out, other.out)
        let ev = [
            "evaluate", "--checkpoint", path("run"), "--source", path("train.de"), "--reference", path("train.en"),
            "--json"
        ]
        XCTAssertEqual(try run(ev).out, try run(ev + ["--weights", "last", "--length-penalty", "2"]).out)

        // choosing again, among the given length penalties
        let tune = try run(["tune-decoding", "--checkpoint", path("run"), "--beam", "2", "--length-penalties", "0,1"])
        XCTAssertEqual(tune.status, 0, tune.err)
        let line = try XCTUnwrap(tune.out.split(separator: "\n").last)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
        XCTAssertTrue([0.0, 1.0].contains(json["length_penalty"] as? Double ?? -1), String(line))
        XCTAssertEqual(json["num_beams"] as? Int, 2)
        XCTAssertEqual(try RunDirectory(path: path("run")).generationConfig()?.candidates.count, 4)
        let bad = try run(["tune-decoding", "--checkpoint", path("run"), "--length-penalties", "0,nine"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--length-penalties"), bad.err)

        // quantize carries the choice over, for the one weights file it writes
        let q = try run(["quantize", "--checkpoint", path("run"), "--out", path("run-int8")])
        XCTAssertEqual(q.status, 0, q.err)
        let qg = try XCTUnwrap(RunDirectory(path: path("run-int8")).generationConfig())
        XCTAssertEqual(qg.weights, "best.safetensors")
        XCTAssertEqual(qg.lengthPenalty, try RunDirectory(path: path("run")).generationConfig()?.lengthPenalty)

        // a corrupt file is an error naming it
        try Data("{\"num_beams\": 5,".utf8).write(to: URL(fileURLWithPath: file))
        let broken = try run(["translate", "--checkpoint", path("run"), "--text", "Ein Hund."])
        XCTAssertNotEqual(broken.status, 0)
        XCTAssertTrue(broken.err.contains("generation_config.json"), broken.err)
    }

    /// Ctrl-C mid-run exits 130 with a resumable checkpoint; `--resume` then ends exactly where an uninterrupted run does.
    func testSIGINTThenResumeEqualsUninterrupted() throws {
        let epochs = 25
        XCTAssertEqual(try run(trainArgs("straight", epochs: epochs)).status, 0)
        let p = Process()
        p.executableURL = try builtBinary("attn")
        p.arguments = trainArgs("split", epochs: epochs)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let metrics = path("split/metrics.jsonl")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").isEmpty {
            usleep(2000)
        }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let linesAtInterrupt = ((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").split(separator: "\n")
            .count
        XCTAssertEqual(p.terminationStatus, 130, "Ctrl-C exits 130")
        XCTAssertLessThan(linesAtInterrupt, epochs, "interrupted before the end")
        let r = try run(trainArgs("split", epochs: epochs) + ["--resume"])
        XCTAssertEqual(r.status, 0, r.err + r.out)
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("straight/last.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("split/last.safetensors"))).tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (k, t) in a { XCTAssertEqual(t.scalars, b[k]!.scalars, "\(k) differs after resume") }
        func columns(_ f: String) throws -> [[Substring]] {  // timing columns (tok_per_s, epoch_seconds) dropped
            try String(contentsOfFile: path(f), encoding: .utf8).split(separator: "\n").map { row in
                let c = row.split(separator: ",", omittingEmptySubsequences: false)
                return Array(c[0..<4] + c[6...])
            }
        }
        XCTAssertEqual(try columns("straight/metrics.csv"), try columns("split/metrics.csv"))
    }

    func testBPEAndGivenTokenizers() throws {
        let bpe = try run(
            trainArgs("bpe", epochs: 1) + ["--tokenizer", "bpe", "--vocab-size", "400", "--joint-vocabulary"])
        XCTAssertEqual(bpe.status, 0, bpe.err)
        let tok = try Tokenizer.load(from: URL(fileURLWithPath: path("bpe/source-tokenizer.json")))
        XCTAssertEqual(
            tok.decode(tok.encode("Ein Mann fährt.").ids), " Ein Mann fährt.",
            "byte-level BPE round trip (with HF's prefix space)")
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: path("bpe/source-tokenizer.json"))),
            try Data(contentsOf: URL(fileURLWithPath: path("bpe/target-tokenizer.json"))), "joint vocabulary")
        let given = try run(
            trainArgs("given", epochs: 1) + [
                "--source-tokenizer", path("bpe/source-tokenizer.json"),
                "--target-tokenizer", path("bpe/target-tokenizer.json")
            ])
        XCTAssertEqual(given.status, 0, given.err)
        XCTAssertTrue(given.out.contains("vocabularies \(tok.vocabularySize) → \(tok.vocabularySize)"), given.out)
        let noSpecials = Tokenizer(model: .wordLevel(WordLevel(vocabulary: ["a": 0, "b": 1, "[UNK]": 2])))
        try noSpecials.save(to: tmp.appendingPathComponent("plain.json"))
        let bad = try run(
            trainArgs("bad", epochs: 1) + [
                "--source-tokenizer", path("plain.json"), "--target-tokenizer", path("plain.json")
            ])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("plain.json") && bad.err.contains("[PAD]"), bad.err)
    }

    func testHelpExplainsEveryVerb() throws {
        for (verb, flags) in [
            (
                ["train", "translation"],
                [
                    "--source", "--target", "--tsv", "--valid-source", "--epochs", "--lr", "--resume", "--seed",
                    "--max-tokens"
                ]
            ),
            (["evaluate"], ["--checkpoint", "--source", "--reference", "--beam"]),
            (["translate"], ["--checkpoint", "--text", "--beam", "--n-best"])
        ] {
            let r = try run(verb + ["--help"])
            XCTAssertEqual(r.status, 0)
            for f in flags { XCTAssertTrue(r.out.contains(f), "\(verb) help lacks \(f)") }
        }
    }

    func testClearErrorsNameTheFile() throws {
        let missing = try run([
            "train", "translation", "--source", path("nope.de"), "--target", path("train.en"), "--out", path("x")
        ])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("nope.de"), missing.err)
        try "one\ntwo\n".write(toFile: path("short.en"), atomically: true, encoding: .utf8)
        let mismatch = try run([
            "train", "translation", "--source", path("train.de"), "--target", path("short.en"), "--out", path("x")
        ])
        XCTAssertNotEqual(mismatch.status, 0)
        XCTAssertTrue(mismatch.err.contains("short.en has 2"), mismatch.err)
        XCTAssertEqual(try run(trainArgs("run", epochs: 1)).status, 0)
        let ck = path("run/best.safetensors")
        let data = try Data(contentsOf: URL(fileURLWithPath: ck))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: ck))
        let corrupt = try run(["translate", "--checkpoint", path("run"), "--text", "Hallo"])
        XCTAssertNotEqual(corrupt.status, 0)
        XCTAssertTrue(corrupt.err.contains("best.safetensors"), corrupt.err)
        let empty = try run(["translate", "--checkpoint", path("train.de"), "--text", "Hallo"])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.err.contains("not a directory"), empty.err)
        let flag = try run(["train", "translation", "--no-such-flag"])
        XCTAssertNotEqual(flag.status, 0)
        XCTAssertTrue(flag.err.contains("--no-such-flag"), flag.err)
    }
}

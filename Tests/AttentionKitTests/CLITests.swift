import AttentionKit
import Foundation
import XCTest

/// Runs the built `attn` binary and checks what a user sees.
final class CLITests: XCTestCase {
    func binary(_ name: String) throws -> URL { try builtBinary(name) }
    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try runAttn(args) }

    func testVersion() throws {
        let r = try run(["--version"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), AttentionKit.version)
    }

    func testHelp() throws {
        let r = try run(["--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.out.contains("USAGE: attn"), r.out)
        XCTAssertTrue(r.out.contains("--version"), r.out)
    }

    func testUnknownFlagFailsWithMessage() throws {
        let r = try run(["--no-such-flag"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("--no-such-flag"), r.err)
    }
}

extension CLITests {
    func testTrainCNNHelpExplainsFlags() throws {
        let r = try run(["train", "cnn", "--help"])
        XCTAssertEqual(r.status, 0)
        for flag in ["--data", "--epochs", "--batch-size", "--lr", "--seed", "--resume", "--val-fraction"] {
            XCTAssertTrue(r.out.contains(flag), "help lacks \(flag)")
        }
    }

    func testTrainCNNRejectsBadInputWithClearErrors() throws {
        let bad = try run(["train", "cnn", "--epochs", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--epochs"), bad.err)
        let missing = try run([
            "train", "cnn", "--data", "/nonexistent/cifar", "--out", NSTemporaryDirectory() + "ak-cli"
        ])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("/nonexistent/cifar"), missing.err)
    }

    func testTrainCNNSmokeRunAndResume() throws {
        let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpora/cifar10-sample").path
        let out = NSTemporaryDirectory() + "ak-cnn-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let args = [
            "train", "cnn", "--data", sample, "--out", out, "--batch-size", "30", "--warmup-epochs", "0", "--seed", "3"
        ]
        let first = try run(args + ["--epochs", "1"])
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.out.contains("epoch 1/1"), first.out)
        for f in ["metrics.jsonl", "metrics.csv", "best.safetensors", "resume.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f)
        }
        let resumed = try run(args + ["--epochs", "2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.out.contains("resumed"), resumed.out)
        XCTAssertTrue(resumed.out.contains("epoch 2/2"), resumed.out)
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
    }
}

extension CLITests {
    /// The first smoke run anyone tries: one epoch with the recipe's one warmup epoch. The warmup shrinks to a fifth of
    /// the run and one line says so; an explicit --warmup-steps longer than the run does the same.
    func testShortRunShrinksItsWarmupAndSaysSo() throws {
        let out = NSTemporaryDirectory() + "ak-short-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try run([
            "train", "cnn", "--data", repositoryFile("corpora/cifar10-sample"), "--out", out, "--epochs", "1",
            "--channels", "4,8", "--hidden", "8", "--batch-size", "10"
        ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(
            r.out.contains(
                "warmup: --warmup-epochs 1 (9 steps) would take more than half of this run's 9 optimizer steps (1 epoch × 9); shortened to 1 step"
            ), r.out)
        var recipe = TrainingRecipe(epochs: 2, lr: 1e-3, optimizer: .adamw(beta2: 0.999), weightDecay: 0, clipNorm: 0)
        recipe.warmupSteps = 999
        let w = try recipe.warmup(batchesPerEpoch: 50)
        XCTAssertEqual(w.steps, 20)
        XCTAssertEqual(w.totalSteps, 100)
        XCTAssertNotNil(w.note)
        recipe.warmupSteps = 50
        XCTAssertNil(try recipe.warmup(batchesPerEpoch: 50).note, "a warmup of half the run is kept")
        let schedule = try recipe.makeSchedule(batchesPerEpoch: 50)
        XCTAssertEqual(schedule.factor(step: 99), 0, accuracy: 1e-3, "the cosine ends at 0, not at the peak")
    }
}

extension CLITests {
    /// Values that used to trap the chart (1e308, −1e308, nan) are left out and named; the PNG is written.
    func testPlotLeavesOutAbsurdValuesAndSaysSo() throws {
        let dir = NSTemporaryDirectory() + "ak-plot-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("epoch,train_loss,val_accuracy\n1,2.0,0.5\n2,1e308,0.6\n3,-1e308,0.7\n4,nan,0.8\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/metrics.csv"))
        let r = try run(["plot", dir])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("left out 3 non-finite or absurd value(s): line 3 train_loss=1e308"), r.err)
        let png = try ImageDecoding.read(contentsOf: URL(fileURLWithPath: dir + "/curves.png"))
        XCTAssertGreaterThan(png.width, 100)
    }

    func testTokenizerTrainAndEncode() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let out = NSTemporaryDirectory() + "ak-tok-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let train = try run([
            "tokenizer", "train", root.appendingPathComponent("corpora/multi30k-sample/train.en").path,
            "--vocab-size", "300", "--out", out
        ])
        XCTAssertEqual(train.status, 0, train.err)
        XCTAssertTrue(train.out.contains("300 tokens"), train.out)
        let enc = try run(["tokenizer", "encode", "--tokenizer", out, "A dog runs."])
        XCTAssertEqual(enc.status, 0, enc.err)
        XCTAssertTrue(enc.out.contains("decoded: A dog runs."), enc.out)
        // standard input, a JSON object per line, keys in the documented order
        for args in [
            ["tokenizer", "encode", "--tokenizer", out, "--json"],
            ["tokenizer", "encode", "--tokenizer", out, "--json", "-"]
        ] {
            let p = Process()
            p.executableURL = try binary("attn")
            p.arguments = args
            let input = Pipe(), output = Pipe()
            (p.standardInput, p.standardOutput) = (input, output)
            try p.run()
            input.fileHandleForWriting.write(Data("A dog runs.\nTwo cats.\n".utf8))
            try input.fileHandleForWriting.close()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, text)
            let lines = text.split(separator: "\n")
            XCTAssertEqual(lines.count, 2, text)
            XCTAssertTrue(lines[1].hasPrefix("{\"text\": \"Two cats.\", \"tokens\": ["), text)
            XCTAssertTrue(lines[0].contains("\"offsets\": [[0, 1], "), text)
        }
        let bad = try run(["tokenizer", "train", "/nonexistent.txt", "--out", out])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("/nonexistent.txt"), bad.err)
        let badFlag = try run(["tokenizer", "train", "x", "--model", "unigram"])
        XCTAssertNotEqual(badFlag.status, 0)
        XCTAssertTrue(badFlag.err.contains("--model"), badFlag.err)

        // bad requests are errors (exit 64 for flags, 1 for data), not a silently different tokenizer
        let sample = root.appendingPathComponent("corpora/multi30k-sample/train.en").path
        let small = try run(["tokenizer", "train", sample, "--vocab-size", "10", "--out", out + ".small"])
        XCTAssertEqual(small.status, 64, small.err)
        XCTAssertTrue(small.err.hasPrefix("attn: error: --vocab-size 10 is below the byte-level alphabet"), small.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".small"))
        let twice = try run([
            "tokenizer", "train", sample, "--special-tokens", "[PAD],[UNK],[PAD]", "--out", out + ".twice"
        ])
        XCTAssertEqual(twice.status, 64, twice.err)
        XCTAssertTrue(twice.err.contains("'[PAD]' more than once"), twice.err)
        let empty = NSTemporaryDirectory() + "ak-empty-\(UUID().uuidString).txt"
        defer { try? FileManager.default.removeItem(atPath: empty) }
        try Data("\n\n".utf8).write(to: URL(fileURLWithPath: empty))
        let none = try run(["tokenizer", "train", empty, "--out", out + ".none"])
        XCTAssertEqual(none.status, 1, none.err)
        XCTAssertTrue(none.err.contains(empty + ": no non-empty lines"), none.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".none"))
        let few = try run([
            "tokenizer", "train", sample, "--model", "word", "--vocab-size", "100000", "--out", out + ".few"
        ])
        defer { try? FileManager.default.removeItem(atPath: out + ".few") }
        XCTAssertEqual(few.status, 0, few.err)
        XCTAssertTrue(few.err.contains("fewer than --vocab-size 100000"), few.err)
    }
}

/// A built product next to the test bundle.
func builtBinary(_ name: String) throws -> URL {
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        .map { $0.appendingPathComponent(name) }
    guard let url = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        XCTFail("\(name) binary not found next to the tests (looked in \(candidates.map(\.path)))")
        throw CocoaError(.fileNoSuchFile)
    }
    return url
}

/// Runs the built `attn` with `args`; returns its exit status, stdout and stderr.
func runAttn(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = try builtBinary("attn")
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// The path of a file in this repository (`corpora/…`, `Examples/…`).
func repositoryFile(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(relative).path
}

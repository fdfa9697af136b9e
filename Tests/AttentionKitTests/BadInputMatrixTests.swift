import AttentionKit
import Foundation
import XCTest

/// The bad-input matrix: every verb of the built `attn` against missing, empty, garbage, truncated, mis-encoded and
/// wrong-kind files, FIFOs and directories, out-of-range and contradictory flags, and resumes that do not fit. Each
/// case must exit non-zero (64 for usage errors) within a minute, print one `attn: error: …` naming the file (or
/// flag) and the reason, and — for resumes — leave every file of the run directory as it was.
final class BadInputMatrixTests: XCTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ak-matrix-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    func corpus(_ n: String) -> String { root.appendingPathComponent("corpora/" + n).path }

    /// Runs attn with a time limit (a read that blocks on a FIFO must not hang the suite).
    func attn(_ args: [String], limit: TimeInterval = 60) throws -> (status: Int32, out: String, err: String, timedOut: Bool) {
        let p = Process()
        p.executableURL = try builtBinary("attn")
        p.arguments = args
        let out = tmp.appendingPathComponent("out.txt"), err = tmp.appendingPathComponent("err.txt")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(limit)
        while p.isRunning && Date() < deadline { usleep(5000) }
        let timedOut = p.isRunning
        if timedOut { p.terminate(); p.waitUntilExit() }
        return (p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "", (try? String(contentsOf: err, encoding: .utf8)) ?? "", timedOut)
    }

    func snapshot(_ dir: String) throws -> [String: Data] {
        Dictionary(uniqueKeysWithValues: try FileManager.default.contentsOfDirectory(atPath: dir).map {
            ($0, (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0))) ?? Data())
        })
    }

    func copy(_ from: String, _ to: String) throws {
        try FileManager.default.copyItem(atPath: from, toPath: to)
    }

    func testEveryVerbRefusesBadInputClearly() throws {
        // Good runs to break.
        let cifar = corpus("cifar10-sample"), trec = corpus("trec-sample/train.label")
        let tinyCNN = ["--data", cifar, "--channels", "4,8", "--hidden", "8", "--epochs", "2", "--warmup-epochs", "0", "--batch-size", "32"]
        let tinyText = ["--format", "trec", "--data", trec, "--epochs", "1", "--d-model", "8", "--heads", "2", "--layers", "1", "--feed-forward", "8"]
        for (args, what) in [(["train", "cnn", "--out", path("cnn")] + tinyCNN, "cnn"), (["train", "classifier", "--out", path("cls")] + tinyText, "classifier"),
                             (["tokenizer", "train", corpus("multi30k-sample/train.en"), "--out", path("tok.json"), "--vocab-size", "300"], "tokenizer")] {
            let r = try attn(args)
            XCTAssertEqual(r.status, 0, "\(what): " + r.err)
        }
        let lines = try String(contentsOfFile: corpus("multi30k-sample/train.de"), encoding: .utf8).split(separator: "\n")
        let en = try String(contentsOfFile: corpus("multi30k-sample/train.en"), encoding: .utf8).split(separator: "\n")
        try (lines.prefix(40).joined(separator: "\n") + "\n").write(toFile: path("train.de"), atomically: true, encoding: .utf8)
        try (en.prefix(40).joined(separator: "\n") + "\n").write(toFile: path("train.en"), atomically: true, encoding: .utf8)
        try (en.prefix(30).joined(separator: "\n") + "\n").write(toFile: path("short.en"), atomically: true, encoding: .utf8)
        let translation = ["train", "translation", "--source", path("train.de"), "--target", path("train.en"), "--epochs", "1", "--d-model", "8",
                           "--heads", "2", "--layers", "1", "--feed-forward", "8", "--warmup-steps", "1", "--max-tokens", "400", "--min-frequency", "1"]
        XCTAssertEqual(try attn(translation + ["--out", path("tr")]).status, 0)

        // Bad files.
        let missing = path("missing.txt"), dir = path("adir"), fifo = path("fifo"), emptyFifo = path("empty-fifo"), empty = path("empty.txt"), garbage = path("garbage.bin")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // FIFOs are read to their end like pipes (`--data <(zcat …)`): a writer feeds each case a line of garbage, or nothing.
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        XCTAssertEqual(mkfifo(emptyFifo, 0o644), 0)
        let feeds = [fifo: "printf 'garbage line\\n' > \"$0\"", emptyFifo: ": > \"$0\""]
        try Data().write(to: URL(fileURLWithPath: empty))
        var g = RandomGenerator(seed: 9)
        try Data((0..<5000).map { _ in UInt8(truncatingIfNeeded: g.next()) }).write(to: URL(fileURLWithPath: garbage))
        try Data([0x48, 0x69, 0xFF, 0xFE, 0x0A, 0x41, 0x0A]).write(to: URL(fileURLWithPath: path("bad-utf8.txt")))
        try "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0,, }}}".write(toFile: path("syntax.json"), atomically: true, encoding: .utf8)
        try "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}".write(toFile: path("empty-vocab.json"), atomically: true, encoding: .utf8)
        try "epoch,train_loss\n".write(toFile: path("header-only.csv"), atomically: true, encoding: .utf8)
        // Broken copies of the good runs.
        try copy(path("cnn"), path("cnn-cut"))
        let best = path("cnn-cut/best.safetensors"), bytes = try Data(contentsOf: URL(fileURLWithPath: best))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: best))
        try copy(path("cnn"), path("cnn-resume-cut"))
        let resume = path("cnn-resume-cut/resume.safetensors"), rb = try Data(contentsOf: URL(fileURLWithPath: resume))
        try rb.prefix(rb.count - 100).write(to: URL(fileURLWithPath: resume))
        try copy(path("cls"), path("cls-labels"))
        try "[\"ABBR\", \"DESC\", \"DESC\", \"HUM\", \"LOC\", \"NUM\"]".write(toFile: path("cls-labels/labels.json"), atomically: true, encoding: .utf8)
        try copy(path("cls"), path("cls-config"))
        try "{\"task\": \"classification\", \"model\": ".write(toFile: path("cls-config/config.json"), atomically: true, encoding: .utf8)
        try copy(path("cnn"), path("cnn-empty-metrics"))
        try Data().write(to: URL(fileURLWithPath: path("cnn-empty-metrics/metrics.jsonl")))

        let bin = cifar + "/data_batch_1.bin"
        // (arguments, fragments the error must contain, usage error?, run directory that must stay unchanged)
        let cases: [([String], [String], Bool, String?)] = [
            // train cnn / vit
            (["train", "cnn", "--data", missing, "--out", path("o1")], [missing, "not found"], false, nil),
            (["train", "cnn", "--data", garbage, "--out", path("o1")], [garbage, "not a directory"], false, nil),
            (["train", "cnn", "--data", fifo, "--out", path("o1")], [fifo, "not a directory"], false, nil),
            (["train", "cnn", "--data", dir, "--out", path("o1")], [dir, "data_batch"], false, nil),
            (["train", "cnn", "--data", cifar, "--valid-data", garbage, "--out", path("o1")], [garbage, "record"], false, nil),
            (["train", "cnn", "--data", cifar, "--valid-data", empty, "--out", path("o1")], [empty], false, nil),
            (["train", "cnn", "--epochs", "-1"], ["--epochs must be positive"], true, nil),
            (["train", "cnn", "--batch-size", "0"], ["--batch-size"], true, nil),
            (["train", "cnn", "--lr", "nan"], ["--lr must be positive"], true, nil),
            (["train", "cnn", "--momentum", "1"], ["--momentum"], true, nil),
            (["train", "cnn", "--val-fraction", "1.5"], ["--val-fraction"], true, nil),
            (["train", "cnn", "--arch", "resnet20", "--channels", "4,8"], ["--channels"], true, nil),
            (["train", "cnn", "--out", path("o2"), "--warmup-steps", "999"] + tinyCNN, ["--warmup-steps 999 is not shorter"], false, nil),
            (["train", "cnn", "--out", path("o3"), "--limit", "50", "--val-fraction", "0.001"] + tinyCNN, ["--val-fraction 0.001", "holds out none"], false, nil),
            (["train", "cnn", "--out", path("o4"), "--classes", "bogus"] + tinyCNN, ["'bogus' is not a class"], false, nil),
            (["train", "cnn", "--out", path("o5"), "--init-from", missing] + tinyCNN, [missing], false, nil),
            (["train", "cnn", "--out", path("cnn"), "--resume", "--limit", "50"] + tinyCNN, ["config.json", "--limit"], false, path("cnn")),
            (["train", "cnn", "--out", path("cnn"), "--resume", "--hidden", "16"] + tinyCNN.filter { $0 != "--hidden" && $0 != "8" } + ["--channels", "4,8"], ["config.json", "model"], false, path("cnn")),
            (["train", "cnn", "--out", path("cnn"), "--resume", "--epochs", "1"] + tinyCNN.dropLast(6) + ["--warmup-epochs", "0", "--batch-size", "32"], ["resume.safetensors", "--epochs 1"], false, path("cnn")),
            (["train", "cnn", "--out", path("cnn-resume-cut"), "--resume", "--epochs", "3"] + tinyCNN.dropLast(6) + ["--warmup-epochs", "0", "--batch-size", "32"], ["resume.safetensors"], false, path("cnn-resume-cut")),
            (["train", "cnn", "--out", path("o6"), "--resume"] + tinyCNN, ["config.json"], false, nil),
            (["train", "vit", "--patch-size", "5", "--data", cifar, "--out", path("o7")], ["patch"], true, nil),
            (["train", "vit", "--data", missing, "--out", path("o7")], [missing, "not found"], false, nil),
            // train classifier
            (["train", "classifier", "--data", missing, "--out", path("o8")], [missing, "not found"], false, nil),
            (["train", "classifier", "--data", dir, "--out", path("o8")], [dir, "is a directory"], false, nil),
            (["train", "classifier", "--data", fifo, "--out", path("o8")], [fifo + ":1:", "column"], false, nil),
            (["train", "classifier", "--data", empty, "--out", path("o8")], [empty], false, nil),
            (["train", "classifier", "--format", "trec", "--data", garbage, "--out", path("o8")], [garbage], false, nil),
            (["train", "classifier", "--format", "bogus", "--data", trec], ["--format"], true, nil),
            (["train", "classifier", "--columns", "1,1", "--data", trec], ["--columns"], true, nil),
            (["train", "classifier", "--out", path("cls"), "--resume", "--val-fraction", "0.3"] + tinyText, ["config.json", "--val-fraction"], false, path("cls")),
            (["train", "classifier", "--out", path("cls-config"), "--resume"] + tinyText, ["cls-config/config.json", "not valid JSON"], false, path("cls-config")),
            (["train", "classifier", "--out", path("o9"), "--init-from", path("cnn")] + tinyText, [path("cnn"), "'image-classification' run, not a text classification run"], false, nil),
            // train translation
            (["train", "translation", "--source", missing, "--target", path("train.en"), "--out", path("o10")], [missing, "not found"], false, nil),
            (["train", "translation", "--source", path("train.de"), "--target", path("short.en"), "--out", path("o10")], ["short.en has 30"], false, nil),
            (["train", "translation", "--tsv", garbage, "--out", path("o10")], [garbage], false, nil),
            (["train", "translation", "--source", path("train.de"), "--target", path("train.en"), "--source-tokenizer", path("syntax.json"),
              "--target-tokenizer", path("syntax.json"), "--out", path("o10")], [path("syntax.json"), "byte", "line 1", "not valid JSON"], false, nil),
            (translation + ["--out", path("tr"), "--resume", "--max-tokens", "300"], ["config.json", "--max-tokens"], false, path("tr")),
            // evaluate, translate, classify, predict, attention
            (["evaluate", "--checkpoint", missing], [missing, "not a directory"], false, nil),
            (["evaluate", "--checkpoint", path("cnn-cut"), "--data", bin], ["best.safetensors"], false, nil),
            (["evaluate", "--checkpoint", path("cls"), "--data", missing], [missing, "not found"], false, nil),
            (["evaluate", "--checkpoint", path("cls"), "--data", path("bad-utf8.txt")], ["bad-utf8.txt"], false, nil),
            (["evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference", path("short.en")], ["short.en"], false, nil),
            (["translate", "--checkpoint", path("cnn"), "--text", "Hallo"], [path("cnn")], false, nil),
            (["translate", "--checkpoint", path("tr"), "--text", "Hallo", "--beam", "0"], ["--beam"], true, nil),
            (["classify", "--checkpoint", missing, "--text", "x"], [missing], false, nil),
            (["classify", "--checkpoint", path("cls-labels"), "--text", "x"], ["labels.json", "'DESC' is listed twice"], false, nil),
            (["classify", "--checkpoint", path("cls"), "--text", "x", "--top", "0"], ["--top"], true, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", missing], [missing, "not found"], false, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", garbage], [garbage], false, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", fifo], [fifo, "not a PNG or JPEG"], false, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", bin + ":99999"], ["record 99999 does not exist"], false, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", bin + ":-1"], ["'-1' is not a record index"], false, nil),
            (["predict", "--checkpoint", path("cnn-cut"), "--image", bin + ":0"], ["best.safetensors"], false, nil),
            (["attention", "--checkpoint", path("cnn"), "--image", bin + ":0", "--out", path("o11")], ["no attention layers"], false, nil),
            (["attention", "--checkpoint", path("cls"), "--image", bin + ":0", "--out", path("o11")], ["--text"], true, nil),
            // compare, plot
            (["compare", missing], [missing], false, nil),
            (["compare", path("cnn-empty-metrics")], ["metrics.jsonl"], false, nil),
            (["plot", missing], [missing], true, nil),
            (["plot", fifo], [fifo, "no 'epoch' column"], false, nil),
            (["plot", empty], [empty], false, nil),
            (["plot", path("header-only.csv")], ["header-only.csv", "nothing to plot"], false, nil),
            (["plot", garbage], [garbage], false, nil),
            // tokenizer
            (["tokenizer", "encode", "--tokenizer", missing, "hello"], [missing, "not found"], false, nil),
            (["tokenizer", "encode", "--tokenizer", path("syntax.json"), "hello"], [path("syntax.json"), "byte", "not valid JSON"], false, nil),
            (["tokenizer", "encode", "--tokenizer", path("empty-vocab.json"), "hello"], ["empty-vocab.json", "is empty"], false, nil),
            (["tokenizer", "encode", "--tokenizer", dir, "hello"], [dir, "is a directory"], false, nil),
            (["tokenizer", "train", empty, "--out", path("t1.json")], [empty], false, nil),
            (["tokenizer", "train", dir, "--out", path("t1.json")], [dir, "is a directory"], false, nil),
            (["tokenizer", "train", emptyFifo, "--out", path("t1.json")], [emptyFifo], false, nil),
            (["tokenizer", "train", corpus("multi30k-sample/train.en"), "--vocab-size", "10", "--out", path("t1.json")], ["--vocab-size"], true, nil),
        ]
        var verdicts = (ok: 0, crash: 0, zero: 0, unclear: 0)
        for (args, fragments, usage, keep) in cases {
            let before = try keep.map(snapshot)
            let writers = try feeds.filter { args.contains($0.key) }.map { fifo, script -> Process in
                let w = Process()
                w.executableURL = URL(fileURLWithPath: "/bin/sh")
                w.arguments = ["-c", script, fifo]
                try w.run()
                return w
            }
            let r = try attn(args)
            for w in writers where w.isRunning { w.terminate(); w.waitUntilExit() }   // a case that never opened its FIFO
            let name = args.prefix(3).joined(separator: " ")
            XCTAssertFalse(r.timedOut, "\(name): hung")
            if r.status == 0 { verdicts.zero += 1; XCTFail("\(args): exit 0\n\(r.out)"); continue }
            if r.status > 128 || r.status == 4 || r.status == 5 || r.status == 11 { verdicts.crash += 1; XCTFail("\(args): crashed (\(r.status))\n\(r.err)"); continue }
            // notes (e.g. the TREC file's Latin-1 line) may come first; the error is the last line
            let last = r.err.split(separator: "\n").last(where: { $0.hasPrefix("attn: error: ") }).map(String.init) ?? ""
            let clear = !last.isEmpty && fragments.allSatisfy { r.err.contains($0) }
                && !r.err.contains("NSCocoaErrorDomain") && !r.err.contains("Fatal error")
            if clear { verdicts.ok += 1 } else { verdicts.unclear += 1 }
            XCTAssertTrue(clear, "\(args): the message should name \(fragments):\n\(r.err)")
            XCTAssertEqual(r.status, usage ? 64 : 1, "\(args): exit status\n\(r.err)")
            if let keep, let before { XCTAssertEqual(try snapshot(keep), before, "\(args): the run directory changed") }
        }
        print("bad-input matrix: \(cases.count) cases: \(verdicts.ok) clear errors, \(verdicts.unclear) unclear, \(verdicts.zero) exit 0, \(verdicts.crash) crashes")
    }
}

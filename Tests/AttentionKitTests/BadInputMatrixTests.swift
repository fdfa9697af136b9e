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
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-matrix-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    func corpus(_ n: String) -> String { root.appendingPathComponent("corpora/" + n).path }

    /// Runs attn with a time limit (a read that blocks on a FIFO must not hang the suite).
    func attn(_ args: [String], stdin: String? = nil, limit: TimeInterval = 60) throws -> (
        status: Int32, out: String, err: String, timedOut: Bool
    ) {
        let p = Process()
        p.executableURL = try builtBinary("attn")
        p.arguments = args
        let out = tmp.appendingPathComponent("out.txt"), err = tmp.appendingPathComponent("err.txt")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        if let stdin {
            let input = tmp.appendingPathComponent("stdin.txt")
            try Data(stdin.utf8).write(to: input)
            p.standardInput = try FileHandle(forReadingFrom: input)
        } else {
            p.standardInput = FileHandle.nullDevice
        }
        try p.run()
        let deadline = Date().addingTimeInterval(limit)
        while p.isRunning && Date() < deadline { usleep(5000) }
        let timedOut = p.isRunning
        if timedOut { p.terminate(); p.waitUntilExit() }
        return (
            p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            (try? String(contentsOf: err, encoding: .utf8)) ?? "", timedOut
        )
    }

    func snapshot(_ dir: String) throws -> [String: Data] {
        Dictionary(
            uniqueKeysWithValues: try FileManager.default.contentsOfDirectory(atPath: dir).map {
                ($0, (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0))) ?? Data())
            })
    }

    func copy(_ from: String, _ to: String) throws {
        try FileManager.default.copyItem(atPath: from, toPath: to)
    }

    func testEveryVerbRefusesBadInputClearly() throws {
        // Good runs to break.
        let cifar = corpus("cifar10-sample"), trec = corpus("trec-sample/train.label")
        let tinyCNN = [
            "--data", cifar, "--channels", "4,8", "--hidden", "8", "--epochs", "2", "--warmup-epochs", "0",
            "--batch-size", "32"
        ]
        let tinyText = [
            "--format", "trec", "--data", trec, "--epochs", "1", "--d-model", "8", "--heads", "2", "--layers", "1",
            "--feed-forward", "8"
        ]
        for (args, what) in [
            (["train", "cnn", "--out", path("cnn")] + tinyCNN, "cnn"),
            (["train", "classifier", "--out", path("cls")] + tinyText, "classifier"),
            (
                [
                    "tokenizer", "train", corpus("multi30k-sample/train.en"), "--out", path("tok.json"), "--vocab-size",
                    "300"
                ], "tokenizer"
            )
        ] {
            let r = try attn(args)
            XCTAssertEqual(r.status, 0, "\(what): " + r.err)
        }
        let lines = try String(contentsOfFile: corpus("multi30k-sample/train.de"), encoding: .utf8).split(
            separator: "\n")
        let en = try String(contentsOfFile: corpus("multi30k-sample/train.en"), encoding: .utf8).split(separator: "\n")
        try (lines.prefix(40).joined(separator: "\n") + "\n").write(
            toFile: path("train.de"), atomically: true, encoding: .utf8)
        try (en.prefix(40).joined(separator: "\n") + "\n").write(
            toFile: path("train.en"), atomically: true, encoding: .utf8)
        try (en.prefix(30).joined(separator: "\n") + "\n").write(
            toFile: path("short.en"), atomically: true, encoding: .utf8)
        let translation = [
            "train", "translation", "--source", path("train.de"), "--target", path("train.en"), "--epochs", "1",
            "--d-model", "8",
            "--heads", "2", "--layers", "1", "--feed-forward", "8", "--warmup-steps", "1", "--max-tokens", "400",
            "--min-frequency", "1"
        ]
        XCTAssertEqual(try attn(translation + ["--out", path("tr")]).status, 0)

        // Bad files.
        let missing = path("missing.txt"), dir = path("adir"), fifo = path("fifo"), emptyFifo = path("empty-fifo"),
            empty = path("empty.txt"), garbage = path("garbage.bin")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // FIFOs are read to their end like pipes (`--data <(zcat …)`): a writer feeds each case a line of garbage, or nothing.
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        XCTAssertEqual(mkfifo(emptyFifo, 0o644), 0)
        let feeds = [fifo: "printf 'garbage line\\n' > \"$0\"", emptyFifo: ": > \"$0\""]
        try Data().write(to: URL(fileURLWithPath: empty))
        var g = RandomGenerator(seed: 9)
        try Data((0..<5000).map { _ in UInt8(truncatingIfNeeded: g.next()) }).write(to: URL(fileURLWithPath: garbage))
        try Data([0x48, 0x69, 0xFF, 0xFE, 0x0A, 0x41, 0x0A]).write(to: URL(fileURLWithPath: path("bad-utf8.txt")))
        try "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0,, }}}".write(
            toFile: path("syntax.json"), atomically: true, encoding: .utf8)
        try "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}".write(
            toFile: path("empty-vocab.json"), atomically: true, encoding: .utf8)
        try "epoch,train_loss\n".write(toFile: path("header-only.csv"), atomically: true, encoding: .utf8)
        // Broken copies of the good runs.
        try copy(path("cnn"), path("cnn-cut"))
        let best = path("cnn-cut/best.safetensors"), bytes = try Data(contentsOf: URL(fileURLWithPath: best))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: best))
        try copy(path("cnn"), path("cnn-resume-cut"))
        let resume = path("cnn-resume-cut/resume.safetensors"), rb = try Data(contentsOf: URL(fileURLWithPath: resume))
        try rb.prefix(rb.count - 100).write(to: URL(fileURLWithPath: resume))
        try copy(path("cls"), path("cls-labels"))
        try "[\"ABBR\", \"DESC\", \"DESC\", \"HUM\", \"LOC\", \"NUM\"]".write(
            toFile: path("cls-labels/labels.json"), atomically: true, encoding: .utf8)
        try copy(path("cls"), path("cls-config"))
        try "{\"task\": \"classification\", \"model\": ".write(
            toFile: path("cls-config/config.json"), atomically: true, encoding: .utf8)
        try copy(path("cnn"), path("cnn-empty-metrics"))
        try Data().write(to: URL(fileURLWithPath: path("cnn-empty-metrics/metrics.jsonl")))

        let bin = cifar + "/data_batch_1.bin"
        // (arguments, fragments the error must contain, usage error?, run directory that must stay unchanged)
        var cases: [([String], [String], Bool, String?)] = [
            // train cnn / vit
            (["train", "cnn", "--data", missing, "--out", path("o1")], [missing, "not found"], false, nil),
            (["train", "cnn", "--data", garbage, "--out", path("o1")], [garbage, "not a directory"], false, nil),
            (["train", "cnn", "--data", fifo, "--out", path("o1")], [fifo, "not a directory"], false, nil),
            (["train", "cnn", "--data", dir, "--out", path("o1")], [dir, "data_batch"], false, nil),
            (
                ["train", "cnn", "--data", cifar, "--valid-data", garbage, "--out", path("o1")], [garbage, "record"],
                false, nil
            ),
            (["train", "cnn", "--data", cifar, "--valid-data", empty, "--out", path("o1")], [empty], false, nil),
            (["train", "cnn", "--epochs", "-1"], ["--epochs must be positive"], true, nil),
            (["train", "cnn", "--batch-size", "0"], ["--batch-size"], true, nil),
            (["train", "cnn", "--lr", "nan"], ["--lr must be a positive number", "nan"], true, nil),
            (["train", "cnn", "--momentum", "1"], ["--momentum"], true, nil),
            (["train", "cnn", "--val-fraction", "1.5"], ["--val-fraction"], true, nil),
            (["train", "cnn", "--arch", "resnet20", "--channels", "4,8"], ["--channels"], true, nil),
            (
                ["train", "cnn", "--out", path("o3"), "--limit", "50", "--val-fraction", "0.001"] + tinyCNN,
                ["--val-fraction 0.001", "holds out none"], false, nil
            ),
            (
                ["train", "cnn", "--out", path("o4"), "--classes", "bogus"] + tinyCNN, ["'bogus' is not a class"],
                false, nil
            ),
            (["train", "cnn", "--out", path("o5"), "--init-from", missing] + tinyCNN, [missing], false, nil),
            (
                ["train", "cnn", "--out", path("cnn"), "--resume", "--limit", "50"] + tinyCNN,
                ["config.json", "--limit"], false, path("cnn")
            ),
            (
                ["train", "cnn", "--out", path("cnn"), "--resume", "--hidden", "16"]
                    + tinyCNN.filter { $0 != "--hidden" && $0 != "8" } + ["--channels", "4,8"],
                ["config.json", "model"], false, path("cnn")
            ),
            (
                ["train", "cnn", "--out", path("cnn"), "--resume", "--epochs", "1"] + tinyCNN.dropLast(6) + [
                    "--warmup-epochs", "0", "--batch-size", "32"
                ], ["resume.safetensors", "--epochs 1"], false, path("cnn")
            ),
            (
                ["train", "cnn", "--out", path("cnn-resume-cut"), "--resume", "--epochs", "3"] + tinyCNN.dropLast(6) + [
                    "--warmup-epochs", "0", "--batch-size", "32"
                ], ["resume.safetensors"], false, path("cnn-resume-cut")
            ),
            (["train", "cnn", "--out", path("o6"), "--resume"] + tinyCNN, ["config.json"], false, nil),
            (["train", "vit", "--patch-size", "5", "--data", cifar, "--out", path("o7")], ["patch"], true, nil),
            (["train", "vit", "--data", missing, "--out", path("o7")], [missing, "not found"], false, nil),
            // train classifier
            (["train", "classifier", "--data", missing, "--out", path("o8")], [missing, "not found"], false, nil),
            (["train", "classifier", "--data", dir, "--out", path("o8")], [dir, "is a directory"], false, nil),
            (["train", "classifier", "--data", fifo, "--out", path("o8")], [fifo + ":1:", "column"], false, nil),
            (["train", "classifier", "--data", empty, "--out", path("o8")], [empty], false, nil),
            (
                ["train", "classifier", "--format", "trec", "--data", garbage, "--out", path("o8")], [garbage], false,
                nil
            ),
            (["train", "classifier", "--format", "bogus", "--data", trec], ["--format"], true, nil),
            (["train", "classifier", "--columns", "1,1", "--data", trec], ["--columns"], true, nil),
            (
                ["train", "classifier", "--out", path("cls"), "--resume", "--val-fraction", "0.3"] + tinyText,
                ["config.json", "--val-fraction"], false, path("cls")
            ),
            (
                ["train", "classifier", "--out", path("cls-config"), "--resume"] + tinyText,
                ["cls-config/config.json", "not valid JSON"], false, path("cls-config")
            ),
            (
                ["train", "classifier", "--out", path("o9"), "--init-from", path("cnn")] + tinyText,
                [path("cnn"), "an image-classification run, not a text classification run"], false, nil
            ),
            // train translation
            (
                ["train", "translation", "--source", missing, "--target", path("train.en"), "--out", path("o10")],
                [missing, "not found"], false, nil
            ),
            (
                [
                    "train", "translation", "--source", path("train.de"), "--target", path("short.en"), "--out",
                    path("o10")
                ], ["short.en has 30"], false, nil
            ),
            (["train", "translation", "--tsv", garbage, "--out", path("o10")], [garbage], false, nil),
            (
                [
                    "train", "translation", "--source", path("train.de"), "--target", path("train.en"),
                    "--source-tokenizer", path("syntax.json"),
                    "--target-tokenizer", path("syntax.json"), "--out", path("o10")
                ], [path("syntax.json"), "byte", "line 1", "not valid JSON"], false, nil
            ),
            (
                translation + ["--out", path("tr"), "--resume", "--max-tokens", "300"], ["config.json", "--max-tokens"],
                false, path("tr")
            ),
            // evaluate, translate, classify, predict, attention
            (["evaluate", "--checkpoint", missing], [missing, "not a directory"], false, nil),
            (["evaluate", "--checkpoint", path("cnn-cut"), "--data", bin], ["best.safetensors"], false, nil),
            (["evaluate", "--checkpoint", path("cls"), "--data", missing], [missing, "not found"], false, nil),
            (["evaluate", "--checkpoint", path("cls"), "--data", path("bad-utf8.txt")], ["bad-utf8.txt"], false, nil),
            (
                ["evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference", path("short.en")],
                ["short.en"], false, nil
            ),
            (
                ["translate", "--checkpoint", path("cnn"), "--text", "Hallo"],
                [path("cnn"), "not a translation run", "attn predict"], true, nil
            ),
            (["translate", "--checkpoint", path("tr"), "--text", "Hallo", "--beam", "0"], ["--beam"], true, nil),
            (["classify", "--checkpoint", missing, "--text", "x"], [missing], false, nil),
            (
                ["classify", "--checkpoint", path("cls-labels"), "--text", "x"],
                ["labels.json", "'DESC' is listed twice"], false, nil
            ),
            (["classify", "--checkpoint", path("cls"), "--text", "x", "--top", "0"], ["--top"], true, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", missing], [missing, "not found"], false, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", garbage], [garbage], false, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", fifo], [fifo, "not a PNG or JPEG"], false, nil),
            (
                ["predict", "--checkpoint", path("cnn"), "--image", bin + ":99999"], ["record 99999 does not exist"],
                false, nil
            ),
            (
                ["predict", "--checkpoint", path("cnn"), "--image", bin + ":-1"], ["'-1' is not a record index"], false,
                nil
            ),
            (["predict", "--checkpoint", path("cnn-cut"), "--image", bin + ":0"], ["best.safetensors"], false, nil),
            (
                ["attention", "--checkpoint", path("cnn"), "--image", bin + ":0", "--out", path("o11")],
                ["no attention layers"], false, nil
            ),
            (
                ["attention", "--checkpoint", path("cls"), "--image", bin + ":0", "--out", path("o11")], ["--text"],
                true, nil
            ),
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
            (
                ["tokenizer", "encode", "--tokenizer", path("syntax.json"), "hello"],
                [path("syntax.json"), "byte", "not valid JSON"], false, nil
            ),
            (
                ["tokenizer", "encode", "--tokenizer", path("empty-vocab.json"), "hello"],
                ["empty-vocab.json", "is empty"], false, nil
            ),
            (["tokenizer", "encode", "--tokenizer", dir, "hello"], [dir, "is a directory"], false, nil),
            (["tokenizer", "train", empty, "--out", path("t1.json")], [empty], false, nil),
            (["tokenizer", "train", dir, "--out", path("t1.json")], [dir, "is a directory"], false, nil),
            (["tokenizer", "train", emptyFifo, "--out", path("t1.json")], [emptyFifo], false, nil),
            (
                [
                    "tokenizer", "train", corpus("multi30k-sample/train.en"), "--vocab-size", "10", "--out",
                    path("t1.json")
                ], ["--vocab-size"], true, nil
            )
        ]

        // More runs to break: a ViT, a language model, a second translation run of another width.
        let tinyViT = [
            "--data", cifar, "--limit", "200", "--d-model", "8", "--heads", "2", "--depth", "1", "--patch-size", "8",
            "--epochs", "1", "--warmup-epochs", "0", "--batch-size", "32"
        ]
        XCTAssertEqual(try attn(["train", "vit", "--out", path("vit")] + tinyViT).status, 0)
        let text = try String(contentsOfFile: corpus("shakespeare-sample/input.txt"), encoding: .utf8)
        try String(text.prefix(4000)).write(toFile: path("text.txt"), atomically: true, encoding: .utf8)
        let tinyLM = [
            "--data", path("text.txt"), "--d-model", "8", "--heads", "2", "--layers", "1", "--block-size", "8",
            "--epochs", "1", "--warmup-steps", "1"
        ]
        XCTAssertEqual(try attn(["train", "lm", "--out", path("lm")] + tinyLM).status, 0)
        XCTAssertEqual(try attn(translation.map { $0 == "8" ? "16" : $0 } + ["--out", path("tr16")]).status, 0)
        let userDir = path("mine"), someFile = path("some.txt")
        try FileManager.default.createDirectory(atPath: userDir, withIntermediateDirectories: true)
        try "my notes".write(toFile: userDir + "/notes.txt", atomically: true, encoding: .utf8)
        try "a file".write(toFile: someFile, atomically: true, encoding: .utf8)
        func nonFinite(_ run: String, _ weights: String = "best.safetensors") throws {
            let url = URL(fileURLWithPath: path(run + "/" + weights))
            let (tensors, order, meta) = try Safetensors.read(from: url)
            let first = tensors[order[0]]!.copy()
            first.withUnsafeMutableFloats { $0[0] = .nan }
            try Safetensors.write(order.map { ($0, $0 == order[0] ? first : tensors[$0]!) }, metadata: meta, to: url)
        }
        try copy(path("cls"), path("cls-nan")); try nonFinite("cls-nan")
        try copy(path("tr"), path("tr-nan")); try nonFinite("tr-nan")
        try copy(path("lm"), path("lm-nan")); try nonFinite("lm-nan")
        try copy(path("cnn"), path("cnn-nan")); try nonFinite("cnn-nan")
        try copy(path("cls"), path("cls-order"))
        var order =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("cls/labels.json"))))
            as! [String]
        order.swapAt(0, 1)
        try JSONSerialization.data(withJSONObject: order).write(to: URL(fileURLWithPath: path("cls-order/labels.json")))
        try copy(path("cnn"), path("cnn-nine"))
        try JSONSerialization.data(withJSONObject: Array(CIFAR10.standardClassNames.prefix(9))).write(
            to: URL(fileURLWithPath: path("cnn-nine/labels.json")))
        /// A copy of `run` whose `file` is `other`'s.
        func transplant(_ run: String, _ file: String, from other: String, as name: String) throws {
            try copy(path(run), path(name))
            try FileManager.default.removeItem(atPath: path(name + "/" + file))
            try copy(other, path(name + "/" + file))
        }
        try transplant("vit", "best.safetensors", from: path("cnn/best.safetensors"), as: "vit-cnn")
        try transplant("tr", "best.safetensors", from: path("tr16/best.safetensors"), as: "tr-other")
        XCTAssertEqual(
            try attn([
                "tokenizer", "train", path("train.en"), "--out", path("big-tok.json"), "--vocab-size", "2000",
                "--min-frequency", "1"
            ]).status, 0)
        try transplant("cls", "tokenizer.json", from: path("big-tok.json"), as: "cls-tok")
        try transplant("tr", "target-tokenizer.json", from: path("big-tok.json"), as: "tr-tok")
        try transplant("lm", "tokenizer.json", from: path("big-tok.json"), as: "lm-tok")
        try copy(path("cls"), path("cls-nolabels"));
        try FileManager.default.removeItem(atPath: path("cls-nolabels/labels.json"))
        try copy(path("cls"), path("cls-objlabels"));
        try "{}".write(toFile: path("cls-objlabels/labels.json"), atomically: true, encoding: .utf8)
        try copy(path("vit"), path("vit-typed"))
        let vitConfig = try String(contentsOfFile: path("vit/config.json"), encoding: .utf8)
        try vitConfig.replacingOccurrences(of: "\"d_model\" : 8,", with: "\"d_model\" : \"eight\",").write(
            toFile: path("vit-typed/config.json"), atomically: true, encoding: .utf8)
        try copy(path("vit"), path("vit-noconfig"));
        try FileManager.default.removeItem(atPath: path("vit-noconfig/config.json"))
        try copy(path("cls"), path("cls-resume-cut"))
        let crb = try Data(contentsOf: URL(fileURLWithPath: path("cls-resume-cut/resume.safetensors")))
        try crb.prefix(crb.count / 3).write(to: URL(fileURLWithPath: path("cls-resume-cut/resume.safetensors")))
        let cifarCopy = path("cifar-meta"), cifarDup = path("cifar-dup")
        for (d, meta) in [
            (cifarCopy, "airplane\nautomobile\n"),
            (cifarDup, (["cat"] + CIFAR10.standardClassNames.dropFirst()).joined(separator: "\n"))
        ] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            try copy(bin, d + "/data_batch_1.bin")
            try meta.write(toFile: d + "/batches.meta.txt", atomically: true, encoding: .utf8)
        }
        var oneClass = try String(contentsOfFile: trec, encoding: .isoLatin1).split(separator: "\n").filter {
            $0.hasPrefix("HUM:")
        }
        oneClass = Array(oneClass.prefix(60))
        try (oneClass.joined(separator: "\n") + "\n").write(
            toFile: path("one.label"), atomically: true, encoding: .utf8)
        try Data().write(to: URL(fileURLWithPath: path("empty.txt")))
        let tinyCls = tinyText.dropFirst(4)  // the model flags, without --format/--data

        cases += [
            // 1. Outputs that would destroy what is there: refused, nothing written.
            (
                ["plot", path("cnn"), "--out", path("cnn/metrics.csv")], ["--out names the input", "metrics.csv"],
                false, path("cnn")
            ),
            (["plot", path("cnn"), "--out", ""], ["--out is empty"], true, path("cnn")),
            (["plot", path("cnn"), "--out", path("cnn")], [path("cnn"), "is a directory"], false, path("cnn")),
            (
                ["plot", path("cnn"), "--out", path("nodir/x.png")], [path("nodir"), "does not exist"], false,
                path("cnn")
            ),
            (["plot", path("cnn"), "--out", "/dev/full"], ["/dev/full", "disk full"], false, path("cnn")),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--output", path("tr/config.json")
                ], ["--output names the input", "config.json"], false, path("tr")
            ),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--output", path("train.de")
                ], ["--output names the input", "train.de"], false, path("tr")
            ),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--output", dir
                ], [dir, "is a directory"], false, path("tr")
            ),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--output", "/dev/full"
                ], ["/dev/full", "disk full"], false, path("tr")
            ),
            (
                ["evaluate", "--checkpoint", path("cls"), "--data", trec, "--confusion-png", path("cls/labels.json")],
                ["--confusion-png names the input", "labels.json"], false, path("cls")
            ),
            (
                ["evaluate", "--checkpoint", path("cls"), "--data", trec, "--confusion-png", dir],
                [dir, "is a directory"], false, path("cls")
            ),
            (
                ["attention", "--checkpoint", path("tr"), "--text", "ein Hund", "--out", userDir],
                [userDir, "notes.txt", "not an attention report"], false, userDir
            ),
            (
                ["attention", "--checkpoint", path("tr"), "--text", "ein Hund", "--out", someFile],
                [someFile, "not a directory"], false, nil
            ),
            (
                ["attention", "--checkpoint", path("tr"), "--text", "ein Hund", "--out", ""], ["--out is empty"], true,
                nil
            ),
            (
                ["attention", "--checkpoint", path("tr"), "--text", "ein Hund", "--out", "/proc/ak-attention"],
                ["/proc/ak-attention", "cannot create"], false, nil
            ),
            (["compare", path("cnn"), "--out", userDir], [userDir, "not a comparison"], false, userDir),
            (["compare", path("cnn"), "--out", someFile], [someFile, "not a directory"], false, nil),
            (["compare", path("cnn"), "--out", "/proc/ak-compare"], ["/proc/ak-compare", "cannot create"], false, nil),
            (
                ["tokenizer", "train", path("train.en"), "--out", path("train.en"), "--vocab-size", "400"],
                ["--out names the input", "train.en"], false, nil
            ),
            (
                ["tokenizer", "train", path("train.en"), "--out", dir, "--vocab-size", "400"], [dir, "is a directory"],
                false, nil
            ),
            (
                ["tokenizer", "train", path("train.en"), "--out", "", "--vocab-size", "400"], ["--out is empty"], true,
                nil
            ),
            (
                ["translate", "--checkpoint", path("tr"), "--text", "ein Hund", "--attention-out", userDir],
                [userDir, "not an attention report"], false, userDir
            ),
            (
                ["train", "classifier", "--out", path("tr")] + tinyText,
                [path("tr"), "holds a translation run, not a classification run"], false, path("tr")
            ),
            (
                ["train", "classifier", "--out", path("cls")] + tinyText,
                [path("cls"), "already holds a classification run", "--overwrite"], false, path("cls")
            ),
            (
                ["train", "classifier", "--out", path("cls"), "--resume", "--overwrite"] + tinyText,
                ["--resume", "--overwrite"], true, path("cls")
            ),
            (
                ["train", "translation", "--source", path("train.de"), "--target", path("train.en"), "--out", userDir],
                [userDir, "not an attn run", "notes.txt"], false, userDir
            ),
            (["train", "cnn", "--out", someFile] + tinyCNN, [someFile, "not a directory"], false, nil),
            (
                ["train", "vit", "--out", path("cnn")] + tinyViT,
                [path("cnn"), "already holds an image-classification run"], false, path("cnn")
            ),
            (
                ["train", "lm", "--out", path("cls")] + tinyLM,
                [path("cls"), "holds a classification run, not a language-model run"], false, path("cls")
            ),
            (["train", "lm", "--out", ""] + tinyLM, ["--out is empty"], true, nil),
            (["train", "lm", "--out", "/proc/ak-run"] + tinyLM, ["/proc/ak-run", "cannot create"], false, nil),
            // 2. Resumes that do not fit (undamaged resumes are in ResumeTests).
            (
                ["train", "vit", "--out", path("vit"), "--resume"] + tinyViT.map { $0 == "8" ? "16" : $0 },
                ["config.json", "--"], false, path("vit")
            ),
            (
                ["train", "lm", "--out", path("lm"), "--resume"] + tinyLM.map { $0 == "8" ? "16" : $0 },
                ["config.json", "--block-size"], false, path("lm")
            ),
            (
                ["train", "lm", "--out", path("lm-none"), "--resume"] + tinyLM, [path("lm-none"), "config.json"], false,
                nil
            ),
            (
                [
                    "train", "translation", "--out", path("cls"), "--resume", "--source", path("train.de"), "--target",
                    path("train.en")
                ], ["not a translation run"], false, path("cls")
            ),
            (
                ["train", "classifier", "--out", path("cls-resume-cut"), "--resume"] + tinyText, ["resume.safetensors"],
                false, path("cls-resume-cut")
            ),
            // 3. Run directories whose parts disagree.
            (
                ["classify", "--checkpoint", path("cls-tok"), "--text", "x"],
                ["cls-tok/tokenizer.json", "tokens but the model's embedding has"], false, nil
            ),
            (
                ["evaluate", "--checkpoint", path("cls-tok"), "--data", trec],
                ["cls-tok/tokenizer.json", "belongs to another run"], false, nil
            ),
            (
                ["translate", "--checkpoint", path("tr-tok"), "--text", "ein Hund"],
                ["tr-tok/target-tokenizer.json", "embedding"], false, nil
            ),
            (
                ["attention", "--checkpoint", path("tr-tok"), "--text", "ein Hund", "--out", path("a1")],
                ["tr-tok/target-tokenizer.json", "embedding"], false, nil
            ),
            (
                ["generate", "--checkpoint", path("lm-tok"), "--prompt", "To"], ["lm-tok/tokenizer.json", "embedding"],
                false, nil
            ),
            (
                ["classify", "--checkpoint", path("cls-order"), "--text", "x"],
                ["cls-order/labels.json", "disagree with config.json"], false, nil
            ),
            (
                ["evaluate", "--checkpoint", path("cls-order"), "--data", trec], ["cls-order/labels.json", "disagree"],
                false, nil
            ),
            (["compare", path("cls-order")], ["cls-order/labels.json", "disagree"], false, nil),
            (
                ["predict", "--checkpoint", path("cnn-nine"), "--image", bin + ":0"],
                ["cnn-nine/labels.json", "disagree"], false, nil
            ),
            (
                ["predict", "--checkpoint", path("vit-cnn"), "--image", bin + ":0"],
                ["vit-cnn/best.safetensors", "holds a SmallCNN", "VisionTransformer"], false, nil
            ),
            (["compare", path("vit-cnn")], ["vit-cnn/best.safetensors", "holds a SmallCNN"], false, nil),
            (
                ["attention", "--checkpoint", path("vit-cnn"), "--image", bin + ":0", "--out", path("a2")],
                ["vit-cnn/best.safetensors", "SmallCNN"], false, nil
            ),
            (
                ["evaluate", "--checkpoint", path("vit-cnn"), "--data", bin], ["vit-cnn/best.safetensors", "SmallCNN"],
                false, nil
            ),
            (
                ["translate", "--checkpoint", path("tr-other"), "--text", "ein Hund"],
                ["tr-other/best.safetensors", "differs from config.json's at model."], false, nil
            ),
            (
                ["classify", "--checkpoint", path("cls-nan"), "--text", "x"], ["cls-nan/best.safetensors", "holds nan"],
                false, nil
            ),
            (
                ["evaluate", "--checkpoint", path("cls-nan"), "--data", trec],
                ["cls-nan/best.safetensors", "holds nan"], false, nil
            ),
            (
                ["translate", "--checkpoint", path("tr-nan"), "--text", "ein Hund"],
                ["tr-nan/best.safetensors", "holds nan"], false, nil
            ),
            (
                ["generate", "--checkpoint", path("lm-nan"), "--prompt", "To"],
                ["lm-nan/best.safetensors", "holds nan"], false, nil
            ),
            (
                ["predict", "--checkpoint", path("cnn-nan"), "--image", bin + ":0"],
                ["cnn-nan/best.safetensors", "holds nan"], false, nil
            ),
            (["compare", path("cnn-nan")], ["cnn-nan/best.safetensors", "holds nan"], false, nil),
            (
                ["classify", "--checkpoint", path("cls-nolabels"), "--text", "x"], ["cls-nolabels", "labels.json"],
                false, nil
            ),
            (
                ["classify", "--checkpoint", path("cls-objlabels"), "--text", "x"],
                ["cls-objlabels/labels.json", "list of label names"], false, nil
            ),
            (
                ["predict", "--checkpoint", path("vit-typed"), "--image", bin + ":0"],
                ["vit-typed", "config.json", "d_model", "eight"], false, nil
            ),
            (
                ["predict", "--checkpoint", path("vit-noconfig"), "--image", bin + ":0"],
                ["vit-noconfig", "config.json"], false, nil
            ),
            (
                ["predict", "--checkpoint", path("cls"), "--image", bin + ":0"],
                ["is a text classification run, not an image classification run", "attn classify"], true, nil
            ),
            (
                ["classify", "--checkpoint", path("tr"), "--text", "x"], ["is a translation run", "attn translate"],
                true, nil
            ),
            (
                ["translate", "--checkpoint", path("lm"), "--text", "x"], ["is a language model run", "attn generate"],
                true, nil
            ),
            (
                ["generate", "--checkpoint", path("cnn"), "--prompt", "x"],
                ["is an image classification run", "attn predict"], true, nil
            ),
            (["evaluate", "--checkpoint", path("lm")], ["language-model run needs --data"], true, nil),
            (["compare", path("lm")], [path("lm"), "language-model", "cannot be compared"], false, nil),
            (
                ["attention", "--checkpoint", path("lm"), "--image", bin + ":0", "--out", path("a3")], ["--text"], true,
                nil
            ),
            // 4. Flags without bounds.
            (
                ["train", "classifier", "--out", path("f1")] + tinyText + ["--feed-forward", "1099511627776"],
                ["--feed-forward", "1099511627776"], true, nil
            ),
            (
                ["train", "classifier", "--out", path("f2"), "--max-length", "9223372036854775807"] + tinyText,
                ["--max-length", "9223372036854775807"], true, nil
            ),
            (
                [
                    "train", "classifier", "--out", path("f3"), "--format", "trec", "--data", trec, "--d-model",
                    "65536", "--heads", "2"
                ], ["parameters"], true, nil
            ),
            (
                ["train", "cnn", "--out", path("f4"), "--data", cifar, "--channels", "1000000000,8", "--epochs", "1"],
                ["--channels", "1000000000"], true, nil
            ),
            (
                ["train", "vit", "--out", path("f5"), "--data", cifar, "--mlp-ratio", "0.0001", "--epochs", "1"],
                ["--mlp-ratio", "0.0001"], true, nil
            ),
            (
                [
                    "train", "vit", "--out", path("f6"), "--data", cifar, "--d-model", "4096", "--depth", "1000",
                    "--epochs", "1"
                ], ["parameters"], true, nil
            ),
            (
                [
                    "train", "translation", "--out", path("f7"), "--source", path("train.de"), "--target",
                    path("train.en"), "--feed-forward", "99999999999"
                ], ["--feed-forward"], true, nil
            ),
            (
                [
                    "train", "lm", "--out", path("f8"), "--data", path("text.txt"), "--d-model", "8192", "--layers",
                    "64", "--heads", "8"
                ], ["parameters"], true, nil
            ),
            (
                [
                    "train", "lm", "--out", path("f11"), "--data", path("text.txt"), "--batch-size", "4096",
                    "--block-size", "8192", "--d-model", "512", "--heads", "8"
                ],
                ["activations", "GiB", "--batch-size or --block-size"], true, nil
            ),
            (
                [
                    "train", "vit", "--out", path("f12"), "--data", cifar, "--patch-size", "1", "--d-model", "512",
                    "--depth", "12", "--batch-size", "5000"
                ],
                ["activations", "GiB", "--patch-size"], true, nil
            ),
            (["train", "cnn", "--lr", "inf"], ["--lr", "inf"], true, nil),
            (["train", "vit", "--lr", "1e30"], ["--lr", "1e+30"], true, nil),
            (["train", "cnn", "--weight-decay", "nan"], ["--weight-decay", "nan"], true, nil),
            (["train", "classifier", "--data", trec, "--clip-norm", "inf"], ["--clip-norm", "inf"], true, nil),
            (["train", "lm", "--data", path("text.txt"), "--min-lr-factor", "nan"], ["--min-lr-factor"], true, nil),
            (
                ["train", "classifier", "--data", trec, "--epochs", "100000000000"], ["--epochs", "100000000000"], true,
                nil
            ),
            (["train", "cnn", "--warmup-steps", "-5"], ["--warmup-steps"], true, nil),
            (["train", "cnn", "--accumulate", "0"], ["--accumulate"], true, nil),
            (
                ["train", "classifier", "--data", trec, "--batch-size", "0"], ["--batch-size must be positive"], true,
                nil
            ),
            (["train", "vit", "--batch-size", "0"], ["--batch-size must be positive"], true, nil),
            (
                ["train", "classifier", "--data", trec, "--d-model", "10", "--heads", "3"],
                ["--d-model 10 must be a multiple of --heads 3"], true, nil
            ),
            (
                ["train", "vit", "--d-model", "10", "--heads", "3"], ["--d-model 10 must be a multiple of --heads 3"],
                true, nil
            ),
            (
                ["train", "vit", "--epochs", "1"],
                ["give --data DIR", "corpora/cifar10-sample", "cifar-10-binary.tar.gz"], true, nil
            ),
            (["train", "cnn", "--epochs", "1"], ["give --data DIR"], true, nil),
            (
                ["train", "classifier", "--out", path("f9"), "--format", "trec", "--data", path("one.label")] + tinyCls,
                ["one.label", "at least two labels"], false, nil
            ),
            (
                ["train", "cnn", "--out", path("f10"), "--classes", "cat"] + tinyCNN, ["all of one class", "cat"],
                false, nil
            ),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--length-penalty", "nan"
                ], ["--length-penalty", "finite"], true, nil
            ),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--length-penalty", "-inf"
                ], ["--length-penalty", "finite"], true, nil
            ),
            (
                ["translate", "--checkpoint", path("tr"), "--text", "x", "--beam", "1000"], ["--beam must be in 1…256"],
                true, nil
            ),
            (
                ["translate", "--checkpoint", path("tr"), "--text", "x", "--beam", "9223372036854775807"],
                ["--beam must be in 1…256"], true, nil
            ),
            (
                ["attention", "--checkpoint", path("tr"), "--text", "x", "--beam", "0", "--out", path("a4")],
                ["--beam must be in 1…256"], true, nil
            ),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--beam", "300"
                ], ["--beam must be in 1…256"], true, nil
            ),
            (
                ["generate", "--checkpoint", path("lm"), "--prompt", "x", "--temperature", "nan"], ["--temperature"],
                true, nil
            ),
            (["generate", "--checkpoint", path("lm"), "--prompt", "x", "--top-p", "inf"], ["--top-p"], true, nil),
            (
                ["generate", "--checkpoint", path("lm"), "--prompt", "x", "--max-new-tokens", "99999999999"],
                ["--max-new-tokens"], true, nil
            ),
            (["classify", "--checkpoint", path("cls"), "--text", ""], ["--text is empty"], true, nil),
            (["translate", "--checkpoint", path("tr"), "--text", "x", "--n-best", "0"], ["--n-best"], true, nil),
            (
                ["tokenizer", "train", path("train.en"), "--out", path("t2.json"), "--vocab-size", "99999999999"],
                ["--vocab-size"], true, nil
            ),
            (["predict", "--checkpoint", "", "--image", bin + ":0"], ["--checkpoint is empty"], true, nil),
            (["evaluate", "--checkpoint", path("cls"), "--data", ""], ["--data is empty"], true, nil),
            // 5. Input edge cases.
            (
                ["train", "classifier", "--out", path("e1"), "--format", "trec", "--data", "/dev/zero"] + tinyCls,
                ["/dev/zero", "limit"], false, nil
            ),
            (["tokenizer", "train", "/dev/zero", "--out", path("e2.json")], ["/dev/zero", "limit"], false, nil),
            (["predict", "--checkpoint", path("cnn"), "--image", "/dev/zero"], ["/dev/zero"], false, nil),
            (
                ["train", "cnn", "--out", path("e3"), "--data", cifarCopy, "--epochs", "1"],
                ["batches.meta.txt", "lists 2 class names"], false, nil
            ),
            (
                ["train", "cnn", "--out", path("e4"), "--data", cifarDup, "--epochs", "1"],
                ["batches.meta.txt", "'cat' twice"], false, nil
            ),
            (
                ["evaluate", "--checkpoint", path("cnn"), "--data", cifarCopy], ["batches.meta.txt", "class names"],
                false, nil
            ),
            (["train", "lm", "--out", path("e5"), "--data", path("empty.txt")], [path("empty.txt")], false, nil),
            (
                ["train", "lm", "--out", path("e6"), "--data", path("bad-utf8.txt")], ["bad-utf8.txt", "byte"], false,
                nil
            ),
            (["train", "lm", "--out", path("e7"), "--data", dir], [dir, "is a directory"], false, nil),
            (
                ["generate", "--checkpoint", path("lm"), "--prompt", "x", "--max-new-tokens", "0"],
                ["--max-new-tokens"], true, nil
            ),
            (["evaluate", "--checkpoint", path("lm"), "--data", path("bad-utf8.txt")], ["bad-utf8.txt"], false, nil),
            (["evaluate", "--checkpoint", path("lm"), "--data", garbage], [garbage], false, nil),
            (
                ["translate", "--checkpoint", path("tr"), "--text", "x", "--attention-out", someFile],
                [someFile, "not a directory"], false, nil
            )
        ]
        // 6. Messages: every case above is also checked for Foundation and Swift type dumps (below).
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
            // a case that never opened its FIFO
            for w in writers where w.isRunning { w.terminate(); w.waitUntilExit() }
            let name = args.prefix(3).joined(separator: " ")
            XCTAssertFalse(r.timedOut, "\(name): hung")
            if r.status == 0 { verdicts.zero += 1; XCTFail("\(args): exit 0\n\(r.out)"); continue }
            if r.status > 128 || r.status == 4 || r.status == 5 || r.status == 11 {
                verdicts.crash += 1; XCTFail("\(args): crashed (\(r.status))\n\(r.err)"); continue
            }
            // notes (e.g. the TREC file's Latin-1 line) may come first; the error is the last line
            let last =
                r.err.split(separator: "\n").last(where: { $0.hasPrefix("attn: error: ") }).map(String.init) ?? ""
            let clear =
                !last.isEmpty && fragments.allSatisfy { r.err.contains($0) }
                && !r.err.contains("NSCocoaErrorDomain") && !r.err.contains("Fatal error")
                && !ErrorText.looksLikeADump(r.err)
            if clear { verdicts.ok += 1 } else { verdicts.unclear += 1 }
            if ProcessInfo.processInfo.environment["ATTENTIONKIT_MATRIX_VERBOSE"] != nil {
                print("matrix \(r.status) \(args.prefix(2).joined(separator: " ")): \(last)")
            }
            XCTAssertTrue(clear, "\(args): the message should name \(fragments):\n\(r.err)")
            XCTAssertEqual(r.status, usage ? 64 : 1, "\(args): exit status\n\(r.err)")
            if let keep, let before { XCTAssertEqual(try snapshot(keep), before, "\(args): the run directory changed") }
        }
        // Inputs that look hostile but are fine: special files as outputs are written into, never replaced; links
        // are followed; Windows line endings and blank lines on stdin keep one output line per input line.
        XCTAssertEqual(mkfifo(path("out-fifo"), 0o644), 0)
        try FileManager.default.createSymbolicLink(atPath: path("link.json"), withDestinationPath: path("big-tok.json"))
        let fine: [(args: [String], stdin: String?, check: (String) -> Bool, what: String)] = [
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--output", "/dev/null"
                ], nil, { _ in true }, "/dev/null output"
            ),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--output", path("tr/validation.translation")
                ], nil, { _ in true }, "an --output inside the run"
            ),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--output", path("tr/validation.translation")
                ], nil, { _ in true }, "the same --output again"
            ),
            (["plot", path("cnn"), "--out", "/dev/null"], nil, { _ in true }, "/dev/null plot"),
            (["plot", path("cnn"), "--out", "/dev/stdout"], nil, { _ in true }, "PNG to stdout"),
            (
                [
                    "evaluate", "--checkpoint", path("tr"), "--source", path("train.de"), "--reference",
                    path("train.en"), "--output", path("out-fifo")
                ], nil, { _ in true }, "FIFO output"
            ),
            (
                ["tokenizer", "train", path("train.de"), "--out", path("link.json"), "--vocab-size", "300"], nil,
                { _ in true }, "output through a link"
            ),
            (
                ["classify", "--checkpoint", path("cls")], "What is it ?\r\n\r\nWho is he ?\r\n",
                {
                    $0.split(separator: "\n", omittingEmptySubsequences: false).count == 4
                        && $0.split(separator: "\n", omittingEmptySubsequences: false)[1].isEmpty
                }, "CRLF and a blank line on stdin"
            ),
            (
                ["translate", "--checkpoint", path("tr")], "ein Hund\r\nzwei Katzen\r\n",
                { $0.split(separator: "\n", omittingEmptySubsequences: false).count == 3 }, "CRLF on stdin"
            ),
            (["classify", "--checkpoint", path("cls")], "", { $0.isEmpty }, "empty stdin"),
            (
                ["tokenizer", "encode", "--tokenizer", path("big-tok.json"), "--json"], "a dog\r\ntwo dogs\n",
                { out in
                    let rows = out.split(separator: "\n").compactMap {
                        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                    }
                    return rows.count == 2 && rows[1]["text"] as? String == "two dogs"
                        && (rows[0]["ids"] as? [Int])?.isEmpty == false
                }, "tokenizer encode: stdin lines as JSON"
            ),
            (
                ["translate", "--checkpoint", path("tr"), "--text", "ein Hund", "--beam", "256"], nil,
                { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty },
                "a beam wider than the vocabulary gives a translation"
            )
        ]
        for (args, stdin, check, what) in fine {
            let reader =
                args.contains(path("out-fifo"))
                ? try { () throws -> Process in
                    let w = Process(); w.executableURL = URL(fileURLWithPath: "/bin/sh");
                    w.arguments = ["-c", "cat \"$0\" > /dev/null", path("out-fifo")]; try w.run(); return w
                }() : nil
            let r = try attn(args, stdin: stdin)
            reader?.waitUntilExit()
            if r.status == 0 && check(r.out) { verdicts.ok += 1 } else { verdicts.unclear += 1 }
            XCTAssertEqual(r.status, 0, "\(what): \(r.err)")
            XCTAssertTrue(check(r.out), "\(what): \(r.out.prefix(300))")
        }
        var st = stat()
        XCTAssertEqual(stat("/dev/null", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR, "/dev/null is still a device")
        XCTAssertEqual(lstat(path("out-fifo"), &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO")
        XCTAssertEqual(lstat(path("link.json"), &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFLNK, "the link is still a link")
        XCTAssertNoThrow(
            try Tokenizer.load(from: URL(fileURLWithPath: path("big-tok.json"))), "the link's target was written")
        let total = cases.count + fine.count
        XCTAssertGreaterThanOrEqual(total, 150)
        print(
            "bad-input matrix: \(total) cases (\(cases.count) refusals, \(fine.count) accepted): \(verdicts.ok) right, \(verdicts.unclear) unclear or wrong, \(verdicts.zero) exit 0, \(verdicts.crash) crashes"
        )
    }
}

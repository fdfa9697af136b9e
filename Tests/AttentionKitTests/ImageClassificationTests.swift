import AttentionKit
import Foundation
import XCTest

/// Image decoding (libpng, libjpeg-turbo) against Pillow's fixtures, Mixup/CutMix, transfer learning, and the image
/// verbs end to end: train vit|cnn → evaluate → predict, `--val-fraction 0`, `--valid-data`, `--init-from`/`--freeze`.
final class ImageClassificationTests: XCTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var images: URL { fixturesDirectory.appendingPathComponent("images") }
    var cifar: String { root.appendingPathComponent("corpora/cifar10-sample").path }
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-img-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }

    func expected() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: images.appendingPathComponent("expected.json")))
            as! [String: Any]
    }

    func testDecodingMatchesPillow() throws {
        let e = try expected()
        let png = try ImageDecoding.read(contentsOf: images.appendingPathComponent("record0.png"))
        XCTAssertEqual([png.width, png.height], [96, 80])
        XCTAssertEqual(png.pixels.prefix(12).map(Int.init), e["record0_png_first_pixels"] as! [Int])
        // The PNG is the CIFAR record upscaled ×3 by nearest neighbour: every 3rd pixel is the record's.
        var pixels: [UInt8] = [], labels: [Int] = []
        try CIFAR10.appendRecords(
            from: URL(fileURLWithPath: cifar + "/data_batch_1.bin"), pixels: &pixels, labels: &labels)
        let record = RGBImage(planar: Array(pixels[0..<3072]), width: 32, height: 32)
        XCTAssertEqual(labels[0], e["label"] as! Int)
        XCTAssertEqual(Array(record.pixels[0..<3]), Array(png.pixels[0..<3]))
        XCTAssertEqual(record.planar, Array(pixels[0..<3072]))

        let jpg = try ImageDecoding.read(contentsOf: images.appendingPathComponent("record0.jpg"))
        XCTAssertEqual([jpg.width, jpg.height], [96, 80])
        XCTAssertEqual(jpg.pixels.prefix(12).map(Int.init), e["record0_jpg_first_pixels"] as! [Int])
        XCTAssertEqual(jpg.pixels.map(Int.init).reduce(0, +), e["record0_jpg_sum"] as! Int)

        let la = try ImageDecoding.read(contentsOf: images.appendingPathComponent("gray_alpha.png"))
        XCTAssertEqual([la.width, la.height], [12, 10])
        XCTAssertEqual(Array(la.pixels[0..<3]), [100, 100, 100], "opaque gray stays gray")
        XCTAssertEqual(
            Array(la.pixels[(11 * 3)..<(12 * 3)]), [255, 255, 255], "transparent pixels are composited onto white")
    }

    func testResizeIsWithinOneLevelOfPillowBilinear() throws {
        let want = try expected()["record0_png_resized_32"] as! [Int]
        let got = try ImageDecoding.read(contentsOf: images.appendingPathComponent("record0.png")).resized(
            width: 32, height: 32)
        XCTAssertEqual(got.pixels.count, want.count)
        let worst = zip(got.pixels, want).map { abs(Int($0) - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, 1, "largest difference to PIL.Image.resize(BILINEAR)")
    }

    func testDecodingErrorsNameTheFileAndReason() throws {
        let text = tmp.appendingPathComponent("notes.png")
        try Data("hello".utf8).write(to: text)
        XCTAssertThrowsError(try ImageDecoding.read(contentsOf: text)) { e in
            XCTAssertTrue("\(e)".contains(text.path) && "\(e)".contains("not a PNG or JPEG"), "\(e)")
        }
        let png = try Data(contentsOf: images.appendingPathComponent("record0.png"))
        let cut = tmp.appendingPathComponent("cut.png")
        try png.prefix(200).write(to: cut)
        XCTAssertThrowsError(try ImageDecoding.read(contentsOf: cut)) { e in
            XCTAssertTrue("\(e)".contains("invalid PNG"), "\(e)")
        }
        let jpg = try Data(contentsOf: images.appendingPathComponent("record0.jpg"))
        let cutJ = tmp.appendingPathComponent("cut.jpg")
        try jpg.prefix(40).write(to: cutJ)
        XCTAssertThrowsError(try ImageDecoding.read(contentsOf: cutJ)) { e in
            XCTAssertTrue("\(e)".contains("invalid JPEG"), "\(e)")
        }
        XCTAssertThrowsError(try ImageDecoding.read(contentsOf: tmp.appendingPathComponent("absent.jpg"))) { e in
            XCTAssertTrue("\(e)".contains("absent.jpg: not found"), "\(e)")
        }
    }

    func testMixupAndCutMixMixWithTheReversedBatch() {
        let b = 4, per = 3 * 4 * 4
        let x = Tensor((0..<(b * per)).map { Float($0 / per) }, shape: [b, 3, 4, 4])  // image i is all i
        var g = RandomGenerator(seed: 3)
        let (m, lambda) = ImageMixing(mixupAlpha: 0.8).apply(to: x, using: &g)
        XCTAssertTrue(lambda > 0 && lambda < 1)
        for i in 0..<b {
            XCTAssertEqual(m.scalars[i * per], lambda * Float(i) + (1 - lambda) * Float(b - 1 - i), accuracy: 1e-5)
        }
        for _ in 0..<20 {
            let (c, l) = ImageMixing(cutmixAlpha: 1).apply(to: x, using: &g)
            // Image 0 (zeros) receives a box of image 3 (threes): the share of pasted pixels is 1 − λ.
            let pasted = c.scalars[0..<per].filter { $0 == 3 }.count
            XCTAssertEqual(Float(pasted) / Float(per), 1 - l, accuracy: 1e-6)
        }
        // Beta(1, 1) is uniform: mean ½, variance 1/12.
        let draws = (0..<4000).map { _ in ImageMixing(mixupAlpha: 1).apply(to: x, using: &g).1 }
        let mean = draws.reduce(0, +) / Float(draws.count)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(draws.count)
        XCTAssertEqual(mean, 0.5, accuracy: 0.02)
        XCTAssertEqual(variance, 1 / 12, accuracy: 0.01)
        XCTAssertEqual(
            ImageMixing(mixupAlpha: 1, probability: 0).apply(to: x, using: &g).1, 1, "probability 0 never mixes")
    }

    func testInitializeLoadsMatchingTensorsAndKeepsADifferentHead() throws {
        var g = RandomGenerator(seed: 1)
        var c = ViTConfig()
        c.dModel = 16; c.heads = 2; c.depth = 1; c.patchSize = 8; c.mlpRatio = 2
        let source = VisionTransformer(config: c, using: &g)
        c.classes = 5
        let target = VisionTransformer(config: c, using: &g)
        let headBefore = target.head.weight.scalars
        let report = target.initialize(
            from: Dictionary(uniqueKeysWithValues: source.stateDict().map { ($0.name, $0.tensor) }))
        XCTAssertEqual(report.reinitialised.map(\.name).sorted(), ["head.bias", "head.weight"])
        XCTAssertEqual(report.loaded.count, source.stateDict().count - 2)
        XCTAssertEqual(target.head.weight.scalars, headBefore)
        XCTAssertEqual(
            target.patchEmbedding!.projection.weight.scalars, source.patchEmbedding!.projection.weight.scalars)
        let frozen = try target.freeze(prefixes: ["patchEmbedding", "encoder.layers"])
        XCTAssertTrue(frozen.contains("patchEmbedding.projection.weight"))
        XCTAssertTrue(target.head.weight.requiresGrad, "the head stays trainable")
        XCTAssertThrowsError(try target.freeze(prefixes: ["blocks"])) { e in
            XCTAssertTrue("\(e)".contains("matches no parameter"), "\(e)")
        }
    }

    func testTrainEvaluatePredictEndToEnd() throws {
        let tiny = [
            "--epochs", "2", "--batch-size", "16", "--d-model", "16", "--heads", "2", "--depth", "1", "--patch-size",
            "8",
            "--warmup-epochs", "1", "--seed", "2"
        ]
        let r = try runAttn(
            ["train", "vit", "--data", cifar, "--out", path("vit"), "--mixup", "0.8", "--cutmix", "1"] + tiny)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("best validation accuracy"), r.out)
        let labels =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("vit/labels.json"))))
            as! [String]
        XCTAssertEqual(labels.count, 10)

        let ev = try runAttn(["evaluate", "--checkpoint", path("vit"), "--data", cifar + "/data_batch_1.bin", "--json"])
        XCTAssertEqual(ev.status, 0, ev.err)
        let json = try JSONSerialization.jsonObject(with: Data(ev.out.utf8)) as! [String: Any]
        XCTAssertEqual(json["task"] as? String, "classification")
        XCTAssertEqual(json["n"] as? Int, 100)
        XCTAssertEqual((json["per_class"] as! [String: Any]).count, 10)
        let fromDir = try runAttn(["evaluate", "--checkpoint", path("vit"), "--data", cifar, "--json"])
        XCTAssertEqual(
            fromDir.out.split(separator: "\n").last, ev.out.split(separator: "\n").last,
            "a directory without test_batch.bin reads its data batches")
        XCTAssertTrue(fromDir.err.contains("no test_batch.bin"), fromDir.err)

        let p = try runAttn([
            "predict", "--checkpoint", path("vit"), "--image", images.appendingPathComponent("record0.png").path,
            "--image", images.appendingPathComponent("record0.jpg").path, "--image", cifar + "/data_batch_1.bin:0",
            "--top", "3"
        ])
        XCTAssertEqual(p.status, 0, p.err)
        XCTAssertEqual(p.out.split(separator: "\n").count, 3, "one readable line per image, no JSON: \(p.out)")
        XCTAssertFalse(p.out.contains("{"), p.out)
        let pj = try runAttn([
            "predict", "--checkpoint", path("vit"), "--image", images.appendingPathComponent("record0.png").path,
            "--image", images.appendingPathComponent("record0.jpg").path, "--image", cifar + "/data_batch_1.bin:0",
            "--top", "3", "--json"
        ])
        XCTAssertEqual(pj.status, 0, pj.err)
        let results = try pj.out.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(results.count, 3)
        XCTAssertTrue(pj.out.hasPrefix("{\"image\": "), pj.out)
        for res in results {
            let top = res["top"] as! [[String: Any]]
            XCTAssertEqual(top.count, 3)
            XCTAssertTrue(labels.contains(top[0]["label"] as! String))
            let probs = top.map { $0["probability"] as! Double }
            XCTAssertEqual(probs, probs.sorted(by: >))
        }

        // Bad inputs: an image that is not one, a record past the end, a truncated .bin at evaluation.
        let notImage = try runAttn([
            "predict", "--checkpoint", path("vit"), "--image", root.appendingPathComponent("Package.swift").path
        ])
        XCTAssertNotEqual(notImage.status, 0)
        XCTAssertTrue(
            notImage.err.contains("Package.swift") && notImage.err.contains("not a PNG or JPEG"), notImage.err)
        let past = try runAttn(["predict", "--checkpoint", path("vit"), "--image", cifar + "/data_batch_1.bin:100"])
        XCTAssertNotEqual(past.status, 0)
        XCTAssertTrue(past.err.contains("record 100 does not exist"), past.err)
        let bin = try Data(contentsOf: URL(fileURLWithPath: cifar + "/data_batch_1.bin"))
        try bin.prefix(3073 * 3 + 100).write(to: tmp.appendingPathComponent("cut.bin"))
        let cut = try runAttn(["evaluate", "--checkpoint", path("vit"), "--data", path("cut.bin")])
        XCTAssertNotEqual(cut.status, 0)
        XCTAssertTrue(
            cut.err.contains("cut.bin") && cut.err.contains("record 3") && cut.err.contains("truncated"), cut.err)
        XCTAssertTrue(try runAttn(["predict", "--help"]).out.contains("FILE.bin:INDEX"))
        let att = try runAttn([
            "attention", "--checkpoint", path("vit"), "--image", images.appendingPathComponent("record0.jpg").path,
            "--out", path("att")
        ])
        XCTAssertEqual(att.status, 0, att.err)
        for f in ["maps.json", "input.png", "attention-overlay.png", "index.html", "encoder.layers.0.selfAttention.png"]
        {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("att/" + f)), f)
        }
    }

    /// Flags that used to trap: plain SGD (--momentum 0) trains; a resume asked to stop before where the run already
    /// is fails with the file and the fix, and leaves the run directory's files as they were.
    func testMomentumZeroAndAResumeBelowTheSavedEpoch() throws {
        let tiny = ["--batch-size", "32", "--channels", "4,8", "--hidden", "8", "--warmup-epochs", "0"]
        let plain = try runAttn(
            ["train", "cnn", "--data", cifar, "--out", path("m0"), "--momentum", "0", "--epochs", "2"] + tiny)
        XCTAssertEqual(plain.status, 0, plain.err)
        let before = try FileManager.default.contentsOfDirectory(atPath: path("m0")).sorted()
        let metrics = try Data(contentsOf: URL(fileURLWithPath: path("m0/metrics.jsonl")))
        let resume = try Data(contentsOf: URL(fileURLWithPath: path("m0/resume.safetensors")))
        let back = try runAttn(
            ["train", "cnn", "--data", cifar, "--out", path("m0"), "--momentum", "0", "--epochs", "1", "--resume"]
                + tiny)
        XCTAssertEqual(back.status, 1, back.err)
        XCTAssertTrue(back.err.hasPrefix("attn: error: "), back.err)
        XCTAssertTrue(
            back.err.contains("resume.safetensors: the run has finished 2 epochs, more than --epochs 1"), back.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("m0")).sorted(), before)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("m0/metrics.jsonl"))), metrics)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("m0/resume.safetensors"))), resume)
        let negative = try runAttn(["train", "cnn", "--data", cifar, "--momentum", "1.5"])
        XCTAssertEqual(negative.status, 64, negative.err)
        XCTAssertTrue(negative.err.contains("--momentum must be in [0, 1)"), negative.err)
    }

    /// `--resume` with flags that select other data (or another model) fails naming the flag before any file of the run
    /// changes; a run killed between logging an epoch and writing its checkpoint resumes with that epoch logged once,
    /// and temporary files of interrupted writes are removed.
    func testResumeChecksTheFlagsAndRepairsTheRunDirectory() throws {
        let tiny = ["--batch-size", "32", "--channels", "4,8", "--hidden", "8", "--warmup-epochs", "0"]
        let args = ["train", "cnn", "--data", cifar, "--out", path("r")] + tiny
        XCTAssertEqual(try runAttn(args + ["--epochs", "2"]).status, 0)
        func snapshot() throws -> [String: Data] {
            Dictionary(
                uniqueKeysWithValues: try FileManager.default.contentsOfDirectory(atPath: path("r")).map {
                    ($0, try Data(contentsOf: URL(fileURLWithPath: path("r/" + $0))))
                })
        }
        let before = try snapshot()
        for (flags, named) in [
            (["--limit", "50"], "--limit"), (["--val-fraction", "0.2"], "--val-fraction"),
            (["--split-seed", "9"], "split.json"), (["--batch-size", "16"], "--batch-size"),
            (["--hidden", "16"], "the model's flags")
        ] {
            var a = args + ["--epochs", "3", "--resume"]
            if let i = a.firstIndex(of: flags[0]) { a[i + 1] = flags[1] } else { a += flags }
            let r = try runAttn(a)
            XCTAssertEqual(r.status, 1, "\(flags): " + r.err)
            XCTAssertTrue(
                r.err.contains(named) && (r.err.contains("config.json") || r.err.contains("split.json")),
                "\(flags): " + r.err)
            XCTAssertEqual(try snapshot(), before, "\(flags): the run directory is as it was")
        }
        // As if killed after logging epoch 3 (and in the middle of a line) but before its checkpoint was written.
        let jsonl = URL(fileURLWithPath: path("r/metrics.jsonl")), csv = URL(fileURLWithPath: path("r/metrics.csv"))
        let lines = try String(contentsOf: jsonl, encoding: .utf8).split(separator: "\n")
        try
            (lines.joined(separator: "\n") + "\n"
            + lines[1].replacingOccurrences(of: "\"epoch\": 2", with: "\"epoch\": 3") + "\n{\"epoch\": 4, \"st")
            .write(to: jsonl, atomically: true, encoding: .utf8)
        let csvText = try String(contentsOf: csv, encoding: .utf8)
        try (csvText + "3" + csvText.split(separator: "\n")[2].dropFirst() + "\n").write(
            to: csv, atomically: true, encoding: .utf8)
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run(); gone.waitUntilExit()
        let stale = path("r/.last.safetensors.tmp-\(gone.processIdentifier)-7")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: stale))
        let resumed = try runAttn(args + ["--epochs", "3", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.out.contains("metrics: 2 row(s) logged after the checkpoint"), resumed.out)
        let epochs = try String(contentsOf: jsonl, encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["epoch"] as! Int
        }
        XCTAssertEqual(epochs, [1, 2, 3], "each epoch once")
        XCTAssertEqual(
            try String(contentsOf: csv, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",")[0] },
            ["epoch", "1", "2", "3"])
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: stale), "the interrupted write's temporary file is removed")
    }

    /// SIGKILL at seeded random moments, again and again (mid-epoch, mid-write, before the first checkpoint): the run
    /// directory always resumes, or — killed before its first resume.safetensors — starts again with --overwrite
    /// (without it a directory holding weights is refused, not silently replaced: a kill between best.safetensors
    /// and resume.safetensors leaves one), the metrics hold each epoch once, and the end result equals an
    /// uninterrupted run's bit for bit.
    func testRepeatedSIGKILLAlwaysResumes() throws {
        let args = [
            "train", "cnn", "--data", cifar, "--batch-size", "32", "--channels", "4,8", "--hidden", "8",
            "--warmup-epochs", "0",
            "--epochs", "10", "--seed", "5"
        ]
        XCTAssertEqual(try runAttn(args + ["--out", path("straight")]).status, 0)
        var g = RandomGenerator(seed: 77)
        var kills = 0, resumes = 0
        for _ in 0..<8 {
            let canResume = FileManager.default.fileExists(atPath: path("killed/resume.safetensors"))
            let p = Process()
            p.executableURL = try builtBinary("attn")
            p.arguments = args + ["--out", path("killed")] + (canResume ? ["--resume"] : ["--overwrite"])
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32(50_000 + g.next() % 900_000))
            if !p.isRunning { p.waitUntilExit(); if p.terminationStatus == 0 { break } else { continue } }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            kills += 1
            if canResume { resumes += 1 }
        }
        let canResume = FileManager.default.fileExists(atPath: path("killed/resume.safetensors"))
        let last = try runAttn(args + ["--out", path("killed")] + (canResume ? ["--resume"] : ["--overwrite"]))
        XCTAssertEqual(last.status, 0, last.err)
        XCTAssertGreaterThan(kills, 2, "the runs were killed, not finished")
        print("SIGKILL test: \(kills) kills (\(resumes) of them during resumed runs), then resumed to the end")
        let epochs = try String(contentsOf: URL(fileURLWithPath: path("killed/metrics.jsonl")), encoding: .utf8).split(
            separator: "\n"
        ).map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["epoch"] as! Int
        }
        XCTAssertEqual(
            epochs, Array(1...10), "each epoch logged once after \(kills) kills (\(resumes) of resumed runs)")
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("straight/last.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("killed/last.safetensors"))).tensors
        for (k, t) in a { XCTAssertEqual(t.scalars, b[k]?.scalars, "\(k) differs after \(kills) kills") }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: path("killed")).filter {
            $0.contains(".tmp-")
        }
        XCTAssertEqual(leftovers, [], "no temporary files left")
    }

    func testValFractionZeroKeepsTheLastEpochAndValidDataIsUsed() throws {
        let tiny = ["--epochs", "2", "--batch-size", "32", "--channels", "4,8", "--hidden", "8", "--warmup-epochs", "0"]
        let r = try runAttn(["train", "cnn", "--data", cifar, "--out", path("all"), "--val-fraction", "0"] + tiny)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("no validation set"), r.out)
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: path("all/best.safetensors"))),
            try Data(contentsOf: URL(fileURLWithPath: path("all/last.safetensors"))))
        let split =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("all/split.json"))))
            as! [String: [Int]]
        XCTAssertEqual(split["train"]?.count, 100)
        XCTAssertEqual(split["validation"]?.count, 0)

        let v = try runAttn(
            ["train", "cnn", "--data", cifar, "--out", path("valid"), "--valid-data", cifar + "/data_batch_1.bin"]
                + tiny)
        XCTAssertEqual(v.status, 0, v.err)
        XCTAssertTrue(v.out.contains("100 training and 100 validation images"), v.out)
        let png = try ImageDecoding.read(contentsOf: URL(fileURLWithPath: path("valid/confusion.png")))
        XCTAssertGreaterThan(png.width, 10 * 30)
        XCTAssertGreaterThan(png.height, 10 * 30)
        XCTAssertTrue(
            try String(contentsOf: URL(fileURLWithPath: path("valid/report.txt")), encoding: .utf8).contains("airplane")
        )
        let bad = try runAttn(
            ["train", "cnn", "--data", cifar, "--out", path("bad"), "--valid-data", path("absent.bin")] + tiny)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("absent.bin"), bad.err)
        XCTAssertNotEqual(try runAttn(["train", "cnn", "--val-fraction", "1"]).status, 0)
        let noAttention = try runAttn([
            "attention", "--checkpoint", path("all"), "--image", cifar + "/data_batch_1.bin:0", "--out", path("a")
        ])
        XCTAssertNotEqual(noAttention.status, 0)
        XCTAssertTrue(noAttention.err.contains("no attention layers"), noAttention.err)
    }

    func testFineTuningLoadsAndFreezesWhatItSays() throws {
        let tiny = [
            "--epochs", "2", "--batch-size", "16", "--d-model", "16", "--heads", "2", "--depth", "1", "--patch-size",
            "8", "--warmup-epochs", "1"
        ]
        let pre = try runAttn(["train", "vit", "--data", cifar, "--out", path("pre"), "--classes", "0,1,2,3,4"] + tiny)
        XCTAssertEqual(pre.status, 0, pre.err)
        XCTAssertEqual(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("pre/labels.json"))))
                as! [String],
            ["airplane", "automobile", "bird", "cat", "deer"])
        let ft = try runAttn(
            [
                "train", "vit", "--data", cifar, "--out", path("ft"), "--classes", "dog,frog,horse,ship,truck",
                "--train-fraction", "0.5",
                "--init-from", path("pre"), "--freeze", "patchEmbedding,encoder.layers", "--val-fraction", "0.2"
            ] + tiny)
        XCTAssertEqual(ft.status, 0, ft.err)
        XCTAssertTrue(ft.out.contains("head keeps its fresh initialisation"), ft.out)
        XCTAssertNotEqual(
            try Safetensors.read(from: URL(fileURLWithPath: path("ft/last.safetensors"))).tensors["head.weight"]?
                .scalars,
            try Safetensors.read(from: URL(fileURLWithPath: path("pre/best.safetensors"))).tensors["head.weight"]?
                .scalars)
        XCTAssertTrue(ft.out.contains("frozen:"), ft.out)
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("pre/best.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("ft/last.safetensors"))).tensors
        for (name, t) in b where name.hasPrefix("patchEmbedding.") || name.hasPrefix("encoder.layers.") {
            guard name.contains("weight") || name.contains("bias") else { continue }
            XCTAssertEqual(t.scalars, a[name]?.scalars, "\(name) is frozen and must be bit-identical")
        }
        XCTAssertNotEqual(
            b["encoder.norm.weight"]?.scalars, a["encoder.norm.weight"]?.scalars, "the unfrozen final norm trains")
        XCTAssertEqual(b["head.weight"]?.shape, [5, 16])
        let wrong = try runAttn(["train", "vit", "--data", cifar, "--out", path("x"), "--freeze", "blocks"] + tiny)
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.err.contains("'blocks' matches no parameter"), wrong.err)
    }
}

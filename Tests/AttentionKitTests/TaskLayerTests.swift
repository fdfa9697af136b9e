import AttentionKit
import Foundation
import XCTest

/// The task layer: typed run configurations and `RunDirectory` (format_version, resume checks before any write), one
/// schedule for every verb, resumable classifier and ViT runs, and run directories written before the task layer
/// (`Fixtures/legacy-runs`, written by 161346e's `attn train`) still loading for inference.
final class TaskLayerTests: TemporaryDirectoryTestCase {
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    let corpora = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../corpora")
        .standardized.path
    let legacy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/legacy-runs"
    ).path

    /// The (lr, step) of every epoch in a run's metrics.csv.
    func learningRates(_ run: String) throws -> [(lr: Double, step: Int)] {
        let rows = try String(contentsOfFile: run + "/metrics.csv", encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: ",").map(String.init)
        }
        let lr = rows[0].firstIndex(of: "lr")!, step = rows[0].firstIndex(of: "step")!
        return rows.dropFirst().map { (Double($0[lr])!, Int($0[step])!) }
    }

    /// Each epoch's logged rate is the schedule's rate at the last optimizer step of that epoch.
    func assertRates(
        _ run: String, peak: Double, _ schedule: (Int) -> any LRSchedule, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let rates = try learningRates(run)
        let total = rates.last!.step
        let s = schedule(total)
        for (lr, step) in rates {
            XCTAssertEqual(
                lr, peak * Double(s.factor(step: step - 1)), accuracy: 1e-7 + 1e-4 * lr, "\(run): step \(step)",
                file: file, line: line)
        }
    }

    /// `--accumulate` and `--schedule` mean the same for the image verbs as for the text verbs: the cosine ends at
    /// the run's last optimizer step (before the task layer the image verbs counted batches, so with --accumulate 2
    /// it ended half-way) and inverse-sqrt is honoured (the image verbs ignored it).
    func testImageAndTextVerbsBuildTheSameScheduleFromTheSameFlags() throws {
        let flags = ["--epochs", "3", "--lr", "0.01", "--accumulate", "2", "--warmup-steps", "2", "--seed", "3"]
        let cnn = try runAttn(
            [
                "train", "cnn", "--data", corpora + "/cifar10-sample", "--out", path("cnn"), "--batch-size", "16",
                "--channels", "4,8", "--hidden", "8"
            ] + flags)
        XCTAssertEqual(cnn.status, 0, cnn.err)
        let text = try runAttn(
            [
                "train", "classifier", "--data", corpora + "/trec-sample/train.label", "--format", "trec", "--out",
                path("text"),
                "--batch-size", "16", "--d-model", "16", "--heads", "2", "--layers", "1", "--feed-forward", "16"
            ] + flags)
        XCTAssertEqual(text.status, 0, text.err)
        for run in [path("cnn"), path("text")] {
            try assertRates(run, peak: 0.01) { WarmupCosine(warmupSteps: 2, totalSteps: $0) }
            XCTAssertLessThan(
                try learningRates(run).last!.lr, 0.01 * 0.1, "\(run): the cosine reaches its end at the last step")
        }
        let sqrt = try runAttn(
            [
                "train", "cnn", "--data", corpora + "/cifar10-sample", "--out", path("cnn-sqrt"), "--batch-size", "16",
                "--channels", "4,8", "--hidden", "8", "--schedule", "inverse-sqrt"
            ] + flags)
        XCTAssertEqual(sqrt.status, 0, sqrt.err)
        try assertRates(path("cnn-sqrt"), peak: 0.01) { _ in WarmupInverseSqrt(warmupSteps: 2) }
    }

    /// Kim's (2014) recipe for the TextCNN from flags: Adadelta (ρ 0.95 at lr 1, written to config.json), the
    /// constant schedule (every epoch's rate is the peak), and the max-norm constraint (every row of the saved output
    /// layer within norm 3); --max-norm is refused for the other models and when not positive.
    func testKimsAdadeltaMaxNormRecipe() throws {
        let args = [
            "train", "classifier", "--data", corpora + "/trec-sample/train.label", "--format", "trec", "--model", "cnn",
            "--d-model", "16",
            "--filters", "8", "--optimizer", "adadelta", "--schedule", "constant", "--warmup-steps", "0",
            "--batch-size", "50",
            "--max-norm", "3", "--label-smoothing", "0", "--epochs", "3", "--out", path("kim")
        ]
        let r = try runAttn(args)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("max-norm: the output layer's rows are kept at L2 norm ≤ 3.0"), r.out)
        let config = try String(contentsOfFile: path("kim/config.json"), encoding: .utf8)
        XCTAssertTrue(
            config.contains("\"adadelta\"") && config.contains("\"rho\" : 0.95")
                && config.contains("\"schedule\" : \"constant\""), config)
        XCTAssertTrue(config.contains("\"max_norm\" : 3"), config)
        XCTAssertEqual(try learningRates(path("kim")).map(\.lr), [1, 1, 1])
        let head = try XCTUnwrap(
            try Safetensors.read(from: URL(fileURLWithPath: path("kim/last.safetensors"))).tensors["head.weight"])
        let width = head.shape[1]
        for r in 0..<head.shape[0] {
            let norm = head.scalars[(r * width)..<((r + 1) * width)].map { Double($0) * Double($0) }.reduce(0, +)
                .squareRoot()
            XCTAssertLessThanOrEqual(norm, 3 + 1e-4, "row \(r)")
        }
        let resumed = try runAttn(Array(args.dropLast(4)) + ["--epochs", "4", "--out", path("kim"), "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        let transformer = try runAttn([
            "train", "classifier", "--data", corpora + "/trec-sample/train.label", "--format", "trec", "--max-norm", "3"
        ])
        XCTAssertEqual(transformer.status, 64, transformer.err)
        XCTAssertTrue(transformer.err.contains("--max-norm is only read by --model cnn"), transformer.err)
        let zero = try runAttn(Array(args.dropLast(4)).map { $0 == "3" ? "0" : $0 } + ["--out", path("kim0")])
        XCTAssertEqual(zero.status, 64, zero.err)
        XCTAssertTrue(zero.err.contains("--max-norm must be a positive number"), zero.err)
        // --recipe kim: the whole of it from one flag (flags given still override: --epochs)
        let preset = try runAttn([
            "train", "classifier", "--data", corpora + "/trec-sample/train.label", "--format", "trec", "--recipe",
            "kim",
            "--d-model", "16", "--filters", "8", "--epochs", "2", "--out", path("kim-preset")
        ])
        XCTAssertEqual(preset.status, 0, preset.err)
        let c =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: path("kim-preset/config.json")))) as! [String: Any]
        let model = c["model"] as! [String: Any], training = c["training"] as! [String: Any],
            tokenizer = c["tokenizer"] as! [String: Any]
        XCTAssertEqual(c["model_type"] as? String, "TextCNN")
        XCTAssertEqual(model["max_norm"] as? Double, 3)
        XCTAssertEqual(model["embedding_init_range"] as? Double, 0.25)
        XCTAssertEqual(training["schedule"] as? String, "constant")
        XCTAssertEqual(training["batch_size"] as? Int, 50)
        XCTAssertEqual(training["epochs"] as? Int, 2)
        XCTAssertEqual(training["label_smoothing"] as? Double, 0)
        XCTAssertNotNil((training["optimizer"] as? [String: Any])?["adadelta"])
        XCTAssertEqual(try learningRates(path("kim-preset")).map(\.lr), [1, 1], "no warmup, constant")
        XCTAssertTrue(
            "\(tokenizer)".contains("lowercase = 0") || "\(tokenizer)".contains("lowercase\" : false")
                || tokenizer["lowercase"] as? Bool == false, "\(tokenizer)")
        let other = try runAttn([
            "train", "classifier", "--data", corpora + "/trec-sample/train.label", "--format", "trec", "--recipe",
            "kim", "--model", "lstm"
        ])
        XCTAssertEqual(other.status, 64, other.err)
        XCTAssertTrue(other.err.contains("--recipe kim trains --model cnn"), other.err)
    }

    /// Runs `attn ARGS --out NAME` (it must succeed) and returns the run's config.json as a dictionary.
    func trainedConfig(_ args: [String], out name: String) throws -> [String: Any] {
        let r = try runAttn(args + ["--out", path(name)])
        XCTAssertEqual(r.status, 0, r.err)
        return try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: path(name + "/config.json")))) as! [String: Any]
    }

    /// `train vit --recipe cct-small`: the 3-stage convolutional tokenizer, sequence pooling, Mixup 0.8 + CutMix 1 and
    /// 130 epochs from one flag; each flag given still overrides its part.
    func testViTRecipeCCTSmallSetsItsDefaultsAndFlagsOverride() throws {
        let base = [
            "train", "vit", "--data", corpora + "/cifar10-sample", "--limit", "64", "--batch-size", "32", "--d-model",
            "16", "--heads", "2", "--depth", "1", "--warmup-epochs", "0", "--recipe", "cct-small"
        ]
        func config(_ name: String, _ extra: [String]) throws -> [String: Any] {
            try trainedConfig(base + extra, out: name)
        }
        // --epochs given: 1 (the recipe's 130 would be too long here); the recipe's epochs show in --help
        let c = try config("cct-small", ["--epochs", "1"])
        let model = c["model"] as! [String: Any], augmentation = c["augmentation"] as! [String: Any]
        let mixing = augmentation["mixing"] as! [String: Any], training = c["training"] as! [String: Any]
        XCTAssertEqual((model["conv_tokenizer"] as? [String: Any])?["layers"] as? Int, 3)
        XCTAssertEqual(model["pooling"] as? String, "attention")
        XCTAssertEqual(mixing["mixup_alpha"] as? Double, 0.8)
        XCTAssertEqual(mixing["cutmix_alpha"] as? Double, 1)
        XCTAssertEqual(training["epochs"] as? Int, 1)
        let o = try config("cct-small-o", ["--epochs", "1", "--mixup", "0", "--conv-layers", "2", "--pooling", "mean"])
        let oModel = o["model"] as! [String: Any]
        let oMixing = (o["augmentation"] as! [String: Any])["mixing"] as! [String: Any]
        XCTAssertEqual((oModel["conv_tokenizer"] as? [String: Any])?["layers"] as? Int, 2)
        XCTAssertEqual(oModel["pooling"] as? String, "mean")
        XCTAssertEqual(oMixing["mixup_alpha"] as? Double, 0)
        XCTAssertEqual(oMixing["cutmix_alpha"] as? Double, 1)
        let help = try runAttn(["train", "vit", "--help"])
        XCTAssertTrue(help.out.contains("cct-small"), help.out)
        XCTAssertTrue(help.out.contains("130 epochs"), help.out)
    }

    /// `train translation --recipe bpe` sets joint BPE, dropout 0.2, 18 epochs, a cosine ending at 0.1 of the peak and
    /// averaging of the last 3 epochs; each part is overridden by its flag (`--tokenizer word` also turns the joint vocabulary off).
    func testTranslationRecipeBPESetsItsDefaultsAndFlagsOverride() throws {
        let base = [
            "train", "translation", "--source", corpora + "/multi30k-sample/train.de", "--target",
            corpora + "/multi30k-sample/train.en", "--d-model", "16", "--heads", "2", "--layers", "1",
            "--feed-forward", "16", "--vocab-size", "400", "--bleu-sentences", "8", "--recipe", "bpe"
        ]
        func config(_ name: String, _ extra: [String]) throws -> [String: Any] {
            try trainedConfig(base + extra, out: name)
        }
        // --epochs 2 (the recipe's 18 would be too long here); averaging keeps what there is of the last 3
        let c = try config("bpe", ["--epochs", "2"])
        let vocabulary = c["vocabulary"] as! [String: Any], model = c["model"] as! [String: Any]
        XCTAssertEqual(vocabulary["kind"] as? String, "bpe")
        XCTAssertEqual(vocabulary["joint"] as? Bool, true)
        XCTAssertEqual(vocabulary["lowercase"] as? Bool, false)
        XCTAssertEqual(model["dropout"] as? Double, 0.2)
        XCTAssertEqual(model["shared_embeddings"] as? Bool, true)
        XCTAssertEqual((c["training"] as! [String: Any])["epochs"] as? Int, 2)
        XCTAssertEqual((c["training"] as! [String: Any])["min_lr_factor"] as? Double, 0.1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("bpe/averaged.safetensors")))
        let o = try config(
            "bpe-o",
            ["--epochs", "1", "--tokenizer", "word", "--dropout", "0.1", "--average-last", "0", "--min-lr-factor", "0"])
        let oVocabulary = o["vocabulary"] as! [String: Any]
        XCTAssertEqual(oVocabulary["kind"] as? String, "word")
        XCTAssertEqual(oVocabulary["joint"] as? Bool, false)
        XCTAssertEqual((o["model"] as! [String: Any])["dropout"] as? Double, 0.1)
        XCTAssertEqual((o["training"] as! [String: Any])["min_lr_factor"] as? Double, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bpe-o/averaged.safetensors")))
        let n = try config("bpe-n", ["--epochs", "1", "--no-joint-vocabulary"])
        XCTAssertEqual((n["vocabulary"] as! [String: Any])["joint"] as? Bool, false)
        XCTAssertEqual((n["vocabulary"] as! [String: Any])["kind"] as? String, "bpe")
        // the default recipe is unchanged
        let w = try trainedConfig(Array(base.dropLast(2)) + ["--epochs", "1"], out: "word")
        XCTAssertEqual((w["vocabulary"] as! [String: Any])["kind"] as? String, "word")
        XCTAssertEqual((w["model"] as! [String: Any])["dropout"] as? Double, 0.1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("word/averaged.safetensors")))
        let help = try runAttn(["train", "translation", "--help"])
        XCTAssertTrue(help.out.contains("--recipe bpe"), help.out)
        XCTAssertTrue(help.out.contains("18 epochs"), help.out)
    }

    /// `train classifier --resume` and `train vit --resume` continue their own runs (before the task layer both
    /// refused undamaged runs: "format is {…} but … gives {…}" with equal values).
    func testClassifierAndViTResumeTheirOwnRuns() throws {
        let text = [
            "train", "classifier", "--data", corpora + "/trec-sample/train.label", "--format", "trec", "--out",
            path("cls"),
            "--d-model", "16", "--heads", "2", "--layers", "1", "--feed-forward", "16"
        ]
        let vit = [
            "train", "vit", "--data", corpora + "/cifar10-sample", "--out", path("vit"), "--batch-size", "32",
            "--d-model", "16",
            "--heads", "2", "--depth", "1", "--patch-size", "8", "--warmup-epochs", "0"
        ]
        for args in [text, vit] {
            let first = try runAttn(args + ["--epochs", "1"])
            XCTAssertEqual(first.status, 0, first.err)
            let resumed = try runAttn(args + ["--epochs", "2", "--resume"])
            XCTAssertEqual(resumed.status, 0, resumed.err)
            XCTAssertTrue(resumed.out.contains("resumed from"), resumed.out)
            XCTAssertTrue(resumed.out.contains("epoch 2/2"), resumed.out)
            // and a flag that selects other data is refused naming the field and the flag
            let other = try runAttn(args + ["--epochs", "3", "--resume", "--val-fraction", "0.3"])
            XCTAssertEqual(other.status, 1, other.err)
            XCTAssertTrue(other.err.contains("data.val_fraction is 0.1 but --val-fraction gives 0.3"), other.err)
        }
    }

    /// config.json holds the typed configuration with `format_version` and `task`; it reads back equal; a resume with
    /// another seed is refused naming `training.seed` and `--seed` before anything is written.
    func testRunDirectoryWritesTypedConfigAndChecksAResumeBeforeWriting() throws {
        let run = RunDirectory(path: path("typed"))
        try run.create()
        var training = TrainingRecipe(
            epochs: 3, lr: 1e-3, optimizer: .adamw(beta2: 0.98), weightDecay: 0.01, clipNorm: 1)
        training.maxTokens = 500
        var config = TranslationConfig.recipe
        config.data.source = "a.de"; config.data.target = "a.en"
        config.training = training
        try run.writeConfig(config)
        XCTAssertEqual(try run.formatVersion(), RunDirectory.formatVersion)
        XCTAssertEqual(try run.task(), "translation")
        XCTAssertEqual(try run.readConfig(TranslationConfig.self), config)
        XCTAssertNoThrow(try run.checkResume(config))
        let before = try Data(contentsOf: run.configURL)
        var other = config
        other.training.seed = 7
        XCTAssertThrowsError(try run.checkResume(other)) { e in
            XCTAssertTrue("\(e)".contains("training.seed is 0 but --seed gives 7"), "\(e)")
        }
        XCTAssertThrowsError(try run.readConfig(TextClassificationConfig.self)) { e in
            XCTAssertTrue("\(e)".contains("not a classification run"), "\(e)")
        }
        XCTAssertEqual(try Data(contentsOf: run.configURL), before)

        var image = ImageClassificationConfig(
            architecture: .zoo(.resnet20, width: 8, dropout: 0), data: ImageDataSelection(data: "cifar"),
            training: training)
        image.transfer = TransferRecipe(initFrom: "runs/a", freeze: ["features"])
        let imageRun = RunDirectory(path: path("image"))
        try imageRun.create()
        try imageRun.writeConfig(image)
        XCTAssertEqual(try imageRun.readConfig(ImageClassificationConfig.self), image)
        let textConfig = TextClassificationConfig(
            model: .cnn(TextCNNConfig(vocabulary: 10, classes: 2)), format: TextFormat(format: .trec, fine: true),
            data: LabelledTextData(data: "t.label"), tokenizer: .byteLevelBPE(vocabularySize: 300), training: training)
        let textRun = RunDirectory(path: path("text"))
        try textRun.create()
        try textRun.writeConfig(textConfig)
        XCTAssertEqual(try textRun.readConfig(TextClassificationConfig.self), textConfig)
        XCTAssertEqual(try RunTasks.runType(of: textRun).taskName, "classification")
    }

    /// Run directories written before the task layer (format 1, committed fixtures) still load: evaluate, translate,
    /// classify, predict, attention and compare.
    func testRunsWrittenBeforeTheTaskLayerStillLoad() throws {
        let tr = legacy + "/translation", cls = legacy + "/classifier", vit = legacy + "/vit"
        for run in [tr, cls, vit] { XCTAssertEqual(try RunDirectory(path: run).formatVersion(), 1) }
        let checks: [[String]] = [
            [
                "evaluate", "--checkpoint", tr, "--source", tr + "/validation.source", "--reference",
                tr + "/validation.target", "--beam", "1", "--json"
            ],
            ["translate", "--checkpoint", tr, "--text", "Ein Hund läuft."],
            ["attention", "--checkpoint", tr, "--text", "Ein Hund läuft.", "--beam", "1", "--out", path("tr-att")],
            ["evaluate", "--checkpoint", cls, "--data", corpora + "/trec-sample/train.label", "--json"],
            ["classify", "--checkpoint", cls, "--text", "Who wrote Hamlet ?"],
            ["attention", "--checkpoint", cls, "--text", "Who wrote Hamlet ?", "--out", path("cls-att")],
            ["evaluate", "--checkpoint", vit, "--data", corpora + "/cifar10-sample/data_batch_1.bin", "--json"],
            ["predict", "--checkpoint", vit, "--image", corpora + "/cifar10-sample/data_batch_1.bin:3"],
            [
                "attention", "--checkpoint", vit, "--image", corpora + "/cifar10-sample/data_batch_1.bin:3", "--out",
                path("vit-att")
            ],
            ["compare", cls, vit, "--out", path("cmp"), "--batch-size", "8", "--json"]
        ]
        for args in checks {
            let r = try runAttn(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.err)")
            let last = r.out.split(separator: "\n").last.map(String.init) ?? ""
            switch args[0] {
            case "evaluate": XCTAssertTrue(last.hasPrefix("{") && last.contains("\"metric\""), "\(args): \(last)")
            case "attention": XCTAssertTrue(last.hasSuffix("index.html"), "\(args): \(last)")
            case "compare":
                XCTAssertTrue(last.contains("\"VisionTransformer\"") && r.out.contains("\"TextClassifier\""), r.out)
            default: XCTAssertFalse(last.isEmpty, "\(args)")
            }
        }
    }

    /// Lines on standard input end in LF or CRLF (a Windows file piped in): one output line per input line, as for
    /// files (before, "\r\n" was one Swift Character and three CRLF lines came out as one).
    func testStandardInputLinesEndInLFOrCRLF() throws {
        let p = Process()
        p.executableURL = try builtBinary("attn")
        p.arguments = ["classify", "--checkpoint", legacy + "/classifier"]
        let input = Pipe(), out = Pipe(), err = Pipe()
        (p.standardInput, p.standardOutput, p.standardError) = (input, out, err)
        try p.run()
        input.fileHandleForWriting.write(
            Data("Who wrote Hamlet ?\r\nWhere is Tokyo ?\r\nHow many people live in Tokyo ?\n".utf8))
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: e, as: UTF8.self))
        XCTAssertEqual(
            String(decoding: o, as: UTF8.self).split(separator: "\n").count, 3, String(decoding: o, as: UTF8.self))
    }
}

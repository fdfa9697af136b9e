import ArgumentParser
import AttentionKit
import Foundation

/// Data flags shared by `attn train cnn` and `attn train vit`.
struct ImageDataOptions: ParsableArguments {
    @Option(help: "CIFAR-10 binary directory (data_batch_*.bin, batches.meta.txt).")
    var data = "../shared/data/cifar-10-batches-bin"
    @Option(name: .customLong("valid-data"), help: "Validation images: a CIFAR-10 .bin file or directory (default: a seeded --val-fraction of --data).")
    var validData: String?
    @Option(name: .customLong("val-fraction"), parsing: .unconditional, help: "Without --valid-data: the fraction of the images held out for validation; 0 trains on everything and keeps the last epoch.")
    var valFraction = 0.1
    @Option(name: .customLong("split-seed"), parsing: .unconditional, help: "Seed of the train/validation split (default: --seed), to vary the run on a fixed split.")
    var splitSeed: UInt64?
    @Option(parsing: .unconditional, help: "Use only the first N images (quick runs; 0 = all).")
    var limit = 0
    @Option(help: "Train only on these classes (comma-separated names or indices, e.g. airplane,automobile or 0,1); the model's classes are these, in this order.")
    var classes: String?
    @Option(name: .customLong("train-fraction"), parsing: .unconditional, help: "Keep this fraction of each class's training images (seeded; e.g. 0.1 to fine-tune on few labels).")
    var trainFraction = 1.0
    @Flag(name: .customLong("no-augment"), help: "Disable random crops and flips.")
    var noAugment = false
    @Option(parsing: .unconditional, help: "Mixup α (Beta(α, α) mixing of image pairs; default 0: off).")
    var mixup: Float?
    @Option(parsing: .unconditional, help: "CutMix α (paste a box of another image; default 0: off).")
    var cutmix: Float?
    @Option(name: .customLong("mix-probability"), parsing: .unconditional, help: "Chance that a batch is mixed when --mixup or --cutmix is on.")
    var mixProbability: Float = 1

    func validate() throws {
        guard valFraction >= 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard limit >= 0 else { throw ValidationError("--limit must be non-negative") }
        guard trainFraction > 0 && trainFraction <= 1 else { throw ValidationError("--train-fraction must be in (0, 1]") }
        guard (mixup ?? 0) >= 0, (cutmix ?? 0) >= 0, mixProbability >= 0 && mixProbability <= 1 else {
            throw ValidationError("--mixup and --cutmix must be non-negative and --mix-probability in [0, 1]")
        }
    }

    /// Mixup/CutMix as the flags ask (off unless --mixup or --cutmix is given).
    var mixing: ImageMixing { ImageMixing(mixupAlpha: mixup ?? 0, cutmixAlpha: cutmix ?? 0, probability: mixProbability) }

    /// Reads the data, keeps the chosen classes, splits off (or reads) the validation set, writes `split.json`
    /// and returns both sets with the training set's channel statistics. On `resume`, the data flags are checked
    /// against the run's config.json and the split against its split.json instead (nothing is written).
    func load(seed: UInt64, outDir: URL, resume: Bool = false) throws -> (train: CIFAR10, validation: CIFAR10, mean: [Float], std: [Float]) {
        if resume {
            try ResumeCheck.config(in: outDir, [
                .init("data.data", data, "--data"), .init("data.valid_data", validData ?? NSNull(), "--valid-data"),
                .init("data.val_fraction", valFraction, "--val-fraction"), .init("data.limit", limit, "--limit"),
                .init("data.classes", classes ?? NSNull(), "--classes"), .init("data.train_fraction", trainFraction, "--train-fraction"),
            ])
        }
        var all: CIFAR10
        do { all = try CIFAR10(directory: URL(fileURLWithPath: data)) } catch { throw CLIError("\(error)") }
        if limit > 0 && limit < all.count { all = all.subset(Array(0..<limit)) }
        var external: CIFAR10? = nil
        if let validData {
            do { external = try CIFAR10.read(path: validData) { say("validation data: \($0)") } } catch { throw CLIError("\(error)") }
        }
        let keep = try classSelection(names: all.classNames)
        if let keep {
            all = Self.relabelled(all, keep: keep)
            external = external.map { Self.relabelled($0, keep: keep) }
        }
        let (trainIdx0, valIdx) = external == nil ? all.splitIndices(validationFraction: valFraction, seed: splitSeed ?? seed)
                                                   : (Array(0..<all.count), [])
        let trainIdx = trainFraction < 1 ? Self.perClassFraction(trainIdx0, labels: all.labels, fraction: trainFraction, seed: (splitSeed ?? seed) &+ 7) : trainIdx0
        let trainSet = all.subset(trainIdx), valSet = external ?? all.subset(valIdx)
        if external == nil && valFraction > 0 && valIdx.isEmpty {
            throw CLIError("--val-fraction \(valFraction) of \(all.count) images holds out none: use a larger fraction, --valid-data, or --val-fraction 0 to train without validation")
        }
        guard trainSet.count > 0 else { throw CLIError("\(data): no training images left (after --limit, --classes and --train-fraction)") }
        let splitJSON = "{\"train\": [\(trainIdx.map(String.init).joined(separator: ","))], \"validation\": [\(valIdx.map(String.init).joined(separator: ","))]}\n"
        if resume {
            try ResumeCheck.file("split.json", in: outDir, equals: Data(splitJSON.utf8), flags: "--seed, --split-seed, --limit, --classes, --val-fraction, --train-fraction")
        } else if isLeadProcess {
            try AtomicFile.write(Data(splitJSON.utf8), to: outDir.appendingPathComponent("split.json"))
        }
        let (mean, std) = trainSet.channelStatistics()
        say("CIFAR-10: \(trainSet.count) training and \(valSet.count) validation images from \(data)" +
            (validData.map { " (validation: \($0))" } ?? "") + (valSet.count == 0 ? "; no validation: the last epoch is kept" : ""))
        return (trainSet, valSet, mean, std)
    }

    /// The class indices `--classes` keeps, in its order (nil: all).
    func classSelection(names: [String]) throws -> [Int]? {
        guard let classes else { return nil }
        let picked = try classes.split(separator: ",").map { raw -> Int in
            let s = raw.trimmingCharacters(in: .whitespaces)
            if let i = Int(s), i >= 0, i < names.count { return i }
            guard let i = names.firstIndex(of: s) else { throw CLIError("--classes: '\(s)' is not a class (\(names.joined(separator: ", ")) or 0…\(names.count - 1))") }
            return i
        }
        guard !picked.isEmpty, Set(picked).count == picked.count else { throw CLIError("--classes: give each class once") }
        return picked
    }

    /// The images of the kept classes, labelled 0..<keep.count in `keep`'s order.
    static func relabelled(_ d: CIFAR10, keep: [Int]) -> CIFAR10 {
        let newLabel = Dictionary(uniqueKeysWithValues: keep.enumerated().map { ($1, $0) })
        let idx = d.labels.indices.filter { newLabel[d.labels[$0]] != nil }
        var s = d.subset(idx)
        s.labels = s.labels.map { newLabel[$0]! }
        s.classNames = keep.map { $0 < d.classNames.count ? d.classNames[$0] : String($0) }
        return s
    }

    /// A seeded `fraction` of each class's indices (at least one per class), in the original order.
    static func perClassFraction(_ indices: [Int], labels: [Int], fraction: Double, seed: UInt64) -> [Int] {
        var g = RandomGenerator(seed: seed)
        var kept = Set<Int>()
        for c in Set(indices.map { labels[$0] }).sorted() {
            var mine = indices.filter { labels[$0] == c }
            mine.shuffle(using: &g)
            kept.formUnion(mine.prefix(max(1, Int((Double(mine.count) * fraction).rounded()))))
        }
        return indices.filter { kept.contains($0) }
    }
}

/// Transfer-learning flags of the classification verbs.
struct TransferOptions: ParsableArguments {
    @Option(name: .customLong("init-from"), help: "Start from a trained run directory's best.safetensors: every tensor with a matching name and shape is loaded; a head with another class count is re-initialised.")
    var initFrom: String?
    @Option(help: "Freeze parameters under these module paths (comma-separated or repeated, e.g. features, encoder or patchEmbedding,encoder.layers); only the rest is trained.")
    var freeze: [String] = []

    var prefixes: [String] { freeze.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty } }

    /// Loads matching weights (unless resuming: then resume.safetensors holds them) and freezes; logs both.
    /// - Parameters: head: the module path of the classification head; labels: the new run's classes. When the
    ///   source run's labels.json lists other classes, its head is not loaded even if the shapes agree.
    func apply(to model: some Module, resuming: Bool, head: String, labels: [String]) throws {
        if let initFrom, !resuming {
            let dir = URL(fileURLWithPath: initFrom), url = dir.appendingPathComponent("best.safetensors")
            guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("--init-from \(initFrom): no best.safetensors (not a run directory of `attn train`)") }
            var tensors: [String: Tensor]
            do { tensors = try Safetensors.read(from: url).tensors } catch { throw CLIError("\(error)") }
            let sourceLabels = try? RunDirectoryError.labels(in: dir)
            if sourceLabels != labels {
                let dropped = tensors.keys.filter { $0 == head || $0.hasPrefix(head + ".") }
                for k in dropped { tensors[k] = nil }
                say("the labels differ from \(initFrom)'s (\((sourceLabels ?? []).joined(separator: ", "))): \(head) keeps its fresh initialisation")
            }
            let report = model.initialize(from: tensors)
            guard !report.loaded.isEmpty else { throw CLIError("--init-from \(url.path): no tensor matches this model (\(report.summary))") }
            say("init from \(url.path): \(report.summary)")
        }
        if !prefixes.isEmpty {
            let frozen: [String]
            do { frozen = try model.freeze(prefixes: prefixes) } catch { throw CLIError("--freeze: \(error)") }
            let n = model.namedParameters().filter { !$0.tensor.requiresGrad }.map { $0.tensor.count }.reduce(0, +)
            say("frozen: \(frozen.count) tensors (\(n) of \(model.parameterCount()) parameters) under \(prefixes.joined(separator: ", "))")
        }
    }
}

/// Writes config.json (task, model kind and configuration, normalisation, data and training settings) and
/// labels.json (class names) into an image run directory.
func writeImageRunFiles(to dir: URL, modelType: String, modelConfig: some Encodable, mean: [Float], std: [Float], classNames: [String],
                        data: ImageDataOptions, training: [String: Any]) throws {
    let config: [String: Any] = [
        "task": "image-classification", "model_type": modelType,
        "model": try JSONSerialization.jsonObject(with: JSONEncoder().encode(modelConfig)),
        "normalization": ["mean": mean.map(Double.init), "std": std.map(Double.init)],
        "data": ["data": data.data, "valid_data": data.validData ?? NSNull(), "val_fraction": data.valFraction, "limit": data.limit,
                 "classes": data.classes ?? NSNull(), "train_fraction": data.trainFraction],
        "training": training,
    ]
    try AtomicFile.write(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]), to: dir.appendingPathComponent("config.json"))
    try AtomicFile.write(try JSONSerialization.data(withJSONObject: classNames), to: dir.appendingPathComponent("labels.json"))
}

/// The settings of an image training run that the shared loop needs.
struct ImageRecipe {
    var epochs: Int, lr: Float, weightDecay: Float, batchSize: Int, warmupEpochs: Int, labelSmoothing: Float, clipNorm: Float
}

/// What `attn train cnn` and `attn train vit` share once the model and its optimizer exist: seeded augmented batches,
/// warmup + cosine schedule, config.json/labels.json, the Trainer (ModelFile checkpoints) and the closing report.
/// - Parameters: settings: the verb's own entries for config.json's "training"; detail: appended to the "model:" line.
func trainImageClassifier<M: ImageClassifierModel>(_ model: M, optimizer: Optimizer, recipe r: ImageRecipe,
                                                data: (train: CIFAR10, validation: CIFAR10, mean: [Float], std: [Float]),
                                                common: CommonTrainingOptions, images: ImageDataOptions, transfer: TransferOptions,
                                                settings: [String: Any] = [:], detail: String = "", outDir: URL) throws {
    let mixing = images.mixing
    let dp = try common.dataParallel()
    var batches = CIFARBatches(data.train, batchSize: r.batchSize, mean: data.mean, std: data.std,
                               augmentation: images.noAugment ? .none : ImageAugmentation(),
                               shuffle: true, dropLast: data.train.count >= r.batchSize * (dp?.size ?? 1), seed: common.seed &+ 1)
    batches.shard = dp?.shard ?? .whole
    guard batches.batchesPerEpoch > 0 else {
        throw CLIError("\(data.train.count) training images give no batch per epoch" + (dp.map { " for \($0.size) processes" } ?? ""))
    }
    let steps = r.epochs * batches.batchesPerEpoch
    if let w = common.warmupSteps, w >= steps {
        throw CLIError("--warmup-steps \(w) is not shorter than the run's \(steps) optimizer steps (\(r.epochs) epochs × \(batches.batchesPerEpoch) batches): lower it or train longer")
    }
    let schedule = WarmupCosine(warmupSteps: min(steps - 1, common.warmupSteps ?? r.warmupEpochs * batches.batchesPerEpoch), totalSteps: steps)
    say("model: \(M.self), \(model.parameterCount()) parameters\(detail); \(r.epochs) epochs × \(batches.batchesPerEpoch) steps of \(r.batchSize)" + (dp.map { " × \($0.size) processes" } ?? ""))
    let training: [String: Any] = settings.merging([
        "epochs": r.epochs, "lr": r.lr, "weight_decay": r.weightDecay, "batch_size": r.batchSize, "seed": common.seed,
        "label_smoothing": r.labelSmoothing, "augment": !images.noAugment, "mixup": mixing.mixupAlpha, "cutmix": mixing.cutmixAlpha,
        "init_from": transfer.initFrom ?? NSNull(), "freeze": transfer.prefixes,
    ]) { own, _ in own }
    if common.resume {
        try ResumeCheck.config(in: outDir, [
            .init("model_type", String(describing: M.self), "--arch"),
            .init("model", try JSONSerialization.jsonObject(with: JSONEncoder().encode(model.config)), "the model's flags (--arch, --width, --channels, --hidden, --dropout, --d-model, --depth, …)"),
            .init("training.batch_size", r.batchSize, "--batch-size"), .init("training.seed", common.seed, "--seed"),
        ])
    } else if isLeadProcess {
    try writeImageRunFiles(to: outDir, modelType: String(describing: M.self), modelConfig: model.config, mean: data.mean, std: data.std,
                           classNames: data.train.classNames, data: images, training: training)
    }
    let task = ImageClassificationTask(model: model, forward: { model($0) }, batches: batches, validation: data.validation, mean: data.mean, std: data.std,
                                       labelSmoothing: r.labelSmoothing, mixing: mixing, save: { try ModelFile.save(model, to: $0) })
    let trainer = Trainer(task: task, optimizer: optimizer, schedule: schedule,
                          options: common.options(epochs: r.epochs, clipNorm: r.clipNorm, bestMetric: "val_accuracy", higherIsBetter: true), directory: outDir)
    trainer.log = say
    trainer.dataParallel = dp
    let summary = try trainer.run(resume: common.resume)
    if summary.interrupted { throw ExitCode(130) }
    guard isLeadProcess else { return }
    try reportImageRun(summary, validation: data.validation, dir: outDir)
}

/// The closing lines of an image training run: with validation data, the best model's report (report.txt,
/// confusion.png) and accuracy.
func reportImageRun(_ summary: TrainingSummary, validation: CIFAR10, dir: URL) throws {
    if validation.count > 0 {
        let report = try ImageClassification.load(from: dir).evaluate(validation)
        try AtomicFile.write(Data((report.table + "\n").utf8), to: dir.appendingPathComponent("report.txt"))
        try report.confusionMatrixImage(title: "validation").writePNG(to: dir.appendingPathComponent("confusion.png"))
        say(report.table)
        say(String(format: "best validation accuracy %.2f%% at epoch %d; %.1f s training; outputs in %@", summary.bestValue * 100,
                   summary.bestEpoch, summary.seconds, dir.path))
    } else {
        say(String(format: "no validation set: best.safetensors is the last epoch (%d); %.1f s training; outputs in %@",
                   summary.epochsCompleted, summary.seconds, dir.path))
    }
}

/// `attn predict`.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify pictures with a trained image model (attn train vit|cnn).",
        discussion: """
        --image takes a PNG or JPEG file of any size (resized to the model's input with an antialiasing filter; \
        transparency is composited onto white) or FILE.bin:INDEX for record INDEX (0-based) of a CIFAR-10 batch \
        file. One line per image: `FILE<TAB>label<TAB>probability`, or with --top K the K best as label:probability \
        separated by tabs; the last line is a JSON array of the same results.
        """
    )
    @Option(help: "Run directory written by `attn train vit` or `attn train cnn`.")
    var checkpoint: String
    @Option(help: "A PNG or JPEG file, or FILE.bin:INDEX (repeatable).")
    var image: [String] = []
    @Option(parsing: .unconditional, help: "Labels to print per image, best first.")
    var top = 1
    @Option(help: "Weights in the run directory: best, last, or a file name in it.")
    var weights = "best"

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        guard !image.isEmpty else { throw ValidationError("give at least one --image") }
    }

    /// A picture from a PNG/JPEG path or a `FILE.bin:INDEX` record.
    static func picture(_ spec: String) throws -> RGBImage {
        if let colon = spec.lastIndex(of: ":"), spec[..<colon].hasSuffix(".bin") {
            let path = String(spec[..<colon]), indexText = String(spec[spec.index(after: colon)...])
            guard let index = Int(indexText), index >= 0 else { throw CLIError("\(spec): '\(indexText)' is not a record index (0, 1, …)") }
            var pixels: [UInt8] = [], labels: [Int] = []
            do { try CIFAR10.appendRecords(from: URL(fileURLWithPath: path), pixels: &pixels, labels: &labels) } catch { throw CLIError("\(error)") }
            guard index < labels.count else { throw CLIError("\(path): record \(index) does not exist (the file holds \(labels.count) records, 0…\(labels.count - 1))") }
            return RGBImage(planar: Array(pixels[(index * CIFAR10.imageBytes)..<((index + 1) * CIFAR10.imageBytes)]), width: 32, height: 32)
        }
        do { return try ImageDecoding.read(contentsOf: URL(fileURLWithPath: spec)) } catch { throw CLIError("\(error)") }
    }

    func run() throws {
        let c: ImageClassification
        do { c = try ImageClassification.load(from: URL(fileURLWithPath: checkpoint), weights: weightsFile(weights)) } catch { throw CLIError("\(error)") }
        var all: [[String: Any]] = []
        for spec in image {
            let r = c.classify(try Self.picture(spec), top: min(top, c.labels.count))
            if top == 1 { print("\(spec)\t\(r[0].label)\t\(String(format: "%.4f", r[0].probability))") }
            else { print(spec + "\t" + r.map { "\($0.label):\(String(format: "%.4f", $0.probability))" }.joined(separator: "\t")) }
            all.append(["image": spec, "top": r.map { ["label": $0.label, "probability": Double($0.probability)] }])
        }
        print(String(decoding: try JSONSerialization.data(withJSONObject: all, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
    }
}

/// `--weights best|last|FILE`: the weights file in a run directory.
func weightsFile(_ choice: String) -> String { choice == "best" || choice == "last" ? choice + ".safetensors" : choice }

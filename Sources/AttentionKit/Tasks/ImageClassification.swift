import Foundation

// The image classification task (CIFAR-10 binary format): its run configuration, the data selection (classes,
// fractions, the seeded split), its TrainingTask, training a run, and a trained run's prediction, evaluation,
// comparison and attention report.

/// Which CIFAR-10 images a run trains and validates on.
public struct ImageDataSelection: Codable, Sendable, Equatable {
    /// A CIFAR-10 binary directory (data_batch_*.bin, batches.meta.txt).
    public var data: String
    /// Validation images (a .bin file or directory); without them a seeded `valFraction` of `data` is held out
    /// (0: none, the last epoch is kept).
    public var validData: String?
    /// Fraction of `data` held out for validation when no validation data is given.
    public var valFraction = 0.1
    /// The split's seed (nil: the run's seed).
    public var splitSeed: UInt64?
    /// Only the first `limit` images (0: all).
    public var limit = 0
    /// The classes kept, by name or index, comma-separated (nil: all); the model's classes in this order.
    public var classes: String?
    /// The seeded fraction of each class's training images kept.
    public var trainFraction = 1.0
    /// Image folders (`DIR/CLASS/*.png|jpg`): skip undecodable files or stop (nil: stop).
    public var badFiles: BadImagePolicy?
    /// The model's input side in pixels (nil: 32, CIFAR-10's): image folders are resized and centre-cropped to
    /// it, CIFAR-10 images resized (224 for an ImageNet backbone).
    public var imageSize: Int?
    /// The side the images are read at.
    public var side: Int { imageSize ?? 32 }

    /// A selection of the data at `data` with the other fields at their defaults.
    public init(data: String) { self.data = data }

    enum CodingKeys: String, CodingKey {
        case data, limit, classes
        case validData, valFraction, splitSeed, trainFraction, badFiles
        case imageSize
    }

    /// The images at `path` at `side` × `side`: a CIFAR-10 binary directory or .bin file (resized), or a folder of
    /// class folders (`ImageFolder`).
    static func images(
        at path: String, side: Int = 32, badFiles: BadImagePolicy?, classNames: [String]? = nil,
        note: @escaping (String) -> Void
    ) throws -> CIFAR10 {
        let url = URL(fileURLWithPath: path)
        if ImageFolder.isImageFolder(url) {
            return try ImageFolder.read(
                url, side: side, badFiles: badFiles ?? .stop, classNames: classNames, note: note)
        }
        return try CIFAR10.read(path: path) { note($0) }.resized(to: side)
    }

    /// The settings a resume must keep.
    func resumeSettings() throws -> [RunSetting] {
        [
            try RunSetting("data.data", data, flag: "--data"),
            try RunSetting("data.valid_data", validData, flag: "--valid-data"),
            try RunSetting("data.bad_files", badFiles?.rawValue, flag: "--bad-files"),
            try RunSetting("data.image_size", imageSize, flag: "--image-size"),
            try RunSetting("data.val_fraction", valFraction, flag: "--val-fraction"),
            try RunSetting("data.limit", limit, flag: "--limit"),
            try RunSetting("data.classes", classes, flag: "--classes"),
            try RunSetting("data.train_fraction", trainFraction, flag: "--train-fraction")
        ]
    }

    /// Reads the images, keeps the chosen classes, splits off (or reads) the validation set and returns both sets
    /// with the training set's channel statistics and the text of `split.json` (the images of each set; resuming, it
    /// is checked against the run's). A new run writes it after config.json, so that a run killed in between is one
    /// a restart recognises.
    public func load(seed: UInt64, in context: RunContext) throws -> (
        train: CIFAR10, validation: CIFAR10, mean: [Float], std: [Float], split: String
    ) {
        let folder = ImageFolder.isImageFolder(URL(fileURLWithPath: data))
        var all =
            folder
            ? try ImageFolder.read(
                URL(fileURLWithPath: data), side: side, badFiles: badFiles ?? .stop, note: context.note)
            : try CIFAR10(directory: URL(fileURLWithPath: data))
        if limit > 0 && limit < all.count { all = all.subset(Array(0..<limit)) }
        all = all.resized(to: side)
        var external: CIFAR10? = nil
        if let validData {
            external = try Self.images(
                at: validData, side: side, badFiles: badFiles, classNames: folder ? all.classNames : nil
            ) { context.log("validation data: \($0)") }
        }
        if let keep = try classSelection(names: all.classNames) {
            all = Self.relabelled(all, keep: keep)
            external = external.map { Self.relabelled($0, keep: keep) }
        }
        let seed = splitSeed ?? seed
        // image folders: a stratified split (each class keeps its share); CIFAR keeps its split of earlier runs
        let (trainIdx0, valIdx) =
            external != nil
            ? (Array(0..<all.count), [])
            : folder
                ? ImageFolder.stratifiedSplit(labels: all.labels, fraction: valFraction, seed: seed)
                : all.splitIndices(validationFraction: valFraction, seed: seed)
        let trainIdx =
            trainFraction < 1
            ? Self.perClassFraction(trainIdx0, labels: all.labels, fraction: trainFraction, seed: seed &+ 7) : trainIdx0
        let trainSet = all.subset(trainIdx), valSet = external ?? all.subset(valIdx)
        if external == nil && valFraction > 0 && valIdx.isEmpty {
            throw RunSetupError(
                "--val-fraction \(valFraction) of \(all.count) images holds out none: use a larger fraction, --valid-data, or --val-fraction 0 to train without validation"
            )
        }
        guard trainSet.count > 0 else {
            throw RunSetupError("\(data): no training images left (after --limit, --classes and --train-fraction)")
        }
        let present = Set(trainSet.labels)
        guard present.count >= 2 else {
            throw RunSetupError(
                "\(data): the training images are all of one class (\(present.first.map { all.classNames.indices.contains($0) ? all.classNames[$0] : String($0) } ?? "none")): a classifier needs at least two (check --classes and --limit)"
            )
        }
        let splitJSON =
            "{\"train\": [\(trainIdx.map(String.init).joined(separator: ","))], \"validation\": [\(valIdx.map(String.init).joined(separator: ","))]}\n"
        if context.resume {
            try context.directory.checkResume(
                file: "split.json", equals: Data(splitJSON.utf8),
                flags: "--seed, --split-seed, --limit, --classes, --val-fraction, --train-fraction")
        }
        let (mean, std) = trainSet.channelStatistics()
        context.log(
            "\(folder ? "image folders (\(all.classNames.count) classes, \(side) × \(side))" : side == 32 ? "CIFAR-10" : "CIFAR-10 resized to \(side) × \(side)"): \(trainSet.count) training and \(valSet.count) validation images from \(data)"
                + (validData.map { " (validation: \($0))" } ?? "")
                + (valSet.count == 0 ? "; no validation: the last epoch is kept" : ""))
        return (trainSet, valSet, mean, std, splitJSON)
    }

    /// The class indices `classes` keeps, in its order (nil: all).
    func classSelection(names: [String]) throws -> [Int]? {
        guard let classes else { return nil }
        let picked = try classes.split(separator: ",").map { raw -> Int in
            let s = raw.trimmingCharacters(in: .whitespaces)
            if let i = Int(s), i >= 0, i < names.count { return i }
            guard let i = names.firstIndex(of: s) else {
                throw RunSetupError(
                    "--classes: '\(s)' is not a class (\(names.joined(separator: ", ")) or 0…\(names.count - 1))")
            }
            return i
        }
        guard !picked.isEmpty, Set(picked).count == picked.count else {
            throw RunSetupError("--classes: give each class once")
        }
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

/// Training-time image augmentation: random crops (pad 4) and flips, and timm's per-batch Mixup/CutMix.
public struct ImageAugmentationRecipe: Codable, Sendable, Equatable {
    /// Whether training images get random crops and flips.
    public var augment = true
    /// Mixup and CutMix.
    public var mixing = ImageMixing()
    /// One TrivialAugment operation per training image before the crop and flip (`TrivialAugment`).
    public var trivialAugment = false
    /// An augmentation recipe.
    public init(augment: Bool = true, mixing: ImageMixing = ImageMixing(), trivialAugment: Bool = false) {
        self.augment = augment
        self.mixing = mixing
        self.trivialAugment = trivialAugment
    }

    enum CodingKeys: String, CodingKey {
        case augment, mixing, trivialAugment
    }

    /// Decodes config.json's fields (runs written before TrivialAugment have none: off).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        augment = try c.decode(Bool.self, forKey: .augment)
        mixing = try c.decode(ImageMixing.self, forKey: .mixing)
        trivialAugment = try c.decodeIfPresent(Bool.self, forKey: .trivialAugment) ?? false
    }

    /// The per-image augmentation of training batches at this input side.
    public func imageAugmentation(side: Int) -> ImageAugmentation {
        guard augment else { return .none }
        var a = ImageAugmentation.standard(side: side)
        a.trivialAugment = trivialAugment
        return a
    }
}

/// The model of an image run as the flags describe it; its class count comes from the data.
public enum ImageModelRecipe: Codable, Sendable, Equatable {
    /// A Vision Transformer.
    case vit(ViTConfig)
    /// The small CNN with its own channels, hidden width and dropout.
    case small(SmallCNNConfig)
    /// One of the course's CNNs (`ImageArchitecture`) at a first-stage width and dropout.
    case zoo(ImageArchitecture, width: Int?, dropout: Float)

    /// The architecture's name for `--arch` (nil for the ViT).
    public var arch: String? {
        switch self {
        case .vit: return nil
        case .small: return ImageArchitecture.small.rawValue
        case .zoo(let a, _, _): return a.rawValue
        }
    }

    enum CodingKeys: String, CodingKey { case kind, config, arch, width, dropout }

    /// {"kind": "vit" | "small", "config": {…}} or {"kind": "zoo", "arch": …, "width": …, "dropout": …}.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .kind) {
        case "vit": self = .vit(try c.decode(ViTConfig.self, forKey: .config))
        case "small": self = .small(try c.decode(SmallCNNConfig.self, forKey: .config))
        case "zoo":
            self = .zoo(
                try c.decode(ImageArchitecture.self, forKey: .arch),
                width: try c.decodeIfPresent(Int.self, forKey: .width),
                dropout: try c.decode(Float.self, forKey: .dropout))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: c, debugDescription: "'\(other)' is not vit, small or zoo")
        }
    }

    /// Encodes config.json's fields (snake_case keys).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .vit(let v): try c.encode("vit", forKey: .kind); try c.encode(v, forKey: .config)
        case .small(let v): try c.encode("small", forKey: .kind); try c.encode(v, forKey: .config)
        case .zoo(let a, let width, let dropout):
            try c.encode("zoo", forKey: .kind); try c.encode(a, forKey: .arch); try c.encode(width, forKey: .width);
            try c.encode(dropout, forKey: .dropout)
        }
    }

    /// The model's configuration for `classes` classes and `imageSize`-pixel inputs.
    public func configuration(classes: Int, imageSize: Int = 32) -> any ModelConfiguration {
        switch self {
        case .vit(var c): (c.classes, c.imageSize) = (classes, imageSize); return c
        case .small(var c): (c.classes, c.imageSize) = (classes, imageSize); return c
        case .zoo(let a, let width, let dropout):
            return a.configuration(classes: classes, imageSize: imageSize, width: width, dropout: dropout)
        }
    }

    /// The untrained model for `classes` classes and `imageSize`-pixel inputs.
    public func build(classes: Int, imageSize: Int = 32, using g: inout RandomGenerator) -> any ImageClassifierModel {
        imageModel(configuration(classes: classes, imageSize: imageSize), using: &g)
    }
}

/// Per-channel normalisation of pixels scaled to [0, 1].
public struct ImageNormalization: Codable, Sendable, Equatable {
    public var mean: [Float], std: [Float]
    /// Normalisation by these per-channel means and standard deviations.
    public init(mean: [Float], std: [Float]) { (self.mean, self.std) = (mean, std) }
    /// ImageNet's channel statistics, which torchvision's pretrained models expect (`transforms.Normalize`).
    public static let imagenet = ImageNormalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
}

/// Where a run's input normalisation comes from.
public enum ImageNormalizationSource: String, Codable, Sendable, CaseIterable {
    /// The training images' own per-channel mean and standard deviation.
    case data
    /// ImageNet's (`ImageNormalization.imagenet`): what a torchvision backbone was trained with.
    case imagenet
}

/// An image classification run's configuration (config.json). `modelType`, `model` and `normalization` are
/// filled in from the data when the run starts.
public struct ImageClassificationConfig: RunConfiguration, Equatable {
    /// The task name written to config.json's `task`.
    public static let task = "image-classification"
    /// The model: its architecture and configuration.
    public var architecture: ImageModelRecipe
    /// Where the images come from and how validation is split off.
    public var data: ImageDataSelection
    /// Augmentation of the training images.
    public var augmentation = ImageAugmentationRecipe()
    /// Optimizer, schedule, batch size, epochs and seed.
    public var training: TrainingRecipe
    /// Initialisation from other weights and freezing.
    public var transfer = TransferRecipe()
    /// Where the input normalisation comes from (nil: the training data).
    public var normalize: ImageNormalizationSource?
    /// The built model: its type name and configuration (as the weights file holds them).
    public var modelType: String?
    /// The built model's configuration as saved (nil until the run starts).
    public var model: JSONValue?
    /// The normalisation used (from the data, or ImageNet's with ImageNet weights).
    public var normalization: ImageNormalization?
    /// `--arch` of the CNN verbs (config.json's "arch"; `attn compare` shows it).
    public var arch: String? { architecture.arch }

    /// A configuration from its parts, other fields at their defaults.
    public init(architecture: ImageModelRecipe, data: ImageDataSelection, training: TrainingRecipe) {
        self.architecture = architecture
        self.data = data
        self.training = training
    }

    enum CodingKeys: String, CodingKey {
        case architecture, data, augmentation, training, transfer, normalize, modelType, model,
            normalization, arch
    }

    /// Decodes config.json's fields (snake_case keys).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decode(ImageModelRecipe.self, forKey: .architecture)
        data = try c.decode(ImageDataSelection.self, forKey: .data)
        augmentation = try c.decode(ImageAugmentationRecipe.self, forKey: .augmentation)
        training = try c.decode(TrainingRecipe.self, forKey: .training)
        transfer = try c.decode(TransferRecipe.self, forKey: .transfer)
        normalize = try c.decodeIfPresent(ImageNormalizationSource.self, forKey: .normalize)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
        model = try c.decodeIfPresent(JSONValue.self, forKey: .model)
        normalization = try c.decodeIfPresent(ImageNormalization.self, forKey: .normalization)
    }

    /// Encodes config.json's fields (snake_case keys).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(data, forKey: .data)
        try c.encode(augmentation, forKey: .augmentation)
        try c.encode(training, forKey: .training)
        try c.encode(transfer, forKey: .transfer)
        try c.encodeIfPresent(normalize, forKey: .normalize)
        try c.encodeIfPresent(modelType, forKey: .modelType)
        try c.encodeIfPresent(model, forKey: .model)
        try c.encodeIfPresent(normalization, forKey: .normalization)
        try c.encodeIfPresent(arch, forKey: .arch)
    }

    /// The settings a resume must not change, each with the flag that sets it.
    public func resumeSettings() throws -> [RunSetting] {
        var s = try data.resumeSettings()
        if let modelType, let model {
            let flags = "the model's flags (--arch, --width, --channels, --hidden, --dropout, --d-model, --depth, …)"
            s += [try RunSetting("model_type", modelType, flag: "--arch"), try RunSetting("model", model, flag: flags)]
        }
        return s + (try training.resumeSettings())
    }
}

extension ImageClassificationTask {
    /// Trains an image classification run as `config` says, in `context`'s directory: selects and splits the images
    /// (split.json), builds the model for their classes, applies the transfer recipe, trains with seeded augmented
    /// batches keeping the best epoch by validation accuracy, and writes the best model's report (report.txt,
    /// confusion.png) and, for a ViT, the attention report of `attentionExample` (PNG, JPEG or FILE.bin:INDEX).
    public static func run(_ config: ImageClassificationConfig, in context: RunContext, attentionExample: String? = nil)
        throws -> RunOutcome
    {
        try context.execute(task: ImageClassificationConfig.task) {
            try train(config, in: context, attentionExample: attentionExample)
        }
    }

    private static func train(
        _ config: ImageClassificationConfig, in context: RunContext, attentionExample: String? = nil
    ) throws -> RunOutcome {
        let dir = context.directory, recipe = config.training, seed = recipe.seed
        if context.resume { try dir.checkResume(config) }
        var data = try config.data.load(seed: seed, in: context)
        if config.normalize == .imagenet {
            (data.mean, data.std) = (ImageNormalization.imagenet.mean, ImageNormalization.imagenet.std)
        }
        let side = config.data.side
        let modelConfiguration = config.architecture.configuration(
            classes: data.train.classNames.count, imageSize: side)
        let perStep = min(recipe.batchSize ?? 128, data.train.count)
        try modelConfiguration.checkTrainable(
            activations: (modelConfiguration as? ViTConfig)?.activationElements(batch: perStep) ?? 0,
            shrink: "--batch-size, --d-model, --depth or --patch-size")
        var g = RandomGenerator(seed: seed)
        let model = config.architecture.build(classes: data.train.classNames.count, imageSize: side, using: &g)
        let frozen = try config.transfer.apply(
            to: model, resuming: context.resume, head: model.headPath, labels: data.train.classNames, log: context.log)
        let optimizer = config.transfer.makeOptimizer(recipe, for: model)
        let batchSize = recipe.batchSize ?? 128, processes = context.dataParallel?.size ?? 1
        var batches = CIFARBatches(
            data.train, batchSize: batchSize, mean: data.mean, std: data.std,
            augmentation: config.augmentation.imageAugmentation(side: side),
            shuffle: true, dropLast: data.train.count >= batchSize * processes, seed: seed &+ 1)
        batches.shard = context.shard
        guard batches.batchesPerEpoch > 0 else {
            throw RunSetupError(
                "\(data.train.count) training images give no batch per epoch"
                    + (context.dataParallel.map { " for \($0.size) processes" } ?? ""))
        }
        let detail = (model as? VisionTransformer).map { ", \($0.config.patchCount) patches" } ?? ""
        context.log(
            "model: \(type(of: model)), \(model.parameterCount()) parameters\(detail); \(recipe.epochs) epochs × \(batches.batchesPerEpoch) steps of \(batchSize)"
                + (processes > 1 ? " × \(processes) processes" : ""))
        var saved = config
        saved.modelType = String(describing: type(of: model))
        saved.model = try JSONValue(model.config)
        saved.normalization = ImageNormalization(mean: data.mean, std: data.std)
        if context.resume {
            try dir.checkResume(saved)
        } else if context.isLead {
            try dir.writeConfig(saved, labels: data.train.classNames)
            try dir.writeLabels(data.train.classNames)
            try dir.write(text: data.split, to: "split.json")
        }
        let task = ImageClassificationTask(
            model: model, forward: { model($0) }, batches: batches, validation: data.validation, mean: data.mean,
            std: data.std,
            labelSmoothing: recipe.labelSmoothing, mixing: config.augmentation.mixing,
            save: { try ModelFile.save(model, to: $0) })
        let summary = try context.train(
            task, optimizer: optimizer, recipe: recipe, bestMetric: "val_accuracy",
            onEpochStart: config.transfer.unfreezing(model, prefixes: frozen, log: context.log))
        guard !summary.interrupted, context.isLead else { return RunOutcome(summary: summary, message: "") }
        let best = try ImageClassification.load(from: dir.url)
        let message: String
        if data.validation.count > 0 {
            try context.writeReport(try best.evaluate(data.validation))
            message = String(
                format: "best validation accuracy %.2f%% at epoch %d; %.1f s training; outputs in %@",
                summary.bestValue * 100,
                summary.bestEpoch, summary.seconds, dir.path)
        } else {
            message = String(
                format: "no validation set: best.safetensors is the last epoch (%d); %.1f s training; outputs in %@",
                summary.epochsCompleted, summary.seconds, dir.path)
        }
        return try context.finish(summary, message: message, attentionExample: attentionExample) { example, out in
            let (label, p) = try best.writeAttention(
                of: try ImageClassification.picture(example), name: example, to: out)
            return String(format: "%@ (%@, %.3f)", example, label, p)
        }
    }
}

extension ImageClassification: TrainedRun, ComparableRun {
    /// The run's network.
    public var network: any Module { model }
    /// The task name this type loads (config.json's `task`).
    public static var taskName: String { ImageClassificationConfig.task }
    /// What the run is called in messages.
    public static var displayName: String { "image classification" }

    /// Loads a run directory written by `attn train vit` or `attn train cnn`: `weights`, `labels.json` and the
    /// normalisation in `config.json`.
    public static func load(from run: RunDirectory, weights: String) throws -> ImageClassification {
        try run.check(holds: [weights, "labels.json", "config.json"], kind: "image classifier")
        let labels = try run.labels()
        let norm = try run.entry(
            "normalization", as: [String: [Float]].self, describing: "{\"mean\": [r, g, b], \"std\": [r, g, b]}")
        guard let mean = norm["mean"], let std = norm["std"], mean.count == 3, std.count == 3,
            std.allSatisfy({ $0 > 0 })
        else {
            throw RunDirectoryError(
                message:
                    "\(run.configURL.path): \"normalization\" needs three means and three positive standard deviations")
        }
        let model =
            try run.loadModel(
                weights, oneOf: imageClassifierModelTypes.map { $0 as any ConfigurableModel.Type },
                kind: "an image classifier") as! any ImageClassifierModel
        guard model.classes == labels.count else {
            throw RunDirectoryError(
                message: "\(run.path): the model has \(model.classes) classes but labels.json lists \(labels.count)")
        }
        return ImageClassification(
            model: model, forward: { model($0) }, labels: labels, mean: mean, std: std, imageSize: model.imageSize)
    }

    /// Loads a run directory written by `attn train vit` or `attn train cnn`.
    public static func load(from directory: URL, weights: String = "best.safetensors") throws -> ImageClassification {
        try load(from: RunDirectory(directory), weights: weights)
    }

    /// A picture from a PNG/JPEG path, or from `FILE.bin:INDEX`: record INDEX (0-based) of a CIFAR-10 batch file.
    public static func picture(_ spec: String) throws -> RGBImage {
        if let colon = spec.lastIndex(of: ":"), spec[..<colon].hasSuffix(".bin") {
            let path = String(spec[..<colon]), indexText = String(spec[spec.index(after: colon)...])
            guard let index = Int(indexText), index >= 0 else {
                throw RunSetupError("\(spec): '\(indexText)' is not a record index (0, 1, …)")
            }
            var pixels: [UInt8] = [], labels: [Int] = []
            try CIFAR10.appendRecords(from: URL(fileURLWithPath: path), pixels: &pixels, labels: &labels)
            guard index < labels.count else {
                throw RunSetupError(
                    "\(path): record \(index) does not exist (the file holds \(labels.count) records, 0…\(labels.count - 1))"
                )
            }
            return RGBImage(
                planar: Array(pixels[(index * CIFAR10.imageBytes)..<((index + 1) * CIFAR10.imageBytes)]), width: 32,
                height: 32)
        }
        return try ImageDecoding.read(contentsOf: URL(fileURLWithPath: spec))
    }

    /// Scores the images of `request.data`: a CIFAR-10 .bin file, or a directory (its test_batch.bin, else its
    /// batches), or a folder of class folders named as the run's classes.
    public func evaluate(_ request: EvaluationRequest) throws -> Evaluation {
        guard let data = request.data else {
            throw TaskUsageError(
                "an image classification run needs --data (a CIFAR-10 .bin file or directory, or class folders)")
        }
        let images = try ImageDataSelection.images(
            at: data, side: imageSize, badFiles: .skip, classNames: labels, note: request.note)
        let report: ClassificationReport
        do { report = try evaluate(images) } catch { throw RunSetupError("\(data): \(error)") }
        return try classificationEvaluation(
            report, request: request, title: URL(fileURLWithPath: data).lastPathComponent)
    }

    /// Writes the attention report of one input into `directory`; returns the line to print (the prediction).
    public func writeAttentionReport(_ request: AttentionRequest, to directory: URL) throws -> String {
        guard let image = request.image else { throw TaskUsageError("an image classification run needs --image") }
        let (label, p) = try writeAttention(
            of: try Self.picture(image), name: image, to: directory, pictures: request.pictures,
            colourScale: request.colourScale)
        return String(format: "prediction: %@ (%.4f)", label, p)
    }

    /// Parameters, the model's name, inference throughput and validation scores, measured on this CPU.
    public func measure(_ request: ComparisonRequest) -> ComparisonMeasurement {
        let batchSize = request.batchSize
        model.eval()
        var g = RandomGenerator(seed: 0)
        let images = Tensor.normal([batchSize, 3, imageSize, imageSize], using: &g)
        return ComparisonMeasurement(
            kind: "image", model: String(describing: type(of: model)), parameters: model.parameterCount(),
            itemsPerSecond: measureThroughput { _ = forward(images) } * Double(batchSize), unit: "images/s",
            batch: batchSize)
    }
}

/// A trained image classifier (the ViT or any of the CNNs in `imageClassifierModelTypes`) with its input normalisation and class names: images in,
/// labels and probabilities out. Loads the run directories `attn train vit|cnn` write.
public final class ImageClassification {
    /// The model being trained.
    public let model: any Module
    let forward: (Tensor) -> Tensor
    /// The class names, by label index.
    public let labels: [String]
    /// Per-channel normalisation of pixels scaled to [0, 1] (the training set's statistics).
    public let mean: [Float], std: [Float]
    /// The model's input side in pixels.
    public let imageSize: Int

    /// A classifier from a model, its forward pass, class names and the input normalisation.
    public init(
        model: any Module, forward: @escaping (Tensor) -> Tensor, labels: [String], mean: [Float], std: [Float],
        imageSize: Int = 32
    ) {
        self.model = model
        self.forward = forward
        self.labels = labels
        self.mean = mean
        self.std = std
        self.imageSize = imageSize
    }

    /// Builds a model of the type named by a `ModelFile` checkpoint and loads its weights.
    public static func loadModel(from url: URL) throws -> any ImageClassifierModel {
        try ModelFile.load(
            from: url, oneOf: imageClassifierModelTypes.map { $0 as any ConfigurableModel.Type },
            kind: "an image classifier") as! any ImageClassifierModel
    }

    /// Class probabilities [N, C] of images in the CIFAR-10 layout (planar RGB; resized to `imageSize` first when
    /// they are of another side).
    public func probabilities(_ images: CIFAR10, batchSize: Int = 250) -> [[Float]] {
        model.eval()
        var out: [[Float]] = []
        var loader = CIFARBatches(
            images.resized(to: imageSize), batchSize: batchSize, mean: mean, std: std, shuffle: false)
        withNoGrad {
            while let (x, _) = loader.next() {
                let p = forward(x).softmax(axis: -1).scalars, c = labels.count
                for r in 0..<x.shape[0] { out.append(Array(p[(r * c)..<(r * c + c)])) }
            }
        }
        return out
    }

    /// One picture of any size as the model's input: its shorter side resized to `imageSize` and centre-cropped
    /// (as image folders are read; a square picture is just resized), normalised, [1, 3, S, S].
    public func input(_ picture: RGBImage) -> Tensor {
        let planar = ImageFolder.centreCropped(picture, side: imageSize)
        var loader = CIFARBatches(
            CIFAR10(pixels: planar, labels: [0], classNames: labels, side: imageSize), batchSize: 1, mean: mean,
            std: std, shuffle: false)
        return loader.next()!.images
    }

    /// The top `k` labels of one picture of any size (resized to the model's input).
    public func classify(_ image: RGBImage, top k: Int = 1) -> [(label: String, probability: Float)] {
        model.eval()
        let p = withNoGrad { forward(input(image)).softmax(axis: -1).scalars }
        return topLabels(p, labels: labels, k: k)
    }

    /// The report on labelled images (their labels index this model's classes).
    public func evaluate(_ data: CIFAR10) throws -> ClassificationReport {
        if let bad = data.labels.firstIndex(where: { $0 < 0 || $0 >= labels.count }) {
            throw RunDirectoryError(
                message: "record \(bad) has label \(data.labels[bad]); the model knows \(labels.count) classes")
        }
        let p = probabilities(data)
        let predicted = argmaxRows(p)
        return ClassificationReport(labels: labels, truth: data.labels, predicted: predicted)
    }
}

/// Training an image classifier on CIFAR-10 batches: cross-entropy (optionally label-smoothed); validation loss and
/// accuracy every epoch. The model is any module with a `forward` from images [B, C, H, W] to logits [B, classes].
public final class ImageClassificationTask: TrainingTask {
    /// The model being trained.
    public let model: any Module
    let forward: (Tensor) -> Tensor
    var batches: CIFARBatches
    let validation: CIFAR10
    let mean: [Float], std: [Float]
    /// Label smoothing of the cross-entropy (0: none).
    public let labelSmoothing: Float
    let save: ((URL) throws -> Void)?

    /// - Parameter save: how to write the model (default: its weights; pass `ModelFile.save` to keep the config).
    /// Mixup/CutMix of training batches (off by default).
    public let mixing: ImageMixing
    var mixGenerator: RandomGenerator

    /// A training task over `batches`, validated on `validation`.
    public init(
        model: any Module, forward: @escaping (Tensor) -> Tensor, batches: CIFARBatches, validation: CIFAR10,
        mean: [Float], std: [Float], labelSmoothing: Float = 0, mixing: ImageMixing = ImageMixing(),
        save: ((URL) throws -> Void)? = nil
    ) {
        self.save = save
        self.mixing = mixing
        mixGenerator = RandomGenerator(seed: batches.generator.state.0 ^ 0x6D69_7875_70)
        self.model = model
        self.forward = forward
        self.batches = batches
        self.validation = validation
        self.mean = mean
        self.std = std
        self.labelSmoothing = labelSmoothing
    }

    /// What throughput counts in the progress bar.
    public var itemName: String { "img" }
    /// Batches in one epoch (for the progress bar and schedules).
    public var batchesPerEpoch: Int { batches.batchesPerEpoch }
    /// None without a validation set (the Trainer then keeps the last epoch).
    public var metricNames: [String] { validation.count == 0 ? [] : ["val_loss", "val_accuracy"] }
    /// The next batch of the current epoch, or nil when the epoch is over.
    public func nextBatch() -> (images: Tensor, labels: Tensor)? { batches.next() }
    /// Reshuffles the data for the next epoch.
    public func startNextEpoch() { batches.startNextEpoch() }
    /// Position in the data (generator state, epoch order, batch index) as text, for resume.
    public var dataState: String { "mix=\(mixGenerator.serialized);" + batches.savedState }
    /// Writes the model (weights and whatever rebuilds it) to `url`.
    public func saveModel(to url: URL) throws {
        if let save { try save(url) } else { try Checkpoint.saveWeights(model, to: url) }
    }
    /// Restores a position saved by `dataState`; throws when it does not fit this data.
    public func restoreDataState(_ text: String) throws {
        guard text.hasPrefix("mix="), let semi = text.firstIndex(of: ";"),
            let g = RandomGenerator(serialized: String(text[text.index(text.startIndex, offsetBy: 4)..<semi]))
        else {
            throw CheckpointError.invalidState("data position '\(text.prefix(80))' has no mixing generator state")
        }
        try batches.restore(String(text[text.index(after: semi)...]))  // checks before it changes anything
        mixGenerator = g
    }

    /// The batch's mean loss and its number of items.
    public func loss(_ b: (images: Tensor, labels: Tensor)) -> (loss: Tensor, items: Int) {
        guard mixing.isActive, b.labels.count > 1 else {
            return (Loss.crossEntropy(forward(b.images), b.labels, labelSmoothing: labelSmoothing), b.labels.count)
        }
        // Mixed with the batch in reverse order (as timm does); the loss mixes the two labels by the same λ.
        let (images, lambda) = mixing.apply(to: b.images, using: &mixGenerator)
        let n = b.labels.count
        let other = Tensor(Array(b.labels.scalars.reversed()), shape: [n])
        let logits = forward(images)
        let loss =
            Loss.crossEntropy(logits, b.labels, labelSmoothing: labelSmoothing) * lambda
            + Loss.crossEntropy(logits, other, labelSmoothing: labelSmoothing) * (1 - lambda)
        return (loss, n)
    }

    /// Validation metrics by name, computed in evaluation mode without a graph.
    public func evaluate() throws -> [String: Double] {
        guard validation.count > 0 else { return [:] }
        // Validation in training-sized batches: without a graph they need less memory than a training step, so the
        // run's peak stays the step's (batches of 500 added their own, larger working set).
        var loader = CIFARBatches(validation, batchSize: batches.batchSize, mean: mean, std: std, shuffle: false)
        var loss = 0.0, correct = 0
        while let (x, y) = loader.next() {
            let logits = forward(x)
            loss += Double(Loss.crossEntropy(logits, y, reduction: .sum).item())
            correct += Int(logits.argmax(axis: 1).eq(y).sum().item())
        }
        return ["val_loss": loss / Double(validation.count), "val_accuracy": Double(correct) / Double(validation.count)]
    }
}

extension ImageClassification {
    /// Classifies `picture` with attention capture and writes its report: each layer's self-attention over the
    /// patches (and class token), the input, and one strip with each layer's attention over the image — the class
    /// token's row, or with mean pooling the attention each patch receives — and the rollout (Abnar & Zuidema).
    /// A picture that is not square is shown as its centre square, the part the model sees (`input`).
    /// - Throws: when the model has no attention (the CNN).
    @discardableResult
    public func writeAttention(
        of original: RGBImage, name: String, to directory: URL, pictures: Bool = true,
        colourScale: AttentionColourScale = .absolute
    ) throws -> (label: String, probability: Float) {
        let picture = original.centreSquare
        guard let vit = model as? VisionTransformer else {
            throw RunDirectoryError(
                message:
                    "this run's model (\(type(of: model))) has no attention layers; attention reports need a ViT (attn train vit)"
            )
        }
        vit.eval()
        let x = input(original)
        let (logits, maps) = withAttentionCapture(on: vit) { withNoGrad { vit(x) } }
        let p = logits.softmax(axis: -1).scalars
        let best = argmaxRows([p])[0]
        let cls = vit.config.pooling == .cls, side = vit.config.patchesPerSide, n = side * side, off = cls ? 1 : 0
        let tokens =
            (cls ? [AttentionExport.Token(text: "[CLS]")] : []) + (0..<n).map { AttentionExport.Token(text: "p\($0)") }
        // The heat over patches of a [T, T] map: the class token's row, or each patch's mean received attention.
        func heat(_ m: [Float], t: Int) -> [Float] {
            cls ? Array(m[off..<t]) : (0..<n).map { c in (0..<t).map { m[$0 * t + c] }.reduce(0, +) / Float(t) }
        }
        var overlays: [(title: String, heat: [Float])] = []
        let t = maps.entries.first?.weights.shape[2] ?? 0
        for (i, e) in maps.entries.enumerated() {
            overlays.append(("layer \(i)", heat(e.weights.mean(axis: 1).scalars, t: t)))
        }
        if !maps.entries.isEmpty {
            overlays.append(("rollout", heat(attentionRollout(maps.entries.map(\.weights)).scalars, t: t)))
        }
        let prediction = "\(labels[best]) (\(String(format: "%.1f", p[best] * 100))%)"
        try AttentionExport.write(
            maps, kind: "image-classification", input: name, output: nil, prediction: prediction,
            tokens: ["patches": tokens],
            axes: { _ in ("patches", "patches") },
            image: .init(picture: picture, patchSide: side, classToken: cls, overlays: overlays), pictures: pictures,
            colourScale: colourScale, to: directory)
        return (labels[best], p[best])
    }
}

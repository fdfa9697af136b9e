import ArgumentParser
import AttentionKit
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model.",
        subcommands: [TrainCNN.self, TrainViT.self, TrainTranslation.self, TrainClassifier.self]
    )
}

/// `attn train cnn`: the small CNN on CIFAR-10 (official binary format) with a held-out validation split.
struct TrainCNN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn",
        abstract: "Train the small CNN (3 conv+BN+pool blocks, 2 linear) on CIFAR-10.",
        discussion: """
        Reads data_batch_*.bin from --data, holds out --val-fraction of the images (seeded) for validation, and trains \
        with SGD (momentum, weight decay on conv/linear weights only), linear warmup + cosine learning rate, random \
        crop (pad 4) and horizontal flips. Writes metrics.jsonl/metrics.csv, best.safetensors (weights of the best \
        validation epoch), last.safetensors, resume.safetensors (full training state, every epoch and on Ctrl-C), \
        curves.png and split.json (the indices of the training and validation images) to --out (default runs/cnn). \
        Defaults: 40 epochs, learning rate 0.05, weight decay 5e-4, no gradient clipping.
        """
    )

    @OptionGroup var common: CommonTrainingOptions
    @Option(help: "CIFAR-10 binary directory (data_batch_*.bin, batches.meta.txt).")
    var data = "../shared/data/cifar-10-batches-bin"
    @Option(name: .customLong("batch-size"), help: "Images per training step.")
    var batchSize = 128
    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9
    @Option(name: .customLong("warmup-epochs"), help: "Epochs of linear learning-rate warmup before the cosine decay (instead of --warmup-steps).")
    var warmupEpochs = 1
    @Option(help: "Dropout probability before the last linear layer (0: none).")
    var dropout: Float = 0
    @Option(name: .customLong("label-smoothing"), help: "Label smoothing ε of the cross-entropy loss (0: none).")
    var labelSmoothing: Float = 0
    @Option(name: .customLong("val-fraction"), help: "Fraction of the images held out for validation.")
    var valFraction = 0.1
    @Option(name: .customLong("split-seed"), help: "Seed of the train/validation split (default: --seed), to vary the run on a fixed split.")
    var splitSeed: UInt64?
    @Option(help: "Use only the first N images (quick runs; 0 = all).")
    var limit = 0
    @Flag(name: .customLong("no-augment"), help: "Disable random crops and flips.")
    var noAugment = false

    static let defaultEpochs = 40, defaultLR: Float = 0.05, defaultWeightDecay: Float = 5e-4

    func validate() throws {
        let epochs = common.epochs ?? Self.defaultEpochs
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        guard valFraction > 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in (0, 1)") }
        guard limit >= 0 else { throw ValidationError("--limit must be non-negative") }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard labelSmoothing >= 0 && labelSmoothing < 1 else { throw ValidationError("--label-smoothing must be in [0, 1)") }
        guard warmupEpochs >= 0 && warmupEpochs < epochs else {
            throw ValidationError("--warmup-epochs (\(warmupEpochs)) must be at least 0 and less than --epochs (\(epochs))")
        }
    }

    func run() throws {
        let outDir = URL(fileURLWithPath: common.out ?? "runs/cnn")
        let epochs = common.epochs ?? Self.defaultEpochs, lr = common.lr ?? Self.defaultLR
        let weightDecay = common.weightDecay ?? Self.defaultWeightDecay
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let (trainSet, valSet, mean, std) = try loadCIFARSplit(data: data, limit: limit, valFraction: valFraction,
                                                               seed: splitSeed ?? common.seed, outDir: outDir)

        var g = RandomGenerator(seed: common.seed)
        var config = SmallCNNConfig()
        config.dropout = dropout
        let model = SmallCNN(config, using: &g)
        let optimizer = SGD(ParameterGroup.weightDecayGroups(model, weightDecay: weightDecay), learningRate: lr, momentum: momentum, nesterov: true)
        let batches = CIFARBatches(trainSet, batchSize: batchSize, mean: mean, std: std,
                                   augmentation: noAugment ? .none : ImageAugmentation(), shuffle: true, dropLast: true, seed: common.seed &+ 1)
        let steps = epochs * batches.batchesPerEpoch
        let schedule = WarmupCosine(warmupSteps: common.warmupSteps ?? warmupEpochs * batches.batchesPerEpoch, totalSteps: steps)
        say("model: SmallCNN, \(model.parameterCount()) parameters; \(epochs) epochs × \(batches.batchesPerEpoch) steps of \(batchSize)")
        let task = ImageClassificationTask(model: model, forward: { model($0) }, batches: batches, validation: valSet,
                                           mean: mean, std: std, labelSmoothing: labelSmoothing)
        let trainer = Trainer(task: task, optimizer: optimizer, schedule: schedule,
                              options: common.options(epochs: epochs, clipNorm: 0, bestMetric: "val_accuracy", higherIsBetter: true), directory: outDir)
        trainer.log = say
        let summary = try trainer.run(resume: common.resume)
        if summary.interrupted { throw ExitCode(130) }
        say(String(format: "best validation accuracy %.2f%% at epoch %d; %.1f s training; outputs in %@", summary.bestValue * 100,
                   summary.bestEpoch, summary.seconds, outDir.path))
    }
}

/// Reads a CIFAR-10 binary directory, holds out a seeded validation fraction, writes `split.json` (the indices, so
/// other tools such as the PyTorch twin can use exactly the same images) and returns the two sets with the training
/// set's channel statistics.
func loadCIFARSplit(data: String, limit: Int, valFraction: Double, seed: UInt64, outDir: URL)
    throws -> (train: CIFAR10, validation: CIFAR10, mean: [Float], std: [Float]) {
    var all = try CIFAR10(directory: URL(fileURLWithPath: data))
    if limit > 0 && limit < all.count { all = all.subset(Array(0..<limit)) }
    let (trainIdx, valIdx) = all.splitIndices(validationFraction: valFraction, seed: seed)
    let (trainSet, valSet) = (all.subset(trainIdx), all.subset(valIdx))
    let splitJSON = "{\"train\": [\(trainIdx.map(String.init).joined(separator: ","))], \"validation\": [\(valIdx.map(String.init).joined(separator: ","))]}\n"
    try AtomicFile.write(Data(splitJSON.utf8), to: outDir.appendingPathComponent("split.json"))
    let (mean, std) = trainSet.channelStatistics()
    say("CIFAR-10: \(trainSet.count) training and \(valSet.count) validation images from \(data)")
    return (trainSet, valSet, mean, std)
}

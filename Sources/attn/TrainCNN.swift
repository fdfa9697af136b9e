import ArgumentParser
import AttentionKit
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model.",
        subcommands: [TrainCNN.self, TrainTranslation.self]
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
        validation epoch), resume.safetensors (full training state, every epoch), curves.png and split.json (the \
        indices of the training and validation images) to --out.
        """
    )

    @Option(help: "CIFAR-10 binary directory (data_batch_*.bin, batches.meta.txt).")
    var data = "../shared/data/cifar-10-batches-bin"
    @Option(help: "Output directory for metrics and checkpoints.")
    var out = "runs/cnn"
    @Option(help: "Number of epochs.")
    var epochs = 40
    @Option(name: .customLong("batch-size"), help: "Images per training step.")
    var batchSize = 128
    @Option(help: "Peak learning rate.")
    var lr: Float = 0.05
    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay on conv and linear weights (not on norms and biases).")
    var weightDecay: Float = 5e-4
    @Option(name: .customLong("warmup-epochs"), help: "Epochs of linear learning-rate warmup before the cosine decay.")
    var warmupEpochs = 1
    @Option(help: "Dropout probability before the last linear layer (0: none).")
    var dropout: Float = 0
    @Option(name: .customLong("label-smoothing"), help: "Label smoothing ε of the cross-entropy loss (0: none).")
    var labelSmoothing: Float = 0
    @Option(name: .customLong("val-fraction"), help: "Fraction of the images held out for validation.")
    var valFraction = 0.1
    @Option(help: "Random seed (weights, split, shuffling, augmentation).")
    var seed: UInt64 = 0
    @Option(name: .customLong("split-seed"), help: "Seed of the train/validation split (default: --seed), to vary the run on a fixed split.")
    var splitSeed: UInt64?
    @Option(help: "Use only the first N images (quick runs; 0 = all).")
    var limit = 0
    @Flag(name: .customLong("no-augment"), help: "Disable random crops and flips.")
    var noAugment = false
    @Flag(help: "Continue from --out/resume.safetensors.")
    var resume = false

    func validate() throws {
        guard epochs > 0 else { throw ValidationError("--epochs must be positive") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        guard lr > 0 else { throw ValidationError("--lr must be positive") }
        guard valFraction > 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in (0, 1)") }
        guard limit >= 0 else { throw ValidationError("--limit must be non-negative") }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard labelSmoothing >= 0 && labelSmoothing < 1 else { throw ValidationError("--label-smoothing must be in [0, 1)") }
        guard warmupEpochs >= 0 && warmupEpochs < epochs else {
            throw ValidationError("--warmup-epochs (\(warmupEpochs)) must be at least 0 and less than --epochs (\(epochs))")
        }
    }

    func run() throws {
        let outDir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        var all = try CIFAR10(directory: URL(fileURLWithPath: data))
        if limit > 0 && limit < all.count { all = all.subset(Array(0..<limit)) }
        let (trainIdx, valIdx) = all.splitIndices(validationFraction: valFraction, seed: splitSeed ?? seed)
        let (trainSet, valSet) = (all.subset(trainIdx), all.subset(valIdx))
        // the split, so other tools (e.g. the PyTorch twin in Benchmarks/torch) can use exactly the same images
        let splitJSON = "{\"train\": [\(trainIdx.map(String.init).joined(separator: ","))], \"validation\": [\(valIdx.map(String.init).joined(separator: ","))]}\n"
        try AtomicFile.write(Data(splitJSON.utf8), to: outDir.appendingPathComponent("split.json"))
        let (mean, std) = trainSet.channelStatistics()
        say("CIFAR-10: \(trainSet.count) training and \(valSet.count) validation images from \(data)")

        var g = RandomGenerator(seed: seed)
        var config = SmallCNNConfig()
        config.dropout = dropout
        let model = SmallCNN(config, using: &g)
        let decay = model.namedParameters().filter { $0.tensor.rank >= 2 }.map(\.tensor)
        let noDecay = model.namedParameters().filter { $0.tensor.rank < 2 }.map(\.tensor)
        let optimizer = SGD([ParameterGroup(decay, weightDecay: weightDecay), ParameterGroup(noDecay, weightDecay: 0)],
                            learningRate: lr, momentum: momentum, nesterov: true)
        var batches = CIFARBatches(trainSet, batchSize: batchSize, mean: mean, std: std,
                                   augmentation: noAugment ? .none : ImageAugmentation(), shuffle: true, dropLast: true, seed: seed &+ 1)
        let steps = epochs * batches.batchesPerEpoch
        let schedule = WarmupCosine(warmupSteps: warmupEpochs * batches.batchesPerEpoch, totalSteps: steps)
        say("model: SmallCNN, \(model.parameterCount()) parameters; \(epochs) epochs × \(batches.batchesPerEpoch) steps of \(batchSize)")

        let resumeURL = outDir.appendingPathComponent("resume.safetensors")
        var startEpoch = 0, bestAccuracy = -1.0
        if resume {
            guard FileManager.default.fileExists(atPath: resumeURL.path) else {
                throw ValidationError("--resume: \(resumeURL.path) does not exist")
            }
            let meta = try Checkpoint.loadTrainingState(model: model, optimizer: optimizer, from: resumeURL)
            try batches.restore(meta["data"] ?? "")
            startEpoch = Int(meta["epoch"] ?? "") ?? 0
            bestAccuracy = Double(meta["best_val_accuracy"] ?? "") ?? -1
            say("resumed from \(resumeURL.path) at epoch \(startEpoch)")
        }
        let metrics = try MetricsLog(directory: outDir, keys: ["epoch", "step", "lr", "train_loss", "train_accuracy",
                                                              "val_loss", "val_accuracy", "epoch_seconds", "images_per_s"], append: resume)
        let started = Date()
        for epoch in startEpoch..<epochs {
            model.train()
            let t0 = Date()
            var bar = ProgressBar(total: batches.batchesPerEpoch, label: "epoch \(epoch + 1)/\(epochs)", unit: "img")
            var lossSum = 0.0, correct = 0, seen = 0, k = 0
            while let (x, y) = batches.next() {
                optimizer.setLearningRateFactor(schedule.factor(step: optimizer.stepCount))
                let logits = model(x)
                let loss = Loss.crossEntropy(logits, y, labelSmoothing: labelSmoothing)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                let l = loss.item()
                guard l.isFinite else { throw ValidationError("training diverged: loss \(l) at step \(optimizer.stepCount) (lower --lr)") }
                lossSum += Double(l) * Double(y.count)
                correct += Int(logits.argmax(axis: 1).eq(y).sum().item())
                seen += y.count
                k += 1
                bar.update(k, items: seen, suffix: String(format: "loss %.3f", lossSum / Double(seen)))
            }
            bar.finish()
            batches.startNextEpoch()
            let seconds = Date().timeIntervalSince(t0)
            let (valLoss, valAccuracy) = evaluate(model, valSet, mean: mean, std: std)
            let trainAccuracy = Double(correct) / Double(seen)
            try metrics.write(["epoch": Double(epoch + 1), "step": Double(optimizer.stepCount), "lr": Double(optimizer.learningRate),
                               "train_loss": lossSum / Double(seen), "train_accuracy": trainAccuracy, "val_loss": valLoss,
                               "val_accuracy": valAccuracy, "epoch_seconds": seconds, "images_per_s": Double(seen) / seconds])
            say(String(format: "epoch %d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  %.1fs",
                         epoch + 1, epochs, lossSum / Double(seen), trainAccuracy * 100, valLoss, valAccuracy * 100, seconds))
            try writeCurves(metricsCSV: metrics.csv, to: outDir.appendingPathComponent("curves.png"))
            if valAccuracy > bestAccuracy {
                bestAccuracy = valAccuracy
                try Checkpoint.saveWeights(model, to: outDir.appendingPathComponent("best.safetensors"),
                                           metadata: ["epoch": String(epoch + 1), "val_accuracy": String(valAccuracy)])
            }
            try Checkpoint.saveTrainingState(model: model, optimizer: optimizer,
                                             metadata: ["epoch": String(epoch + 1), "data": batches.savedState,
                                                        "best_val_accuracy": String(bestAccuracy), "seed": String(seed)], to: resumeURL)
        }
        say(String(format: "best validation accuracy %.2f%%; %.1f s training; outputs in %@", bestAccuracy * 100,
                     Date().timeIntervalSince(started), outDir.path))
    }

    /// Mean cross-entropy and accuracy over a dataset, in evaluation mode without a graph.
    func evaluate(_ model: SmallCNN, _ set: CIFAR10, mean: [Float], std: [Float]) -> (Double, Double) {
        model.eval()
        var batches = CIFARBatches(set, batchSize: 500, mean: mean, std: std, shuffle: false)
        var loss = 0.0, correct = 0
        withNoGrad {
            while let (x, y) = batches.next() {
                let logits = model(x)
                loss += Double(Loss.crossEntropy(logits, y, reduction: .sum).item())
                correct += Int(logits.argmax(axis: 1).eq(y).sum().item())
            }
        }
        return (loss / Double(set.count), Double(correct) / Double(set.count))
    }
}

// image-classifier: a CNN or a Vision Transformer on CIFAR-10, trained by the library's `Trainer` through a
// `TrainingTask` written here — the interface any training job implements to get the Trainer's loop: batches,
// loss, validation metrics, best/last/resume checkpoints, the progress bar, early stopping and `--resume`.
// Usage: swift run -c release image-classifier cnn|vit [CIFAR_DIR] [EPOCHS] [OUT_DIR]
//   (default CIFAR_DIR: corpora/cifar10-sample, the 100-image sample; pass the unpacked cifar-10-batches-bin folder
//   for real accuracy. OUT_DIR default: runs/image-classifier-MODEL.) Running it again resumes the run in OUT_DIR.
import AttentionKit
import Foundation

/// CIFAR-10 as a `TrainingTask`: shuffled, augmented training batches and validation accuracy.
final class CIFARTask: TrainingTask {
    let network: any Layer
    var train: CIFARBatches
    let validation: CIFARBatches
    init(network: any Layer, train: CIFARBatches, validation: CIFARBatches) {
        (self.network, self.train, self.validation) = (network, train, validation)
    }

    var model: any Module { network }
    var itemName: String { "img" }
    var batchesPerEpoch: Int { train.batchesPerEpoch }
    func nextBatch() -> (images: Tensor, labels: Tensor)? { train.next() }
    func startNextEpoch() { train.startNextEpoch() }
    func loss(_ batch: (images: Tensor, labels: Tensor)) -> (loss: Tensor, items: Int) {
        (Loss.crossEntropy(network(batch.images), batch.labels, labelSmoothing: 0.1), batch.labels.shape[0])
    }
    /// Called by the Trainer in evaluation mode, without a graph.
    func evaluate() throws -> [String: Double] {
        var batches = validation, correct = 0.0, total = 0.0, lossSum = 0.0
        while let (images, labels) = batches.next() {
            let logits = network(images)
            lossSum += Double(Loss.crossEntropy(logits, labels).item()) * Double(labels.shape[0])
            correct += Double(logits.argmax(axis: 1).eq(labels).sum().item())
            total += Double(labels.shape[0])
        }
        return ["val_loss": lossSum / total, "val_accuracy": correct / total]
    }
    var metricNames: [String] { ["val_loss", "val_accuracy"] }
    // where the data stands, saved in resume.safetensors so that a resumed run draws the same batches
    var dataState: String { train.savedState }
    func restoreDataState(_ text: String) throws { try train.restore(text) }
}

let args = Array(CommandLine.arguments.dropFirst())
guard let kind = args.first, ["cnn", "vit"].contains(kind) else {
    print("usage: image-classifier cnn|vit [CIFAR_DIR] [EPOCHS] [OUT_DIR]")
    exit(2)
}
let dataPath = args.count > 1 ? args[1] : "corpora/cifar10-sample"
let epochs = args.count > 2 ? Int(args[2]) ?? 10 : 10
let out = URL(fileURLWithPath: args.count > 3 ? args[3] : "runs/image-classifier-\(kind)")
do {
    let all = try CIFAR10(directory: URL(fileURLWithPath: dataPath))
    let (trainSet, validSet) = all.split(validationFraction: 0.1, seed: 0)  // seeded, the same every run
    let (mean, std) = trainSet.channelStatistics()  // normalise by the training images
    print("\(trainSet.count) training and \(validSet.count) validation images from \(dataPath)")

    var g = RandomGenerator(seed: 0)
    let network: any Layer
    if kind == "cnn" {
        var c = SmallCNNConfig()
        c.channels = [32, 64, 128]; c.dropout = 0.3
        network = SmallCNN(c, using: &g)
    } else {
        var c = ViTConfig()  // patches of 4×4 → 64 tokens + the class token
        c.dModel = 128; c.depth = 4; c.heads = 4; c.dropPath = 0.1
        network = VisionTransformer(config: c, using: &g)
    }
    print("\(type(of: network)): \(network.parameterCount()) parameters")

    let task = CIFARTask(
        network: network,
        train: CIFARBatches(trainSet, batchSize: 64, mean: mean, std: std, augmentation: .standard(side: 32), seed: 1),
        validation: CIFARBatches(validSet, batchSize: 256, mean: mean, std: std, shuffle: false))
    let optimizer = AdamW(parameters: network.parameters, learningRate: 1e-3, weightDecay: 0.05)
    let steps = epochs * task.batchesPerEpoch
    let schedule = WarmupCosine(warmupSteps: steps / 10, totalSteps: steps)
    var options = TrainerOptions(epochs: epochs)
    (options.bestMetric, options.higherIsBetter) = ("val_accuracy", true)
    let trainer = Trainer(task: task, optimizer: optimizer, schedule: schedule, options: options, directory: out)
    let resume = FileManager.default.fileExists(atPath: out.appendingPathComponent("resume.safetensors").path)
    let summary = try trainer.run(resume: resume)
    print(
        String(
            format: "best validation accuracy %.1f%% at epoch %d; %@ holds best.safetensors and metrics.csv",
            summary.bestValue * 100, summary.bestEpoch, out.path))
} catch {
    print("image-classifier: \(error)")
    exit(1)
}

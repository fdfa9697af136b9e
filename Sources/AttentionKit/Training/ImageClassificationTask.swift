import Foundation

/// Training an image classifier on CIFAR-10 batches: cross-entropy (optionally label-smoothed); validation loss and
/// accuracy every epoch. The model is any module with a `forward` from images [B, C, H, W] to logits [B, classes].
public final class ImageClassificationTask: TrainingTask {
    public let model: any Module
    let forward: (Tensor) -> Tensor
    var batches: CIFARBatches
    let validation: CIFAR10
    let mean: [Float], std: [Float]
    public let labelSmoothing: Float
    let save: ((URL) throws -> Void)?

    /// - Parameter save: how to write the model (default: its weights; pass `ModelFile.save` to keep the config).
    public init(model: any Module, forward: @escaping (Tensor) -> Tensor, batches: CIFARBatches, validation: CIFAR10,
                mean: [Float], std: [Float], labelSmoothing: Float = 0, save: ((URL) throws -> Void)? = nil) {
        self.save = save
        self.model = model
        self.forward = forward
        self.batches = batches
        self.validation = validation
        self.mean = mean
        self.std = std
        self.labelSmoothing = labelSmoothing
    }

    public var itemName: String { "img" }
    public var batchesPerEpoch: Int { batches.batchesPerEpoch }
    public var metricNames: [String] { ["val_loss", "val_accuracy"] }
    public func nextBatch() -> (images: Tensor, labels: Tensor)? { batches.next() }
    public func startNextEpoch() { batches.startNextEpoch() }
    public var dataState: String { batches.savedState }
    public func saveModel(to url: URL) throws {
        if let save { try save(url) } else { try Checkpoint.saveWeights(model, to: url) }
    }
    public func restoreDataState(_ text: String) throws { try batches.restore(text) }

    public func loss(_ b: (images: Tensor, labels: Tensor)) -> (loss: Tensor, items: Int) {
        (Loss.crossEntropy(forward(b.images), b.labels, labelSmoothing: labelSmoothing), b.labels.count)
    }

    public func evaluate() throws -> [String: Double] {
        var loader = CIFARBatches(validation, batchSize: 500, mean: mean, std: std, shuffle: false)
        var loss = 0.0, correct = 0
        while let (x, y) = loader.next() {
            let logits = forward(x)
            loss += Double(Loss.crossEntropy(logits, y, reduction: .sum).item())
            correct += Int(logits.argmax(axis: 1).eq(y).sum().item())
        }
        return ["val_loss": loss / Double(validation.count), "val_accuracy": Double(correct) / Double(validation.count)]
    }
}

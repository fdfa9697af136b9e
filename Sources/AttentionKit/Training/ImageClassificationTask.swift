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
    /// Mixup/CutMix of training batches (off by default).
    public let mixing: ImageMixing
    var mixGenerator: RandomGenerator

    public init(model: any Module, forward: @escaping (Tensor) -> Tensor, batches: CIFARBatches, validation: CIFAR10,
                mean: [Float], std: [Float], labelSmoothing: Float = 0, mixing: ImageMixing = ImageMixing(),
                save: ((URL) throws -> Void)? = nil) {
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

    public var itemName: String { "img" }
    public var batchesPerEpoch: Int { batches.batchesPerEpoch }
    /// None without a validation set (the Trainer then keeps the last epoch).
    public var metricNames: [String] { validation.count == 0 ? [] : ["val_loss", "val_accuracy"] }
    public func nextBatch() -> (images: Tensor, labels: Tensor)? { batches.next() }
    public func startNextEpoch() { batches.startNextEpoch() }
    public var dataState: String { "mix=\(mixGenerator.serialized);" + batches.savedState }
    public func saveModel(to url: URL) throws {
        if let save { try save(url) } else { try Checkpoint.saveWeights(model, to: url) }
    }
    public func restoreDataState(_ text: String) throws {
        guard text.hasPrefix("mix="), let semi = text.firstIndex(of: ";"),
              let g = RandomGenerator(serialized: String(text[text.index(text.startIndex, offsetBy: 4)..<semi])) else {
            throw CheckpointError.invalidState("data position '\(text.prefix(80))' has no mixing generator state")
        }
        try batches.restore(String(text[text.index(after: semi)...]))   // checks before it changes anything
        mixGenerator = g
    }

    public func loss(_ b: (images: Tensor, labels: Tensor)) -> (loss: Tensor, items: Int) {
        guard mixing.isActive, b.labels.count > 1 else {
            return (Loss.crossEntropy(forward(b.images), b.labels, labelSmoothing: labelSmoothing), b.labels.count)
        }
        // Mixed with the batch in reverse order (as timm does); the loss mixes the two labels by the same λ.
        let (images, lambda) = mixing.apply(to: b.images, using: &mixGenerator)
        let n = b.labels.count
        let other = Tensor(Array(b.labels.scalars.reversed()), shape: [n])
        let logits = forward(images)
        let loss = Loss.crossEntropy(logits, b.labels, labelSmoothing: labelSmoothing) * lambda
            + Loss.crossEntropy(logits, other, labelSmoothing: labelSmoothing) * (1 - lambda)
        return (loss, n)
    }

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

/// Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) as timm applies them per batch: with probability
/// `probability` a batch is mixed with itself in reverse order; λ ~ Beta(α, α); when both are enabled, each mixed
/// batch uses one of them with equal chance. CutMix pastes a box of area (1 − λ) and then sets λ to the exact kept
/// fraction. The loss is λ·CE(y) + (1 − λ)·CE(y reversed).
public struct ImageMixing: Codable, Sendable, Equatable {
    public var mixupAlpha: Float
    public var cutmixAlpha: Float
    public var probability: Float
    public init(mixupAlpha: Float = 0, cutmixAlpha: Float = 0, probability: Float = 1) {
        self.mixupAlpha = mixupAlpha
        self.cutmixAlpha = cutmixAlpha
        self.probability = probability
    }
    public var isActive: Bool { (mixupAlpha > 0 || cutmixAlpha > 0) && probability > 0 }

    /// The mixed copy of `images` [B, C, H, W] and its λ (1: unmixed).
    public func apply(to images: Tensor, using g: inout RandomGenerator) -> (Tensor, Float) {
        guard isActive, g.nextUnit() < Double(probability) else { return (images, 1) }
        let useCutmix = cutmixAlpha > 0 && (mixupAlpha <= 0 || g.nextUnit() < 0.5)
        var lambda = Float(Self.beta(Double(useCutmix ? cutmixAlpha : mixupAlpha), using: &g))
        let (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let out = images.copy()
        let src = images.scalars
        out.withUnsafeMutableFloats { dst in
            if useCutmix {
                let cut = (1 - Double(lambda)).squareRoot()
                let ch = Int(Double(h) * cut), cw = Int(Double(w) * cut)
                let cy = Int(g.next() % UInt64(h)), cx = Int(g.next() % UInt64(w))
                let y0 = max(cy - ch / 2, 0), y1 = min(cy + ch / 2, h), x0 = max(cx - cw / 2, 0), x1 = min(cx + cw / 2, w)
                for i in 0..<b {
                    let j = b - 1 - i
                    for k in 0..<c { for y in y0..<y1 { for x in x0..<x1 {
                        dst[((i * c + k) * h + y) * w + x] = src[((j * c + k) * h + y) * w + x]
                    } } }
                }
                lambda = 1 - Float((y1 - y0) * (x1 - x0)) / Float(h * w)
            } else {
                let per = c * h * w
                for i in 0..<b {
                    let j = b - 1 - i
                    for k in 0..<per { dst[i * per + k] = lambda * src[i * per + k] + (1 - lambda) * src[j * per + k] }
                }
            }
        }
        return (out, lambda)
    }

    /// A Beta(α, α) draw as X / (X + Y) with X, Y ~ Gamma(α, 1).
    static func beta(_ alpha: Double, using g: inout RandomGenerator) -> Double {
        let x = gamma(alpha, using: &g), y = gamma(alpha, using: &g)
        return x + y > 0 ? x / (x + y) : 0.5
    }

    /// Gamma(α, 1) by Marsaglia and Tsang (2000); α < 1 through Gamma(α + 1)·U^(1/α).
    static func gamma(_ alpha: Double, using g: inout RandomGenerator) -> Double {
        if alpha < 1 { return gamma(alpha + 1, using: &g) * Foundation.pow(max(g.nextUnit(), 1e-300), 1 / alpha) }
        let d = alpha - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat { x = g.nextNormal(); v = 1 + c * x } while v <= 0
            v = v * v * v
            let u = g.nextUnit()
            if u < 1 - 0.0331 * x * x * x * x || Foundation.log(max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
        }
    }
}

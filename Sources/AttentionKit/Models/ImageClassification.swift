import Foundation

/// A trained image classifier (the ViT or any of the CNNs in `imageClassifierModelTypes`) with its input normalisation and class names: images in,
/// labels and probabilities out. Loads the run directories `attn train vit|cnn` write.
public final class ImageClassification {
    public let model: any Module
    let forward: (Tensor) -> Tensor
    public let labels: [String]
    /// Per-channel normalisation of pixels scaled to [0, 1] (the training set's statistics).
    public let mean: [Float], std: [Float]
    /// The model's input side in pixels.
    public let imageSize: Int

    public init(model: any Module, forward: @escaping (Tensor) -> Tensor, labels: [String], mean: [Float], std: [Float], imageSize: Int = 32) {
        self.model = model
        self.forward = forward
        self.labels = labels
        self.mean = mean
        self.std = std
        self.imageSize = imageSize
    }

    /// Builds a model of the type named by a `ModelFile` checkpoint and loads its weights.
    public static func loadModel(from url: URL) throws -> any ImageClassifierModel {
        let name = try ModelFile.modelName(in: url)
        guard let type = imageClassifierModelTypes.first(where: { String(describing: $0) == name }) else {
            let known = imageClassifierModelTypes.map { String(describing: $0) }.joined(separator: ", ")
            throw CheckpointError.invalidState("\(url.path): holds a \(name), not an image classifier (\(known))")
        }
        func open<M: ImageClassifierModel>(_ t: M.Type) throws -> any ImageClassifierModel { try ModelFile.load(t, from: url) }
        return try open(type)
    }

    /// Loads a run directory written by `attn train vit` or `attn train cnn`: `weights`, `labels.json` and the
    /// normalisation in `config.json`.
    public static func load(from directory: URL, weights: String = "best.safetensors") throws -> ImageClassification {
        try RunDirectoryError.check(directory, holds: [weights, "labels.json", "config.json"], kind: "image classifier")
        let labels = try RunDirectoryError.labels(in: directory)
        let norm = try RunDirectoryError.configEntry("normalization", as: [String: [Float]].self, in: directory,
                                                     describing: "{\"mean\": [r, g, b], \"std\": [r, g, b]}")
        guard let mean = norm["mean"], let std = norm["std"], mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 }) else {
            throw RunDirectoryError(message: "\(directory.appendingPathComponent("config.json").path): \"normalization\" needs three means and three positive standard deviations")
        }
        let model = try loadModel(from: directory.appendingPathComponent(weights))
        guard model.classes == labels.count else {
            throw RunDirectoryError(message: "\(directory.path): the model has \(model.classes) classes but labels.json lists \(labels.count)")
        }
        return ImageClassification(model: model, forward: { model($0) }, labels: labels, mean: mean, std: std, imageSize: model.imageSize)
    }

    /// Class probabilities [N, C] of images in the CIFAR-10 layout (planar RGB, `imageSize`² per plane).
    public func probabilities(_ images: CIFAR10, batchSize: Int = 250) -> [[Float]] {
        model.eval()
        var out: [[Float]] = []
        var loader = CIFARBatches(images, batchSize: batchSize, mean: mean, std: std, shuffle: false)
        withNoGrad {
            while let (x, _) = loader.next() {
                let p = forward(x).softmax(axis: -1).scalars, c = labels.count
                for r in 0..<x.shape[0] { out.append(Array(p[(r * c)..<(r * c + c)])) }
            }
        }
        return out
    }

    /// One picture of any size as the model's input: resized to `imageSize`, normalised, [1, 3, S, S].
    public func input(_ picture: RGBImage) -> Tensor {
        let small = picture.resized(width: imageSize, height: imageSize)
        var loader = CIFARBatches(CIFAR10(pixels: small.planar, labels: [0], classNames: labels), batchSize: 1, mean: mean, std: std, shuffle: false)
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
            throw RunDirectoryError(message: "record \(bad) has label \(data.labels[bad]); the model knows \(labels.count) classes")
        }
        let p = probabilities(data)
        let predicted = argmaxRows(p)
        return ClassificationReport(labels: labels, truth: data.labels, predicted: predicted)
    }
}

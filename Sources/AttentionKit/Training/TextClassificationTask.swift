import Foundation

/// A trained text classifier with its tokenizer and label names: strings in, labels and probabilities out.
public struct TextClassification {
    /// The transformer `TextClassifier` or Kim's `TextCNN`.
    public let model: any TextClassificationModel
    public let tokenizer: Tokenizer
    public let labels: [String]

    public init(model: any TextClassificationModel, tokenizer: Tokenizer, labels: [String]) {
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
    }

    /// Token ids of a text, cut to the model's maxLength (at least one token: [UNK] for an empty text).
    public func ids(_ text: String) -> [Int] {
        let ids = Array(tokenizer.encode(text, addSpecialTokens: false).ids.prefix(model.maxLength))
        return ids.isEmpty ? [tokenizer.id(of: "[UNK]") ?? 0] : ids
    }

    /// Pads a batch of id rows with the model's padding id.
    func padded(_ rows: [[Int]]) -> [[Int]] {
        let t = rows.map(\.count).max() ?? 0
        return rows.map { $0 + Array(repeating: model.padID, count: t - $0.count) }
    }

    /// Class probabilities [N, C] of `texts`, `batchSize` at a time.
    public func probabilities(_ texts: [String], batchSize: Int = 128) -> [[Float]] {
        model.eval()
        var out: [[Float]] = []
        withNoGrad {
            for start in stride(from: 0, to: texts.count, by: batchSize) {
                let chunk = texts[start..<min(start + batchSize, texts.count)].map(ids)
                let p = model(padded(chunk)).softmax(axis: -1).scalars
                let c = labels.count
                for r in 0..<chunk.count { out.append(Array(p[(r * c)..<(r * c + c)])) }
            }
        }
        return out
    }

    /// The top `k` labels of each text with their probabilities.
    public func classify(_ texts: [String], top k: Int = 1) -> [[(label: String, probability: Float)]] {
        probabilities(texts).map { p in
            topLabels(p, labels: labels, k: k)
        }
    }

    /// Writes the weights with the configuration that rebuilds the model (`ModelFile`).
    public func saveModel(to url: URL) throws {
        if let m = model as? TextCNN { try ModelFile.save(m, to: url) }
        else if let m = model as? TextClassifier { try ModelFile.save(m, to: url) }
        else { throw CheckpointError.invalidState("cannot save a \(type(of: model)): not a TextClassifier or TextCNN") }
    }

    /// Writes `tokenizer.json` and `labels.json` into a run directory (the weights are written by training).
    public func saveVocabularies(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try tokenizer.save(to: directory.appendingPathComponent("tokenizer.json"))
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: labels), to: directory.appendingPathComponent("labels.json"))
    }

    /// Loads a run directory written by `attn train classifier`.
    public static func load(from directory: URL, weights: String = "best.safetensors") throws -> TextClassification {
        try RunDirectoryError.check(directory, holds: [weights, "tokenizer.json", "labels.json"], kind: "classifier")
        let labels = try RunDirectoryError.labels(in: directory)
        let url = directory.appendingPathComponent(weights)
        let model: any TextClassificationModel
        switch try ModelFile.modelName(in: url) {
        case String(describing: TextCNN.self): model = try ModelFile.load(TextCNN.self, from: url)
        default: model = try ModelFile.load(TextClassifier.self, from: url)
        }
        guard model.classes == labels.count else {
            throw RunDirectoryError(message: "\(directory.path): the model has \(model.classes) classes but labels.json lists \(labels.count)")
        }
        return TextClassification(model: model, tokenizer: try Tokenizer.load(from: directory.appendingPathComponent("tokenizer.json")), labels: labels)
    }

    /// Rebuilds the untrained model of a run directory from its `config.json` ("model"), tokenizer and labels, for
    /// resuming a run (the weights come from resume.safetensors).
    public static func rebuild(from directory: URL) throws -> TextClassification {
        let task = try RunDirectoryError.configEntry("task", as: String.self, in: directory, describing: "a task name")
        guard task == "classification" else {
            throw RunDirectoryError(message: "\(directory.path): config.json says it is a '\(task)' run, not a text classification run")
        }
        var g = RandomGenerator(seed: 0)
        let model: any TextClassificationModel
        if (try? RunDirectoryError.configEntry("model_type", as: String.self, in: directory, describing: "a model type")) == "TextCNN" {
            model = TextCNN(config: try RunDirectoryError.configEntry("model", as: TextCNNConfig.self, in: directory, describing: "a TextCNN configuration"), using: &g)
        } else {
            model = TextClassifier(config: try RunDirectoryError.configEntry("model", as: TextClassifierConfig.self, in: directory, describing: "a classifier configuration"), using: &g)
        }
        return TextClassification(model: model,
                                  tokenizer: try Tokenizer.load(from: directory.appendingPathComponent("tokenizer.json")),
                                  labels: try RunDirectoryError.labels(in: directory))
    }

    /// The report on labelled examples (labels must be among the model's).
    public func evaluate(_ examples: [LabelledText]) throws -> ClassificationReport {
        try evaluateWithLoss(examples).report
    }

    /// The report and the mean negative log-likelihood of the true labels, from one pass over the examples.
    public func evaluateWithLoss(_ examples: [LabelledText]) throws -> (report: ClassificationReport, loss: Double) {
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        let truth = try examples.map { e -> Int in
            guard let k = index[e.label] else { throw CorpusError("line \(e.line): label '\(e.label)' is not one the model knows (\(labels.joined(separator: ", ")))") }
            return k
        }
        let p = probabilities(examples.map(\.text))
        let predicted = argmaxRows(p)
        let nll = zip(p, truth).map { -Double(Foundation.log(max($0.0[$0.1], 1e-12))) }.reduce(0, +)
        return (ClassificationReport(labels: labels, truth: truth, predicted: predicted), nll / Double(max(examples.count, 1)))
    }
}

/// Seeded shuffled batches of indices, reshuffled every epoch; resumable through `savedState`/`restore`.
public struct ShuffledBatches {
    public let count: Int, batchSize: Int
    private var epochs: EpochBatches

    /// - Parameter shard: data-parallel training: global batches of `batchSize` × processes, this process's slice of
    ///   each (`batchSize` examples).
    public init(count: Int, batchSize: Int, seed: UInt64, shard: Shard = .whole) {
        self.count = count
        self.batchSize = batchSize
        let global = batchSize * shard.count
        epochs = EpochBatches(seed: seed, shard: shard) { g in
            var order = Array(0..<count)
            order.shuffle(using: &g)
            return stride(from: 0, to: count, by: global).map { Array(order[$0..<min(count, $0 + global)]) }
        }
    }

    public var batchesPerEpoch: Int { epochs.batches.count }
    public var index: Int { epochs.index }
    public mutating func next() -> [Int]? { epochs.next() }
    public mutating func startNextEpoch() { epochs.startNextEpoch() }
    public var savedState: String { epochs.savedState }
    public mutating func restore(_ text: String) throws { try epochs.restore(text) }
}

/// Training a `TextClassifier`: label-smoothed cross-entropy; validation loss, accuracy and macro-F1 every epoch.
public final class TextClassificationTask: TrainingTask {
    public let classification: TextClassification
    let train: [(ids: [Int], label: Int)]
    let validation: [LabelledText]
    var batches: ShuffledBatches
    public let labelSmoothing: Float

    /// Per-class weights of the training loss (nil: all 1).
    public let classWeights: [Float]?

    /// - Parameter classWeights: per-class loss weights, e.g. `balancedClassWeights` for skewed labels.
    /// - Parameter shard: this process's part of each global batch in data-parallel training.
    public init(classification: TextClassification, train: [LabelledText], validation: [LabelledText], batchSize: Int,
                labelSmoothing: Float, classWeights: [Float]? = nil, seed: UInt64, shard: Shard = .whole) throws {
        self.classWeights = classWeights
        self.classification = classification
        let index = Dictionary(uniqueKeysWithValues: classification.labels.enumerated().map { ($1, $0) })
        self.train = try train.map { e in
            guard let k = index[e.label] else { throw CorpusError("line \(e.line): unknown label '\(e.label)'") }
            return (classification.ids(e.text), k)
        }
        self.validation = validation
        batches = ShuffledBatches(count: train.count, batchSize: batchSize, seed: seed, shard: shard)
        self.labelSmoothing = labelSmoothing
    }

    public var model: any Module { classification.model }
    public var itemName: String { "ex" }
    public var batchesPerEpoch: Int { batches.batchesPerEpoch }
    public var metricNames: [String] { ["val_loss", "val_accuracy", "macro_f1"] }
    public func nextBatch() -> [Int]? { batches.next() }
    public func startNextEpoch() { batches.startNextEpoch() }
    public var dataState: String { batches.savedState }
    public func restoreDataState(_ text: String) throws { try batches.restore(text) }
    public func saveModel(to url: URL) throws { try classification.saveModel(to: url) }

    public func loss(_ batch: [Int]) -> (loss: Tensor, items: Int) {
        let logits = classification.model(classification.padded(batch.map { train[$0].ids }))
        return (Loss.crossEntropy(logits, batch.map { train[$0].label }, labelSmoothing: labelSmoothing, weight: classWeights), batch.count)
    }

    public func evaluate() throws -> [String: Double] {
        let (report, loss) = try classification.evaluateWithLoss(validation)
        return ["val_loss": loss, "val_accuracy": report.accuracy, "macro_f1": report.macroF1]
    }
}

/// Weights that make every class count as much in the loss (scikit-learn's "balanced"): n / (classes · n_c) for a
/// class with n_c of the n examples; a class absent from `labels` gets weight 1.
public func balancedClassWeights(_ labels: [Int], classes: Int) -> [Float] {
    var counts = [Int](repeating: 0, count: classes)
    for l in labels where l >= 0 && l < classes { counts[l] += 1 }
    return counts.map { $0 == 0 ? 1 : Float(labels.count) / Float(classes * $0) }
}

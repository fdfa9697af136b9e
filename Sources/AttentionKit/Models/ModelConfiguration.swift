import Foundation

/// A model's value-type configuration, which checkpoints and run directories carry as JSON: `validate()` refuses one
/// that cannot build a model (a negative width, heads that do not divide the width, a padding id outside the
/// vocabulary, sizes that would allocate absurd tables) with an error naming the field, before any layer is built —
/// a layer's own preconditions are for programmer errors, not for files.
public protocol ModelConfiguration: Codable {
    func validate() throws
    /// A lower bound on the parameters the configuration builds (its main weight matrices), computed without
    /// building anything: a file whose configuration promises far more weights than it holds is refused before a
    /// layer allocates them.
    var parameterLowerBound: Double { get }
}

extension ModelConfiguration {
    /// `validate()` plus a size check: at most `maxParameters` (e.g. a few times what a checkpoint file holds).
    public func validate(maxParameters: Double) throws {
        try validate()
        guard parameterLowerBound <= maxParameters else {
            throw ConfigurationError(
                "configuration",
                String(
                    format: "describes a model of at least %.3g parameters, more than the %.3g allowed here",
                    parameterLowerBound, maxParameters))
        }
    }
}

extension ModelConfiguration {
    /// The configuration fields that come from the data (a vocabulary, the classes), not from a flag.
    static var dataFields: Set<String> {
        [
            "vocabulary", "sourceVocabulary", "targetVocabulary", "classes", "padID", "bosID", "eosID", "inputChannels",
            "imageSize"
        ]
    }

    /// Refuses, before anything is allocated, a configuration that cannot be built or cannot be trained on this
    /// machine: invalid fields (named with their flag, e.g. `--feed-forward`), more than 2·10⁹ parameters, or more
    /// memory for the weights, their gradients and Adam's two moments (16 bytes per parameter) than 80% of `memory`.
    /// - Parameters:
    ///   - memory: the bytes available (this machine's physical memory by default).
    ///   - activations: the elements a training step keeps for its backward pass (a task's estimate from its batch
    ///     shape, e.g. `GPTConfig.activationElements(batch:)`), counted at 4 bytes.
    ///   - shrink: the flags that lower the activations, named in the error.
    public func checkTrainable(
        memory: UInt64 = ProcessInfo.processInfo.physicalMemory, activations: Double = 0,
        shrink: String = "--batch-size"
    ) throws {
        do { try validate() } catch let e as ConfigurationError {
            let field = e.field.split(separator: "[").first.map(String.init) ?? e.field
            if Self.dataFields.contains(field) {
                throw TaskUsageError("the data gives the model's \(e.field) \(e.reason)")
            }
            let flag = "--" + FlagNames.kebab(field)
            throw TaskUsageError("\(flag): \(e.reason)" + (e.field == field ? "" : " (\(e.field))"))
        }
        let parameters = parameterLowerBound, bytes = parameters * 16
        guard parameters <= 2e9 else {
            throw TaskUsageError(
                String(
                    format:
                        "the model has at least %.3g parameters, more than the 2e+09 AttentionKit trains: lower the size flags",
                    parameters))
        }
        guard bytes <= Double(memory) * 0.8 else {
            throw TaskUsageError(
                String(
                    format:
                        "the model has at least %.3g parameters: training needs at least %.1f GiB for its weights, gradients and Adam's moments, more than 80%% of this machine's %.1f GiB; lower the size flags",
                    parameters, bytes / 1_073_741_824, Double(memory) / 1_073_741_824))
        }
        let activationBytes = activations * 4
        guard bytes + activationBytes <= Double(memory) * 0.8 else {
            throw TaskUsageError(
                String(
                    format:
                        "a training step keeps about %.1f GiB of activations for the backward pass, with %.1f GiB for the weights, gradients and Adam's moments: more than 80%% of this machine's %.1f GiB; lower %@",
                    activationBytes / 1_073_741_824, bytes / 1_073_741_824, Double(memory) / 1_073_741_824, shrink))
        }
    }
}

/// A configuration field that cannot build a model.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let field: String, reason: String
    /// An error for `field` with the reason.
    public init(_ field: String, _ reason: String) { (self.field, self.reason) = (field, reason) }
    /// "field: reason".
    public var description: String { "\(field): \(reason)" }
    /// "field: reason" with the field as the JSON files spell it ("pad_id", `SnakeCase`).
    public var fileDescription: String { "\(SnakeCase.path(field)): \(reason)" }
}

/// The checks configurations share; the limits are far above any model this library trains on a CPU.
enum ConfigCheck {
    static let maxWidth = 1 << 16, maxVocabulary = 1 << 22, maxLength = 1 << 20, maxLayers = 1024, maxImage = 1 << 14

    static func size(_ field: String, _ v: Int, min: Int = 1, max: Int = maxWidth) throws {
        guard v >= min && v <= max else { throw ConfigurationError(field, "\(v) is not in \(min)…\(max)") }
    }
    static func sizes(_ field: String, _ vs: [Int], max: Int = maxWidth, count: Int = 64) throws {
        guard !vs.isEmpty && vs.count <= count else {
            throw ConfigurationError(field, "needs 1…\(count) entries, has \(vs.count)")
        }
        for (i, v) in vs.enumerated() { try size("\(field)[\(i)]", v, max: max) }
    }
    static func probability(_ field: String, _ p: Float) throws {
        guard p >= 0 && p < 1 else { throw ConfigurationError(field, "\(p) is not a probability in [0, 1)") }
    }
    static func id(_ field: String, _ v: Int, below n: Int) throws {
        guard v >= 0 && v < n else { throw ConfigurationError(field, "\(v) is not an id of the \(n)-token vocabulary") }
    }
    /// Concat pooling reads the final state of a recurrent network, which a transformer or a ViT has not.
    static func notConcat(_ pooling: Pooling) throws {
        guard pooling != .concat else {
            throw ConfigurationError("pooling", "concat is for recurrent classifiers (the last state of a sequence)")
        }
    }
    static func heads(_ dModel: Int, _ heads: Int) throws {
        try size("dModel", dModel)
        try size("heads", heads, max: dModel)
        guard dModel % heads == 0 else {
            throw ConfigurationError("heads", "\(heads) heads do not divide the width dModel \(dModel)")
        }
    }
}

extension SmallCNNConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        var c = Double(inputChannels), total = 0.0
        for o in channels { total += c * Double(o) * 9; c = Double(o) }
        let side = Double(max(imageSize >> channels.count, 1))
        return total + c * side * side * Double(hidden) + Double(hidden) * Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.sizes("channels", channels, count: 12)
        try ConfigCheck.size("inputChannels", inputChannels, max: 64)
        try ConfigCheck.size("imageSize", imageSize, max: ConfigCheck.maxImage)
        guard imageSize >> channels.count >= 1 else {
            throw ConfigurationError("imageSize", "\(channels.count) pools do not fit \(imageSize)-pixel images")
        }
        try ConfigCheck.size("hidden", hidden)
        try ConfigCheck.size("classes", classes)
        try ConfigCheck.probability("dropout", dropout)
    }
}

extension LeNet5Config: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let side = Double(max(((imageSize - 4) / 2 - 4) / 2, 1))
        return Double(inputChannels) * 150 + 2400 + 16 * side * side * 120 + 120 * 84 + 84 * Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("inputChannels", inputChannels, max: 64)
        try ConfigCheck.size("imageSize", imageSize, min: 16, max: ConfigCheck.maxImage)
        try ConfigCheck.size("classes", classes)
        guard ["max", "avg"].contains(pooling) else {
            throw ConfigurationError("pooling", "'\(pooling)' is not max or avg")
        }
    }
}

extension VGGConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        var c = Double(inputChannels), total = 0.0
        for stage in stages { for o in stage { total += c * Double(o) * 9; c = Double(o) } }
        return total + c * Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        guard !stages.isEmpty && stages.count <= 12 else {
            throw ConfigurationError("stages", "needs 1…12 stages, has \(stages.count)")
        }
        for (i, s) in stages.enumerated() { try ConfigCheck.sizes("stages[\(i)]", s, count: 16) }
        try ConfigCheck.size("inputChannels", inputChannels, max: 64)
        try ConfigCheck.size("imageSize", imageSize, max: ConfigCheck.maxImage)
        guard imageSize >> stages.count >= 1 else {
            throw ConfigurationError("imageSize", "\(stages.count) pools do not fit \(imageSize)-pixel images")
        }
        try ConfigCheck.size("classes", classes)
        try ConfigCheck.probability("dropout", dropout)
    }
}

extension ResNetConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let blocks = Double(max((depth - 2) / 6, 0))
        return widths.reduce(0.0) { $0 + blocks * 18 * Double($1) * Double($1) } + Double(widths.last ?? 1)
            * Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        guard depth >= 8 && depth <= 2000 && (depth - 2) % 6 == 0 else {
            throw ConfigurationError("depth", "\(depth) is not 6n + 2 (20, 32, 44, 56, 110, …)")
        }
        try ConfigCheck.sizes("widths", widths, count: 8)
        try ConfigCheck.size("inputChannels", inputChannels, max: 64)
        try ConfigCheck.size("imageSize", imageSize, max: ConfigCheck.maxImage)
        try ConfigCheck.size("classes", classes)
    }
}

extension PreActResNetConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let w = Double(width)
        return blocks.enumerated().reduce(0.0) { t, e in
            let c = w * Double(1 << min(e.offset, 30)); return t + Double(e.element) * 18 * c * c
        } + Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.sizes("blocks", blocks, max: 512, count: 8)
        try ConfigCheck.size("width", width, max: ConfigCheck.maxWidth >> (blocks.count - 1))
        try ConfigCheck.size("inputChannels", inputChannels, max: 64)
        try ConfigCheck.size("imageSize", imageSize, max: ConfigCheck.maxImage)
        try ConfigCheck.size("classes", classes)
    }
}

extension ViTConfig: ModelConfiguration {
    /// The elements a training step on `batch` images keeps for its backward pass, roughly: per block and token
    /// ≈ (8 + 2·mlpRatio)·d (norms, q/k/v, outputs, the MLP's hidden activations) and the attention probabilities.
    public func activationElements(batch: Int) -> Double {
        let tokens = Double(patchCount + 1), d = Double(dModel)
        // a convolutional tokenizer keeps each stage's conv output and ReLU at full resolution
        let tokenizer =
            convTokenizer.map { t in
                (0..<t.layers).reduce(0.0) { acc, i in
                    acc + 2 * Double(i == t.layers - 1 ? dModel : t.channels)
                        * Double((imageSize >> i) * (imageSize >> i))
                }
            } ?? 0
        return Double(batch)
            * (tokens * Double(depth) * ((8 + 2 * Double(mlpRatio)) * d + Double(heads) * tokens) + tokenizer)
    }

    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let d = Double(dModel)
        return Double(channels * patchSize * patchSize) * d + Double(depth) * (4 * d * d + 2 * d * d * Double(mlpRatio))
            + d * Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("imageSize", imageSize, max: ConfigCheck.maxImage)
        try ConfigCheck.size("patchSize", patchSize, max: imageSize)
        guard imageSize % patchSize == 0 else {
            throw ConfigurationError("patchSize", "\(patchSize) does not divide the image size \(imageSize)")
        }
        guard patchCount <= 1 << 16 else { throw ConfigurationError("patchSize", "\(patchCount) patches are too many") }
        if let t = convTokenizer {
            guard t.layers >= 1 && t.layers <= 6, imageSize % (1 << t.layers) == 0 else {
                throw ConfigurationError(
                    "convTokenizer",
                    "\(t.layers) layers do not halve the image size \(imageSize) evenly (1…6 layers, each halving it)")
            }
            try ConfigCheck.size("convTokenizer.channels", t.channels, max: ConfigCheck.maxWidth)
            guard t.kernel >= 1 && t.kernel <= 11 && t.kernel % 2 == 1 else {
                throw ConfigurationError("convTokenizer", "kernel \(t.kernel) must be odd, 1…11")
            }
        }
        try ConfigCheck.size("channels", channels, max: 64)
        try ConfigCheck.size("classes", classes)
        try ConfigCheck.heads(dModel, heads)
        if positions == .sinusoidal && dModel % 4 != 0 {
            throw ConfigurationError("dModel", "2-D sin-cos positions need a width divisible by 4, not \(dModel)")
        }
        try ConfigCheck.size("depth", depth, max: ConfigCheck.maxLayers)
        guard
            mlpRatio.isFinite && mlpRatio > 0 && Float(dModel) * mlpRatio >= 1
                && Float(dModel) * mlpRatio <= Float(ConfigCheck.maxWidth)
        else {
            throw ConfigurationError(
                "mlpRatio", "\(mlpRatio) does not give a hidden width in 1…\(ConfigCheck.maxWidth)")
        }
        try ConfigCheck.probability("dropout", dropout)
        try ConfigCheck.probability("attentionDropout", attentionDropout)
        try ConfigCheck.probability("dropPath", dropPath)
        guard layerNormEps.isFinite && layerNormEps > 0 else {
            throw ConfigurationError("layerNormEps", "\(layerNormEps) must be positive")
        }
        try ConfigCheck.notConcat(pooling)
    }
}

extension TextClassifierConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let d = Double(dModel)
        return Double(vocabulary) * d + Double(layers) * (4 * d * d + 2 * d * Double(feedForward)) + d * Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("vocabulary", vocabulary, max: ConfigCheck.maxVocabulary)
        try ConfigCheck.size("classes", classes)
        try ConfigCheck.heads(dModel, heads)
        try ConfigCheck.size("layers", layers, max: ConfigCheck.maxLayers)
        try ConfigCheck.size("feedForward", feedForward)
        try ConfigCheck.probability("dropout", dropout)
        try ConfigCheck.size("maxLength", maxLength, max: ConfigCheck.maxLength)
        try ConfigCheck.id("padID", padID, below: vocabulary)
        try ConfigCheck.notConcat(pooling)
    }
}

extension TextCNNConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let e = Double(embeddingDim), f = Double(filters)
        return Double(vocabulary) * e + kernelSizes.reduce(0.0) { $0 + Double($1) * e * f } + Double(kernelSizes.count)
            * f * Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("vocabulary", vocabulary, max: ConfigCheck.maxVocabulary)
        try ConfigCheck.size("classes", classes)
        try ConfigCheck.size("embeddingDim", embeddingDim)
        try ConfigCheck.sizes("kernelSizes", kernelSizes, max: 1024, count: 16)
        try ConfigCheck.size("filters", filters)
        try ConfigCheck.probability("dropout", dropout)
        try ConfigCheck.size("maxLength", maxLength, max: ConfigCheck.maxLength)
        try ConfigCheck.id("padID", padID, below: vocabulary)
        if let maxNorm, !(maxNorm > 0 && maxNorm.isFinite) {
            throw ConfigurationError("maxNorm", "\(maxNorm) is not a positive number")
        }
        if let a = embeddingInitRange, !(a > 0 && a.isFinite) {
            throw ConfigurationError("embeddingInitRange", "\(a) is not a positive number")
        }
    }
}

extension Seq2SeqConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let d = Double(dModel), ff = Double(feedForward)
        let embeddings =
            sharedEmbeddings ? Double(sourceVocabulary) * d : Double(sourceVocabulary + targetVocabulary) * d
        return embeddings + Double(encoderLayers) * (4 * d * d + 2 * d * ff) + Double(decoderLayers)
            * (8 * d * d + 2 * d * ff)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("sourceVocabulary", sourceVocabulary, max: ConfigCheck.maxVocabulary)
        try ConfigCheck.size("targetVocabulary", targetVocabulary, max: ConfigCheck.maxVocabulary)
        if sharedEmbeddings && sourceVocabulary != targetVocabulary {
            throw ConfigurationError(
                "sharedEmbeddings",
                "needs one vocabulary, but there are \(sourceVocabulary) source and \(targetVocabulary) target tokens")
        }
        try ConfigCheck.heads(dModel, heads)
        try ConfigCheck.size("encoderLayers", encoderLayers, max: ConfigCheck.maxLayers)
        try ConfigCheck.size("decoderLayers", decoderLayers, max: ConfigCheck.maxLayers)
        try ConfigCheck.size("feedForward", feedForward)
        try ConfigCheck.probability("dropout", dropout)
        try ConfigCheck.size("maxLength", maxLength, max: ConfigCheck.maxLength)
        try ConfigCheck.id("padID", padID, below: min(sourceVocabulary, targetVocabulary))
        try ConfigCheck.id("bosID", bosID, below: targetVocabulary)
        try ConfigCheck.id("eosID", eosID, below: targetVocabulary)
    }
}

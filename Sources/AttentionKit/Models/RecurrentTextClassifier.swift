import Foundation

/// Configuration of `RecurrentTextClassifier`.
public struct RecurrentTextClassifierConfig: Codable, Sendable, Equatable {
    /// Tokens in the vocabulary.
    public var vocabulary: Int
    /// Number of classes.
    public var classes: Int
    /// `.lstm` or `.gru` (or a plain RNN).
    public var cell: RecurrentCell = .lstm
    /// Embedding width.
    public var embeddingDim = 128
    /// Hidden units per direction.
    public var hidden = 128
    /// Recurrent layers.
    public var layers = 1
    /// Whether each layer also reads the text backwards.
    public var bidirectional = true
    /// How the outputs of the real (unpadded) steps become one vector: `.max` or `.mean` over time, or `.concat` (the
    /// final state, the max and the mean side by side: ULMFiT's concat pooling).
    public var pooling: Pooling = .max
    /// The poolings a recurrent classifier has (it has no [CLS] token and no sequence-pooling layer).
    public static let poolings: [Pooling] = [.max, .mean, .concat]
    /// The width of the pooled vector the head reads: each direction's hidden units, three times over with concat.
    public var pooledWidth: Int { hidden * (bidirectional ? 2 : 1) * (pooling == .concat ? 3 : 1) }
    /// On the embeddings, between recurrent layers and before the head.
    public var dropout: Float = 0.3
    /// Longest input in tokens (longer texts are truncated by the task).
    public var maxLength = 256
    /// The padding token's id.
    public var padID = 0
    /// Whether each text is read from its last token to its first (a classifier fine-tuned from a backward language
    /// model, `attn train lm --backward`).
    public var backward = false

    /// A configuration for this vocabulary and number of classes, other fields at their defaults.
    public init(vocabulary: Int, classes: Int) {
        self.vocabulary = vocabulary
        self.classes = classes
    }

    enum CodingKeys: String, CodingKey {
        case vocabulary, classes, cell, embeddingDim, hidden, layers, bidirectional, pooling, dropout, maxLength, padID
        case backward
    }

    /// Decodes a configuration; an absent `backward` is false (forward, as every run before it existed).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabulary = try c.decode(Int.self, forKey: .vocabulary)
        classes = try c.decode(Int.self, forKey: .classes)
        cell = try c.decode(RecurrentCell.self, forKey: .cell)
        embeddingDim = try c.decode(Int.self, forKey: .embeddingDim)
        hidden = try c.decode(Int.self, forKey: .hidden)
        layers = try c.decode(Int.self, forKey: .layers)
        bidirectional = try c.decode(Bool.self, forKey: .bidirectional)
        pooling = try c.decode(Pooling.self, forKey: .pooling)
        dropout = try c.decode(Float.self, forKey: .dropout)
        maxLength = try c.decode(Int.self, forKey: .maxLength)
        padID = try c.decode(Int.self, forKey: .padID)
        backward = try c.decodeIfPresent(Bool.self, forKey: .backward) ?? false
    }

    /// Encodes the configuration; `backward` only when set, so a forward model's configuration is what it always was.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabulary, forKey: .vocabulary)
        try c.encode(classes, forKey: .classes)
        try c.encode(cell, forKey: .cell)
        try c.encode(embeddingDim, forKey: .embeddingDim)
        try c.encode(hidden, forKey: .hidden)
        try c.encode(layers, forKey: .layers)
        try c.encode(bidirectional, forKey: .bidirectional)
        try c.encode(pooling, forKey: .pooling)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(maxLength, forKey: .maxLength)
        try c.encode(padID, forKey: .padID)
        if backward { try c.encode(backward, forKey: .backward) }
    }
}

/// A recurrent text classifier (the course's BiLSTM): embeddings → dropout → a bidirectional LSTM (or GRU) over each
/// text's real tokens (padded steps are skipped, as a packed sequence; with `backward`, last token first) → max or mean
/// over the real steps → dropout → linear. Parameter names: `embedding.weight`, `rnn.weight_ih_l0…` (PyTorch's nn.LSTM names), `head.weight/bias`.
public final class RecurrentTextClassifier: Module, ConfigurableModel, TextClassificationModel {
    /// The model's configuration.
    public let config: RecurrentTextClassifierConfig
    /// Token embeddings.
    public var embedding: Embedding
    /// The recurrent layers.
    public var rnn: RecurrentNetwork
    /// Dropout before the head.
    public var dropout: Dropout
    /// The classification head.
    public var head: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A recurrent classifier with PyTorch's initialisation of its layers.
    public init(config c: RecurrentTextClassifierConfig, using g: inout RandomGenerator) {
        precondition(
            RecurrentTextClassifierConfig.poolings.contains(c.pooling),
            "RecurrentTextClassifier: pooling must be max, mean or concat")
        config = c
        embedding = Embedding(c.vocabulary, c.embeddingDim, paddingIndex: c.padID, using: &g)
        rnn = RecurrentNetwork(
            cell: c.cell, inputSize: c.embeddingDim, hiddenSize: c.hidden, layers: c.layers,
            bidirectional: c.bidirectional,
            dropout: c.dropout, using: &g)
        dropout = Dropout(p: c.dropout, using: &g)
        head = Linear(c.pooledWidth, c.classes, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("embedding", embedding), ("rnn", rnn), ("dropout", dropout), ("head", head)]
    }

    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Tokens in the vocabulary.
    public var vocabulary: Int { config.vocabulary }
    /// Longest input in tokens.
    public var maxLength: Int { config.maxLength }
    /// The padding token's id.
    public var padID: Int { config.padID }

    /// Logits [B, classes] for `ids` (right-padded with `padID`); padded steps are not read.
    public func callAsFunction(_ ids: [[Int]]) -> Tensor {
        let b = ids.count, t = max(1, ids.map(\.count).max() ?? 1)
        // each row's real tokens (right padding removed; an empty text reads one pad token)
        let lengths = ids.map { row in max(1, (row.lastIndex { $0 != config.padID }.map { $0 + 1 }) ?? 0) }
        let padded = zip(ids, lengths).map { row, n in
            (config.backward ? Array(row.prefix(n).reversed()) + row.dropFirst(n) : row)
                + [Int](repeating: config.padID, count: t - row.count)
        }
        let x = dropout(embedding(padded.flatMap { $0 }, shape: [b, t]))
        let (out, state) = rnn(x, lengths: lengths)  // [B, T, D·H], 0 past each length
        func meanPool() -> Tensor {
            out.sum(axis: 1) * Tensor(doubles: lengths.map { 1 / Double($0) }, shape: [b, 1]).to(out.dtype)
        }
        func maxPool() -> Tensor {
            let shift = Tensor(
                doubles: (0..<b).flatMap { r in (0..<t).map { $0 < lengths[r] ? 0 : -1e9 } }, shape: [b, t, 1]
            ).to(out.dtype)
            return (out + shift).max(axis: 1)
        }
        let pooled: Tensor
        switch config.pooling {
        case .mean: pooled = meanPool()
        case .concat:
            // the last layer's final state: each direction's at the end of its own reading (PyTorch's h_n)
            let top = (config.layers - 1) * (config.bidirectional ? 2 : 1)
            let last =
                config.bidirectional
                ? Tensor.concat([state.h.select(axis: 0, index: top), state.h.select(axis: 0, index: top + 1)], axis: 1)
                : state.h.select(axis: 0, index: top)
            pooled = Tensor.concat([last, maxPool(), meanPool()], axis: 1)
        default: pooled = maxPool()
        }
        return head(dropout(pooled))
    }
}

extension RecurrentTextClassifierConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let e = Double(embeddingDim), h = Double(hidden), d = bidirectional ? 2.0 : 1.0, gates = Double(cell.gates)
        return Double(vocabulary) * e + d * gates * h * (e + h) + Double(layers - 1) * d * gates * h * (d * h + h)
            + Double(pooledWidth) * Double(classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("vocabulary", vocabulary, max: ConfigCheck.maxVocabulary)
        try ConfigCheck.size("classes", classes)
        try ConfigCheck.size("embeddingDim", embeddingDim)
        try ConfigCheck.size("hidden", hidden)
        try ConfigCheck.size("layers", layers, max: 64)
        try ConfigCheck.size("maxLength", maxLength, max: ConfigCheck.maxLength)
        try ConfigCheck.id("padID", padID, below: vocabulary)
        try ConfigCheck.probability("dropout", dropout)
        guard Self.poolings.contains(pooling) else {
            throw ConfigurationError(
                "pooling",
                "\(pooling.rawValue) is not max, mean or concat (a recurrent classifier has no [CLS] token)")
        }
    }
}

import Foundation

/// What `TextClassification` needs of a model: padded id rows in, logits out.
public protocol TextClassificationModel: Module {
    var classes: Int { get }
    /// Rows of the embedding: the tokenizer's size.
    var vocabulary: Int { get }
    var maxLength: Int { get }
    var padID: Int { get }
    /// ids [B, T] (right-padded with `padID`) → logits [B, C].
    func callAsFunction(_ ids: [[Int]]) -> Tensor
}

extension TextClassifier: TextClassificationModel {
    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Tokens in the vocabulary.
    public var vocabulary: Int { config.vocabulary }
    /// Longest input in tokens.
    public var maxLength: Int { config.maxLength }
    /// The padding token's id.
    public var padID: Int { config.padID }
}

/// Configuration of `TextCNN`.
public struct TextCNNConfig: Codable, Sendable, Equatable {
    /// Tokens in the vocabulary.
    public var vocabulary: Int
    /// Number of classes.
    public var classes: Int
    /// Embedding width (Kim used 300 with word2vec; CNN-rand learns it).
    public var embeddingDim = 128
    /// Window widths of the parallel convolutions.
    public var kernelSizes = [3, 4, 5]
    /// Filters per width.
    public var filters = 100
    /// Dropout on the pooled features (Kim: 0.5).
    public var dropout: Float = 0.5
    /// Longest input in tokens (longer texts are truncated by the task).
    public var maxLength = 256
    /// The padding token's id.
    public var padID = 0
    /// Kim's max-norm constraint: after every step each row of the output layer's weight is rescaled to at most
    /// this L2 norm (he used 3); nil: none.
    public var maxNorm: Float? = nil
    /// Embeddings drawn from U(±this) (Kim's CNN-rand: 0.25); nil: N(0, 1) as `nn.Embedding`.
    public var embeddingInitRange: Float? = nil

    /// A configuration for this vocabulary and number of classes, other fields at Kim's values.
    public init(vocabulary: Int, classes: Int) {
        self.vocabulary = vocabulary
        self.classes = classes
    }
}

/// Kim (2014)'s CNN for sentence classification, CNN-rand: embeddings → parallel Conv1d of several widths → ReLU →
/// max over time (only windows that start inside the text) → concatenation → dropout → linear.
/// Parameter names as the usual PyTorch layout: `embedding.weight`, `convs.N.weight/bias`, `head.weight/bias`.
public final class TextCNN: Module, ConfigurableModel, TextClassificationModel {
    /// The model's configuration.
    public let config: TextCNNConfig
    /// Token embeddings.
    public var embedding: Embedding
    /// One convolution per window size.
    public var convs: ModuleList<Conv1d>
    /// Dropout on the pooled features.
    public var dropout: Dropout
    /// The classification head.
    public var head: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A TextCNN with PyTorch's initialisation of its layers.
    public init(config c: TextCNNConfig, using g: inout RandomGenerator) {
        precondition(
            !c.kernelSizes.isEmpty && c.kernelSizes.allSatisfy { $0 > 0 } && c.filters > 0,
            "TextCNN: kernel sizes and filters must be positive")
        config = c
        embedding = Embedding(c.vocabulary, c.embeddingDim, paddingIndex: c.padID, using: &g)
        if let a = c.embeddingInitRange { embedding.initializeUniform(range: a, using: &g) }
        convs = ModuleList(c.kernelSizes.map { Conv1d(c.embeddingDim, c.filters, kernelSize: $0, using: &g) })
        dropout = Dropout(p: c.dropout, using: &g)
        head = Linear(c.filters * c.kernelSizes.count, c.classes, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("embedding", embedding), ("convs", convs), ("dropout", dropout), ("head", head)]
    }

    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Tokens in the vocabulary.
    public var vocabulary: Int { config.vocabulary }
    /// Longest input in tokens.
    public var maxLength: Int { config.maxLength }
    /// The padding token's id.
    public var padID: Int { config.padID }

    /// Logits [B, classes]: convolutions over the embedded tokens, ReLU, max over time, dropout, linear.
    public func callAsFunction(_ ids: [[Int]]) -> Tensor {
        let b = ids.count
        let widest = config.kernelSizes.max()!
        let lengths = ids.map { row in row.lastIndex { $0 != config.padID }.map { $0 + 1 } ?? 0 }
        // Rows shorter than the widest window are padded up to it (as Kim pads sentences).
        let t = max(ids.first?.count ?? 0, widest)
        let padded = ids.map { $0 + Array(repeating: config.padID, count: t - $0.count) }
        let x = embedding(padded.flatMap { $0 }, shape: [b, t]).permute([0, 2, 1])  // [B, E, T]
        var pooled: [Tensor] = []
        for (conv, k) in zip(convs.modules, config.kernelSizes) {
            let h = conv(x).relu()  // [B, F, T − k + 1]
            let positions = t - k + 1
            // A window counts if it starts inside the text (every row keeps at least its first window).
            let shift = Tensor(
                (0..<b).flatMap { r in (0..<positions).map { $0 < max(1, lengths[r] - k + 1) ? Float(0) : -1e9 } },
                shape: [b, 1, positions]
            ).to(h.dtype)
            pooled.append((h + shift).max(axis: 2))  // [B, F]
        }
        return head(dropout(Tensor.concat(pooled, axis: 1)))
    }
}

// A transformer encoder text classifier. Dimension key: B batch, T tokens, D model width, C classes.

/// How a sequence of encoder states becomes one vector.
public enum Pooling: String, Codable, Sendable {
    /// A learned classification token is prepended; its final state is used (BERT, ViT).
    case cls
    /// The mean over non-padding positions (over all patches for images).
    case mean
    /// The maximum of each feature over non-padding positions (max-over-time, as Kim's text CNN pools).
    case max
    /// Sequence pooling (Hassani et al. 2021, CCT): a learned score per position (a linear map to 1), softmax over
    /// the non-padding positions, the weighted sum of the states.
    case attention
    /// ULMFiT's concat pooling (Howard & Ruder 2018), for recurrent classifiers: the final state, the maximum and the
    /// mean over the real steps, side by side (three times the width).
    case concat
}

/// Sequence pooling: states [B, T, D] → [B, D], Σₜ softmaxₜ(w·hₜ + b) hₜ; `padding` ([B·T], true = ignore) positions
/// get no weight.
public final class AttentionPooling: Layer {
    /// The scoring layer w·h + b.
    public var score: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// Attention pooling over states of width `dModel`.
    public init(_ dModel: Int, using g: inout RandomGenerator) { score = Linear(dModel, 1, using: &g) }
    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] { [("score", score)] }
    /// Pools `h` [B, T, D] with every position counted.
    public func callAsFunction(_ h: Tensor) -> Tensor { pool(h, padding: nil) }
    /// Pools `h` [B, T, D] to [B, D], giving no weight to positions where `padding` is true.
    public func pool(_ h: Tensor, padding: [Bool]?) -> Tensor {
        var s = score(h)  // [B, T, 1]
        if let padding { s = s + Tensor(padding.map { $0 ? -1e9 : 0 }, shape: [h.shape[0], h.shape[1], 1]).to(h.dtype) }
        return (h * s.softmax(axis: 1)).sum(axis: 1)  // [B, D]
    }
}

/// Configuration of `TextClassifier`.
public struct TextClassifierConfig: Codable, Sendable, Equatable {
    /// Tokens in the vocabulary.
    public var vocabulary: Int
    /// Number of classes.
    public var classes: Int
    /// Model width.
    public var dModel = 128
    /// Attention heads; they divide `dModel`.
    public var heads = 4
    /// Encoder layers.
    public var layers = 2
    /// Width of the feed-forward hidden layer.
    public var feedForward = 512
    /// Dropout on embeddings, attention weights and residual branches.
    public var dropout: Float = 0.1
    /// The feed-forward activation.
    public var activation: FeedForwardActivation = .gelu
    /// Pre-norm (true) or post-norm layers.
    public var normFirst = true
    /// Sinusoidal or learned positions.
    public var positions: PositionKind = .sinusoidal
    /// Longest input in tokens (longer texts are truncated by the task).
    public var maxLength = 256
    /// How token states become one vector: the class token, the mean, or attention pooling.
    public var pooling: Pooling = .cls
    /// The padding token's id.
    public var padID = 0

    /// A configuration for this vocabulary and number of classes, other fields at their defaults.
    public init(vocabulary: Int, classes: Int) {
        self.vocabulary = vocabulary
        self.classes = classes
    }
}

/// Embeddings + positions + transformer encoder + pooling (CLS token or masked mean) + linear head.
/// ids [B, T] (right-padded with `padID`) → logits [B, C].
public final class TextClassifier: Module, ConfigurableModel {
    /// The model's configuration.
    public let config: TextClassifierConfig
    /// Token embeddings plus positions.
    public var embedding: TokenEmbedding
    /// [1, 1, D], prepended when pooling is `.cls`.
    public var classToken: Tensor?
    /// The transformer encoder.
    public var encoder: TransformerEncoder
    /// The sequence-pooling scores, with `.attention` pooling.
    public var attentionPool: AttentionPooling?
    /// The classification head.
    public var head: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A transformer classifier initialised as `nn.TransformerEncoder` is.
    public init(config c: TextClassifierConfig, using g: inout RandomGenerator) {
        config = c
        let e = Embedding(c.vocabulary, c.dModel, paddingIndex: c.padID, using: &g)
        e.weight = (e.weight.detach() * (1 / Float(c.dModel).squareRoot())).requiringGrad()
        embedding = TokenEmbedding(
            e, positions: c.positions, maxLength: c.maxLength + 1, dropout: c.dropout, scale: true, using: &g)
        classToken = c.pooling == .cls ? Tensor.normal([1, 1, c.dModel], std: 0.02, using: &g).requiringGrad() : nil
        let lc = TransformerLayerConfig(
            dModel: c.dModel, heads: c.heads, feedForward: c.feedForward, dropout: c.dropout,
            activation: c.activation, normFirst: c.normFirst)
        encoder = TransformerEncoder(lc, layers: c.layers, finalNorm: c.normFirst, using: &g)
        attentionPool = c.pooling == .attention ? AttentionPooling(c.dModel, using: &g) : nil
        head = Linear(c.dModel, c.classes, using: &g)
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] { classToken.map { [("classToken", $0)] } ?? [] }
    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("embedding", embedding), ("encoder", encoder)] + (attentionPool.map { [("attentionPool", $0)] } ?? []) + [
            ("head", head)
        ]
    }

    /// Throws a `SequenceError` naming the row and position if `ids` cannot go through this model.
    public func validate(_ ids: [[Int]]) throws(SequenceError) {
        try validateIDs(ids, vocabulary: config.vocabulary, maxLength: config.maxLength, what: "input")
    }

    /// ids [B, T] → logits [B, C].
    public func callAsFunction(_ ids: [[Int]]) -> Tensor {
        let b = ids.count, t = ids.first?.count ?? 0
        var padding = ids.flatMap { $0.map { $0 == config.padID } }  // [B·T]
        var x = embedding(ids)  // [B, T, D]
        if let classToken {
            x = Tensor.concat([classToken.expand([b, 1, config.dModel]), x], axis: 1)  // [B, 1+T, D]
            padding = (0..<b).flatMap { [false] + padding[($0 * t)..<($0 * t + t)] }
        }
        let h = encoder(x, mask: AttentionMask(keyPadding: padding))
        switch config.pooling {
        case .cls:
            return head(h.select(axis: 1, index: 0))  // [B, D] → [B, C]
        case .mean:
            let keep = Tensor(padding.map { $0 ? 0 : 1 }, shape: [b, h.shape[1], 1]).to(h.dtype)
            let counts = keep.sum(axis: 1).maximum(Tensor(scalar: 1, dtype: h.dtype))  // [B, 1]
            return head((h * keep).sum(axis: 1) / counts)
        case .max:
            // Padding positions get −1e9 so that they never win (every text has at least one token).
            let shift = Tensor(padding.map { $0 ? -1e9 : 0 }, shape: [b, h.shape[1], 1]).to(h.dtype)
            return head((h + shift).max(axis: 1))
        case .attention:
            return head(attentionPool!.pool(h, padding: padding))
        case .concat:
            preconditionFailure("TextClassifier: concat pooling is for recurrent classifiers (validate() refuses it)")
        }
    }
}

// Transformer encoder and decoder layers and stacks (PyTorch's nn.TransformerEncoderLayer / DecoderLayer /
// Encoder / Decoder / Transformer with batch_first=True), with stochastic depth and incremental decoding.
// Dimension key: B batch, T target length, S source length, D model width.

/// The feed-forward activation of a transformer layer.
public enum FeedForwardActivation: String, Codable, Sendable {
    case relu, gelu
    /// GELU with the tanh approximation (GPT-2's).
    case geluTanh

    func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .relu: return x.relu()
        case .gelu: return x.gelu(approximate: false)
        case .geluTanh: return x.gelu(approximate: true)
        }
    }

    /// `apply` written over `x` itself (inference on a fresh tensor: the same values, no second [rows, F] buffer).
    func applyInPlace(_ x: Tensor) {
        switch self {
        case .relu: reluInPlace(x)
        case .gelu: geluInPlace(x)
        case .geluTanh: mapUnaryInPlace(x, GeluTanhK())
        }
    }
}

/// Settings shared by the layers of a transformer stack (PyTorch's constructor arguments).
public struct TransformerLayerConfig: Codable, Sendable, Equatable {
    /// Model width (`d_model`).
    public var dModel: Int
    /// Attention heads (`nhead`); they divide `dModel`.
    public var heads: Int
    /// Width of the feed-forward hidden layer (`dim_feedforward`).
    public var feedForward: Int
    /// Dropout after attention and feed-forward (and inside the feed-forward).
    public var dropout: Float
    /// Dropout on the attention probabilities (PyTorch uses `dropout` for this too).
    public var attentionDropout: Float
    /// The feed-forward activation (ReLU or GELU).
    public var activation: FeedForwardActivation
    /// Pre-norm (`norm_first=True`): x + f(norm(x)); else post-norm: norm(x + f(x)).
    public var normFirst: Bool
    /// LayerNorm's epsilon.
    public var layerNormEps: Float
    /// Whether linear layers and LayerNorms have biases.
    public var bias: Bool

    /// A layer configuration with PyTorch's defaults (`nn.TransformerEncoderLayer`).
    public init(
        dModel: Int, heads: Int, feedForward: Int = 2048, dropout: Float = 0.1, attentionDropout: Float? = nil,
        activation: FeedForwardActivation = .relu, normFirst: Bool = false, layerNormEps: Float = 1e-5,
        bias: Bool = true
    ) {
        self.dModel = dModel
        self.heads = heads
        self.feedForward = feedForward
        self.dropout = dropout
        self.attentionDropout = attentionDropout ?? dropout
        self.activation = activation
        self.normFirst = normFirst
        self.layerNormEps = layerNormEps
        self.bias = bias
    }
}

/// Stochastic depth (Huang et al. 2016; timm's `DropPath`): in training, drops a residual branch for a whole sample
/// with probability p and scales kept samples by 1/(1−p); identity in evaluation. x [B, …] → [B, …].
public final class DropPath: Layer, RandomModule {
    /// The probability of dropping a sample's path.
    public let p: Float
    /// The generator the drops are drawn from.
    public var generator: RandomGenerator
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// Stochastic depth with drop probability `p`, seeded from `g`.
    public init(p: Float, using g: inout RandomGenerator) {
        precondition(p >= 0 && p < 1, "DropPath: probability \(p) must be in [0, 1)")
        self.p = p
        generator = RandomGenerator(seed: g.next())
    }

    /// In training, zeroes whole samples of `x` with probability p and scales the rest by 1/(1−p); identity otherwise.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard isTraining && p > 0 else { return x }
        let keep = Tensor.bernoulli(
            [x.shape[0]] + Array(repeating: 1, count: x.rank - 1), p: 1 - p, dtype: x.dtype, using: &generator)
        return x * (keep / (1 - p))
    }
}

/// An indexed list of modules (PyTorch's `nn.ModuleList`): children named "0", "1", ….
public final class ModuleList<Element: Module>: Module {
    /// The modules, named "0", "1", … in checkpoints.
    public var modules: [Element]
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// A list of these modules.
    public init(_ modules: [Element]) { self.modules = modules }
    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        modules.enumerated().map { (String($0.offset), $0.element) }
    }
    /// The module at index `i`.
    public subscript(i: Int) -> Element { modules[i] }
    /// Number of modules.
    public var count: Int { modules.count }
}

/// The position-wise feed-forward network linear2(dropout(act(linear1(x)))), shared by both layer kinds. Without an
/// active dropout it is one op that recomputes act in its backward (`feedForwardOp`: the same values, one [rows, F]
/// tensor less kept per layer); in inference the activation is applied in place on linear1's fresh output (the
/// fusion of bias and activation that inference engines make: one pass and one [rows, F] buffer less).
private func feedForward(_ x: Tensor, _ l1: Linear, _ l2: Linear, _ d: Dropout, _ act: FeedForwardActivation) -> Tensor
{
    if !d.isTraining || d.p == 0 {
        if !GradMode.enabled {
            let h = l1(x)
            act.applyInPlace(h)
            return l2(h)
        }
        if x.rank >= 2 { return feedForwardOp(x, l1, l2, activation: act) }
    }
    return l2(d(act.apply(l1(x))))
}

/// Encoder layer: self-attention and feed-forward, each in a residual branch with layer norm (post- or pre-norm)
/// and dropout where PyTorch puts it, plus optional drop-path on both branches (ViT). x [B, S, D] → [B, S, D].
public final class TransformerEncoderLayer: Module {
    /// The layer's configuration.
    public let config: TransformerLayerConfig
    /// Multi-head self-attention (`self_attn`).
    public var selfAttention: MultiHeadAttention
    public var linear1: Linear, linear2: Linear
    public var norm1: LayerNorm, norm2: LayerNorm
    public var dropout: Dropout, dropout1: Dropout, dropout2: Dropout
    /// Stochastic depth on the residual branches (identity when 0).
    public var dropPath: DropPath
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// An encoder layer (`nn.TransformerEncoderLayer`), with stochastic depth `dropPath`.
    public init(_ c: TransformerLayerConfig, dropPath: Float = 0, using g: inout RandomGenerator) {
        config = c
        selfAttention = MultiHeadAttention(
            dModel: c.dModel, heads: c.heads, bias: c.bias, dropout: c.attentionDropout, using: &g)
        linear1 = Linear(c.dModel, c.feedForward, bias: c.bias, using: &g)
        linear2 = Linear(c.feedForward, c.dModel, bias: c.bias, using: &g)
        norm1 = LayerNorm([c.dModel], eps: c.layerNormEps)
        norm2 = LayerNorm([c.dModel], eps: c.layerNormEps)
        dropout = Dropout(p: c.dropout, using: &g)
        dropout1 = Dropout(p: c.dropout, using: &g)
        dropout2 = Dropout(p: c.dropout, using: &g)
        self.dropPath = DropPath(p: dropPath, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [
            ("selfAttention", selfAttention), ("linear1", linear1), ("linear2", linear2), ("norm1", norm1),
            ("norm2", norm2),
            ("dropout", dropout), ("dropout1", dropout1), ("dropout2", dropout2), ("dropPath", dropPath)
        ]
    }

    /// - Parameters:
    ///   - x: the layer's input [B, T, D].
    ///   - mask: the self-attention mask (key padding of the source, optionally causal).
    public func callAsFunction(_ x: Tensor, mask: AttentionMask = .none) -> Tensor {
        forward(x, firstRows: nil, mask: mask)
    }

    /// The layer's output for the first `rows` positions only, [B, rows, D]: those rows equal the same rows of
    /// `self(x)` (their queries still attend over every position's keys and values), and the work of every other row
    /// — its query, output projection and feed-forward — is skipped. A class-token model's last layer needs only row 0.
    /// Only for unmasked attention (a [T, T] mask would need its rows cut too).
    public func callAsFunction(_ x: Tensor, firstRows rows: Int) -> Tensor { forward(x, firstRows: rows, mask: .none) }

    /// One incremental step of a causal stack (a decoder-only model): x [B, n, D] are the newest n positions; their
    /// keys and values join `cache` and their queries attend to every cached position (causally among the n).
    public func step(_ x: Tensor, cache: KeyValueCache) -> Tensor {
        block(x, residual: x) { self.selfAttention.step($0, cache: cache) }
    }

    /// Both: the residual branches over the query rows (all of them when `rows` is nil: then query, key and value are
    /// one tensor and attention takes its packed-projection path).
    private func forward(_ x: Tensor, firstRows rows: Int?, mask: AttentionMask) -> Tensor {
        func queries(_ t: Tensor) -> Tensor { rows.map { t.slice(axis: 1, start: 0, end: $0) } ?? t }
        return block(x, residual: queries(x)) { n in
            self.selfAttention(query: queries(n), key: n, value: n, mask: mask).output
        }
    }

    /// The two residual branches around a self-attention given as a closure of the (normalised, when pre-norm) input,
    /// so the full pass and the cached step share one definition of the block. `xq`: the rows the branches add to.
    private func block(_ x: Tensor, residual xq: Tensor, _ sa: (Tensor) -> Tensor) -> Tensor {
        let ff = { (y: Tensor) in feedForward(y, self.linear1, self.linear2, self.dropout, self.config.activation) }
        if config.normFirst {
            let (h, n) = norm2.residual(xq, adding: dropPath(dropout1(sa(norm1(x)))))
            return h + dropPath(dropout2(ff(n)))
        }
        let h = norm1(xq, adding: dropPath(dropout1(sa(x))))
        return norm2(h, adding: dropPath(dropout2(ff(h))))
    }
}

/// Decoder layer: masked self-attention, cross-attention over the encoder's output (memory), feed-forward; each a
/// residual branch with layer norm (post- or pre-norm) and dropout. x [B, T, D], memory [B, S, D] → [B, T, D].
public final class TransformerDecoderLayer: Module {
    /// The layer's configuration.
    public let config: TransformerLayerConfig
    public var selfAttention: MultiHeadAttention, crossAttention: MultiHeadAttention
    public var linear1: Linear, linear2: Linear
    public var norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
    public var dropout: Dropout, dropout1: Dropout, dropout2: Dropout, dropout3: Dropout
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A decoder layer (`nn.TransformerDecoderLayer`).
    public init(_ c: TransformerLayerConfig, using g: inout RandomGenerator) {
        config = c
        selfAttention = MultiHeadAttention(
            dModel: c.dModel, heads: c.heads, bias: c.bias, dropout: c.attentionDropout, using: &g)
        crossAttention = MultiHeadAttention(
            dModel: c.dModel, heads: c.heads, bias: c.bias, dropout: c.attentionDropout, using: &g)
        linear1 = Linear(c.dModel, c.feedForward, bias: c.bias, using: &g)
        linear2 = Linear(c.feedForward, c.dModel, bias: c.bias, using: &g)
        norm1 = LayerNorm([c.dModel], eps: c.layerNormEps)
        norm2 = LayerNorm([c.dModel], eps: c.layerNormEps)
        norm3 = LayerNorm([c.dModel], eps: c.layerNormEps)
        dropout = Dropout(p: c.dropout, using: &g)
        dropout1 = Dropout(p: c.dropout, using: &g)
        dropout2 = Dropout(p: c.dropout, using: &g)
        dropout3 = Dropout(p: c.dropout, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [
            ("selfAttention", selfAttention), ("crossAttention", crossAttention), ("linear1", linear1),
            ("linear2", linear2),
            ("norm1", norm1), ("norm2", norm2), ("norm3", norm3),
            ("dropout", dropout), ("dropout1", dropout1), ("dropout2", dropout2), ("dropout3", dropout3)
        ]
    }

    private func ff(_ y: Tensor) -> Tensor { feedForward(y, linear1, linear2, dropout, config.activation) }

    /// The three residual branches around a self-attention and a cross-attention given as closures (so the full
    /// pass and the cached step share one definition of the block).
    private func block(_ x: Tensor, _ sa: (Tensor) -> Tensor, _ ca: (Tensor) -> Tensor) -> Tensor {
        if config.normFirst {
            let (h1, n2) = norm2.residual(x, adding: dropout1(sa(norm1(x))))
            let (h2, n3) = norm3.residual(h1, adding: dropout2(ca(n2)))
            return h2 + dropout3(ff(n3))
        }
        let h1 = norm1(x, adding: dropout1(sa(x)))
        let h2 = norm2(h1, adding: dropout2(ca(h1)))
        return norm3(h2, adding: dropout3(ff(h2)))
    }

    /// - Parameters:
    ///   - x: the decoder's input [B, T, D].
    ///   - memory: the encoder's output [B, S, D].
    ///   - targetMask: self-attention mask (usually causal, plus target key padding);
    ///   - memoryMask: cross-attention mask (source key padding).
    public func callAsFunction(
        _ x: Tensor, memory: Tensor, targetMask: AttentionMask = AttentionMask(causal: true),
        memoryMask: AttentionMask = .none
    ) -> Tensor {
        block(
            x, { self.selfAttention($0, mask: targetMask) },
            { self.crossAttention(query: $0, key: memory, value: memory, mask: memoryMask).output })
    }

    /// One incremental step: x [B, n, D] are the newest positions; self-attention keys/values grow in `cache.selfKV`,
    /// cross-attention reads `cache.crossKV` (computed once per source).
    /// `beams` > 1: x holds that many consecutive rows per source row of `cache.crossKV` (beam search).
    public func step(_ x: Tensor, cache: DecoderLayerCache, memoryMask: AttentionMask = .none, beams: Int = 1) -> Tensor
    {
        block(
            x, { self.selfAttention.step($0, cache: cache.selfKV) },
            { self.crossAttention.step($0, crossCache: cache.crossKV, mask: memoryMask, beams: beams) })
    }
}

/// The key/value caches of one decoder layer.
public final class DecoderLayerCache {
    public let selfKV: KeyValueCache, crossKV: KeyValueCache
    init(selfKV: KeyValueCache, crossKV: KeyValueCache) { self.selfKV = selfKV; self.crossKV = crossKV }
    /// Makes self-attention row i the current row `rows[i]`, and cross-attention (one row per source) row i the
    /// current `sources[i]` when sources leave the batch (nil: they stay; beams move only within their source).
    func reorder(_ rows: [Int], sources: [Int]?) {
        selfKV.reorder(rows)
        if let sources { crossKV.reorder(sources) }
    }
}

/// A stack of encoder layers with an optional final layer norm (pre-norm stacks need it). Drop-path rates rise
/// linearly from 0 to `dropPath` over the layers (timm's rule). x [B, S, D] → [B, S, D].
public final class TransformerEncoder: Module {
    /// The encoder layers.
    public var layers: ModuleList<TransformerEncoderLayer>
    /// The final LayerNorm (pre-norm stacks), if any.
    public var norm: LayerNorm?
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// `count` encoder layers, with stochastic depth rising linearly to `dropPath`.
    public init(
        _ c: TransformerLayerConfig, layers count: Int, finalNorm: Bool, dropPath: Float = 0,
        using g: inout RandomGenerator
    ) {
        var ls: [TransformerEncoderLayer] = []
        for i in 0..<count {
            let rate = count > 1 ? dropPath * Float(i) / Float(count - 1) : 0
            ls.append(TransformerEncoderLayer(c, dropPath: rate, using: &g))
        }
        layers = ModuleList(ls)
        norm = finalNorm ? LayerNorm([c.dModel], eps: c.layerNormEps) : nil
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("layers", layers)] + (norm.map { [("norm", $0)] } ?? [])
    }

    /// Encodes `x` [B, T, D]; `mask` hides padded keys.
    public func callAsFunction(_ x: Tensor, mask: AttentionMask = .none) -> Tensor {
        let h = layers.modules.reduce(x) { $1($0, mask: mask) }
        return norm.map { $0(h) } ?? h
    }

    /// The encoder's output for the first `rows` positions only, [B, rows, D], equal to those rows of `self(x)`: the
    /// last layer computes only them (see `TransformerEncoderLayer.callAsFunction(_:firstRows:)`). Unmasked only.
    public func callAsFunction(_ x: Tensor, firstRows rows: Int) -> Tensor {
        guard let last = layers.modules.last else {
            return (norm.map { $0(x) } ?? x).slice(axis: 1, start: 0, end: rows)
        }
        let h = last(layers.modules.dropLast().reduce(x) { $1($0) }, firstRows: rows)
        return norm.map { $0(h) } ?? h
    }
}

/// A stack of decoder layers with an optional final layer norm. x [B, T, D], memory [B, S, D] → [B, T, D].
public final class TransformerDecoder: Module {
    /// The decoder layers.
    public var layers: ModuleList<TransformerDecoderLayer>
    /// The final LayerNorm (pre-norm stacks), if any.
    public var norm: LayerNorm?
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// `count` decoder layers.
    public init(_ c: TransformerLayerConfig, layers count: Int, finalNorm: Bool, using g: inout RandomGenerator) {
        var ls: [TransformerDecoderLayer] = []
        for _ in 0..<count { ls.append(TransformerDecoderLayer(c, using: &g)) }
        layers = ModuleList(ls)
        norm = finalNorm ? LayerNorm([c.dModel], eps: c.layerNormEps) : nil
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("layers", layers)] + (norm.map { [("norm", $0)] } ?? [])
    }

    /// Decodes `x` [B, T, D] attending to `memory` [B, S, D], causally by default.
    public func callAsFunction(
        _ x: Tensor, memory: Tensor, targetMask: AttentionMask = AttentionMask(causal: true),
        memoryMask: AttentionMask = .none
    ) -> Tensor {
        let h = layers.modules.reduce(x) { $1($0, memory: memory, targetMask: targetMask, memoryMask: memoryMask) }
        return norm.map { $0(h) } ?? h
    }

    /// Caches for incremental decoding of up to `maxLength` positions against `memory` [B, S, D].
    public func makeCache(memory: Tensor, maxLength: Int, beams: Int = 1) -> [DecoderLayerCache] {
        let d = memory.shape[2]
        return layers.modules.map { layer in
            DecoderLayerCache(
                selfKV: KeyValueCache(batch: memory.shape[0] * beams, capacity: maxLength, keyWidth: d, valueWidth: d),
                crossKV: layer.crossAttention.crossCache(memory: memory))
        }
    }

    /// One step over the newest positions x [B, n, D] → [B, n, D], growing each layer's cache.
    /// `beams` > 1: x holds that many consecutive rows (hypotheses) per source row of the cross-attention caches.
    public func step(_ x: Tensor, caches: [DecoderLayerCache], memoryMask: AttentionMask = .none, beams: Int = 1)
        -> Tensor
    {
        var h = x
        for (layer, cache) in zip(layers.modules, caches) {
            h = layer.step(h, cache: cache, memoryMask: memoryMask, beams: beams)
        }
        return norm.map { $0(h) } ?? h
    }
}

/// The encoder-decoder of Vaswani et al. without embeddings (PyTorch's `nn.Transformer`, `batch_first=True`):
/// both stacks end in a layer norm, as PyTorch's do. src [B, S, D], tgt [B, T, D] → [B, T, D].
public final class Transformer: Module {
    /// The layer configuration shared by both stacks.
    public let config: TransformerLayerConfig
    public var encoder: TransformerEncoder, decoder: TransformerDecoder
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// An encoder–decoder transformer (`nn.Transformer`) with final LayerNorms.
    public init(
        _ c: TransformerLayerConfig, encoderLayers: Int = 6, decoderLayers: Int = 6, using g: inout RandomGenerator
    ) {
        config = c
        encoder = TransformerEncoder(c, layers: encoderLayers, finalNorm: true, using: &g)
        decoder = TransformerDecoder(c, layers: decoderLayers, finalNorm: true, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] { [("encoder", encoder), ("decoder", decoder)] }

    /// - Parameters: sourceMask for the encoder; targetMask for decoder self-attention; memoryMask for cross-attention.
    public func callAsFunction(
        source: Tensor, target: Tensor, sourceMask: AttentionMask = .none,
        targetMask: AttentionMask = AttentionMask(causal: true), memoryMask: AttentionMask = .none
    ) -> Tensor {
        decoder(target, memory: encoder(source, mask: sourceMask), targetMask: targetMask, memoryMask: memoryMask)
    }
}

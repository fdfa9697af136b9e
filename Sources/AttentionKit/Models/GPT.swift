import Foundation

// A GPT-style decoder-only transformer (Radford et al. 2019; nanoGPT's model.py) and text generation from it with
// a key/value cache. Dimension key: B batch, T tokens, D model width, V vocabulary, L layers.

/// Configuration of `GPT`.
public struct GPTConfig: Codable, Sendable, Equatable {
    /// Tokens in the vocabulary.
    public var vocabulary: Int
    /// The context length: positions the model sees at once (nanoGPT's `block_size`).
    public var blockSize = 256
    /// Transformer blocks.
    public var layers = 4
    /// Attention heads per block.
    public var heads = 4
    /// Model width.
    public var dModel = 128
    /// Dropout on embeddings, attention and residual branches.
    public var dropout: Float = 0
    /// Learned absolute positions (GPT-2) or the fixed sinusoidal table.
    public var positions: PositionKind = .learned
    /// Biases in the linear layers and layer norms' shift (nanoGPT's `bias`).
    public var bias = true

    /// A configuration for this vocabulary with the other fields at their defaults.
    public init(vocabulary: Int) { self.vocabulary = vocabulary }

    /// A block: pre-norm, causal self-attention, MLP of width 4D with exact GELU.
    var layer: TransformerLayerConfig {
        TransformerLayerConfig(
            dModel: dModel, heads: heads, feedForward: 4 * dModel, dropout: dropout, activation: .gelu,
            normFirst: true, layerNormEps: 1e-5, bias: bias)
    }
}

extension GPTConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let d = Double(dModel)
        return Double(vocabulary) * d + Double(layers) * 12 * d * d
    }

    /// The elements a training step on `batch` windows of `blockSize` tokens keeps for its backward pass, roughly:
    /// per layer and token the normalised input, q/k/v, the attention output, the MLP's two 4·d activations and
    /// the residuals (≈ 16·d), the attention probabilities (heads · T), and the logits with their softmax (2·V).
    public func activationElements(batch: Int) -> Double {
        let tokens = Double(batch) * Double(blockSize), d = Double(dModel)
        return tokens * (Double(layers) * (16 * d + Double(heads) * Double(blockSize)) + 2 * Double(vocabulary))
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("vocabulary", vocabulary, max: 1 << 24)
        try ConfigCheck.size("blockSize", blockSize, max: 1 << 16)
        try ConfigCheck.size("layers", layers, max: 512)
        try ConfigCheck.size("dModel", dModel)
        try ConfigCheck.heads(dModel, heads)
        try ConfigCheck.probability("dropout", dropout)
    }
}

/// How the next token is drawn from the model's logits.
public struct Sampling: Sendable, Equatable {
    /// Logits are divided by it; 0 takes the most probable token (greedy).
    public var temperature: Float = 1
    /// Keep only the k most probable tokens (nil: all).
    public var topK: Int? = nil
    /// Keep the smallest set of most probable tokens whose probability reaches p (nucleus sampling; nil: all).
    public var topP: Float? = nil
    /// Sampling settings; the defaults sample from the full softmax.
    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    /// The token drawn from `logits` [V] with `g`: softmax(logits / temperature) restricted to the top k and to the
    /// nucleus p, renormalised (ties in the ranking: the lower id first).
    public func draw(_ logits: UnsafeBufferPointer<Float>, using g: inout RandomGenerator) -> Int {
        let v = logits.count
        if temperature <= 0 {
            var best = 0
            for i in 1..<v where logits[i] > logits[best] { best = i }
            return best
        }
        var order = Array(0..<v)
        order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        if let topK, topK < v { order.removeLast(v - max(topK, 1)) }
        let top = logits[order[0]]
        var p = order.map { Double(Foundation.exp(Double((logits[$0] - top) / temperature))) }
        let total = p.reduce(0, +)
        p = p.map { $0 / total }
        if let topP, topP < 1 {
            var sum = 0.0, keep = 0
            while keep < p.count { sum += p[keep]; keep += 1; if sum >= Double(topP) { break } }
            order.removeLast(order.count - keep)
            p.removeLast(p.count - keep)
        }
        let mass = p.reduce(0, +)
        var u = g.nextUnit() * mass
        for (i, id) in order.enumerated() {
            u -= p[i]
            if u < 0 { return id }
        }
        return order[order.count - 1]
    }
}

/// A decoder-only transformer language model: token embedding + positions → L pre-norm blocks of causal
/// self-attention and MLP → final layer norm → output head tied to the token embedding. ids [B, T] → logits [B, T, V].
/// Init as GPT-2/nanoGPT: N(0, 0.02) weights, zero biases, residual projections (attention output, MLP output)
/// N(0, 0.02/√(2L)).
public final class GPT: Module, ConfigurableModel {
    /// The model's configuration.
    public let config: GPTConfig
    /// Token embeddings plus positions (`wte` + `wpe`).
    public var embedding: TokenEmbedding
    /// The causal transformer blocks with a final LayerNorm.
    public var blocks: TransformerEncoder
    /// The language-model head (`lm_head`), tied to the token embeddings.
    public var head: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A GPT with GPT-2's initialisation (N(0, 0.02²), residual projections scaled by 1/√(2·layers)).
    public init(config c: GPTConfig, using g: inout RandomGenerator) {
        config = c
        let tokens = Embedding(c.vocabulary, c.dModel, using: &g)
        tokens.weight = Tensor.normal([c.vocabulary, c.dModel], std: 0.02, using: &g).requiringGrad()
        embedding = TokenEmbedding(
            tokens, positions: c.positions, maxLength: c.blockSize, dropout: c.dropout, scale: false, using: &g)
        blocks = TransformerEncoder(c.layer, layers: c.layers, finalNorm: true, using: &g)
        head = Linear(c.dModel, c.vocabulary, bias: false, using: &g)
        head.weight = tokens.weight  // tied (Press & Wolf 2017)
        let residualStd = 0.02 / Float(2 * c.layers).squareRoot()
        for block in blocks.layers.modules {
            for linear in [
                block.selfAttention.inProjection!, block.selfAttention.outProjection, block.linear1, block.linear2
            ] {
                let residual = linear === block.selfAttention.outProjection || linear === block.linear2
                linear.weight = Tensor.normal(linear.weight.shape, std: residual ? residualStd : 0.02, using: &g)
                    .requiringGrad()
                if let b = linear.bias { linear.bias = Tensor.zeros(b.shape).requiringGrad() }
            }
        }
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("embedding", embedding), ("blocks", blocks), ("head", head)]
    }

    /// Throws a `SequenceError` naming the row and position if `ids` cannot go through this model.
    public func validate(_ ids: [[Int]]) throws(SequenceError) {
        try validateIDs(ids, vocabulary: config.vocabulary, maxLength: config.blockSize, what: "input")
    }

    /// ids [B, T] (T ≤ blockSize) → logits [B, T, V]; position t sees tokens 0…t.
    public func callAsFunction(_ ids: [[Int]]) -> Tensor {
        let h = blocks(embedding(ids), mask: AttentionMask(causal: true))  // [B, T, D]
        return head(h)  // [B, T, V]
    }

    /// Empty key/value caches for `batch` rows of up to blockSize positions, one per block.
    public func makeCaches(batch: Int) -> [KeyValueCache] {
        blocks.layers.modules.map { _ in
            KeyValueCache(batch: batch, capacity: config.blockSize, keyWidth: config.dModel, valueWidth: config.dModel)
        }
    }

    /// Feeds the newest positions `ids` [B, n] through the cached blocks and returns the logits of the last one
    /// [B, V]: equal to the last row of `self(prefix + ids)` (proven in the tests), at the cost of n positions.
    public func step(_ ids: [[Int]], caches: [KeyValueCache]) -> Tensor {
        let offset = caches.first?.length ?? 0
        var h = embedding(ids, offset: offset)  // [B, n, D]
        for (block, cache) in zip(blocks.layers.modules, caches) { h = block.step(h, cache: cache) }
        let n = h.shape[1]
        let last = h.slice(axis: 1, start: n - 1, end: n)  // [B, 1, D]
        return head(blocks.norm.map { $0(last) } ?? last).reshape([ids.count, config.vocabulary])
    }

    /// Continues each prompt (rows of one length) by up to `maxNewTokens` tokens drawn by `sampling`, with the key/value
    /// cache. A row that draws `stopToken` is finished (its later tokens are not reported); generation ends when every
    /// row has finished. When the context is full, the window slides: the caches restart from the newest blockSize/2
    /// tokens (`onSlide` is called). `onToken(row, id)` receives each token as it is drawn.
    /// - Returns: the new tokens of each row (up to and without its stop token).
    public func generate(
        _ prompts: [[Int]], maxNewTokens: Int, sampling: Sampling, stopToken: Int?,
        using g: inout RandomGenerator, onSlide: () -> Void, onToken: (Int, Int) -> Void
    ) -> [[Int]] {
        precondition(
            !prompts.isEmpty && prompts.allSatisfy { !$0.isEmpty && $0.count == prompts[0].count },
            "GPT.generate: prompts must be non-empty rows of one length")
        eval()
        return withNoGrad {
            var rows = prompts
            if rows[0].count > config.blockSize {
                rows = rows.map { Array($0.suffix(config.blockSize)) }
                onSlide()
            }
            var caches = makeCaches(batch: rows.count)
            return drawTokens(
                from: step(rows, caches: caches), maxNewTokens: maxNewTokens, sampling: sampling, stopToken: stopToken,
                using: &g, onToken: onToken
            ) { drawn in
                for r in rows.indices { rows[r].append(drawn[r]) }
                guard caches[0].length >= config.blockSize else { return step(drawn.map { [$0] }, caches: caches) }
                caches = makeCaches(batch: rows.count)
                onSlide()
                return step(rows.map { Array($0.suffix(max(1, config.blockSize / 2))) }, caches: caches)
            }
        }
    }
}

extension GPT: CausalLanguageModel {
    /// Tokens in the vocabulary.
    public var vocabulary: Int { config.vocabulary }
    /// The longest sequence the model sees at once (`blockSize`).
    public var contextLength: Int { config.blockSize }
    /// Writes the configuration and weights to `url` (safetensors) atomically.
    public func save(to url: URL) throws { try ModelFile.save(self, to: url) }
}

import Foundation

// A recurrent language model (Zaremba et al. 2014; Press & Wolf 2017's tied embeddings; PyTorch's
// examples/word_language_model `RNNModel`) and what every next-token model shares: the `CausalLanguageModel`
// protocol `LanguageModel` and its task use, and the sampling loop of generation. Dimension key: B batch, T steps,
// E embedding width, H hidden units, V vocabulary.

/// A model that predicts each next token from the ones before it: `GPT` and `RecurrentLanguageModel`.
public protocol CausalLanguageModel: Module {
    var vocabulary: Int { get }
    /// Positions a training window holds (the transformer's context; the recurrent model's steps of backpropagation
    /// through time).
    var contextLength: Int { get }
    /// ids [B, T] (T ≤ contextLength) → logits [B, T, V]; position t sees tokens 0…t.
    func callAsFunction(_ ids: [[Int]]) -> Tensor
    /// Continues each prompt (rows of one length) by up to `maxNewTokens` tokens drawn by `sampling`; a row that
    /// draws `stopToken` is finished. `onSlide` is called when a bounded context has to drop its oldest tokens;
    /// `onToken(row, id)` receives each token as it is drawn. Returns each row's new tokens (without the stop token).
    func generate(
        _ prompts: [[Int]], maxNewTokens: Int, sampling: Sampling, stopToken: Int?, using g: inout RandomGenerator,
        onSlide: () -> Void, onToken: (Int, Int) -> Void
    ) -> [[Int]]
    /// Writes the weights with the configuration that rebuilds the model (`ModelFile`).
    func save(to url: URL) throws
    /// Throws a `SequenceError` naming the row and position if `ids` cannot go through this model.
    func validate(_ ids: [[Int]]) throws(SequenceError)
}

extension CausalLanguageModel {
    /// The mean next-token cross-entropy of `inputs` [B, T] against `targets` [B, T] (targets = inputs shifted by one).
    public func loss(_ inputs: [[Int]], targets: [[Int]]) -> Tensor {
        Loss.crossEntropy(self(inputs).reshape([-1, vocabulary]), targets.flatMap { $0 })
    }

    /// Continues each prompt by up to `maxNewTokens` sampled tokens, stopping a row at `stopToken`.
    public func generate(
        _ prompts: [[Int]], maxNewTokens: Int, sampling: Sampling = Sampling(), stopToken: Int? = nil,
        using g: inout RandomGenerator
    ) -> [[Int]] {
        generate(
            prompts, maxNewTokens: maxNewTokens, sampling: sampling, stopToken: stopToken, using: &g, onSlide: {},
            onToken: { _, _ in })
    }
}

/// The sampling loop every next-token model shares: draws one token per row from `logits` [B, V], reports it,
/// stops a row at `stopToken`, and asks `advance` for the next logits given the drawn tokens — until every row has
/// stopped or `maxNewTokens` were drawn.
func drawTokens(
    from logits: Tensor, maxNewTokens: Int, sampling: Sampling, stopToken: Int?, using g: inout RandomGenerator,
    onToken: (Int, Int) -> Void, advance: ([Int]) -> Tensor
) -> [[Int]] {
    let b = logits.shape[0], v = logits.shape[1]
    var logits = logits
    var new = [[Int]](repeating: [], count: b), finished = [Bool](repeating: false, count: b)
    for _ in 0..<maxNewTokens {
        let drawn = logits.withUnsafeFloats { p in
            (0..<b).map { r in sampling.draw(UnsafeBufferPointer(rebasing: p[(r * v)..<((r + 1) * v)]), using: &g) }
        }
        for (r, id) in drawn.enumerated() where !finished[r] {
            if id == stopToken { finished[r] = true; continue }
            new[r].append(id)
            onToken(r, id)
        }
        if finished.allSatisfy({ $0 }) { break }
        logits = advance(drawn)
    }
    return new
}

/// Configuration of `RecurrentLanguageModel`.
public struct RecurrentLanguageModelConfig: Codable, Sendable, Equatable {
    /// Tokens in the vocabulary.
    public var vocabulary: Int
    /// `.lstm` (the default), `.gru` or a plain RNN.
    public var cell: RecurrentCell = .lstm
    /// Embedding width.
    public var embeddingDim = 256
    /// Hidden units per layer.
    public var hidden = 256
    /// Recurrent layers.
    public var layers = 2
    /// On the embeddings, between the recurrent layers and on the last layer's outputs (Zaremba et al.).
    public var dropout: Float = 0.2
    /// The output layer shares the embedding's matrix (needs embeddingDim == hidden).
    public var tieWeights = true
    /// Steps of a training window (backpropagation through time).
    public var blockSize = 64

    /// A configuration for this vocabulary with the other fields at their defaults.
    public init(vocabulary: Int) { self.vocabulary = vocabulary }
}

extension RecurrentLanguageModelConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let e = Double(embeddingDim), h = Double(hidden), gates = Double(cell.gates), v = Double(vocabulary)
        return v * e + gates * h * (e + h) + Double(layers - 1) * gates * h * 2 * h + (tieWeights ? 0 : v * h)
    }

    /// Per step and row: each layer's gates, cell state and output (≈ (gates + 3)·H) and the logits with their
    /// softmax (2·V).
    public func activationElements(batch: Int) -> Double {
        Double(batch) * Double(blockSize)
            * (Double(layers) * Double(cell.gates + 3) * Double(hidden) + Double(embeddingDim) + 2 * Double(vocabulary))
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("vocabulary", vocabulary, max: ConfigCheck.maxVocabulary)
        try ConfigCheck.size("embeddingDim", embeddingDim)
        try ConfigCheck.size("hidden", hidden)
        try ConfigCheck.size("layers", layers, max: 64)
        try ConfigCheck.size("blockSize", blockSize, max: 1 << 16)
        try ConfigCheck.probability("dropout", dropout)
        if tieWeights && embeddingDim != hidden {
            throw ConfigurationError(
                "tieWeights",
                "the output layer can share the embedding only when embeddingDim (\(embeddingDim)) equals hidden (\(hidden))"
            )
        }
    }
}

/// A recurrent language model: embedding → dropout → multi-layer LSTM (or GRU) → dropout → linear to the vocabulary,
/// its weight tied to the embedding's. Initialised as PyTorch's word_language_model: embedding and output U(±0.1),
/// output bias 0, recurrent weights as `nn.LSTM`. Parameter names: `embedding.weight`, `rnn.weight_ih_l0…`,
/// `head.weight`, `head.bias`. Unlike the transformer it has no context limit in generation: the state carries the
/// whole prompt and everything drawn.
public final class RecurrentLanguageModel: Module, ConfigurableModel, CausalLanguageModel {
    /// The model's configuration.
    public let config: RecurrentLanguageModelConfig
    /// Token embeddings.
    public var embedding: Embedding
    /// The recurrent layers.
    public var rnn: RecurrentNetwork
    /// Dropout on embeddings and outputs.
    public var dropout: Dropout
    /// The next-token head (tied to the embeddings when the widths agree and `tieWeights`).
    public var head: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A recurrent language model with PyTorch's initialisation of its layers.
    public init(config c: RecurrentLanguageModelConfig, using g: inout RandomGenerator) {
        precondition(
            !c.tieWeights || c.embeddingDim == c.hidden,
            "RecurrentLanguageModel: tied weights need embeddingDim == hidden")
        config = c
        embedding = Embedding(c.vocabulary, c.embeddingDim, using: &g)
        rnn = RecurrentNetwork(
            cell: c.cell, inputSize: c.embeddingDim, hiddenSize: c.hidden, layers: c.layers, dropout: c.dropout,
            using: &g)
        dropout = Dropout(p: c.dropout, using: &g)
        head = Linear(c.hidden, c.vocabulary, using: &g)
        embedding.initializeUniform(range: 0.1, using: &g)
        head.bias = Tensor.zeros([c.vocabulary]).requiringGrad()
        head.weight =
            c.tieWeights
            ? embedding.weight
            : Tensor.uniform([c.vocabulary, c.hidden], low: -0.1, high: 0.1, using: &g).requiringGrad()
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("embedding", embedding), ("rnn", rnn), ("dropout", dropout), ("head", head)]
    }

    /// Tokens in the vocabulary.
    public var vocabulary: Int { config.vocabulary }
    /// The length of the training windows (`blockSize`); generation is not limited by it.
    public var contextLength: Int { config.blockSize }

    /// Throws when an id is outside the vocabulary.
    public func validate(_ ids: [[Int]]) throws(SequenceError) {
        try validateIDs(ids, vocabulary: config.vocabulary, maxLength: Int.max, what: "input")
    }

    /// ids [B, T] from `initial` (zeros when nil) → logits [B, T, V] and the state after the last step.
    public func callAsFunction(_ ids: [[Int]], initial: RecurrentState?) -> (logits: Tensor, state: RecurrentState) {
        let b = ids.count, t = ids[0].count
        precondition(
            ids.allSatisfy { $0.count == t } && t > 0,
            "RecurrentLanguageModel: rows must be non-empty and of one length")
        let x = dropout(embedding(ids.flatMap { $0 }, shape: [b, t]))  // [B, T, E]
        let (out, state) = rnn(x, initial: initial)  // [B, T, H]
        return (head(dropout(out)), state)  // [B, T, V]
    }

    /// Next-token logits [B, T, vocabulary] for `ids` [B, T], from a zero state.
    public func callAsFunction(_ ids: [[Int]]) -> Tensor { self(ids, initial: nil).logits }

    /// Continues each prompt by up to `maxNewTokens` sampled tokens, carrying the recurrent state instead of re-reading the prompt.
    public func generate(
        _ prompts: [[Int]], maxNewTokens: Int, sampling: Sampling, stopToken: Int?, using g: inout RandomGenerator,
        onSlide: () -> Void, onToken: (Int, Int) -> Void
    ) -> [[Int]] {
        precondition(
            !prompts.isEmpty && prompts.allSatisfy { !$0.isEmpty && $0.count == prompts[0].count },
            "RecurrentLanguageModel.generate: prompts must be non-empty rows of one length")
        eval()
        return withNoGrad {
            let v = config.vocabulary
            func last(_ logits: Tensor) -> Tensor {
                let t = logits.shape[1]
                return logits.slice(axis: 1, start: t - 1, end: t).reshape([prompts.count, v])
            }
            var (logits, state) = self(prompts, initial: nil)
            return drawTokens(
                from: last(logits), maxNewTokens: maxNewTokens, sampling: sampling, stopToken: stopToken, using: &g,
                onToken: onToken
            ) { drawn in
                (logits, state) = self(drawn.map { [$0] }, initial: state)
                return last(logits)
            }
        }
    }

    /// Writes the configuration and weights to `url` (safetensors) atomically.
    public func save(to url: URL) throws { try ModelFile.save(self, to: url) }
}

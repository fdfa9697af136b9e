import Foundation

/// Configuration of `RecurrentTranslator`.
public struct RecurrentTranslatorConfig: Codable, Sendable, Equatable {
    /// Tokens in the source vocabulary.
    public var sourceVocabulary: Int
    /// Tokens in the target vocabulary.
    public var targetVocabulary: Int
    /// `.gru` (Bahdanau et al.) or `.lstm` (Luong et al.).
    public var cell: RecurrentCell = .gru
    /// Embedding width of both sides.
    public var embeddingDim = 256
    /// Hidden units of the decoder and of each encoder direction.
    public var hidden = 256
    /// Bidirectional encoder layers.
    public var encoderLayers = 1
    /// How the decoder scores source positions (additive: Bahdanau; dot or general: Luong).
    public var attention: AlignmentScore = .additive
    /// Luong's input feeding: the previous step's attentional vector joins the decoder's input.
    public var inputFeeding = true
    /// Dropout on embeddings and between layers.
    public var dropout: Float = 0.2
    /// Longest source and target in tokens (EOS included).
    public var maxLength = 128
    public var padID = 0, bosID = 1, eosID = 2

    /// A configuration for these vocabularies with the other fields at their defaults.
    public init(sourceVocabulary: Int, targetVocabulary: Int) {
        self.sourceVocabulary = sourceVocabulary
        self.targetVocabulary = targetVocabulary
    }
}

/// The recurrent encoder–decoder with attention that neural translation began with: a bidirectional GRU (or LSTM)
/// encoder over the source's real tokens; a decoder whose first state is tanh(W [→h; ←h]) of the encoder's final
/// states; at every step the decoder cell reads the previous target token (and, with input feeding, the previous
/// attentional vector), attends over the encoder's outputs with its new state (Bahdanau's additive score or Luong's
/// dot/general), forms h̃ = tanh(W_c [s; context]) and predicts the next token from h̃ (Luong et al. 2015's global
/// attention; with the additive score, Bahdanau et al. 2015's alignment model). Attention maps are captured per step.
public final class RecurrentTranslator: Module, ConfigurableModel {
    /// The model's configuration.
    public let config: RecurrentTranslatorConfig
    public var sourceEmbedding: Embedding, targetEmbedding: Embedding
    public var encoder: RecurrentNetwork, decoder: RecurrentNetwork
    public var bridge: Linear, attention: RecurrentAttention, combine: Linear, output: Linear
    /// Dropout on embeddings and decoder outputs.
    public var dropout: Dropout
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// An attentional encoder–decoder with PyTorch's initialisation of its layers.
    public init(config c: RecurrentTranslatorConfig, using g: inout RandomGenerator) {
        precondition(
            c.attention != .dot, "RecurrentTranslator: dot attention needs equal widths; use additive or general")
        config = c
        let h = c.hidden
        sourceEmbedding = Embedding(c.sourceVocabulary, c.embeddingDim, paddingIndex: c.padID, using: &g)
        targetEmbedding = Embedding(c.targetVocabulary, c.embeddingDim, paddingIndex: c.padID, using: &g)
        encoder = RecurrentNetwork(
            cell: c.cell, inputSize: c.embeddingDim, hiddenSize: h, layers: c.encoderLayers, bidirectional: true,
            dropout: c.dropout, using: &g)
        decoder = RecurrentNetwork(
            cell: c.cell, inputSize: c.embeddingDim + (c.inputFeeding ? h : 0), hiddenSize: h, using: &g)
        bridge = Linear(2 * h, h, using: &g)
        attention = RecurrentAttention(c.attention, queryWidth: h, keyWidth: 2 * h, hidden: h, using: &g)
        combine = Linear(h + 2 * h, h, bias: false, using: &g)
        output = Linear(h, c.targetVocabulary, using: &g)
        dropout = Dropout(p: c.dropout, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [
            ("sourceEmbedding", sourceEmbedding), ("targetEmbedding", targetEmbedding), ("encoder", encoder),
            ("decoder", decoder),
            ("bridge", bridge), ("attention", attention), ("combine", combine), ("output", output), ("dropout", dropout)
        ]
    }

    /// What the decoder carries from step to step, one row per hypothesis.
    struct DecoderState {
        var memory: Tensor, projectedKeys: Tensor, lengths: [Int]  // encoder outputs [N, S, 2H] and their keys
        var recurrent: RecurrentState  // [1, N, H]
        var feed: Tensor  // the last attentional vector h̃ [N, H]

        /// The state with its rows taken from `rows` (beams that moved).
        func selecting(_ rows: [Int]) -> DecoderState {
            DecoderState(
                memory: memory.indexSelect(axis: 0, indices: rows),
                projectedKeys: projectedKeys.indexSelect(axis: 0, indices: rows),
                lengths: rows.map { lengths[$0] },
                recurrent: RecurrentState(
                    h: recurrent.h.indexSelect(axis: 1, indices: rows),
                    c: recurrent.c?.indexSelect(axis: 1, indices: rows)),
                feed: feed.indexSelect(axis: 0, indices: rows))
        }
    }

    /// Encodes right-padded source ids [B, S]: the decoder's first state.
    func encode(_ source: [[Int]]) -> DecoderState {
        let b = source.count, s = max(1, source.map(\.count).max() ?? 1), h = config.hidden
        let lengths = source.map { row in max(1, (row.lastIndex { $0 != config.padID }.map { $0 + 1 }) ?? 0) }
        let padded = source.map { $0 + [Int](repeating: config.padID, count: s - $0.count) }
        let x = dropout(sourceEmbedding(padded.flatMap { $0 }, shape: [b, s]))
        let (memory, final) = encoder(x, lengths: lengths)  // [B, S, 2H]; h [2L, B, H]
        let top = final.h.shape[0]
        let both = Tensor.concat(
            [final.h.select(axis: 0, index: top - 2), final.h.select(axis: 0, index: top - 1)], axis: 1)  // [B, 2H]
        let h0 = bridge(both).tanh().unsqueeze(0)  // [1, B, H]
        let c0: Tensor? = config.cell.hasCellState ? Tensor.zeros([1, b, h], dtype: memory.dtype) : nil
        return DecoderState(
            memory: memory, projectedKeys: attention.projectKeys(memory), lengths: lengths,
            recurrent: RecurrentState(h: h0, c: c0), feed: Tensor.zeros([b, h], dtype: memory.dtype))
    }

    /// One decoder step for every row up to the attentional vector h̃ [N, H] (what the output layer reads), and the
    /// new state.
    func attend(_ tokens: [Int], _ state: DecoderState) -> (attentional: Tensor, state: DecoderState) {
        let n = tokens.count
        var input = targetEmbedding(tokens, shape: [n, 1])  // [N, 1, E]
        if config.inputFeeding { input = Tensor.concat([input, state.feed.unsqueeze(1)], axis: 2) }
        let (out, recurrent) = decoder(dropout(input), initial: state.recurrent)  // [N, 1, H]
        let (context, _) = attention(
            query: out, keys: state.memory, values: state.memory, keyLengths: state.lengths,
            projectedKeys: state.projectedKeys)
        // h̃ [N, H]
        let attentional = combine(Tensor.concat([out, context], axis: 2)).tanh().reshape([n, config.hidden])
        var next = state
        (next.recurrent, next.feed) = (recurrent, attentional)
        return (attentional, next)
    }

    /// One decoder step for every row: the next-token logits [N, V] and the new state.
    func step(_ tokens: [Int], _ state: DecoderState) -> (logits: Tensor, state: DecoderState) {
        let (attentional, next) = attend(tokens, state)
        return (output(dropout(attentional)), next)
    }

    /// Teacher-forced logits [B, T, V] of `targetInput` (BOS + target, right-padded) given `source`. The output layer
    /// runs once over every step's h̃ (one GEMM of B·T rows instead of T of B rows: the vocabulary projection is most
    /// of the work).
    public func callAsFunction(source: [[Int]], targetInput: [[Int]]) -> Tensor {
        var state = encode(source)
        let t = targetInput.map(\.count).max() ?? 0
        let rows = targetInput.map { $0 + [Int](repeating: config.padID, count: t - $0.count) }
        var attentional: [Tensor] = []
        for i in 0..<t {
            let (h, next) = attend(rows.map { $0[i] }, state)
            attentional.append(h)
            state = next
        }
        return output(dropout(Tensor.stack(attentional, axis: 1)))  // [B, T, V]
    }

    /// Beam search (the shared `searchBeams`): B·K rows decoded together, the decoder state reordered as beams move.
    /// - Parameters: see `Seq2SeqTransformer.beamSearch`.
    public func beamSearch(
        _ source: [[Int]], beamSize requested: Int, maxLength: Int = 100, lengthPenalty alpha: Float = 0.6,
        nBest: Int? = nil, minLength: Int = 1
    ) -> [[Hypothesis]] {
        precondition(
            requested >= 1 && maxLength >= 1,
            "beamSearch: beam size \(requested) and maxLength \(maxLength) must be positive")
        let k = min(requested, config.targetVocabulary), keep = min(nBest ?? k, k)
        return withNoGrad {
            let b = source.count
            var state = encode(source)
            if k > 1 { state = state.selecting((0..<(b * k)).map { $0 / k }) }
            return searchBeams(
                sentences: b, beam: k, vocabulary: config.targetVocabulary, bos: config.bosID, eos: config.eosID,
                pad: config.padID,
                maxLength: maxLength, lengthPenalty: alpha, keep: keep, minLength: minLength,
                step: { tokens in
                    let (logits, next) = step(tokens, state)
                    state = next
                    return logits
                },
                reorder: { rows in state = state.selecting(rows) })
        }
    }
}

extension RecurrentTranslatorConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        let e = Double(embeddingDim), h = Double(hidden), gates = Double(cell.gates)
        return Double(sourceVocabulary + targetVocabulary) * e + 2 * gates * h * (e + h) + gates * h * (e + h + h) + h
            * Double(targetVocabulary)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        try ConfigCheck.size("sourceVocabulary", sourceVocabulary, max: ConfigCheck.maxVocabulary)
        try ConfigCheck.size("targetVocabulary", targetVocabulary, max: ConfigCheck.maxVocabulary)
        try ConfigCheck.size("embeddingDim", embeddingDim)
        try ConfigCheck.size("hidden", hidden)
        try ConfigCheck.size("encoderLayers", encoderLayers, max: 64)
        try ConfigCheck.size("maxLength", maxLength, max: ConfigCheck.maxLength)
        for (field, id) in [("padID", padID), ("bosID", bosID), ("eosID", eosID)] {
            try ConfigCheck.id(field, id, below: min(sourceVocabulary, targetVocabulary))
        }
        try ConfigCheck.probability("dropout", dropout)
        guard attention != .dot else {
            throw ConfigurationError(
                "attention",
                "dot compares a decoder state (hidden) with encoder outputs of twice its width (both directions): use additive or general"
            )
        }
    }
}

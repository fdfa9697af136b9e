import Foundation

// An encoder-decoder translation model with greedy and beam-search decoding over a key/value cache.
// Dimension key: B batch, S source length, T target length, D model width, V vocabulary, K beam size.

/// How token positions are encoded.
public enum PositionKind: String, Codable, Sendable {
    /// The fixed sinusoidal table (a buffer).
    case sinusoidal
    /// A trained table of absolute positions.
    case learned
}

/// Configuration of `Seq2SeqTransformer`; saved beside the weights (`ModelFile`) so a checkpoint rebuilds its model.
public struct Seq2SeqConfig: Codable, Sendable, Equatable {
    /// Tokens in the source vocabulary.
    public var sourceVocabulary: Int
    /// Tokens in the target vocabulary.
    public var targetVocabulary: Int
    /// Model width.
    public var dModel = 256
    /// Attention heads; they divide `dModel`.
    public var heads = 4
    /// Encoder layers.
    public var encoderLayers = 3
    /// Decoder layers.
    public var decoderLayers = 3
    /// Width of the feed-forward hidden layer.
    public var feedForward = 1024
    /// Dropout on embeddings, attention weights and residual branches.
    public var dropout: Float = 0.1
    /// The feed-forward activation.
    public var activation: FeedForwardActivation = .relu
    /// Pre-norm (true) or post-norm layers.
    public var normFirst = true
    /// Sinusoidal or learned positions.
    public var positions: PositionKind = .sinusoidal
    /// Longest source or target sequence (the position tables' length).
    public var maxLength = 256
    /// One embedding table for source and target (a joint vocabulary; the sizes must match).
    public var sharedEmbeddings = false
    /// The output projection reuses the target embedding matrix (Press & Wolf 2017).
    public var tieOutput = false
    /// Multiply embeddings by √D before adding positions.
    public var scaleEmbeddings = true
    public var padID = 0, bosID = 1, eosID = 2

    /// A configuration for these vocabularies with the other fields at their defaults.
    public init(sourceVocabulary: Int, targetVocabulary: Int) {
        self.sourceVocabulary = sourceVocabulary
        self.targetVocabulary = targetVocabulary
    }

    var layer: TransformerLayerConfig {
        TransformerLayerConfig(
            dModel: dModel, heads: heads, feedForward: feedForward, dropout: dropout, activation: activation,
            normFirst: normFirst)
    }
}

/// Embeds token ids and adds positions: ids [B, T] → [B, T, D] (scaled by √D when asked, then dropout).
public final class TokenEmbedding: Module {
    /// The token table.
    public var embedding: Embedding
    /// The positions added to the embeddings.
    public var positions: any PositionEncoding
    /// Dropout after the positions are added.
    public var dropout: Dropout
    let scale: Float?
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    init(
        _ embedding: Embedding, positions kind: PositionKind, maxLength: Int, dropout p: Float, scale: Bool,
        using g: inout RandomGenerator
    ) {
        self.embedding = embedding
        let d = embedding.weight.shape[1]
        positions =
            kind == .sinusoidal
            ? SinusoidalPositionalEncoding(dim: d, maxLength: maxLength)
            : LearnedPositionalEmbedding(dim: d, maxLength: maxLength, using: &g)
        dropout = Dropout(p: p, using: &g)
        self.scale = scale ? Float(d).squareRoot() : nil
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("embedding", embedding), ("positions", positions), ("dropout", dropout)]
    }

    /// - Parameters:
    ///   - ids: token ids, one row per sentence, all rows of one length (padded).
    ///   - offset: position of the first column (incremental decoding).
    public func callAsFunction(_ ids: [[Int]], offset: Int = 0) -> Tensor {
        let b = ids.count, t = ids.first?.count ?? 0
        precondition(
            ids.allSatisfy { $0.count == t }, "TokenEmbedding: rows of different lengths (pad the batch first)")
        let flat = ids.flatMap { $0 }
        if let fused = inference(flat, rows: b, length: t, offset: offset) { return fused }
        var x = embedding(flat, shape: [b, t])  // [B, T, D]
        if let scale { x = x * scale }
        return dropout(positions(x, offset: offset))
    }

    /// In inference (no graph, no active dropout) the lookup, the padding mask, the scale and the positions in one
    /// pass over the output: the same operations in the same order as the composed path, so the same values bit for
    /// bit, without its three intermediate [B, T, D] tensors. Nil when the composed path must run (a gradient is
    /// wanted, dropout is active, or the positions are of a kind this pass does not know).
    /// `flat`: the batch's ids row after row, `rows` × `length`.
    private func inference(_ flat: [Int], rows b: Int, length t: Int, offset: Int) -> Tensor? {
        guard
            !(GradMode.enabled
                && (embedding.weight.requiresGrad || positions.parameters.contains(where: \.requiresGrad))),
            !dropout.isTraining || dropout.p == 0
        else { return nil }
        let w = embedding.weight, d = w.shape[1], v = w.shape[0]
        let table: Tensor, inputScale: Float?
        if let p = positions as? SinusoidalPositionalEncoding, p.dim == d {
            (table, inputScale) = (p.table, p.scaleInput ? Float(p.dim).squareRoot() : nil)
        } else if let p = positions as? LearnedPositionalEmbedding, p.dim == d, p.weight.dtype == w.dtype {
            (table, inputScale) = (p.weight, nil)
        } else {
            return nil
        }
        // out-of-range ids and positions: the composed path stops with its messages
        guard offset >= 0, offset + t <= table.shape[0], flat.allSatisfy({ $0 >= 0 && $0 < v }) else { return nil }
        let out = Tensor(shape: [b, t, d], dtype: w.dtype, zeroed: false)
        let padding = embedding.paddingIndex.flatMap { flat.contains($0) ? $0 : nil }
        func run<T: TensorScalar>(_: T.Type) {
            let pw = w.storage.pointer(T.self), pt = table.storage.pointer(T.self), po = out.storage.pointer(T.self)
            let s = scale.map { T(Double($0)) }, s2 = inputScale.map { T(Double($0)) }
            flat.withUnsafeBufferPointer { flat in
                parallelFor(flat.count, costPerItem: 2 * d) { range in
                    for k in range {
                        let id = flat[k], src = pw + id * d, pos = pt + (offset + k % max(t, 1)) * d, y = po + k * d
                        let keep: T? = padding.map { id == $0 ? 0 : 1 }
                        for i in 0..<d {
                            var x = src[i]
                            if let keep { x = x * keep }
                            if let s { x = x * s }
                            if let s2 { x = x * s2 }
                            y[i] = x + pos[i]
                        }
                    }
                }
            }
        }
        switch w.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        return out
    }
}

/// A batch of token ids that a model cannot take, with the row and column at fault.
public struct SequenceError: Error, CustomStringConvertible, Equatable {
    /// What is wrong with the sequence.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// Checks a batch of ids against a vocabulary size and a position table before a forward pass:
/// rows of one length (pad them), ids in 0..<vocabulary, at most `maxLength` positions.
func validateIDs(_ ids: [[Int]], vocabulary: Int, maxLength: Int, what: String) throws(SequenceError) {
    let t = ids.first?.count ?? 0
    for (r, row) in ids.enumerated() {
        guard row.count == t else {
            throw SequenceError(
                message: "\(what) row \(r) has \(row.count) ids, row 0 has \(t): pad the batch to one length")
        }
        if let c = row.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
            throw SequenceError(
                message: "\(what) row \(r), position \(c): id \(row[c]) is outside the vocabulary 0..<\(vocabulary)")
        }
    }
    guard t <= maxLength else {
        throw SequenceError(
            message:
                "\(what) has \(t) positions, more than the model's maxLength \(maxLength) (truncate, or build the model with a larger maxLength)"
        )
    }
}

/// A hypothesis of beam search: tokens (without BOS and EOS), summed log-probability and the length-normalised score
/// log P / lp, lp = ((5 + |Y|)/6)^α (GNMT; |Y| counts the EOS when one was produced).
public struct Hypothesis: Sendable, Equatable {
    /// The tokens, without BOS and EOS.
    public var tokens: [Int]
    /// The summed log-probability of the tokens (and EOS).
    public var logProbability: Float
    /// The length-normalised score the beam ranks by.
    public var score: Float
    /// Whether the hypothesis ended with EOS (else it reached the length limit).
    public var finished: Bool
}

/// The encoder-decoder transformer for translation (Vaswani et al. 2017): source and target embeddings with
/// positions, an encoder and a decoder stack (final layer norms when pre-norm), and an output projection to target
/// logits. Parameter paths: `sourceEmbedding.embedding.weight`, `encoder.layers.0.selfAttention.inProjection.weight`,
/// `decoder.layers.0.crossAttention…`, `outputProjection.weight`.
public final class Seq2SeqTransformer: Module, ConfigurableModel {
    /// The model's configuration.
    public let config: Seq2SeqConfig
    public var sourceEmbedding: TokenEmbedding, targetEmbedding: TokenEmbedding
    public var encoder: TransformerEncoder, decoder: TransformerDecoder
    /// The projection to target-vocabulary logits.
    public var outputProjection: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A translator initialised as `nn.Transformer` is (Xavier-uniform for matrices).
    public init(_ c: Seq2SeqConfig, using g: inout RandomGenerator) {
        config = c
        let d = c.dModel
        let src = Embedding(c.sourceVocabulary, d, paddingIndex: c.padID, using: &g)
        // N(0, 1/D): Vaswani's scale keeps √D·e at unit size
        src.weight = (src.weight.detach() * (1 / Float(d).squareRoot())).requiringGrad()
        let tgt: Embedding
        if c.sharedEmbeddings {
            precondition(
                c.sourceVocabulary == c.targetVocabulary,
                "Seq2SeqTransformer: shared embeddings need one vocabulary size")
            tgt = src
        } else {
            tgt = Embedding(c.targetVocabulary, d, paddingIndex: c.padID, using: &g)
            tgt.weight = (tgt.weight.detach() * (1 / Float(d).squareRoot())).requiringGrad()
        }
        sourceEmbedding = TokenEmbedding(
            src, positions: c.positions, maxLength: c.maxLength, dropout: c.dropout, scale: c.scaleEmbeddings, using: &g
        )
        targetEmbedding = TokenEmbedding(
            tgt, positions: c.positions, maxLength: c.maxLength, dropout: c.dropout, scale: c.scaleEmbeddings, using: &g
        )
        encoder = TransformerEncoder(c.layer, layers: c.encoderLayers, finalNorm: c.normFirst, using: &g)
        decoder = TransformerDecoder(c.layer, layers: c.decoderLayers, finalNorm: c.normFirst, using: &g)
        outputProjection = Linear(d, c.targetVocabulary, using: &g)
        if c.tieOutput { outputProjection.weight = tgt.weight }
    }

    /// A translator from its configuration (the `ConfigurableModel` initialiser).
    public convenience init(config: Seq2SeqConfig, using g: inout RandomGenerator) { self.init(config, using: &g) }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [
            ("sourceEmbedding", sourceEmbedding), ("targetEmbedding", targetEmbedding), ("encoder", encoder),
            ("decoder", decoder),
            ("outputProjection", outputProjection)
        ]
    }

    /// Throws a `SequenceError` naming the row and position if `source` (or `targetInput`) cannot go through this
    /// model: ragged rows, ids outside the vocabulary, or more positions than the position tables hold.
    public func validate(source: [[Int]], targetInput: [[Int]]? = nil) throws(SequenceError) {
        try validateIDs(source, vocabulary: config.sourceVocabulary, maxLength: config.maxLength, what: "source")
        if let targetInput {
            try validateIDs(
                targetInput, vocabulary: config.targetVocabulary, maxLength: config.maxLength, what: "target")
        }
    }

    /// Source ids [B, S] (right-padded with `padID`) → memory [B, S, D] and the key-padding mask over the source.
    public func encode(_ source: [[Int]]) -> (memory: Tensor, mask: AttentionMask) {
        let mask = AttentionMask(keyPadding: source.flatMap { $0.map { $0 == config.padID } })
        return (encoder(sourceEmbedding(source), mask: mask), mask)
    }

    /// Teacher-forced decoding: target input ids [B, T] (starting with BOS) → logits [B, T, V].
    public func decode(_ targetInput: [[Int]], memory: Tensor, memoryMask: AttentionMask) -> Tensor {
        let targetMask = AttentionMask(keyPadding: targetInput.flatMap { $0.map { $0 == config.padID } }, causal: true)
        return outputProjection(
            decoder(targetEmbedding(targetInput), memory: memory, targetMask: targetMask, memoryMask: memoryMask))
    }

    /// Logits [B, T, V] for source [B, S] and target input [B, T] (teacher forcing).
    public func callAsFunction(source: [[Int]], targetInput: [[Int]]) -> Tensor {
        let (memory, mask) = encode(source)
        return decode(targetInput, memory: memory, memoryMask: mask)
    }

    /// Step-by-step decoding state over a cache (greedy and beam search share it).
    final class DecodingState {
        let caches: [DecoderLayerCache]
        var memoryMask: AttentionMask
        var position = 0
        /// Rows in the batch now (fewer once sentences have left it), and hypotheses per sentence: the
        /// cross-attention caches and `memoryMask` hold one row per sentence, the rest `beams` per sentence.
        var rows: Int
        let beams: Int
        /// Rows per sentence now: `beams`, or 1 before the first reorder when the search starts from one row per
        /// sentence (all of a sentence's beams begin as the same hypothesis).
        var rowsPerSentence: Int
        init(caches: [DecoderLayerCache], memoryMask: AttentionMask, rows: Int, beams: Int, rowsPerSentence: Int) {
            self.caches = caches; self.memoryMask = memoryMask; self.rows = rows; self.beams = beams
            self.rowsPerSentence = rowsPerSentence
        }

        /// Makes row i the current row `rows[i]`: beams moving within their sentence (the self-attention caches
        /// follow), one row per sentence becoming `beams` rows after the first step, and with fewer sentences,
        /// sentences leaving the batch (the cross-attention caches and the source's padding mask keep those that
        /// stay).
        func keep(rows kept: [Int], sourceLength s: Int) {
            let per = rowsPerSentence
            let sources =
                kept.count / beams != rows / per
                ? stride(from: 0, to: kept.count, by: beams).map { kept[$0] / per } : nil
            for c in caches { c.reorder(kept, sources: sources) }
            if let sources, let kp = memoryMask.keyPadding {
                memoryMask.keyPadding = sources.flatMap { kp[($0 * s)..<($0 * s + s)] }
            }
            rows = kept.count
            rowsPerSentence = beams
        }
    }

    /// The decoding state of `memory`'s sentences with `beams` hypotheses each; `narrowFirstStep`: the first step
    /// feeds one row per sentence (beam search's first step, where only beam 0 is live).
    func startDecoding(
        memory: Tensor, memoryMask: AttentionMask, maxLength: Int, beams: Int = 1, narrowFirstStep: Bool = false
    ) -> DecodingState {
        let per = narrowFirstStep ? 1 : beams
        return DecodingState(
            caches: decoder.makeCache(memory: memory, maxLength: maxLength, beams: beams), memoryMask: memoryMask,
            rows: memory.shape[0] * per, beams: beams, rowsPerSentence: per)
    }

    /// Feeds one token per row and returns the logits of the next token, [N, V] (`searchBeams` normalises them).
    func stepLogits(_ tokens: [Int], _ state: DecodingState) -> Tensor {
        let x = targetEmbedding(tokens.map { [$0] }, offset: state.position)  // [N, 1, D]
        state.position += 1
        let h = decoder.step(x, caches: state.caches, memoryMask: state.memoryMask, beams: state.rowsPerSentence)
        return outputProjection(h).reshape([tokens.count, config.targetVocabulary])
    }

    /// Beam search with the key/value cache, batched over sentences (B·K rows decoded together).
    ///
    /// Each step extends every live hypothesis by every token and ranks the 2K best continuations per sentence:
    /// those ending in EOS within the top K are finished, and the best K others stay live (Hugging Face's rule). A
    /// sentence is done when it has K finished hypotheses or reaches `maxLength` (then its live ones count as
    /// finished); with α 0 and one hypothesis wanted, as soon as its best candidate ends (CTranslate2's early exit:
    /// the same result in fewer steps). Results are ordered by the length-normalised score, best first. Beam size 1
    /// is exactly greedy decoding.
    /// - Parameters:
    ///   - source: source token ids per sentence (EOS included), any lengths.
    ///   - requested: the beam size (1: greedy).
    ///   - maxLength: output tokens at most.
    ///   - alpha: α of GNMT's length penalty lp = ((5 + |Y|)/6)^α (0: raw log-probability).
    ///   - nBest: hypotheses returned per sentence (≤ beamSize).
    ///   - minLength: tokens before EOS may end a hypothesis (fairseq's `min_len`, 1 by default: no empty output —
    ///     with wide beams on a weak model the empty hypothesis would otherwise win).
    /// A beam wider than the target vocabulary searches as wide as the vocabulary.
    public func beamSearch(
        _ source: [[Int]], beamSize requested: Int, maxLength: Int = 100, lengthPenalty alpha: Float = 0.6,
        nBest: Int? = nil, minLength: Int = 1
    ) -> [[Hypothesis]] {
        precondition(
            requested >= 1 && maxLength >= 1,
            "beamSearch: beam size \(requested) and maxLength \(maxLength) must be positive")
        let k = min(requested, config.targetVocabulary)
        precondition(
            maxLength <= config.maxLength,
            "beamSearch: maxLength \(maxLength) exceeds the model's position table (\(config.maxLength))")
        let keep = min(nBest ?? k, k)
        return withNoGrad {
            let b = source.count, v = config.targetVocabulary
            let (memory, mask) = encode(source)
            // the memory and its mask once per sentence: the K hypotheses of a sentence attend to it as K queries
            let state = startDecoding(
                memory: memory, memoryMask: mask, maxLength: maxLength, beams: k, narrowFirstStep: true)
            return searchBeams(
                sentences: b, beam: k, vocabulary: v, bos: config.bosID, eos: config.eosID, pad: config.padID,
                maxLength: maxLength,
                lengthPenalty: alpha, keep: keep, minLength: minLength, narrowFirstStep: true,
                step: { stepLogits($0, state) },
                reorder: { rows in state.keep(rows: rows, sourceLength: source.first?.count ?? 0) })
        }
    }
}

/// The `keep` largest `adding + ((row[t] − max) − logSum)` over t in 0..<count (t ≠ `skipping`) into
/// `scores`/`tokens`, largest first, equal values in token order; returns how many (min(keep, candidates)). One
/// pass, insertion into the short list. With a row of logits, its max and log Σ exp(x − max), the bracket is the
/// row's log-softmax exactly as `softmaxRow` computes it; with 0 and 0, the row's own values.
@inline(__always)
func topContinuations(
    _ row: UnsafePointer<Float>, count: Int, skipping: Int, adding base: Float, max m: Float = 0,
    logSum lz: Float = 0, keep: Int, scores: UnsafeMutablePointer<Float>, tokens: UnsafeMutablePointer<Int>
) -> Int {
    var n = 0, t = 0
    while t < count {
        if n == keep && n > 0 {
            // Once the list is full, skip blocks of 16 whose largest value cannot enter it: the bracket rounds
            // monotonically in row[t], so no value in the block scores above the block's largest (NaN never enters).
            let threshold = scores[n - 1]
            while t + 16 <= count {
                let p = row + t
                var a0 = -Float.infinity, a1 = -Float.infinity, a2 = -Float.infinity, a3 = -Float.infinity
                for j in stride(from: 0, to: 16, by: 4) {
                    a0 = p[j] > a0 ? p[j] : a0; a1 = p[j + 1] > a1 ? p[j + 1] : a1
                    a2 = p[j + 2] > a2 ? p[j + 2] : a2; a3 = p[j + 3] > a3 ? p[j + 3] : a3
                }
                let a = Swift.max(Swift.max(a0, a1), Swift.max(a2, a3))
                if base + ((a - m) - lz) > threshold { break }
                t += 16
            }
        }
        let end = Swift.min(count, t + 16)
        while t < end {
            defer { t += 1 }
            guard t != skipping else { continue }
            let c = base + ((row[t] - m) - lz)
            guard n < keep || c > scores[n - 1] else { continue }
            var i = n < keep ? n : keep - 1
            while i > 0 && scores[i - 1] < c {
                scores[i] = scores[i - 1]; tokens[i] = tokens[i - 1]
                i -= 1
            }
            scores[i] = c; tokens[i] = t
            if n < keep { n += 1 }
        }
    }
    return n
}

/// The beam search both translation decoders share (Hugging Face's rule): each step extends every live hypothesis by
/// every token and ranks the 2K best continuations per sentence; those ending in EOS within the top K are finished,
/// the best K others stay live. A sentence is done with K finished hypotheses or at `maxLength` (its live ones then
/// count as finished). EOS may not end a hypothesis before `minLength` tokens. Scores are GNMT-length-normalised.
/// A sentence that is done leaves the batch (CTranslate2's rule): the decoder computes only the rows of sentences
/// still searching, the vocabulary-sized output projection included.
/// - Parameters:
///   - step: the logits [N, V] of the next token of each of the N rows in the batch (K per sentence still
///     searching, in the order of the sentences), given each row's last token (the decoder keeps its state per row);
///     read in place (no copy): on the kernel threads each row is normalised (its max and log Σ exp, the
///     log-softmax's values bit for bit without writing them) and its 2K best continuations found;
///   - reorder: makes row i of the decoder's state the current row `rows[i]` (called when beams move, and with fewer
///     rows when sentences leave the batch; a row only ever moves among its own sentence's beams, or drops out).
///   - narrowFirstStep: the first step feeds one row per sentence (its beam 0: the K beams start as one hypothesis,
///     so the other K − 1 rows would compute the same values only to be ignored) and the first reorder widens the
///     state to K rows per sentence (`rows[i]` then names a sentence's row, 0..<N).
///   - exitEarly: with α = 0 and one hypothesis wanted (`keep` 1), a sentence is done as soon as its best candidate
///     ends in EOS (CTranslate2's early exit): every live hypothesis scores at most that candidate, and growing only
///     lowers a raw log-probability (each step adds log p ≤ 0), so the search would return the same best hypothesis
///     after any number of further steps. Off: the search runs on until K hypotheses are finished.
func searchBeams(
    sentences b: Int, beam k: Int, vocabulary v: Int, bos: Int, eos: Int, pad: Int, maxLength: Int,
    lengthPenalty alpha: Float,
    keep: Int, minLength: Int, narrowFirstStep: Bool = false, exitEarly: Bool = true,
    step stepLogits: ([Int]) -> Tensor,
    reorder: ([Int]) -> Void
) -> [[Hypothesis]] {
    func lp(_ n: Int) -> Float { alpha == 0 ? 1 : Float.pow((5 + Float(n)) / 6, alpha) }
    let bestIsFinal = exitEarly && alpha == 0 && keep == 1
    // per sentence s and beam j (index s·K + j): its tokens, score and last token
    var tokens = [[Int]](repeating: [], count: b * k)
    var scores = (0..<(b * k)).map { $0 % k == 0 ? Float(0) : -Float.infinity }  // only beam 0 live at first
    var finished = [[Hypothesis]](repeating: [], count: b)
    var last = [Int](repeating: bos, count: b * k)
    var searching = Array(0..<b)  // the sentences in the batch, in its order (sentence at position p: rows pK…)
    for step in 0..<maxLength {
        let per = narrowFirstStep && step == 0 ? 1 : k  // rows of each sentence in the decoder's batch this step
        var logits = stepLogits(searching.flatMap { s in last[(s * k)..<(s * k + per)] })  // [N, V]
        if logits.dtype != .float32 { logits = Tensor(logits.scalars, shape: logits.shape) }
        precondition(logits.count == searching.count * per * v, "searchBeams: step gave \(logits.count) logits")
        // each row's 2K best continuations (score, token), best first, ties in token order
        let m = 2 * k, rows = searching.count * per
        var bestScores = [Float](repeating: 0, count: rows * m), bestTokens = [Int](repeating: 0, count: rows * m)
        var bestCounts = [Int](repeating: 0, count: rows)
        let skip = step >= minLength ? -1 : eos
        let p = UnsafePointer(logits.storage.pointer(Float.self))
        searching.withUnsafeBufferPointer { searching in
            scores.withUnsafeBufferPointer { scores in
                bestScores.withUnsafeMutableBufferPointer { bs in
                    bestTokens.withUnsafeMutableBufferPointer { bt in
                        bestCounts.withUnsafeMutableBufferPointer { bc in
                            let (bs, bt, bc) = (bs.baseAddress!, bt.baseAddress!, bc.baseAddress!)
                            parallelFor(rows, costPerItem: 8 * v) { range in
                                let exponentials = UnsafeMutablePointer<Float>.allocate(capacity: v)  // scratch
                                defer { exponentials.deallocate() }
                                for row in range {
                                    let score = scores[searching[row / per] * k + row % per]
                                    guard score > -.infinity else { continue }
                                    let (mx, z) = softmaxRowStatistics(p + row * v, exponentials: exponentials, n: v)
                                    bc[row] = topContinuations(
                                        p + row * v, count: v, skipping: skip, adding: score, max: mx,
                                        logSum: Float.log(z), keep: m, scores: bs + row * m, tokens: bt + row * m)
                                }
                            }
                        }
                    }
                }
            }
        }
        var stillSearching: [Int] = [], moved: [Int] = []
        var newTokens = tokens, newScores = scores, newLast = last
        for (position, s) in searching.enumerated() {
            // the 2K best (score, beam, token) over this sentence's K rows
            var cand: [(Float, Int, Int)] = []
            for j in 0..<per {
                let row = position * per + j
                for i in 0..<bestCounts[row] { cand.append((bestScores[row * m + i], j, bestTokens[row * m + i])) }
            }
            cand.sort { $0.0 != $1.0 ? $0.0 > $1.0 : ($0.1, $0.2) < ($1.1, $1.2) }
            var live: [(Float, Int, Int)] = []
            for (rank, c) in cand.prefix(2 * k).enumerated() {
                if c.2 == eos {
                    guard rank < k else { continue }  // an EOS below the K best does not end a hypothesis
                    let from = tokens[s * k + c.1]
                    finished[s].append(
                        Hypothesis(tokens: from, logProbability: c.0, score: c.0 / lp(from.count + 1), finished: true))
                    if rank == 0 && bestIsFinal { break }
                } else if live.count < k {
                    live.append(c)
                }
                if finished[s].count >= k { break }
            }
            if bestIsFinal, cand.first?.2 == eos { continue }  // done: no live hypothesis can overtake it
            if finished[s].count >= k || step == maxLength - 1 || live.isEmpty {
                if finished[s].count < k {
                    for c in live {
                        let t = tokens[s * k + c.1] + [c.2]
                        finished[s].append(
                            Hypothesis(tokens: t, logProbability: c.0, score: c.0 / lp(t.count), finished: false))
                    }
                }
                continue  // done: it leaves the batch
            }
            stillSearching.append(s)
            for j in 0..<k {
                let r = s * k + j
                if j < live.count {
                    let c = live[j]
                    newTokens[r] = tokens[s * k + c.1] + [c.2]; newScores[r] = c.0; newLast[r] = c.2
                    moved.append(position * per + c.1)
                } else {
                    newTokens[r] = tokens[r]; newScores[r] = -.infinity; newLast[r] = pad
                    moved.append(position * per + min(j, per - 1))
                }
            }
        }
        if stillSearching.isEmpty { break }
        if per != k || moved != Array(0..<(searching.count * k)) { reorder(moved) }
        searching = stillSearching
        tokens = newTokens
        scores = newScores
        last = newLast
    }
    return finished.map { hs in
        Array(
            hs.enumerated().sorted {
                $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset
            }
            .map(\.element).prefix(keep))
    }
}

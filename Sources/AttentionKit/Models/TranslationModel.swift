import Foundation

/// What `Translator` and the translation task need of a model: the vocabularies, special ids and longest sequence,
/// teacher-forced logits, and beam search (a beam of one is greedy decoding). `Seq2SeqTransformer` and
/// `RecurrentTranslator` are translation models.
public protocol TranslationModel: Module {
    var spec: TranslationSpec { get }
    /// Teacher-forced logits [B, T, V] of `targetInput` (BOS + target, right-padded) given right-padded `source`.
    func callAsFunction(source: [[Int]], targetInput: [[Int]]) -> Tensor
    func beamSearch(_ source: [[Int]], beamSize: Int, maxLength: Int, lengthPenalty: Float, nBest: Int?, minLength: Int)
        -> [[Hypothesis]]
    /// Writes the weights with the configuration that rebuilds the model (`ModelFile`).
    func save(to url: URL) throws
}

/// The sizes and ids a translation model was built for.
public struct TranslationSpec: Sendable, Equatable {
    public var sourceVocabulary: Int, targetVocabulary: Int, maxLength: Int
    public var padID: Int, bosID: Int, eosID: Int
}

extension TranslationModel {
    /// Beam search for each source (ids without EOS): the `nBest` (default 1) best hypotheses by GNMT length-normalised score.
    public func beamSearch(
        _ source: [[Int]], beamSize: Int, maxLength: Int = 100, lengthPenalty: Float = 0.6, nBest: Int? = nil
    ) -> [[Hypothesis]] {
        beamSearch(
            source, beamSize: beamSize, maxLength: maxLength, lengthPenalty: lengthPenalty, nBest: nBest, minLength: 1)
    }

    /// Greedy decoding (argmax each step; the transformer with its key/value cache), batched: beam search with one
    /// beam, which stops a row at EOS. Returns one hypothesis per source sentence.
    public func greedyDecode(_ source: [[Int]], maxLength: Int = 100) -> [Hypothesis] {
        beamSearch(source, beamSize: 1, maxLength: maxLength, lengthPenalty: 0, nBest: nil, minLength: 1).map { $0[0] }
    }
}

extension Seq2SeqConfig {
    /// The vocabulary sizes, length limit and special ids a translator needs.
    public var spec: TranslationSpec {
        TranslationSpec(
            sourceVocabulary: sourceVocabulary, targetVocabulary: targetVocabulary, maxLength: maxLength, padID: padID,
            bosID: bosID, eosID: eosID)
    }
}

extension RecurrentTranslatorConfig {
    /// The vocabulary sizes, length limit and special ids a translator needs.
    public var spec: TranslationSpec {
        TranslationSpec(
            sourceVocabulary: sourceVocabulary, targetVocabulary: targetVocabulary, maxLength: maxLength, padID: padID,
            bosID: bosID, eosID: eosID)
    }
}

extension Seq2SeqTransformer: TranslationModel {
    /// The vocabulary sizes, length limit and special ids.
    public var spec: TranslationSpec { config.spec }
    /// Writes the configuration and weights to `url` (safetensors) atomically.
    public func save(to url: URL) throws { try ModelFile.save(self, to: url) }
}

extension RecurrentTranslator: TranslationModel {
    /// The vocabulary sizes, length limit and special ids.
    public var spec: TranslationSpec { config.spec }
    /// Writes the configuration and weights to `url` (safetensors) atomically.
    public func save(to url: URL) throws { try ModelFile.save(self, to: url) }
}

/// The model of a translation run: the transformer or the recurrent encoder–decoder, in config.json as
/// `"model_type"` and `"model"`; the fields the tokenizers decide are shared.
public enum TranslationModelConfig: Sendable, Equatable {
    case transformer(Seq2SeqConfig)
    case recurrent(RecurrentTranslatorConfig)

    /// The model's type name as config.json records it.
    public var typeName: String {
        switch self {
        case .transformer: return "Seq2SeqTransformer"
        case .recurrent: return "RecurrentTranslator"
        }
    }

    /// The configuration, for validation.
    public var configuration: any ModelConfiguration {
        switch self {
        case .transformer(let c): return c
        case .recurrent(let c): return c
        }
    }

    /// The vocabulary sizes, length limit and special ids.
    public var spec: TranslationSpec {
        switch self {
        case .transformer(let c): return c.spec
        case .recurrent(let c): return c.spec
        }
    }

    /// Sets the vocabulary sizes and special ids the tokenizers give.
    public mutating func setVocabularies(
        source: Int, target: Int, special: (pad: Int, bos: Int, eos: Int), sharedEmbeddings: Bool
    ) {
        switch self {
        case .transformer(var c):
            (c.sourceVocabulary, c.targetVocabulary, c.padID, c.bosID, c.eosID) = (
                source, target, special.pad, special.bos, special.eos
            )
            c.sharedEmbeddings = sharedEmbeddings
            self = .transformer(c)
        case .recurrent(var c):
            (c.sourceVocabulary, c.targetVocabulary, c.padID, c.bosID, c.eosID) = (
                source, target, special.pad, special.bos, special.eos
            )
            self = .recurrent(c)
        }
    }

    /// The untrained model.
    public func build(using g: inout RandomGenerator) -> any TranslationModel {
        switch self {
        case .transformer(let c): return Seq2SeqTransformer(c, using: &g)
        case .recurrent(let c): return RecurrentTranslator(config: c, using: &g)
        }
    }
}

import Foundation

/// A run directory that cannot be used, with the reason.
public struct RunDirectoryError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }

    /// Decodes the entry `key` of the run directory's `config.json` as `T` (a model configuration, a data format),
    /// or throws naming the file and what is missing or wrong.
    public static func configEntry<T: Decodable>(_ key: String, as type: T.Type, in directory: URL, describing what: String) throws -> T {
        let url = directory.appendingPathComponent("config.json")
        let parsed: Any
        do { parsed = try UserFile.json(try UserFile.read(url, maxBytes: 1 << 30), path: url.path) } catch {
            throw RunDirectoryError(message: "\(url.path): \(UserFile.reason(for: error))")
        }
        guard let root = parsed as? [String: Any] else { throw RunDirectoryError(message: "\(url.path): not a JSON object") }
        guard let entry = root[key] else { throw RunDirectoryError(message: "\(url.path): no \"\(key)\" entry") }
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: entry, options: [.fragmentsAllowed]))
        } catch let e as DecodingError {
            throw RunDirectoryError(message: "\(url.path): the \"\(key)\" entry is not \(what): \(Self.describe(e, under: key))")
        } catch {
            throw RunDirectoryError(message: "\(url.path): the \"\(key)\" entry is not \(what): \(error)")
        }
        if let config = value as? any ModelConfiguration {
            // A run directory's model is rebuilt before its weights are read: at most 2·10⁹ parameters (8 GB).
            do { try config.validate(maxParameters: 2e9) } catch { throw RunDirectoryError(message: "\(url.path): \(key).\(error)") }
        }
        return value
    }

    /// A decoding error as its JSON path and a plain reason.
    static func describe(_ e: DecodingError, under key: String) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            ([key] + keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }).joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch e {
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])) is missing"
        case .typeMismatch(let t, let c): return "\(path(c.codingPath)) is not a \(t)"
        case .valueNotFound(let t, let c): return "\(path(c.codingPath)) is null, expected a \(t)"
        case .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    /// The label names in a run directory's `labels.json`.
    public static func labels(in directory: URL) throws -> [String] {
        let url = directory.appendingPathComponent("labels.json")
        let parsed: Any
        do { parsed = try UserFile.json(try UserFile.read(url, maxBytes: 1 << 26), path: url.path) } catch {
            throw RunDirectoryError(message: "\(url.path): \(UserFile.reason(for: error))")
        }
        guard let labels = parsed as? [String], !labels.isEmpty else {
            throw RunDirectoryError(message: "\(url.path): not a non-empty JSON list of label names")
        }
        if let twice = Dictionary(grouping: labels, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw RunDirectoryError(message: "\(url.path): the label '\(twice)' is listed twice")
        }
        return labels
    }

    /// Throws unless `directory` is a directory holding `files` (a `kind` run directory written by training).
    public static func check(_ directory: URL, holds files: [String], kind: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw RunDirectoryError(message: "\(directory.path) is not a directory (pass the run directory that training wrote)")
        }
        for f in files where !FileManager.default.fileExists(atPath: directory.appendingPathComponent(f).path) {
            throw RunDirectoryError(message: "\(directory.path) has no \(f): not a \(kind) run directory, or training has not finished an epoch")
        }
    }
}

/// A translation model with its two tokenizers: strings in, strings out (batched, length-sorted).
public struct Translator {
    public let model: Seq2SeqTransformer
    public let sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer

    public init(model: Seq2SeqTransformer, sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer) {
        self.model = model
        self.sourceTokenizer = sourceTokenizer
        self.targetTokenizer = targetTokenizer
    }

    /// Source ids of a sentence: its tokens (cut to the model's maxLength − 1), then EOS.
    public func sourceIDs(_ text: String) -> [Int] {
        Array(sourceTokenizer.encode(text, addSpecialTokens: false).ids.prefix(model.config.maxLength - 1)) + [model.config.eosID]
    }

    /// Target ids: BOS, tokens (cut to maxLength − 2), EOS.
    public func targetIDs(_ text: String) -> [Int] {
        [model.config.bosID] + Array(targetTokenizer.encode(text, addSpecialTokens: false).ids.prefix(model.config.maxLength - 2)) + [model.config.eosID]
    }

    /// Translates `sentences` with beam search (`beam` 1: greedy), `batchSize` sentences at a time, longest first.
    /// Output length is capped at `maxLength` or 1.5 × the source length + 10, whichever is smaller.
    /// - Returns: per sentence, the `nBest` translations with their length-normalised scores, best first.
    public func translate(_ sentences: [String], beam: Int = 5, nBest: Int = 1, lengthPenalty: Float = 0.6,
                          batchSize: Int = 64) -> [[(text: String, score: Float)]] {
        model.eval()
        let ids = sentences.map(sourceIDs)
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count }
        var out = [[(text: String, score: Float)]](repeating: [], count: sentences.count)
        var start = 0
        while start < order.count {
            let chunk = Array(order[start..<min(start + batchSize, order.count)])
            start += batchSize
            let s = chunk.map { ids[$0].count }.max()!
            let src = chunk.map { ids[$0] + Array(repeating: model.config.padID, count: s - ids[$0].count) }
            let maxLength = min(model.config.maxLength, s * 3 / 2 + 10)
            let hyps = model.beamSearch(src, beamSize: beam, maxLength: maxLength, lengthPenalty: lengthPenalty, nBest: nBest)
            for (k, i) in chunk.enumerated() {
                out[i] = hyps[k].map { (detokenize(targetTokenizer.decode($0.tokens)), $0.score) }
            }
        }
        return out
    }

    /// Undoes word-level splitting where sacreBLEU's 13a tokenizer would not split: no spaces around apostrophes and
    /// hyphens ("c ' est" → "c'est", "vas - y" → "vas-y"), none before . , ! ? ; : ) and after (, and — when the
    /// target vocabulary is lowercased — a capital first letter. Byte-level and BPE decodings pass through unchanged.
    public func detokenize(_ text: String) -> String {
        guard case .wordLevel = targetTokenizer.model else { return text.trimmingCharacters(in: .whitespaces) }
        var words: [String] = []
        for w in text.split(separator: " ").map(String.init) {
            if let last = words.last, ["'", "-", "’"].contains(w) || ["'", "-", "’", "("].contains(where: { last.hasSuffix($0) })
                || [".", ",", "!", "?", ";", ":", ")"].contains(w) {
                words[words.count - 1] = last + w
            } else {
                words.append(w)
            }
        }
        var out = words.joined(separator: " ")
        if targetTokenizer.normalizer.steps.contains(.lowercase), let first = out.first { out = first.uppercased() + out.dropFirst() }
        return out
    }

    /// Writes the model (with its config) and both tokenizers into `directory`.
    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try ModelFile.save(model, to: directory.appendingPathComponent("best.safetensors"))
        try sourceTokenizer.save(to: directory.appendingPathComponent("source-tokenizer.json"))
        try targetTokenizer.save(to: directory.appendingPathComponent("target-tokenizer.json"))
    }

    /// Loads a run directory: `best.safetensors` (or `weights`), `source-tokenizer.json`, `target-tokenizer.json`.
    /// - Throws: an error naming the directory and the missing or unreadable file.
    public static func load(from directory: URL, weights: String = "best.safetensors") throws -> Translator {
        try RunDirectoryError.check(directory, holds: [weights, "source-tokenizer.json", "target-tokenizer.json"], kind: "translation")
        let model = try ModelFile.load(Seq2SeqTransformer.self, from: directory.appendingPathComponent(weights))
        return Translator(model: model, sourceTokenizer: try Tokenizer.load(from: directory.appendingPathComponent("source-tokenizer.json")),
                          targetTokenizer: try Tokenizer.load(from: directory.appendingPathComponent("target-tokenizer.json")))
    }

    /// Rebuilds the untrained model of a run directory from its `config.json` (key "model") and tokenizers, for
    /// resuming a run that was interrupted before it wrote any weights.
    public static func rebuild(from directory: URL) throws -> Translator {
        let config = try RunDirectoryError.configEntry("model", as: Seq2SeqConfig.self, in: directory, describing: "a translation model configuration")
        var g = RandomGenerator(seed: 0)
        return Translator(model: Seq2SeqTransformer(config, using: &g),
                          sourceTokenizer: try Tokenizer.load(from: directory.appendingPathComponent("source-tokenizer.json")),
                          targetTokenizer: try Tokenizer.load(from: directory.appendingPathComponent("target-tokenizer.json")))
    }

    /// A byte-level BPE tokenizer (GPT-2 style: decodes back to the exact text, case and spacing included) trained on
    /// `texts` to `vocabularySize` tokens, with [PAD]=0, [BOS]=1, [EOS]=2, [UNK]=3.
    public static func trainByteLevelBPE(_ texts: [String], vocabularySize: Int, lowercase: Bool = false) -> Tokenizer {
        let specials = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
        var t = Tokenizer(normalizer: Normalizer(lowercase ? [.nfc, .lowercase] : [.nfc]), preTokenizer: .byteLevel(addPrefixSpace: true),
                          model: .wordLevel(WordLevel(vocabulary: [:])), specialTokens: specials, bosToken: "[BOS]", eosToken: "[EOS]", padToken: "[PAD]")
        let pieces = texts.flatMap { t.pieces($0) }
        t.model = .bpe(BPE.train(pieces: pieces, vocabularySize: vocabularySize, specialTokens: specials, unknownToken: nil,
                                 initialAlphabet: ByteLevel.byteToScalar.map { String($0) }))
        return t
    }

    /// The ids of [PAD], [BOS] and [EOS] in a tokenizer brought by the user, or an error naming what is missing.
    public static func specialIDs(of t: Tokenizer, file: String) throws -> (pad: Int, bos: Int, eos: Int) {
        var ids: [Int] = []
        for name in ["[PAD]", "[BOS]", "[EOS]"] {
            guard let id = t.id(of: name) else {
                throw RunDirectoryError(message: "\(file): the tokenizer has no \(name) token (translation needs [PAD], [BOS] and [EOS])")
            }
            ids.append(id)
        }
        return (ids[0], ids[1], ids[2])
    }

    /// A word-level tokenizer trained on `texts` (lowercased when asked, HF `Whitespace` splitting punctuation off),
    /// with [PAD]=0, [BOS]=1, [EOS]=2, [UNK]=3 as `Seq2SeqConfig` expects.
    public static func trainWordLevel(_ texts: [String], lowercase: Bool, minFrequency: Int, maxSize: Int? = nil) -> Tokenizer {
        let specials = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
        var t = Tokenizer(normalizer: Normalizer(lowercase ? [.nfc, .lowercase] : [.nfc]), preTokenizer: .whitespace,
                          model: .wordLevel(WordLevel(vocabulary: [:])), specialTokens: specials, bosToken: "[BOS]", eosToken: "[EOS]", padToken: "[PAD]")
        let pieces = texts.flatMap { t.pieces($0) }
        t.model = .wordLevel(WordLevel.train(pieces: pieces, minFrequency: minFrequency, maxSize: maxSize, specialTokens: specials, unknownToken: "[UNK]"))
        return t
    }
}

/// Training a `Seq2SeqTransformer` on parallel text: teacher-forced, label-smoothed cross-entropy over target tokens;
/// validation loss and BLEU (greedy decoding) every epoch.
public final class TranslationTask: TrainingTask {
    public let translator: Translator
    var batches: TokenBudgetBatches
    let validation: [TokenPair], validationReferences: [String], validationSources: [String]
    public let labelSmoothing: Float
    /// Decode at most this many validation sentences for the per-epoch BLEU (nil: all).
    public let bleuSentences: Int?

    public init(translator: Translator, train: [SentencePair], validation: [SentencePair], maxTokens: Int, labelSmoothing: Float,
                seed: UInt64, bleuSentences: Int? = nil, shard: Shard = .whole) {
        self.translator = translator
        let pad = translator.model.config.padID
        batches = TokenBudgetBatches(train.map { TokenPair(source: translator.sourceIDs($0.source), target: translator.targetIDs($0.target)) },
                                     maxTokens: maxTokens, padID: pad, seed: seed, shard: shard)
        self.validation = validation.map { TokenPair(source: translator.sourceIDs($0.source), target: translator.targetIDs($0.target)) }
        validationReferences = validation.map(\.target)
        validationSources = validation.map(\.source)
        self.labelSmoothing = labelSmoothing
        self.bleuSentences = bleuSentences
    }

    public var model: any Module { translator.model }
    public var itemName: String { "tok" }
    public var batchesPerEpoch: Int { batches.batchesPerEpoch }
    public var metricNames: [String] { ["val_loss", "val_ppl", "bleu", "bleu_lowercase_tokens"] }
    public func nextBatch() -> TranslationBatch? { batches.next() }
    public func startNextEpoch() { batches.startNextEpoch() }
    public var dataState: String { batches.savedState }
    public func restoreDataState(_ text: String) throws { try batches.restore(text) }
    public func saveModel(to url: URL) throws { try ModelFile.save(translator.model, to: url) }

    public func loss(_ b: TranslationBatch) -> (loss: Tensor, items: Int) {
        let v = translator.model.config.targetVocabulary
        let logits = translator.model(source: b.source, targetInput: b.targetInput)   // [B, T, V]
        return (Loss.crossEntropy(logits.reshape([-1, v]), b.targetOutput, ignoreIndex: translator.model.config.padID,
                                  labelSmoothing: labelSmoothing), b.tokens)
    }

    public func evaluate() throws -> [String: Double] {
        let v = translator.model.config.targetVocabulary, pad = translator.model.config.padID
        var sum = 0.0, tokens = 0
        for start in stride(from: 0, to: validation.count, by: 64) {
            let b = TokenBudgetBatches.batch(Array(validation[start..<min(start + 64, validation.count)]), padID: pad)
            let logits = translator.model(source: b.source, targetInput: b.targetInput)
            sum += Double(Loss.crossEntropy(logits.reshape([-1, v]), b.targetOutput, ignoreIndex: pad, reduction: .sum).item())
            tokens += b.tokens
        }
        let n = min(bleuSentences ?? validationSources.count, validationSources.count)
        let hyps = translator.translate(Array(validationSources.prefix(n)), beam: 1).map { $0.first?.text ?? "" }
        let refs = Array(validationReferences.prefix(n))
        let loss = sum / Double(max(tokens, 1))
        return ["val_loss": loss, "val_ppl": Foundation.exp(loss), "bleu": corpusBLEU(hypotheses: hyps, references: refs).score,
                "bleu_lowercase_tokens": corpusBLEU(hypotheses: hyps, references: refs, lowercase: true).score]
    }
}

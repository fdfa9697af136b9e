import Foundation

/// A translation model with its two tokenizers: strings in, strings out (batched, length-sorted).
public struct Translator {
    /// The translation model.
    public let model: any TranslationModel
    public let sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer

    /// A translator from a model and the tokenizers of both sides.
    public init(model: any TranslationModel, sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer) {
        self.model = model
        self.sourceTokenizer = sourceTokenizer
        self.targetTokenizer = targetTokenizer
    }

    /// Source ids of a sentence: its tokens (cut to the model's maxLength − 1), then EOS.
    public func sourceIDs(_ text: String) -> [Int] {
        Array(sourceTokenizer.encode(text, addSpecialTokens: false).ids.prefix(model.spec.maxLength - 1)) + [
            model.spec.eosID
        ]
    }

    /// Target ids: BOS, tokens (cut to maxLength − 2), EOS.
    public func targetIDs(_ text: String) -> [Int] {
        [model.spec.bosID]
            + Array(targetTokenizer.encode(text, addSpecialTokens: false).ids.prefix(model.spec.maxLength - 2)) + [
                model.spec.eosID
            ]
    }

    /// Translates `sentences` with beam search (`beam` 1: greedy), `batchSize` sentences at a time, longest first.
    /// Output length is capped at `maxLength` or 1.5 × the source length + 10, whichever is smaller.
    /// - Returns: per sentence, the `nBest` translations with their length-normalised scores, best first.
    public func translate(
        _ sentences: [String], beam: Int = 5, nBest: Int = 1, lengthPenalty: Float = 0.6,
        batchSize: Int = 64
    ) -> [[(text: String, score: Float)]] {
        model.eval()
        let ids = sentences.map(sourceIDs)
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count }
        var out = [[(text: String, score: Float)]](repeating: [], count: sentences.count)
        var start = 0
        while start < order.count {
            let chunk = Array(order[start..<min(start + batchSize, order.count)])
            start += batchSize
            let s = chunk.map { ids[$0].count }.max()!
            let src = chunk.map { ids[$0] + Array(repeating: model.spec.padID, count: s - ids[$0].count) }
            let maxLength = min(model.spec.maxLength, s * 3 / 2 + 10)
            let hyps = model.beamSearch(
                src, beamSize: beam, maxLength: maxLength, lengthPenalty: lengthPenalty, nBest: nBest)
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
            if let last = words.last,
                ["'", "-", "’"].contains(w) || ["'", "-", "’", "("].contains(where: { last.hasSuffix($0) })
                    || [".", ",", "!", "?", ";", ":", ")"].contains(w)
            {
                words[words.count - 1] = last + w
            } else {
                words.append(w)
            }
        }
        var out = words.joined(separator: " ")
        if targetTokenizer.normalizer.steps.contains(.lowercase), let first = out.first {
            out = first.uppercased() + out.dropFirst()
        }
        return out
    }

    /// Writes the model (with its config) and both tokenizers into `directory`.
    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try model.save(to: directory.appendingPathComponent("best.safetensors"))
        try sourceTokenizer.save(to: directory.appendingPathComponent("source-tokenizer.json"))
        try targetTokenizer.save(to: directory.appendingPathComponent("target-tokenizer.json"))
    }
}

import Foundation

/// The result of encoding one text.
public struct Encoding: Sendable, Equatable {
    /// The token ids.
    public var ids: [Int]
    /// The tokens' strings.
    public var tokens: [String]
    /// For each token, the UTF-8 byte range in the original text (empty ranges for added padding/special tokens).
    public var offsets: [Range<Int>]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int]
    /// 1 for special tokens (added or matched), 0 otherwise.
    public var specialTokensMask: [Int]
}

/// Padding for batch encoding.
public enum Padding: Sendable, Equatable {
    case none
    /// To the longest sequence in the batch.
    case longest
    /// To a fixed length (longer sequences are not truncated by padding; use `truncation`).
    case fixed(Int)
}

/// A complete tokenizer: special tokens, normaliser, pre-tokenizer, model, optional BOS/EOS, decoder rules.
///
/// Pipeline (as Hugging Face `tokenizers`): special tokens are matched in the raw text first and never split; the
/// rest is normalised (keeping an alignment), pre-tokenized and encoded by the model. Offsets point into the
/// original string as UTF-8 byte ranges.
public struct Tokenizer: Sendable {
    /// Unicode normalization and case folding, applied first.
    public var normalizer: Normalizer
    /// How the normalized text is split into words before the model.
    public var preTokenizer: PreTokenizer
    /// The model that turns words into tokens (word level or BPE).
    public var model: TokenModel { didSet { reverse = Tokenizer.reverseVocabulary(model) } }
    /// id → token, kept in step with `model`.
    private var reverse: [String]
    /// Tokens that are matched whole in the input and never split or normalised ([PAD], [UNK], [BOS], …).
    public var specialTokens: [String]
    /// Added around every sequence when `addSpecialTokens` is true (e.g. "[BOS]"/"[EOS]" or "[CLS]"/"[SEP]").
    public var bosToken: String?
    /// The end-of-sequence token, if any.
    public var eosToken: String?
    /// The padding token.
    public var padToken: String

    /// A tokenizer from its parts (the pipeline of Hugging Face `tokenizers`).
    public init(
        normalizer: Normalizer = Normalizer(), preTokenizer: PreTokenizer = .whitespace, model: TokenModel,
        specialTokens: [String] = [], bosToken: String? = nil, eosToken: String? = nil, padToken: String = "[PAD]"
    ) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        reverse = Tokenizer.reverseVocabulary(model)
        self.specialTokens = specialTokens
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.padToken = padToken
    }

    /// Vocabulary size (largest id + 1).
    public var vocabularySize: Int { (model.vocabulary.values.max() ?? -1) + 1 }

    /// Id of a token, if known.
    public func id(of token: String) -> Int? { model.vocabulary[token] }

    /// Token of an id, if any.
    public func token(of id: Int) -> String? {
        id >= 0 && id < reverse.count && !reverse[id].isEmpty ? reverse[id] : nil
    }

    /// The id of the model's unknown token (what a word outside the vocabulary becomes), if it has one.
    public var unknownID: Int? {
        switch model {
        case .wordLevel(let m), .characterLevel(let m): return id(of: m.unknownToken)
        case .bpe(let m): return m.unknownToken.flatMap { id(of: $0) }
        }
    }

    /// The pieces of `text` the vocabulary does not know (each became the unknown token), as written in `text`.
    public func unknownWords(in text: String) -> [String] { unknownPieces(text).words }

    /// `text`'s token count and the pieces read as the unknown token (empty without one).
    private func unknownPieces(_ text: String) -> (tokens: Int, words: [String]) {
        let e = encode(text, addSpecialTokens: false)
        guard let unk = unknownID else { return (e.ids.count, []) }
        let bytes = Array(text.utf8)
        return (
            e.ids.count,
            zip(e.ids, e.offsets).filter { $0.0 == unk }.map { id, r in
                r.upperBound <= bytes.count && !r.isEmpty
                    ? String(decoding: bytes[r], as: UTF8.self) : (token(of: id) ?? "?")
            }
        )
    }

    /// One line on the words of `texts` the vocabulary lacks, for the user: "2 of 9 input tokens are not in the
    /// vocabulary and were read as [UNK]: Tokyo, Wetter" (or that there were none); nil when the vocabulary has no
    /// unknown token (byte-level BPE represents every input).
    public func unknownWordsNote(_ texts: [String]) -> String? {
        guard let unk = unknownID else { return nil }
        var total = 0, words: [String] = []
        for text in texts {
            let p = unknownPieces(text)
            total += p.tokens
            words += p.words
        }
        guard !words.isEmpty else { return "unknown words: none (all \(total) input tokens are in the vocabulary)" }
        var distinct: [String] = []
        for w in words where !distinct.contains(w) { distinct.append(w) }
        let shown =
            distinct.prefix(12).joined(separator: ", ")
            + (distinct.count > 12 ? ", … (\(distinct.count) different)" : "")
        return
            "unknown words: \(words.count) of \(total) input tokens are not in the vocabulary and were read as \(token(of: unk) ?? "[UNK]"): \(shown)"
    }

    static func reverseVocabulary(_ model: TokenModel) -> [String] {
        let v = model.vocabulary
        var r = [String](repeating: "", count: (v.values.max() ?? -1) + 1)
        for (t, i) in v where r[i].isEmpty || t < r[i] { r[i] = t }
        return r
    }

    /// The model's pieces for `text` without special tokens (used by trainers): normalised, pre-tokenized.
    public func pieces(_ text: String) -> [String] {
        preTokenizer.split(normalizer.normalize(text)).map(\.piece)
    }

    /// Encodes one text.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> Encoding {
        var enc = Encoding(ids: [], tokens: [], offsets: [], attentionMask: [], specialTokensMask: [])
        func append(_ id: Int, _ range: Range<Int>, special: Bool) {
            enc.ids.append(id)
            enc.tokens.append(token(of: id) ?? "")
            enc.offsets.append(range)
            enc.attentionMask.append(1)
            enc.specialTokensMask.append(special ? 1 : 0)
        }
        if addSpecialTokens, let b = bosToken, let id = id(of: b) { append(id, 0..<0, special: true) }
        for segment in splitOnSpecialTokens(text) {
            if segment.special, let id = id(of: segment.text) {
                append(id, segment.range, special: true)
                continue
            }
            let (normalized, alignment) = normalizer.normalizeAligned(segment.text)
            let scalars = Array(normalized.unicodeScalars)
            for (piece, range) in preTokenizer.split(normalized) {
                // each token covers a run of the piece's scalars (or, at byte level, of its UTF-8 bytes)
                for (id, span) in encodePieceWithSpans(piece, range: range, scalars: scalars) {
                    let r =
                        span.isEmpty
                        ? (segment.range.lowerBound..<segment.range.lowerBound)
                        : (segment.range.lowerBound + alignment[span.lowerBound].lowerBound)..<(segment.range.lowerBound
                            + alignment[span.upperBound - 1].upperBound)
                    append(id, r, special: false)
                }
            }
        }
        if addSpecialTokens, let e = eosToken, let id = id(of: e) {
            append(id, text.utf8.count..<text.utf8.count, special: true)
        }
        return enc
    }

    /// Token ids of one piece with the range of normalised scalars each covers.
    func encodePieceWithSpans(_ piece: String, range: Range<Int>, scalars: [Unicode.Scalar]) -> [(Int, Range<Int>)] {
        switch model {
        case .wordLevel(let m): return m.encode(piece).map { ($0, range) }
        case .characterLevel(let m):
            return piece.unicodeScalars.enumerated().flatMap { k, c in
                m.encode(String(c)).map { ($0, (range.lowerBound + k)..<(range.lowerBound + k + 1)) }
            }
        case .bpe(let m):
            let tokens = m.encodeWithSymbols(piece)
            if case .byteLevel = preTokenizer {
                // byte index within the piece → scalar index; bytes beyond the piece's scalars (a virtual prefix
                // space) map to the piece start
                var scalarBytes: [Int] = []
                for k in range { for _ in 0..<String(scalars[k]).utf8.count { scalarBytes.append(k) } }
                let lead = piece.unicodeScalars.count - scalarBytes.count
                let owner = Array(repeating: range.lowerBound, count: Swift.max(lead, 0)) + scalarBytes
                var pos = 0
                return tokens.map { t in
                    let n = t.symbol.unicodeScalars.count
                    defer { pos += n }
                    guard n > 0, pos < owner.count else { return (t.id, range.lowerBound..<range.lowerBound) }
                    let lo = owner[pos], hi = owner[Swift.min(pos + n, owner.count) - 1] + 1
                    return (t.id, lo..<hi)
                }
            }
            var pos = range.lowerBound
            return tokens.enumerated().map { k, t in
                let w = m.width(of: t.symbol, first: k == 0)
                defer { pos += w }
                return (t.id, pos..<Swift.min(pos + w, range.upperBound))
            }
        }
    }

    /// Encodes texts with optional truncation (to `maxLength` tokens, keeping BOS/EOS) and padding.
    public func encodeBatch(
        _ texts: [String], addSpecialTokens: Bool = true, padding: Padding = .longest,
        truncation maxLength: Int? = nil
    ) -> [Encoding] {
        var out = texts.map { encode($0, addSpecialTokens: addSpecialTokens) }
        if let maxLength {
            precondition(maxLength > 0, "encodeBatch: maxLength must be positive")
            for i in out.indices where out[i].ids.count > maxLength {
                let keepEOS = addSpecialTokens && eosToken != nil && out[i].specialTokensMask.last == 1
                var e = out[i]
                let cut = keepEOS ? maxLength - 1 : maxLength
                let tail = keepEOS ? (e.ids.count - 1) : e.ids.count
                func trim<T>(_ a: [T]) -> [T] { Array(a[0..<cut]) + (keepEOS ? [a[tail]] : []) }
                e = Encoding(
                    ids: trim(e.ids), tokens: trim(e.tokens), offsets: trim(e.offsets),
                    attentionMask: trim(e.attentionMask), specialTokensMask: trim(e.specialTokensMask))
                out[i] = e
            }
        }
        let target: Int
        switch padding {
        case .none: return out
        case .longest: target = out.map(\.ids.count).max() ?? 0
        case .fixed(let n): target = n
        }
        let padId = id(of: padToken) ?? 0
        for i in out.indices where out[i].ids.count < target {
            let k = target - out[i].ids.count
            out[i].ids += Array(repeating: padId, count: k)
            out[i].tokens += Array(repeating: padToken, count: k)
            out[i].offsets += Array(repeating: 0..<0, count: k)
            out[i].attentionMask += Array(repeating: 0, count: k)
            out[i].specialTokensMask += Array(repeating: 1, count: k)
        }
        return out
    }

    /// Joins tokens back to text: byte-level symbols are mapped back to bytes (invalid UTF-8 becomes U+FFFD), an
    /// end-of-word suffix becomes a space, a continuing-subword prefix glues to the previous token, and otherwise
    /// tokens are joined with spaces. Special tokens are skipped when `skipSpecialTokens`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        let special = Set(specialTokens + [bosToken, eosToken, padToken].compactMap { $0 })
        let tokens = ids.compactMap { token(of: $0) }.filter { !(skipSpecialTokens && special.contains($0)) }
        if case .byteLevel = preTokenizer {
            var bytes: [UInt8] = []
            for t in tokens {
                if special.contains(t) { bytes += Array(t.utf8); continue }
                for s in t.unicodeScalars { if let b = ByteLevel.scalarToByte[s.value] { bytes.append(b) } }
            }
            return TextDecoding.decode(Data(bytes)).text
        }
        if case .bpe(let m) = model {
            if let suffix = m.endOfWordSuffix {
                return tokens.joined().replacingOccurrences(of: suffix, with: " ").trimmingCharacters(in: .whitespaces)
            }
            if let prefix = m.continuingSubwordPrefix {
                var out = ""
                for t in tokens {
                    if t.hasPrefix(prefix) {
                        out += t.dropFirst(prefix.count)
                    } else {
                        out += (out.isEmpty ? "" : " ") + t
                    }
                }
                return out
            }
        }
        if case .characterLevel = model { return tokens.joined() }
        return tokens.joined(separator: " ")
    }

    /// Splits raw text on exact occurrences of special tokens (longest first at each position).
    func splitOnSpecialTokens(_ text: String) -> [(text: String, range: Range<Int>, special: Bool)] {
        let bytes = Array(text.utf8)
        let specials = specialTokens.filter { !$0.isEmpty }.map { Array($0.utf8) }.sorted { $0.count > $1.count }
        guard !specials.isEmpty else { return [(text, 0..<bytes.count, false)] }
        var out: [(String, Range<Int>, Bool)] = []
        var start = 0, i = 0
        while i < bytes.count {
            if let s = specials.first(where: {
                i + $0.count <= bytes.count && bytes[i..<(i + $0.count)].elementsEqual($0)
            }) {
                if start < i { out.append((String(decoding: bytes[start..<i], as: UTF8.self), start..<i, false)) }
                out.append((String(decoding: s, as: UTF8.self), i..<(i + s.count), true))
                i += s.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count {
            out.append((String(decoding: bytes[start...], as: UTF8.self), start..<bytes.count, false))
        }
        return out
    }
}

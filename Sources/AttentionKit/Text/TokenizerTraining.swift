import Foundation

/// The vocabulary model a tokenizer is trained as.
public enum TokenizerKind: String, Codable, CaseIterable, Sendable {
    /// Whole words (after pre-tokenization); unseen words become the unknown token.
    case word
    /// Byte-pair encoding: merges learned from pair counts.
    case bpe
    /// Single characters (Unicode scalars), spaces and newlines included: character-level language models.
    case char
}

/// How text is split before the vocabulary model sees it.
public enum PreTokenizerKind: String, Codable, CaseIterable, Sendable {
    /// GPT-2's byte-level split (exact round trip of case and spacing).
    case byteLevel = "byte-level"
    /// Hugging Face `Whitespace`: words and runs of punctuation.
    case whitespace
    /// Hugging Face `WhitespaceSplit`: on whitespace only.
    case whitespaceSplit = "whitespace-split"
    /// Every character is a piece (HF `Split` on `(?s).`).
    case characters
    /// Kim's (2014) `clean_str`: contractions and punctuation split off, other symbols dropped.
    case kim
}

/// Everything that trains a tokenizer: model, pre-tokenizer, normalisation, size limits and special tokens. The one
/// implementation behind `attn tokenizer train`, the translation vocabularies and the classifiers' vocabularies.
public struct TokenizerRecipe: Codable, Sendable, Equatable {
    /// Word level, BPE or byte-level BPE.
    public var model: TokenizerKind
    /// How text is split into words before the model.
    public var preTokenizer: PreTokenizerKind
    /// Byte-level only: a space before the first word, so that it is split like the others (GPT-2's `add_prefix_space`).
    public var addPrefixSpace = false
    /// BPE: the vocabulary size to reach; word level: the most words kept (nil: all seen often enough).
    public var vocabularySize: Int?
    /// The fewest occurrences of a word (word level) or of a pair to merge (BPE); nil: the model's default.
    public var minFrequency: Int?
    /// Lowercase after NFC.
    public var lowercase = false
    /// Given the first ids, in this order.
    public var specialTokens: [String]
    /// The token for unknown words (nil: none, byte-level).
    public var unknownToken: String?
    public var bosToken: String?, eosToken: String?
    /// The padding token.
    public var padToken: String

    /// A recipe from its parts; nil sizes take the kind's defaults.
    public init(
        model: TokenizerKind, preTokenizer: PreTokenizerKind, vocabularySize: Int?, minFrequency: Int?,
        lowercase: Bool, specialTokens: [String], unknownToken: String?, padToken: String
    ) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.vocabularySize = vocabularySize
        self.minFrequency = minFrequency
        self.lowercase = lowercase
        self.specialTokens = specialTokens
        self.unknownToken = unknownToken
        self.padToken = padToken
    }

    /// The specials the sequence tasks use: [PAD]=0, [BOS]=1, [EOS]=2, [UNK]=3.
    static let sequenceSpecials = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]

    /// Word level as the tasks train it: HF `Whitespace` splitting (punctuation apart; with `kimCleanStr`, Kim's
    /// `clean_str` instead), words seen `minFrequency` times, [PAD]=0, [BOS]=1, [EOS]=2, [UNK]=3.
    public static func wordLevel(lowercase: Bool, minFrequency: Int, maxSize: Int? = nil, kimCleanStr: Bool = false)
        -> TokenizerRecipe
    {
        var r = TokenizerRecipe(
            model: .word, preTokenizer: kimCleanStr ? .kim : .whitespace, vocabularySize: maxSize,
            minFrequency: minFrequency,
            lowercase: lowercase, specialTokens: sequenceSpecials, unknownToken: "[UNK]", padToken: "[PAD]")
        (r.bosToken, r.eosToken) = ("[BOS]", "[EOS]")
        return r
    }

    /// Byte-level BPE (GPT-2 style: decodes back to the exact text, case and spacing included) of `vocabularySize`
    /// tokens, [PAD]=0, [BOS]=1, [EOS]=2, [UNK]=3.
    public static func byteLevelBPE(vocabularySize: Int, lowercase: Bool = false) -> TokenizerRecipe {
        var r = TokenizerRecipe(
            model: .bpe, preTokenizer: .byteLevel, vocabularySize: vocabularySize, minFrequency: nil,
            lowercase: lowercase, specialTokens: sequenceSpecials, unknownToken: nil, padToken: "[PAD]")
        (r.addPrefixSpace, r.bosToken, r.eosToken) = (true, "[BOS]", "[EOS]")
        return r
    }

    /// The pre-tokenizer this recipe names.
    public var preTokenizerValue: PreTokenizer {
        switch preTokenizer {
        case .byteLevel: return .byteLevel(addPrefixSpace: addPrefixSpace)
        case .whitespace: return .whitespace
        case .whitespaceSplit: return .whitespaceSplit
        case .characters: return .characters
        case .kim: return .kimCleanStr
        }
    }

    /// Characters (Unicode scalars, whitespace included) seen at least `minFrequency` times, with [UNK] for the others:
    /// character-level language models.
    public static func characters(minFrequency: Int = 1, specialTokens: [String] = ["[UNK]"]) -> TokenizerRecipe {
        TokenizerRecipe(
            model: .char, preTokenizer: .characters, vocabularySize: nil, minFrequency: minFrequency,
            lowercase: false, specialTokens: specialTokens, unknownToken: "[UNK]",
            padToken: specialTokens.first ?? "[UNK]")
    }

    /// Checks the sizes against the specials and the byte alphabet.
    public func validate() throws {
        if let twice = specialTokens.first(where: { s in specialTokens.filter { $0 == s }.count > 1 }) {
            throw TaskUsageError("--special-tokens lists '\(twice)' more than once")
        }
        guard let v = vocabularySize else { return }
        if model == .bpe && preTokenizer == .byteLevel && v < 256 + specialTokens.count {
            throw TaskUsageError(
                "--vocab-size \(v) is below the byte-level alphabet (256 tokens) plus \(specialTokens.count) special tokens: at least \(256 + specialTokens.count)"
            )
        }
        if v < specialTokens.count + 1 {
            throw TaskUsageError("--vocab-size \(v) leaves no room beside \(specialTokens.count) special tokens")
        }
    }

    /// The untrained tokenizer (normaliser, pre-tokenizer, specials) whose `pieces` training counts.
    func emptyTokenizer() -> Tokenizer {
        Tokenizer(
            normalizer: Normalizer(lowercase ? [.nfc, .lowercase] : [.nfc]), preTokenizer: preTokenizerValue,
            model: .wordLevel(WordLevel(vocabulary: [:])), specialTokens: specialTokens,
            bosToken: bosToken, eosToken: eosToken, padToken: padToken)
    }

    /// Trains the tokenizer on `texts` (each normalised and pre-tokenized; empty texts add nothing).
    public func train(on texts: [String]) -> Tokenizer { train(pieces: pieces(of: texts)) }

    /// The pieces training counts in `texts`: each normalised and pre-tokenized by this recipe.
    public func pieces(of texts: [String]) -> [String] {
        let t = emptyTokenizer()
        return texts.flatMap { t.pieces($0) }
    }

    /// Each text's pieces, as `pieces(of:)` splits them (e.g. the sentences word2vec trains on).
    public func pieces(ofEach texts: [String]) -> [[String]] {
        let t = emptyTokenizer()
        return texts.map { t.pieces($0) }
    }

    /// Trains the tokenizer on pieces from `pieces(of:)`.
    public func train(pieces: [String]) -> Tokenizer {
        var t = emptyTokenizer()
        switch model {
        case .bpe:
            let alphabet = preTokenizer == .byteLevel ? ByteLevel.byteToScalar.map { String($0) } : []
            t.model = .bpe(
                BPE.train(
                    pieces: pieces, vocabularySize: vocabularySize ?? 30_000, minFrequency: minFrequency ?? 0,
                    specialTokens: specialTokens, unknownToken: unknownToken, initialAlphabet: alphabet))
        case .word:
            t.model = .wordLevel(
                WordLevel.train(
                    pieces: pieces, minFrequency: minFrequency ?? 1, maxSize: vocabularySize,
                    specialTokens: specialTokens, unknownToken: unknownToken ?? "[UNK]"))
        case .char:
            t.model = .characterLevel(
                WordLevel.train(
                    pieces: pieces, minFrequency: minFrequency ?? 1, maxSize: vocabularySize,
                    specialTokens: specialTokens, unknownToken: unknownToken ?? "[UNK]"))
        }
        return t
    }

    /// The non-empty lines of text files for training: UTF-8 (invalid bytes become U+FFFD; each such line is passed
    /// to `warn` with its file, line and byte offsets) or Latin-1.
    public static func lines(of files: [String], latin1: Bool, warn: (String) -> Void) throws -> [String] {
        var texts: [String] = []
        for path in files {
            let lines = try TextFile.lines(of: URL(fileURLWithPath: path), encoding: latin1 ? .latin1 : .utf8Replacing)
            for l in lines where !l.replacedByteOffsets.isEmpty {
                warn(
                    "\(path):\(l.number): \(l.replacedByteOffsets.count) invalid UTF-8 byte(s) at byte offset(s) \(l.replacedByteOffsets.map(String.init).joined(separator: ", ")) replaced by U+FFFD (use --latin1 for Latin-1 files)"
                )
            }
            texts += lines.lazy.filter { !$0.text.isEmpty }.map(\.text)
        }
        return texts
    }
}

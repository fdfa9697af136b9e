import ArgumentParser
import AttentionKit
import Foundation

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train a tokenizer on text files, or encode text with one.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self]
    )
}

/// `attn tokenizer train`: BPE or word-level on one or more UTF-8 files (one text per line), saved as tokenizer.json.
struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a BPE or word-level tokenizer and save it as a Hugging Face tokenizer.json.",
        discussion: """
        Lines are decoded as UTF-8 (invalid bytes become U+FFFD and are reported with file, line and byte offset) or \
        as Latin-1 with --latin1. Empty lines are skipped. The result loads in Hugging Face `tokenizers`.
        """
    )

    @Argument(help: "Text files, one text per line.")
    var inputs: [String]
    @Option(help: "Output tokenizer.json.")
    var out = "tokenizer.json"
    @Option(help: "Model: bpe or word.")
    var model = "bpe"
    @Option(name: .customLong("vocab-size"), parsing: .unconditional, help: "Vocabulary size, special tokens included.")
    var vocabSize = 8000
    @Option(name: .customLong("min-frequency"), parsing: .unconditional, help: "Minimum count of a merge (BPE) or a word (word-level).")
    var minFrequency = 2
    @Option(name: .customLong("pre-tokenizer"), help: "byte-level, whitespace or whitespace-split.")
    var preTokenizer = "byte-level"
    @Flag(help: "Lowercase (after NFC) before tokenizing.")
    var lowercase = false
    @Flag(help: "Decode the inputs as Latin-1 instead of UTF-8.")
    var latin1 = false
    @Option(name: .customLong("special-tokens"), help: "Comma-separated special tokens, given the first ids.")
    var specialTokens = "[PAD],[UNK],[BOS],[EOS]"

    func validate() throws {
        guard ["bpe", "word"].contains(model) else { throw ValidationError("--model must be bpe or word, not '\(model)'") }
        guard ["byte-level", "whitespace", "whitespace-split"].contains(preTokenizer) else {
            throw ValidationError("--pre-tokenizer must be byte-level, whitespace or whitespace-split, not '\(preTokenizer)'")
        }
        guard vocabSize > 0 else { throw ValidationError("--vocab-size must be positive") }
        guard !inputs.isEmpty else { throw ValidationError("give at least one input file") }
    }

    func run() throws {
        let specials = specialTokens.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let twice = specials.first(where: { s in specials.filter { $0 == s }.count > 1 }) {
            throw ValidationError("--special-tokens lists '\(twice)' more than once")
        }
        if model == "bpe" && preTokenizer == "byte-level" && vocabSize < 256 + specials.count {
            throw ValidationError("--vocab-size \(vocabSize) is below the byte-level alphabet (256 tokens) plus \(specials.count) special tokens: at least \(256 + specials.count)")
        }
        if vocabSize < specials.count + 1 {
            throw ValidationError("--vocab-size \(vocabSize) leaves no room beside \(specials.count) special tokens")
        }
        let pre: PreTokenizer = preTokenizer == "byte-level" ? .byteLevel(addPrefixSpace: false) : preTokenizer == "whitespace" ? .whitespace : .whitespaceSplit
        var tokenizer = Tokenizer(normalizer: Normalizer(lowercase ? [.nfc, .lowercase] : [.nfc]), preTokenizer: pre,
                                  model: .wordLevel(WordLevel(vocabulary: [:])), specialTokens: specials,
                                  padToken: specials.first ?? "[PAD]")
        var pieces: [String] = [], count = 0
        for path in inputs {
            let lines = try TextFile.lines(of: URL(fileURLWithPath: path), encoding: latin1 ? .latin1 : .utf8Replacing)
            for l in lines where !l.replacedByteOffsets.isEmpty {
                FileHandle.standardError.write("warning: \(path):\(l.number): \(l.replacedByteOffsets.count) invalid UTF-8 byte(s) at byte offset(s) \(l.replacedByteOffsets.map(String.init).joined(separator: ", ")) replaced by U+FFFD (use --latin1 for Latin-1 files)\n".data(using: .utf8)!)
            }
            for l in lines where !l.text.isEmpty { pieces += tokenizer.pieces(l.text); count += 1 }
        }
        guard count > 0 else {
            throw CLIError("\(inputs.joined(separator: ", ")): no non-empty lines to train a tokenizer on")
        }
        let unk = specials.contains("[UNK]") ? "[UNK]" : nil
        if model == "bpe" {
            let alphabet = preTokenizer == "byte-level" ? ByteLevel.byteToScalar.map { String($0) } : []
            tokenizer.model = .bpe(BPE.train(pieces: pieces, vocabularySize: vocabSize, minFrequency: minFrequency,
                                             specialTokens: specials, unknownToken: unk, initialAlphabet: alphabet))
        } else {
            tokenizer.model = .wordLevel(WordLevel.train(pieces: pieces, minFrequency: minFrequency, maxSize: vocabSize,
                                                         specialTokens: specials, unknownToken: unk ?? "[UNK]"))
        }
        if tokenizer.vocabularySize < vocabSize {
            FileHandle.standardError.write(Data("note: \(tokenizer.vocabularySize) tokens, fewer than --vocab-size \(vocabSize): the data has no more \(model == "bpe" ? "merges" : "words") seen at least --min-frequency (\(minFrequency)) times\n".utf8))
        }
        try tokenizer.save(to: URL(fileURLWithPath: out))
        say("trained \(model) tokenizer on \(count) lines (\(pieces.count) pieces): \(tokenizer.vocabularySize) tokens; wrote \(out)")
    }
}

/// `attn tokenizer encode`: tokens, ids and offsets of a text.
struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encode", abstract: "Encode text with a tokenizer.json and print tokens, ids and byte offsets.")

    @Option(help: "A tokenizer.json (Hugging Face format).")
    var tokenizer: String
    @Argument(help: "The text to encode.")
    var text: String

    func run() throws {
        let t = try Tokenizer.load(from: URL(fileURLWithPath: tokenizer))
        let e = t.encode(text, addSpecialTokens: false)
        say("tokens:  " + e.tokens.map { "\"\($0)\"" }.joined(separator: " "))
        say("ids:     " + e.ids.map(String.init).joined(separator: " "))
        say("offsets: " + e.offsets.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: " "))
        say("decoded: " + t.decode(e.ids))
    }
}

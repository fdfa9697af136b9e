import ArgumentParser
import AttentionKit
import Foundation

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
    var model: TokenizerKind = .bpe
    @Option(name: .customLong("vocab-size"), parsing: .unconditional, help: "Vocabulary size, special tokens included.")
    var vocabSize = 8000
    @Option(
        name: .customLong("min-frequency"), parsing: .unconditional,
        help: "Minimum count of a merge (BPE) or a word (word-level).")
    var minFrequency = 2
    @Option(name: .customLong("pre-tokenizer"), help: "byte-level, whitespace or whitespace-split.")
    var preTokenizer: PreTokenizerKind = .byteLevel
    @Flag(help: "Lowercase (after NFC) before tokenizing.")
    var lowercase = false
    @Flag(help: "Decode the inputs as Latin-1 instead of UTF-8.")
    var latin1 = false
    @Option(name: .customLong("special-tokens"), help: "Comma-separated special tokens, given the first ids.")
    var specialTokens = "[PAD],[UNK],[BOS],[EOS]"

    /// The recipe these flags describe.
    var recipe: TokenizerRecipe {
        let specials = specialTokens.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        return TokenizerRecipe(
            model: model, preTokenizer: preTokenizer, vocabularySize: vocabSize, minFrequency: minFrequency,
            lowercase: lowercase,
            specialTokens: specials, unknownToken: specials.contains("[UNK]") ? "[UNK]" : nil,
            padToken: specials.first ?? "[PAD]")
    }

    func validate() throws {
        guard (1...4_194_304).contains(vocabSize) else {
            throw ValidationError("--vocab-size must be in 1…4194304 (got \(vocabSize))")
        }
        guard !inputs.isEmpty else { throw ValidationError("give at least one input file") }
        do { try recipe.validate() } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let recipe = self.recipe
        let output = URL(fileURLWithPath: out)
        _ = try AtomicFile.target(output)
        try AtomicFile.checkDistinct(output, from: inputs.map { URL(fileURLWithPath: $0) }, flag: "--out")
        let texts = try TokenizerRecipe.lines(of: inputs, latin1: latin1) {
            FileHandle.standardError.write(Data("warning: \($0)\n".utf8))
        }
        guard !texts.isEmpty else {
            throw RunSetupError("\(inputs.joined(separator: ", ")): no non-empty lines to train a tokenizer on")
        }
        let pieces = recipe.pieces(of: texts)
        let tokenizer = recipe.train(pieces: pieces)
        if tokenizer.vocabularySize < vocabSize {
            note(
                "\(tokenizer.vocabularySize) tokens, fewer than --vocab-size \(vocabSize): the data has no more \(model == .bpe ? "merges" : "words") seen at least --min-frequency (\(minFrequency)) times"
            )
        }
        try tokenizer.save(to: output)
        say(
            "trained \(model) tokenizer on \(texts.count) lines (\(pieces.count) pieces): \(tokenizer.vocabularySize) tokens; wrote \(out)"
        )
    }
}

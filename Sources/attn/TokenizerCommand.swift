import ArgumentParser

/// `attn tokenizer`: train or encode.
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train a tokenizer on text files, or encode text with one.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self]
    )
}

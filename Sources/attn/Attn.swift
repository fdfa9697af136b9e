import ArgumentParser
import AttentionKit

/// The `attn` command-line tool: train, evaluate, translate, classify, predict, plot, tokenizer.
@main
struct Attn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attn",
        abstract: "Train and inspect attention-based sequence models (AttentionKit).",
        discussion: """
        AttentionKit is a Swift library for transformer and attention-based models on the CPU: \
        tensors on OpenBLAS, reverse-mode autograd, layers, tokenizers and models.
        """,
        version: AttentionKit.version,
        subcommands: [Train.self, Evaluate.self, Translate.self, Classify.self, Predict.self, AttentionCommand.self, Compare.self, Plot.self, TokenizerCommand.self]
    )
}

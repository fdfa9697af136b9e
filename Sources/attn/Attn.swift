import ArgumentParser
import AttentionKit

/// The `attn` command-line tool. Verbs (train, evaluate, translate, classify, attention, bench) arrive with the
/// applications; for now it reports its version.
@main
struct Attn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attn",
        abstract: "Train and inspect attention-based sequence models (AttentionKit).",
        discussion: """
        AttentionKit is a Swift library for transformer and attention-based models on the CPU:
        tensors on OpenBLAS, reverse-mode autograd, layers, tokenizers and models.
        """,
        version: AttentionKit.version
    )
}

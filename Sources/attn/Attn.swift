import ArgumentParser
import AttentionKit
import Foundation

/// The `attn` command-line tool: train, evaluate, translate, classify, predict, plot, tokenizer.
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

/// The entry point: ArgumentParser parses and runs the verb; errors print as `attn: error: …` (a usage error adds
/// the verb's usage line and exits 64, EX_USAGE; any other error exits 1); `--help` and `--version` print as usual.
@main
enum Main {
    static func main() {
        do {
            var command = try Attn.parseAsRoot()
            try command.run()
        } catch {
            let code = Attn.exitCode(for: error)
            if code == .success || error is ExitCode { Attn.exit(withError: error) }   // help, version, explicit exit codes
            let message = Attn.message(for: error)
            var text = "attn: error: " + (message.isEmpty ? String(describing: error) : message) + "\n"
            if code == .validationFailure {
                let usage = Attn.fullMessage(for: error).components(separatedBy: "\n").filter { $0.hasPrefix("Usage:") || $0.hasPrefix("  See ") }
                if !usage.isEmpty && !usage[0].contains("<subcommand>") { text += usage.joined(separator: "\n") + "\n" }
            }
            FileHandle.standardError.write(Data(text.utf8))
            Foundation.exit(code == .validationFailure ? 64 : 1)
        }
    }
}

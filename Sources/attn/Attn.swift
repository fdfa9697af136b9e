import ArgumentParser
import AttentionKit
import Foundation

/// The `attn` command-line tool: train, evaluate, translate, classify, predict, generate, attention, compare, plot, tokenizer.
struct Attn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attn",
        abstract: "Train and inspect attention-based sequence models (AttentionKit).",
        discussion: """
            AttentionKit is a Swift library for transformer and attention-based models on the CPU: \
            tensors on OpenBLAS, reverse-mode autograd, layers, tokenizers and models.
            """,
        version: AttentionKit.version,
        subcommands: [
            Train.self, Evaluate.self, Translate.self, Classify.self, Predict.self, Generate.self, Serve.self,
            Quantize.self, Average.self, TuneDecoding.self,
            AttentionCommand.self, Compare.self, Plot.self, TokenizerCommand.self
        ]
    )
}

/// The entry point: ArgumentParser parses and runs the verb; errors print as `attn: error: …` (a usage error adds
/// the verb's usage line and exits 64, EX_USAGE; any other error exits 1); `--help` and `--version` print as usual.
@main
enum Main {
    static func main() {
        do {
            var command = try Attn.parseAsRoot()
            try FlagBounds.check(command)
            try command.run()
            DistributedRuntime.finish()
        } catch {
            let code = Attn.exitCode(for: error)
            // help, version, explicit exit codes (130: every process was interrupted)
            if code == .success || error is ExitCode {
                DistributedRuntime.finish()
                Attn.exit(withError: error)
            }
            let usage = code == .validationFailure || error is TaskUsageError
            // ArgumentParser words its own errors; the library's errors describe themselves (file, line, reason).
            let message = code == .validationFailure ? Attn.message(for: error) : ErrorText.message(for: error)
            let process =
                DistributedRuntime.current.map { $0.size > 1 ? "process \($0.rank) of \($0.size): " : "" } ?? ""
            var text = "attn: error: " + process + (message.isEmpty ? ErrorText.message(for: error) : message) + "\n"
            if code == .validationFailure {
                let lines = Attn.fullMessage(for: error).components(separatedBy: "\n").filter {
                    $0.hasPrefix("Usage:") || $0.hasPrefix("  See ")
                }
                if !lines.isEmpty && !lines[0].contains("<subcommand>") { text += lines.joined(separator: "\n") + "\n" }
            }
            FileHandle.standardError.write(Data(text.utf8))
            let status: Int32 = usage ? 64 : 1
            // The other processes of a distributed run would wait for this one forever: end them all.
            if let c = DistributedRuntime.current, c.size > 1 { c.abort(code: status) }
            DistributedRuntime.finish()
            Foundation.exit(status)
        }
    }
}

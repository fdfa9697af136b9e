import ArgumentParser
import AttentionKit
import Foundation

/// `attn average`.
struct Average: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Average the weights of a run's last epochs (checkpoint averaging) into RUN/averaged.safetensors.",
        discussion: """
            A run trained with --average-last N keeps its last N epochs' weights (epoch-K.safetensors) and writes their \
            average when it ends; this verb averages the last --last of them again (fewer than training kept, to \
            compare), like fairseq's average_checkpoints.py --num-epoch-checkpoints. Every inference verb loads the \
            result with --weights averaged (`attn evaluate --checkpoint RUN --weights averaged`). The last line is \
            JSON: {"out", "epochs"}.
            """
    )
    @Option(help: "Run directory written by `attn train … --average-last N`.")
    var checkpoint: String
    @Option(help: "Average this many of the last kept epochs.")
    var last: Int
    @Option(help: "File name in the run directory to write.")
    var out = CheckpointAveraging.averagedFile

    func validate() throws {
        guard last >= 1 else { throw ValidationError("--last must be at least 1 (got \(last))") }
        guard !out.contains("/"), out.hasSuffix(".safetensors"), !out.hasPrefix("epoch-"),
            !["best.safetensors", "last.safetensors", "resume.safetensors"].contains(out)
        else {
            throw ValidationError(
                "--out must be a new .safetensors file name in the run directory, not a path, best, last, resume or an epoch file (got \(out))"
            )
        }
    }

    func run() throws {
        let run = RunDirectory(path: checkpoint)
        try run.check(holds: ["config.json"], kind: "training")
        let epochs = try CheckpointAveraging.averageLast(last, in: run.url, to: out)
        say("averaged the weights of epochs \(epochs.map(String.init).joined(separator: ", ")): \(run.file(out).path)")
        say(
            JSONLine.object([("out", .string(run.file(out).path)), ("epochs", .array(epochs.map { .integer($0) }))])
                .text)
    }
}

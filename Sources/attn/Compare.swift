import ArgumentParser
import AttentionKit
import Foundation

/// `attn compare`: trained classification or translation runs side by side (table, CSV, bar chart).
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare trained runs: validation accuracy or BLEU/chrF, parameters, training time, inference speed.",
        discussion: """
            Each RUN is a directory written by `attn train cnn|vit|classifier|translation`. From its metrics.jsonl: the \
            best epoch (by validation accuracy; translation: by its per-epoch BLEU) and the training wall time (the sum of \
            the epochs' seconds, validation included). From its best.safetensors: the parameter count and, measured here, \
            the inference throughput (evaluation mode, no autograd graph, batches of --batch-size: random images of the \
            model's input size, or sentences of --tokens random in-vocabulary tokens). A translation run's validation \
            sentences (its --valid-source/--valid-target, or the validation.source/target it held out) are translated \
            here with a beam of --beam, 64 sentences at a time: sacreBLEU's BLEU (cased) and chrF2 of those \
            translations are its score, and their sentences per second its throughput. Writes comparison.md (a Markdown table), comparison.csv \
            comparison.png and comparison.svg (one bar chart per quantity, and per unit where units differ, each on one \
            labelled scale for every model) to --out and prints \
            the table; with --json, one object per run instead ({"name", "task", "model", "metric", "score", \
            "validation_accuracy" or "chrf" and "beam", "best_epoch", "epochs", "parameters", "training_seconds", \
            "inference_per_second", "inference_unit", "inference_batch"}). Example: Examples/compare-models.sh.
            """
    )

    @Argument(help: "Run directories (NAME=DIR to label a row; default label: the directory's name).")
    var runs: [String]
    @Option(help: "Directory for comparison.md, comparison.csv and comparison.png.")
    var out = "runs/comparison"
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Inference batch size.")
    var batchSize = 256
    @Option(parsing: .unconditional, help: "Tokens per sentence for text models' inference timing.")
    var tokens = 16
    @Option(parsing: .unconditional, help: "Translation runs: the beam their validation sentences are decoded with.")
    var beam = 5
    @Option(help: "Chart title.")
    var title = "Models compared"
    @OptionGroup var output: JSONOutput

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run directory") }
        guard batchSize > 0 && batchSize <= 4096 else { throw ValidationError("--batch-size must be in 1...4096") }
        guard tokens > 0 && tokens <= 4096 else { throw ValidationError("--tokens must be in 1...4096") }
        try checkBeam(beam)
    }

    func run() throws {
        var entries: [ModelComparison.Entry] = []
        for spec in runs {
            let (label, path) =
                spec.contains("=")
                ? (String(spec.prefix { $0 != "=" }), String(spec.drop { $0 != "=" }.dropFirst()))
                : (URL(fileURLWithPath: spec).lastPathComponent, spec)
            var request = ComparisonRequest(run: RunDirectory(path: path))
            (request.batchSize, request.tokens, request.beam) = (batchSize, tokens, beam)
            entries.append(try ModelComparison.entry(label: label, request: request))
            note("measured \(label)")
        }
        let comparison = ModelComparison(entries: entries)
        let written = try comparison.write(to: URL(fileURLWithPath: out), title: title)
        if output.json {
            for e in entries { say(e.json) }
        } else {
            say(comparison.markdown)
            say("wrote \(written.path), comparison.csv, comparison.png")
        }
    }
}

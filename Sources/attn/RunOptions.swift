import ArgumentParser
import AttentionKit

/// The trained run a verb uses: `--checkpoint RUN` and `--weights best|last|averaged|FILE`.
struct RunOptions: ParsableArguments {
    @Option(help: "Run directory written by `attn train`.")
    var checkpoint: String
    @Option(
        help:
            "Weights in the run directory: best, last, averaged (training with --average-last), or a file name in it. Default: the run's generation_config.json's, else best."
    )
    var weights: String?
    @Flag(
        help:
            "Run the model's Linear layers in int8 (dynamic quantization, as `attn quantize` writes them; a run that is already int8 needs no flag)."
    )
    var int8 = false

    var directory: RunDirectory { RunDirectory(path: checkpoint) }
    /// The weights file `--weights` names, else the run's default (generation_config.json's, else best).
    var weightsFile: String {
        get throws { try weights.map(RunDirectory.weightsFile) ?? directory.defaultWeightsFile() }
    }
}

/// `--ensemble RUN`: more text classifiers whose class probabilities are averaged with the `--checkpoint` run's.
struct EnsembleOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A text classification run whose class probabilities are averaged with --checkpoint's (repeatable; the same labels, each run with its own tokenizer, and the weights --weights names, else its default ones; e.g. ULMFiT's forward and backward classifiers).",
            valueName: "run"))
    var ensemble: [String] = []

    /// `run` with the --ensemble runs added (each with the `--weights` and `--int8` of `trained`); `run` as it is
    /// without them.
    func applied(to run: any TrainedRun, _ trained: RunOptions) throws -> any TrainedRun {
        guard !ensemble.isEmpty else { return run }
        guard var classifier = run as? TextClassification else {
            throw ValidationError(
                "--ensemble averages text classifiers' probabilities: --checkpoint is \(RunDirectory.article(type(of: run).displayName)) run"
            )
        }
        for path in ensemble {
            let member = RunDirectory(path: path)
            try classifier.addToEnsemble(
                RunTasks.load(
                    member, as: TextClassification.self,
                    weights: try trained.weights.map(RunDirectory.weightsFile) ?? member.defaultWeightsFile(),
                    verb: "--ensemble", int8: trained.int8))
        }
        return classifier
    }
}

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

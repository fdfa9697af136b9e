import ArgumentParser
import AttentionKit
import Foundation

/// `attn evaluate`: loads whichever task the run holds and prints its report, then one JSON line.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a trained model on data in the format it was trained on.",
        discussion: """
            Classification: --data FILE in the format the model was trained on (text), or for an image model a CIFAR-10 \
            .bin file or a directory (its test_batch.bin, else its data_batch_*.bin). Prints per-class precision, recall, F1 \
            and the confusion matrix; with --json only one line {"task": "classification", "metric": "accuracy", "value": X, \
            "n": N, "macro_f1": F, "per_class": {LABEL: {"precision": …, "recall": …, "f1": …, "support": …}}}. With \
            --ensemble RUN (repeatable), a text classifier's scores are those of the mean of its and the other runs' \
            class probabilities (an ensemble).

            Translation: --source FILE --reference FILE [--beam N]. Prints a readable report; with --json only one JSON \
            object: {"task": "translation", "metric": "bleu", "value": X, "n": N, "bleu_lowercase_tokens": Y, \
            "chrf": Z, "beam": B}. `value` is corpus BLEU as sacreBLEU computes it by default (13a tokenization, \
            exponential smoothing, cased); `bleu_lowercase_tokens` is the same on lowercased text (sacreBLEU -lc), as \
            older Multi30k papers report; `chrf` is sacreBLEU's chrF2.
            """
    )
    @OptionGroup var trained: RunOptions
    @Option(help: "Translation: source sentences, one per line.")
    var source: String?
    @Option(help: "Translation: reference translations, line-aligned with --source.")
    var reference: String?
    @Option(help: "Classification: labelled data in the training format; images: a CIFAR-10 .bin file or directory.")
    var data: String?
    @Option(parsing: .unconditional, help: "Beam size (1: greedy).")
    var beam = 5
    @Option(
        name: .customLong("confusion-png"), help: "Classification: also draw the confusion matrix into this PNG file.")
    var confusionPNG: String?
    @Option(
        name: .customLong("length-penalty"), parsing: .unconditional,
        help: "Translation: GNMT length penalty α. Default: the run's generation_config.json's, else 0.6.")
    var lengthPenalty: Float?
    @Option(help: "Write the translations to this file.")
    var output: String?
    @OptionGroup var ensemble: EnsembleOptions
    @OptionGroup var jsonOutput: JSONOutput

    func validate() throws {
        try checkBeam(beam)
        try checkLengthPenalty(lengthPenalty)
    }

    func run() throws {
        var request = EvaluationRequest()
        (request.data, request.source, request.reference, request.beam, request.lengthPenalty) = (
            data, source, reference, beam, try lengthPenalty ?? trained.directory.defaultLengthPenalty()
        )
        request.output = output.map { URL(fileURLWithPath: $0) }
        request.confusionPNG = confusionPNG.map { URL(fileURLWithPath: $0) }
        // Outputs must not be inputs (the data, or a file training wrote into the run): writing them would destroy
        // what is read. Other files in the run (an earlier --output) may be replaced.
        let inputs =
            [data, source, reference].compactMap { $0 }.map { URL(fileURLWithPath: $0) }
            + trained.directory.trainingFiles().map { trained.directory.file($0) }
        for (flag, url) in [("--output", request.output), ("--confusion-png", request.confusionPNG)] {
            if let url { _ = try AtomicFile.target(url); try AtomicFile.checkDistinct(url, from: inputs, flag: flag) }
        }
        let run = try RunTasks.load(trained.directory, weights: trained.weightsFile, int8: trained.int8)
        let result = try ensemble.applied(to: run, trained).evaluate(request)
        if jsonOutput.json { say(result.json) } else { for line in result.report { say(line) } }
    }
}

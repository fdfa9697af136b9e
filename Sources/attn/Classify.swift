import ArgumentParser
import AttentionKit
import Foundation

/// `attn classify`.
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts with a trained classifier (stdin lines or --text) to stdout.",
        discussion: """
            One line per input: `label<TAB>probability`, or with --top K the K best as `label:probability` separated by \
            tabs; a blank input line gives an empty line. With --json, one object per input line: {"text": …, "label": …, \
            "probability": …, "top": [{"label": …, "probability": …}, …]} (the K best; a blank line: label null, top []). \
            With --ensemble RUN (repeatable), the probabilities are the mean of this run's and those runs'.
            """
    )
    @OptionGroup var trained: RunOptions
    @Option(help: "A text to classify (repeatable); without it, lines are read from standard input.")
    var text: [String] = []
    @Option(parsing: .unconditional, help: "Labels to print per text, best first.")
    var top = 1
    @OptionGroup var ensemble: EnsembleOptions
    @OptionGroup var output: JSONOutput

    func validate() throws { guard top >= 1 else { throw ValidationError("--top must be at least 1") } }

    func run() throws {
        let c =
            try ensemble.applied(
                to: RunTasks.load(
                    trained.directory, as: TextClassification.self, weights: trained.weightsFile,
                    verb: "attn classify", int8: trained.int8), trained) as! TextClassification
        let inputs = try text.isEmpty ? TextFile.standardInputLines() : text
        if let n = c.unknownWordsNote(inputs) { FileHandle.standardError.write(Data((n + "\n").utf8)) }
        for (i, r) in c.classify(inputs, top: min(top, c.labels.count)).enumerated() {
            if output.json {
                output.emit(InferenceJSON.classification(text: inputs[i], ranked: r))
                continue
            }
            // a blank line has nothing to classify: an empty line keeps the output aligned with the input
            if inputs[i].trimmingCharacters(in: .whitespaces).isEmpty { print(""); continue }
            if top == 1 {
                print("\(r[0].label)\t\(String(format: "%.4f", r[0].probability))")
            } else {
                print(r.map { "\($0.label):\(String(format: "%.4f", $0.probability))" }.joined(separator: "\t"))
            }
        }
    }
}

import ArgumentParser
import AttentionKit
import Foundation

/// `attn classify`.
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts with a trained classifier (stdin lines or --text) to stdout.",
        discussion: "One line per input: `label<TAB>probability`, or with --top K the K best as `label:probability` separated by tabs."
    )
    @OptionGroup var trained: RunOptions
    @Option(help: "A text to classify (repeatable); without it, lines are read from standard input.")
    var text: [String] = []
    @Option(parsing: .unconditional, help: "Labels to print per text, best first.")
    var top = 1

    func validate() throws { guard top >= 1 else { throw ValidationError("--top must be at least 1") } }

    func run() throws {
        let c = try TextClassification.load(from: trained.directory, weights: trained.weightsFile)
        let inputs = try text.isEmpty ? TextFile.standardInputLines() : text
        for r in c.classify(inputs, top: min(top, c.labels.count)) {
            if top == 1 { print("\(r[0].label)\t\(String(format: "%.4f", r[0].probability))") }
            else { print(r.map { "\($0.label):\(String(format: "%.4f", $0.probability))" }.joined(separator: "\t")) }
        }
    }
}

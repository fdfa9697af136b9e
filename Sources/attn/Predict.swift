import ArgumentParser
import AttentionKit
import Foundation

/// `attn predict`.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify pictures with a trained image model (attn train vit|cnn).",
        discussion: """
            --image takes a PNG or JPEG file of any size (resized to the model's input with an antialiasing filter; \
            transparency is composited onto white) or FILE.bin:INDEX for record INDEX (0-based) of a CIFAR-10 batch \
            file. One line per image: `FILE<TAB>label<TAB>probability`, or with --top K the K best as label:probability \
            separated by tabs. With --json, one object per image instead: {"image": …, "label": …, "probability": …, "top": \
            [{"label": …, "probability": …}, …]}.
            """
    )
    @OptionGroup var trained: RunOptions
    @Option(help: "A PNG or JPEG file, or FILE.bin:INDEX (repeatable).")
    var image: [String] = []
    @Option(parsing: .unconditional, help: "Labels to print per image, best first.")
    var top = 1
    @OptionGroup var output: JSONOutput

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        guard !image.isEmpty else { throw ValidationError("give at least one --image") }
    }

    func run() throws {
        let c = try RunTasks.load(
            trained.directory, as: ImageClassification.self, weights: trained.weightsFile, verb: "attn predict",
            int8: trained.int8)
        for spec in image {
            let r = c.classify(try ImageClassification.picture(spec), top: min(top, c.labels.count))
            if output.json {
                output.emit(InferenceJSON.image(spec, ranked: r))
            } else if top == 1 {
                print("\(spec)\t\(r[0].label)\t\(String(format: "%.4f", r[0].probability))")
            } else {
                print(
                    spec + "\t"
                        + r.map { "\($0.label):\(String(format: "%.4f", $0.probability))" }.joined(separator: "\t"))
            }
        }
    }
}

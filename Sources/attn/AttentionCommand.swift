import ArgumentParser
import AttentionKit
import Foundation

/// `attn attention`: the attention report of one input for any trained model.
struct AttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Write the attention maps of one input as arrays, pictures and an HTML page.",
        discussion: """
        For a translator (--text, optionally --target: without it the model translates first, with the beam search of \
        attn translate (--beam), and shows the attention of its own output), a text classifier (--text) or a ViT (--image FILE: PNG, JPEG or FILE.bin:INDEX). \
        Writes to --out: maps.json (model kind, tokens with their byte spans in the input, layers by module path, \
        heads, shapes, files), LAYER.npy per attention layer ([heads, queries, keys] float32, numpy.load reads it), \
        LAYER.png (one heatmap per head and their mean, token labels, colour bar), for images input.png and \
        attention-overlay.png (each layer's attention over the picture and the rollout), and index.html: one page, \
        no network, with layer and head selectors. The last line printed is the path of index.html.
        """
    )
    @Option(help: "Run directory written by `attn train`.")
    var checkpoint: String
    @Option(help: "The input text (translators and text classifiers).")
    var text: String?
    @Option(help: "Translators: a translation of --text to show the attention of (default: the model's own).")
    var target: String?
    @Option(parsing: .unconditional, help: "Translators without --target: the beam size of the translation shown (as attn translate; 1: greedy).")
    var beam = 5
    @Option(help: "Image models: a PNG or JPEG file, or FILE.bin:INDEX.")
    var image: String?
    @Option(help: "Output directory.")
    var out: String
    @Option(help: "Weights in the run directory: best, last, or a file name in it.")
    var weights = "best"

    func validate() throws { guard beam >= 1 else { throw ValidationError("--beam must be at least 1") } }

    func run() throws {
        let dir = URL(fileURLWithPath: checkpoint), outDir = URL(fileURLWithPath: out)
        let task: String
        do { task = try RunDirectoryError.configEntry("task", as: String.self, in: dir, describing: "a task name") } catch { throw CLIError("\(error)") }
        do {
            switch task {
            case "translation":
                guard let text else { throw ValidationError("a translation run needs --text") }
                let t = try Translator.load(from: dir, weights: weightsFile(weights))
                let output = try t.writeAttention(of: text, target: target, beam: beam, to: outDir)
                say("translation: \(output)")
            case "classification":
                guard let text else { throw ValidationError("a text classification run needs --text") }
                let c = try TextClassification.load(from: dir, weights: weightsFile(weights))
                let (label, p) = try c.writeAttention(of: text, to: outDir)
                say(String(format: "prediction: %@ (%.4f)", label, p))
            case "image-classification":
                guard let image else { throw ValidationError("an image classification run needs --image") }
                let c = try ImageClassification.load(from: dir, weights: weightsFile(weights))
                let (label, p) = try c.writeAttention(of: try Predict.picture(image), name: image, to: outDir)
                say(String(format: "prediction: %@ (%.4f)", label, p))
            default:
                throw CLIError("\(dir.appendingPathComponent("config.json").path): unknown task '\(task)'")
            }
        } catch let e as ValidationError { throw e } catch let e as CLIError { throw e } catch { throw CLIError("\(error)") }
        print(outDir.appendingPathComponent("index.html").path)
    }
}

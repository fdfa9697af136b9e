import ArgumentParser
import AttentionKit
import Foundation

/// `attn attention`: the attention report of one input for whichever task the run holds.
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
    @OptionGroup var trained: RunOptions
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

    func validate() throws { try checkBeam(beam) }

    func run() throws {
        let outDir = URL(fileURLWithPath: out)
        var request = AttentionRequest()
        (request.text, request.target, request.beam, request.image) = (text, target, beam, image)
        say(try RunTasks.load(trained.directory, weights: trained.weightsFile).writeAttentionReport(request, to: outDir))
        print(outDir.appendingPathComponent("index.html").path)
    }
}

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
            LAYER.png (one heatmap per head and their mean, token labels, colour bar on --colour-scale), for images \
            input.png and attention-overlay.png (each layer's attention over the picture and the rollout), and \
            index.html: one page, no network, with a head view (every head as coloured lines; click a token to pin it), \
            a model view (every layer and head; click one to open it) and a weights table. Words the vocabulary lacks \
            are counted on stderr and shown as [UNK]. The last line printed is the path of index.html.
            """
    )
    @OptionGroup var trained: RunOptions
    @Option(help: "The input text (translators and text classifiers).")
    var text: String?
    @Option(help: "Translators: a translation of --text to show the attention of (default: the model's own).")
    var target: String?
    @Option(
        parsing: .unconditional,
        help: "Translators without --target: the beam size of the translation shown (as attn translate; 1: greedy).")
    var beam = 5
    @Option(help: "Image models: a PNG or JPEG file, or FILE.bin:INDEX.")
    var image: String?
    @Option(help: "Output directory.")
    var out: String
    @Option(
        name: .customLong("colour-scale"),
        help: ArgumentHelp(
            "How the PNGs colour weights: absolute (one 0–1 scale for every layer, so layers compare) or layer (0 to each layer's largest weight).",
            valueName: "absolute|layer"))
    var colourScale: String = "absolute"

    func validate() throws {
        try checkBeam(beam)
        guard AttentionColourScale(rawValue: colourScale) != nil else {
            throw ValidationError("--colour-scale must be absolute or layer (got '\(colourScale)')")
        }
    }

    func run() throws {
        let outDir = URL(fileURLWithPath: out)
        var request = AttentionRequest()
        (request.text, request.target, request.beam, request.image) = (text, target, beam, image)
        request.colourScale = AttentionColourScale(rawValue: colourScale) ?? .absolute
        let run = try RunTasks.load(trained.directory, weights: trained.weightsFile, int8: trained.int8)
        if let text, let n = run.unknownWordsNote([text]) { FileHandle.standardError.write(Data((n + "\n").utf8)) }
        say(try run.writeAttentionReport(request, to: outDir))
        print(outDir.appendingPathComponent("index.html").path)
    }
}

import ArgumentParser
import AttentionKit
import Foundation

/// `attn translate`.
struct Translate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate sentences with a trained model (stdin or --text to stdout).",
        discussion: """
            One translation per input line; with --n-best K, K lines per input: `rank<TAB>score<TAB>translation`, then a \
            blank line. With --json, one object per input line: {"source": …, "translation": …, "score": …, "n_best": \
            [{"text": …, "score": …}, …]} (score: the beam's length-normalised log-probability; a blank line gives an empty \
            translation and an empty n_best).
            """
    )
    @OptionGroup var trained: RunOptions
    @Option(help: "A sentence to translate (repeatable); without it, lines are read from standard input.")
    var text: [String] = []
    @Option(parsing: .unconditional, help: "Beam size (1: greedy).")
    var beam = 5
    @Option(
        name: .customLong("n-best"), parsing: .unconditional,
        help: "Hypotheses to print per sentence, with their scores.")
    var nBest = 1
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Sentences translated together.")
    var batchSize = 64
    @Option(
        name: .customLong("length-penalty"), parsing: .unconditional,
        help:
            "α of GNMT's length normalisation of beam scores, log p / ((5 + |Y|) / 6)^α (0: raw log-probability; larger favours longer translations). Default: the run's generation_config.json's, else 0.6."
    )
    var lengthPenalty: Float?
    @Option(
        name: .customLong("attention-out"),
        help:
            "Also write the first sentence's attention maps here: LAYER.npy per layer ([heads, queries, keys] float32) and maps.json (tokens, layers, shapes)."
    )
    var attentionOut: String?
    @OptionGroup var output: JSONOutput

    func validate() throws {
        try checkBeam(beam)
        guard nBest >= 1 && nBest <= beam else {
            throw ValidationError("--n-best must be between 1 and --beam (\(beam))")
        }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be positive") }
        try checkLengthPenalty(lengthPenalty)
    }

    func run() throws {
        let translator = try RunTasks.load(
            trained.directory, as: Translator.self, weights: trained.weightsFile, verb: "attn translate",
            int8: trained.int8)
        let inputs = try text.isEmpty ? TextFile.standardInputLines() : text
        let results = translator.translate(
            inputs, beam: beam, nBest: nBest,
            lengthPenalty: try lengthPenalty ?? trained.directory.defaultLengthPenalty(), batchSize: batchSize)
        if let n = translator.unknownWordsNote(inputs) { FileHandle.standardError.write(Data((n + "\n").utf8)) }
        if let attentionOut, let first = inputs.first {
            try translator.writeAttention(of: first, to: URL(fileURLWithPath: attentionOut))
            FileHandle.standardError.write(Data("attention maps of \"\(first)\" in \(attentionOut)/maps.json\n".utf8))
        }
        for (i, r) in results.enumerated() {
            if output.json {
                output.emit(InferenceJSON.translation(source: inputs[i], hypotheses: r))
                continue
            }
            if inputs[i].trimmingCharacters(in: .whitespaces).isEmpty { print(""); continue }
            if nBest == 1 {
                print(r.first?.text ?? "")
            } else {
                for (k, h) in r.enumerated() { print("\(k + 1)\t\(String(format: "%.4f", h.score))\t\(h.text)") }
                print("")
            }
        }
    }
}

import ArgumentParser
import AttentionKit
import Foundation

/// `attn tune-decoding`.
struct TuneDecoding: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune-decoding",
        abstract:
            "Choose a translation run's weights and length penalty on its validation pairs (generation_config.json).",
        discussion: """
            Translates the run's validation pairs (--valid-source/--valid-target of its training, else the held-out \
            validation.source/validation.target it wrote) with --beam for each weights file it has (best, then \
            averaged) and each length penalty, and writes the best by cased BLEU as RUN/generation_config.json \
            (Hugging Face's file: num_beams, length_penalty, and our weights; every candidate's score beside). \
            `attn translate` and `attn evaluate` use them where --weights and --length-penalty are not given. \
            `attn train translation` does this after its last epoch. The pairs are those the best epoch was picked \
            on: report a score on other data. The last line is JSON: {"weights", "length_penalty", "num_beams", \
            "bleu", "pairs"}.
            """
    )
    @Option(help: "Run directory written by `attn train translation`.")
    var checkpoint: String
    @Option(parsing: .unconditional, help: "Beam size.")
    var beam = 5
    @Option(
        name: .customLong("length-penalties"), parsing: .unconditional,
        help: "Comma-separated length penalties to try (each in 0…5).")
    var lengthPenalties = Translator.tunedLengthPenalties.map { String(format: "%g", $0) }.joined(separator: ",")

    func validate() throws {
        try checkBeam(beam)
        _ = try alphas()
    }

    func alphas() throws -> [Float] {
        let parts = lengthPenalties.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.allSatisfy({ $0.map { $0.isFinite && (0...5).contains($0) } ?? false }) else {
            throw ValidationError(
                "--length-penalties must be comma-separated numbers in 0…5 (got \(lengthPenalties))")
        }
        return values.map { $0! }
    }

    func run() throws {
        let run = RunDirectory(path: checkpoint)
        _ = try RunTasks.load(run, as: Translator.self, weights: "best.safetensors", verb: "attn tune-decoding")
        guard
            let g = try Translator.tuneDecoding(run, beam: beam, lengthPenalties: try alphas(), log: { say($0) })
        else {
            throw RunDirectoryError(
                message:
                    "\(run.path): no validation pairs (no valid_source/valid_target in config.json, no validation.source/validation.target)"
            )
        }
        let best = g.chosenScore ?? 0
        say(
            String(
                format: "chose %@, length penalty %.1f: BLEU %.2f on %@; written to %@", g.weights, g.lengthPenalty,
                best, "\(g.pairs) pairs of " + g.chosenOn, run.file(GenerationConfig.fileName).path))
        say(
            JSONLine.object([
                ("weights", .string(g.weights)), ("length_penalty", .number(Double(g.lengthPenalty))),
                ("num_beams", .integer(g.numBeams)), ("bleu", .number(best)), ("pairs", .integer(g.pairs))
            ]).text)
    }
}

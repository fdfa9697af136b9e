import ArgumentParser
import AttentionKit
import Foundation

/// `attn generate`: continues a prompt with a trained language model, streaming the text.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with a trained language model (attn train lm).",
        discussion: """
            Continues --prompt by up to --max-new-tokens tokens, printed as they are drawn, with the model's key/value \
            cache: softmax of the logits divided by --temperature (0: greedy), restricted to the --top-k most probable \
            tokens and to the smallest set whose probability reaches --top-p. The same --seed gives the same text. \
            Characters of the prompt outside the vocabulary become [UNK] (a note says which). At the context length the \
            window slides (the cache restarts from the newest half; a note says so). With --num-samples N, N samples \
            follow one another, each after a line `--- sample K`. With --json nothing streams: one object per sample, \
            {"sample": K, "prompt": …, "text": …} (text: the generated continuation, without the prompt).
            """
    )
    @OptionGroup var trained: RunOptions
    @Option(help: "The text to continue.")
    var prompt = "\n"
    @Option(name: .customLong("max-new-tokens"), parsing: .unconditional, help: "Tokens to generate at most.")
    var maxNewTokens = 200
    @Option(parsing: .unconditional, help: "Sampling temperature (0: always the most probable token).")
    var temperature: Float = 1
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Sample among the k most probable tokens only.")
    var topK: Int?
    @Option(
        name: .customLong("top-p"), parsing: .unconditional,
        help: "Sample among the most probable tokens whose probability reaches p (0 < p ≤ 1).")
    var topP: Float?
    @Option(parsing: .unconditional, help: "Random seed of the sampling.")
    var seed: UInt64 = 0
    @Option(name: .customLong("num-samples"), parsing: .unconditional, help: "Independent samples, drawn together.")
    var numSamples = 1
    @OptionGroup var output: JSONOutput

    func validate() throws {
        guard maxNewTokens >= 1 && maxNewTokens <= 1_000_000 else {
            throw ValidationError("--max-new-tokens must be in 1...1000000")
        }
        guard temperature.isFinite && temperature >= 0 else {
            throw ValidationError("--temperature must be a finite number ≥ 0")
        }
        guard (topK ?? 1) >= 1 else { throw ValidationError("--top-k must be at least 1") }
        guard topP.map({ $0.isFinite && $0 > 0 && $0 <= 1 }) ?? true else {
            throw ValidationError("--top-p must be in (0, 1]")
        }
        guard numSamples >= 1 && numSamples <= 256 else { throw ValidationError("--num-samples must be in 1...256") }
    }

    func run() throws {
        let lm = try RunTasks.load(
            trained.directory, as: LanguageModel.self, weights: trained.weightsFile, verb: "attn generate",
            int8: trained.int8)
        let unknown = lm.encode(prompt).unknown
        if !unknown.isEmpty {
            note(
                "characters of --prompt outside the vocabulary became [UNK]: \(unknown.map { "\"\($0)\"" }.joined(separator: ", "))"
            )
        }
        let sampling = Sampling(temperature: temperature, topK: topK, topP: topP)
        let out = FileHandle.standardOutput
        // a backward model's text comes before the prompt, whole at the end
        let stream = numSamples == 1 && !output.json && !lm.backward
        if stream { out.write(Data(prompt.utf8)) }
        var slid = false
        let texts = try lm.generate(
            prompt, maxNewTokens: maxNewTokens, sampling: sampling, samples: numSamples, seed: seed,
            onSlide: { slid = true }, onText: { _, piece in if stream { out.write(Data(piece.utf8)) } })
        if output.json {
            for (k, t) in texts.enumerated() {
                output.emit(.object([("sample", .integer(k + 1)), ("prompt", .string(prompt)), ("text", .string(t))]))
            }
        } else if stream {
            out.write(Data("\n".utf8))
        } else {
            for (k, t) in texts.enumerated() { say("--- sample \(k + 1)"); say(lm.backward ? t + prompt : prompt + t) }
        }
        if slid {
            note("the context (\(lm.model.contextLength) tokens) filled up: the window slid, keeping the newest half")
        }
    }
}

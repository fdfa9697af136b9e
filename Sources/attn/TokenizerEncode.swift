import ArgumentParser
import AttentionKit
import Foundation

/// `attn tokenizer encode`: tokens, ids and offsets of a text, or of every line of standard input.
struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode", abstract: "Encode text with a tokenizer.json and print tokens, ids and byte offsets.",
        discussion: "Encodes TEXT, or without it every line of standard input. --json prints one JSON object per text: {\"text\", \"tokens\", \"ids\", \"offsets\"} (offsets as [start, end] byte pairs).")

    @Option(help: "A tokenizer.json (Hugging Face format).")
    var tokenizer: String
    @Argument(help: "The text to encode (default: each line of standard input).")
    var text: String?
    @Flag(help: "One JSON object per text instead of the readable block.")
    var json = false

    func run() throws {
        let t = try Tokenizer.load(from: URL(fileURLWithPath: tokenizer))
        let texts = try text.map { [$0] } ?? TextFile.standardInputLines()
        for (i, line) in texts.enumerated() {
            let e = t.encode(line, addSpecialTokens: false)
            if json {
                let object: [String: Any] = ["text": line, "tokens": e.tokens, "ids": e.ids, "offsets": e.offsets.map { [$0.lowerBound, $0.upperBound] }]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                say(String(decoding: data, as: UTF8.self))
                continue
            }
            if i > 0 { say("") }
            say("tokens:  " + e.tokens.map { "\"\($0)\"" }.joined(separator: " "))
            say("ids:     " + e.ids.map(String.init).joined(separator: " "))
            say("offsets: " + e.offsets.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: " "))
            say("decoded: " + t.decode(e.ids))
        }
    }
}

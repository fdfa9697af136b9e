import ArgumentParser
import AttentionKit
import Foundation

/// `attn tokenizer encode`: tokens, ids and offsets of a text, or of every line of standard input.
struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode", abstract: "Encode text with a tokenizer.json and print tokens, ids and byte offsets.",
        discussion:
            "Encodes TEXT, or without it (or with TEXT -) every line of standard input (`echo … | attn tokenizer encode --tokenizer T`). --json prints one JSON object per text: {\"text\", \"tokens\", \"ids\", \"offsets\"} (offsets as [start, end] byte pairs)."
    )

    @Option(help: "A tokenizer.json (Hugging Face format).")
    var tokenizer: String
    @Argument(help: "The text to encode (default: each line of standard input).")
    var text: String?
    @OptionGroup var output: JSONOutput

    func run() throws {
        let t = try Tokenizer.load(from: URL(fileURLWithPath: tokenizer))
        let texts = try text.flatMap { $0 == "-" ? nil : [$0] } ?? TextFile.standardInputLines()
        for (i, line) in texts.enumerated() {
            let e = t.encode(line, addSpecialTokens: false)
            if output.json {
                output.emit(
                    .object([
                        ("text", .string(line)), ("tokens", .array(e.tokens.map { .string($0) })),
                        ("ids", .array(e.ids.map { .integer($0) })),
                        ("offsets", .array(e.offsets.map { [.integer($0.lowerBound), .integer($0.upperBound)] }))
                    ]))
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

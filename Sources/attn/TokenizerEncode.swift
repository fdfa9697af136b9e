import ArgumentParser
import AttentionKit
import Foundation

/// `attn tokenizer encode`: tokens, ids and offsets of a text.
struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encode", abstract: "Encode text with a tokenizer.json and print tokens, ids and byte offsets.")

    @Option(help: "A tokenizer.json (Hugging Face format).")
    var tokenizer: String
    @Argument(help: "The text to encode.")
    var text: String

    func run() throws {
        let t = try Tokenizer.load(from: URL(fileURLWithPath: tokenizer))
        let e = t.encode(text, addSpecialTokens: false)
        say("tokens:  " + e.tokens.map { "\"\($0)\"" }.joined(separator: " "))
        say("ids:     " + e.ids.map(String.init).joined(separator: " "))
        say("offsets: " + e.offsets.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: " "))
        say("decoded: " + t.decode(e.ids))
    }
}

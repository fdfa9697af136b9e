// tokenizers: trains a byte-level BPE tokenizer and a word-level one on a text file, encodes a sentence with each
// (tokens, ids, byte offsets), pads a batch with attention masks, saves Hugging Face tokenizer.json files and loads
// one back. Usage: swift run -c release tokenizers [TEXT_FILE] [OUT_DIR]
//   (default: corpora/multi30k-sample/train.en, runs/tokenizers)
import AttentionKit
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
let file = args.first ?? "corpora/multi30k-sample/train.en"
let out = URL(fileURLWithPath: args.count > 1 ? args[1] : "runs/tokenizers")
do {
    // TextFile decodes UTF-8 and reports every invalid byte with its offset instead of failing
    let lines = try TextFile.lines(of: URL(fileURLWithPath: file)).map(\.text).filter { !$0.isEmpty }
    print("\(lines.count) lines from \(file)")
    let bpe = TokenizerRecipe.byteLevelBPE(vocabularySize: 800).train(on: lines)
    let words = TokenizerRecipe.wordLevel(lowercase: true, minFrequency: 2).train(on: lines)
    print("BPE: \(bpe.vocabularySize) tokens; word level: \(words.vocabularySize) words seen at least twice")

    let sentence = "Two young children are playing with a red ball near the fountain."
    for (name, t) in [("BPE", bpe), ("words", words)] {
        let e = t.encode(sentence, addSpecialTokens: false)
        print("\n\(name): \(e.tokens.count) tokens")
        print("  tokens:  " + e.tokens.joined(separator: " "))
        print("  ids:     " + e.ids.map(String.init).joined(separator: " "))
        print(
            "  offsets: " + e.offsets.prefix(6).map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: " ")
                + " …")
        print("  decoded: " + t.decode(e.ids))
    }

    // a batch, padded to its longest text, with the attention mask a model uses to ignore the padding
    let batch = bpe.encodeBatch(["a dog runs", "two dogs play in the snow"], padding: .longest)
    for e in batch { print("\nids \(e.ids)\nmask \(e.attentionMask)") }

    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let path = out.appendingPathComponent("bpe-tokenizer.json")
    try bpe.save(to: path)  // Hugging Face's format: tokenizers.Tokenizer.from_file reads it
    try words.save(to: out.appendingPathComponent("word-tokenizer.json"))
    let reloaded = try Tokenizer.load(from: path)
    print(
        "\nsaved \(path.path); loaded back: the same ids: \(reloaded.encode(sentence).ids == bpe.encode(sentence).ids)")
} catch {
    print("tokenizers: \(error)")
    exit(1)
}

// sentence-attention: translates one sentence with a trained run and reads its attention maps from code: for each
// output word, the source word the last decoder layer's cross-attention (mean over heads) weighs most.
// Usage: swift run -c release sentence-attention RUN_DIR "sentence"
import AttentionKit
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
guard args.count == 2 else {
    print("usage: sentence-attention RUN_DIR SENTENCE")
    exit(2)
}
do {
    let t = try Translator.load(from: URL(fileURLWithPath: args[0]))
    let source = t.sourceIDs(args[1])  // tokens + EOS
    let (hypotheses, maps) = withAttentionCapture(on: t.model) { t.model.greedyDecode([source], maxLength: 40) }
    let output = hypotheses[0].tokens + [t.model.spec.eosID]
    print("translation: \(t.detokenize(t.targetTokenizer.decode(hypotheses[0].tokens)))")
    print("captured: " + maps.paths.joined(separator: ", "))
    // the last layer's attention over the source (a transformer's last cross-attention, or a recurrent decoder's)
    let last = maps.paths.last { $0.hasSuffix("crossAttention") || $0 == "attention" }!
    let cross = maps[last]!.mean(axis: 1)  // [1, output steps, source tokens]
    for (i, id) in output.enumerated() {
        let row = (0..<source.count).map { cross[0, i, $0] }
        let j = row.indices.max { row[$0] < row[$1] }!
        let word = t.targetTokenizer.token(of: id) ?? "?", src = t.sourceTokenizer.token(of: source[j]) ?? "?"
        print(String(format: "  %-14@ ← %-14@ (%.2f)", word, src, row[j]))
    }
} catch {
    print("sentence-attention: \(error)")
    exit(1)
}

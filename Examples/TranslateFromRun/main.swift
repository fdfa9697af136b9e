// translate-from-run: loads a translator that `attn train translation` wrote and translates its arguments.
// Usage: swift run -c release translate-from-run RUN_DIR "sentence" ["sentence" …]
import AttentionKit
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
guard args.count >= 2 else {
    print("usage: translate-from-run RUN_DIR SENTENCE [SENTENCE …]")
    exit(2)
}
do {
    let translator = try Translator.load(from: URL(fileURLWithPath: args[0]))  // best.safetensors + both tokenizers
    let results = translator.translate(Array(args.dropFirst()), beam: 5, nBest: 2)
    for (sentence, hypotheses) in zip(args.dropFirst(), results) {
        print(sentence)
        for h in hypotheses { print(String(format: "  %7.3f  %@", h.score, h.text)) }
    }
} catch {
    print("translate-from-run: \(error)")
    exit(1)
}

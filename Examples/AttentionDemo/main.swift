// attention-demo: trains a small encoder-decoder transformer to reverse digit sequences, then decodes with beam
// search and prints the decoder's cross-attention as a text heatmap — reversal shows up as an anti-diagonal.
// Usage: swift run -c release attention-demo [steps] [seed]      (defaults: 400 steps, seed 0; about 10 s)
import AttentionKit
import Foundation

let args = CommandLine.arguments.dropFirst().map { Int($0) }
guard args.allSatisfy({ $0 != nil && $0! > 0 }) else {
    print("usage: attention-demo [steps] [seed]   (positive integers)")
    exit(2)
}
let steps = args.first.flatMap { $0 } ?? 400
let seed = UInt64(args.dropFirst().first.flatMap { $0 } ?? 0)

// vocabulary: 0 pad, 1 BOS, 2 EOS, 3…12 the digits 0…9
let (pad, bos, eos) = (0, 1, 2)
func text(_ ids: [Int]) -> String { ids.map { String($0 - 3) }.joined(separator: " ") }

var g = RandomGenerator(seed: seed)
var config = Seq2SeqConfig(sourceVocabulary: 13, targetVocabulary: 13)
config.dModel = 64; config.heads = 4; config.encoderLayers = 2; config.decoderLayers = 2; config.feedForward = 128
config.dropout = 0; config.maxLength = 16; config.sharedEmbeddings = true; config.tieOutput = true
let model = Seq2SeqTransformer(config, using: &g)
let optimizer = AdamW(parameters: model.parameters, learningRate: 1e-3, weightDecay: 0.01)
print("model: \(model.parameterCount()) parameters (shared, tied embeddings)")

/// A batch of random digit strings (length 3…8), right-padded: source, decoder input (BOS + reversed), targets.
func batch(_ size: Int, using g: inout RandomGenerator) -> (source: [[Int]], input: [[Int]], target: [Int]) {
    var src: [[Int]] = [], inp: [[Int]] = [], tgt: [[Int]] = []
    for _ in 0..<size {
        let n = 3 + Int(g.next() % 6)
        let digits = (0..<n).map { _ in 3 + Int(g.next() % 10) }
        src.append(digits + [eos])
        inp.append([bos] + digits.reversed())
        tgt.append(digits.reversed() + [eos])
    }
    func padded(_ rows: [[Int]]) -> [[Int]] {
        let t = rows.map(\.count).max()!
        return rows.map { $0 + Array(repeating: pad, count: t - $0.count) }
    }
    return (padded(src), padded(inp), padded(tgt).flatMap { $0 })
}

for step in 1...steps {
    let (src, inp, tgt) = batch(32, using: &g)
    let logits = model(source: src, targetInput: inp)  // [B, T, V]
    let loss = Loss.crossEntropy(logits.reshape([-1, 13]), tgt, ignoreIndex: pad)
    optimizer.zeroGrad()
    loss.backward()
    do { try clipGradientNorm(model.parameters, maxNorm: 1, step: step) } catch {
        print("attention-demo: \(error)")
        exit(1)
    }
    optimizer.step()
    if step % 50 == 0 || step == 1 { print("step \(step)  loss \(String(format: "%.4f", loss.item()))") }
}

model.eval()
let example = [3 + 4, 3 + 1, 3 + 7, 3 + 0, 3 + 9, 3 + 2, eos]  // 4 1 7 0 9 2
print("\nsource:  \(text(Array(example.dropLast())))")
let nBest = model.beamSearch([example], beamSize: 4, maxLength: 12, lengthPenalty: 0.6, nBest: 3)[0]
for (i, h) in nBest.enumerated() {
    print(
        "beam \(i + 1):  \(text(h.tokens))   score \(String(format: "%.3f", h.score))  log P \(String(format: "%.3f", h.logProbability))"
    )
}

// cross-attention of the last decoder layer while decoding greedily, averaged over heads
let (hyp, maps) = withAttentionCapture(on: model) { model.greedyDecode([example], maxLength: 12) }
let cross = maps["decoder.layers.1.crossAttention"]!.mean(axis: 1)  // [1, steps, source]
let shades = [" ", "░", "▒", "▓", "█"]
print("\ncross-attention (decoder.layers.1, mean over heads); rows: output tokens, columns: source tokens")
print("      " + example.map { $0 == eos ? "EOS" : " \($0 - 3) " }.joined())
let outputs = hyp[0].tokens + [eos]
for (r, tok) in outputs.enumerated() {
    let row = (0..<example.count).map { c -> String in
        let w = cross[0, r, c]
        return " " + shades[min(4, Int(w * 5))] + " "
    }.joined()
    print((tok == eos ? " EOS " : "  \(tok - 3)  ") + " " + row)
}

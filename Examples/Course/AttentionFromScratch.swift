import AttentionKit
import Foundation

/// Lesson 4: attention from scratch — scores, softmax, a weighted sum of values — then the library's fused op and
/// multi-head attention, whose per-head maps `withAttentionCapture` returns.
enum AttentionFromScratch {
    static func run() throws {
        // 1. Queries, keys and values: one row per token (4 tokens, width 8). In a model they are three linear
        //    projections of the same token vectors; here they are random.
        var rng = RandomGenerator(seed: 0)
        let (tokens, width) = (4, 8)
        let q = Tensor.normal([tokens, width], using: &rng)
        let k = Tensor.normal([tokens, width], using: &rng)
        let v = Tensor.normal([tokens, width], using: &rng)

        // 2. Scores: how well each query matches each key — dot products, divided by √width so that they do not
        //    grow with the width and saturate the softmax.
        let scores = q.matmul(k, transposeB: true) / Float(width).squareRoot()  // [4, 4]

        // 3. Softmax over the keys: each row becomes weights that are positive and sum to 1.
        let weights = scores.softmax(axis: -1)
        for i in 0..<tokens {
            print(
                "token \(i) attends: "
                    + (0..<tokens).map { String(format: "%.2f", weights[i, $0]) }.joined(separator: " "))
        }

        // 4. The output: each token's weighted average of the values.
        let output = weights.matmul(v)  // [4, 8]

        // 5. The library's fused op computes the same (with batch and head dimensions: [1, 1, tokens, width]).
        let (fused, _) = scaledDotProductAttention(
            q.reshape([1, 1, tokens, width]), k.reshape([1, 1, tokens, width]),
            v.reshape([1, 1, tokens, width]))
        print("largest difference from the fused op: \((fused.reshape([tokens, width]) - output).abs().max().item())")

        // 6. Multi-head attention: project the tokens into 2 heads of width 4, attend in each, concatenate, project
        //    back. A causal mask lets token i see only tokens 0…i (what a decoder needs).
        let attention = MultiHeadAttention(dModel: width, heads: 2, using: &rng)
        attention.eval()
        let x = Tensor.normal([1, tokens, width], using: &rng)  // [batch, tokens, width]
        let (y, maps) = withAttentionCapture(on: attention) { attention(x, mask: AttentionMask(causal: true)) }
        let perHead = maps.entries[0].weights  // [1, heads, tokens, tokens]
        print("output \(y.shape), maps \(perHead.shape)")
        for head in 0..<2 {
            print(
                "head \(head), last token attends: "
                    + (0..<tokens).map { String(format: "%.2f", perHead[0, head, tokens - 1, $0]) }.joined(
                        separator: " "))
        }
    }
}

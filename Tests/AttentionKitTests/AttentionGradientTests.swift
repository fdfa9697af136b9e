import XCTest

@testable import AttentionKit

/// Finite-difference gradient checks in Double for the fused attention op (every mask kind, a fully masked row,
/// dropout), multi-head attention, encoder and decoder layers and the patch embedding.
final class AttentionGradientTests: XCTestCase {
    /// Central differences on every element of `leaves` (float64 tensors used directly by `loss`), compared with
    /// backward(): |analytic − numeric| ≤ 1e-7 + 1e-5·|numeric| (see `gradCheck` in Helpers for the reasoning).
    func check(
        _ name: String, _ leaves: [Tensor], file: StaticString = #filePath, line: UInt = #line, _ output: () -> Tensor
    ) {
        for t in leaves { t.zeroGrad() }
        let y = output()
        var rng = RandomGenerator(seed: 99)
        let w = Tensor(doubles: (0..<y.count).map { _ in rng.nextUnit() * 2 - 1 }, shape: y.shape)
        (y * w).sum().backward()
        func value() -> Double { withNoGrad { (output() * w).sum().itemDouble() } }
        for (i, x) in leaves.enumerated() {
            let analytic = x.grad?.doubles ?? [Double](repeating: 0, count: x.count)
            var numeric = [Double](repeating: 0, count: x.count)
            for k in 0..<x.count {
                let orig = x.doubles[k]
                x.setDouble(k, orig + 1e-6); let plus = value()
                x.setDouble(k, orig - 1e-6); let minus = value()
                x.setDouble(k, orig)
                numeric[k] = (plus - minus) / 2e-6
            }
            assertClose(
                analytic, numeric, atol: 1e-7, rtol: 1e-5, "\(name): leaf \(i) \(x.shape)", file: file, line: line)
        }
    }

    func leaf(_ shape: [Int], seed: UInt64) -> Tensor { rand(shape, -1, 1, seed: seed).requiringGrad() }

    func testFusedOpEveryMaskKind() {
        let (b, h, tq, tk, d) = (2, 2, 3, 4, 3)
        let q = leaf([b, h, tq, d], seed: 1), k = leaf([b, h, tk, d], seed: 2), v = leaf([b, h, tk, 2], seed: 3)
        check("no mask", [q, k, v]) { scaledDotProductAttention(q, k, v).output }
        check("key padding", [q, k, v]) {
            scaledDotProductAttention(q, k, v, mask: .keyLengths([4, 2], keyLength: tk)).output
        }
        check("causal, Tq < Tk (aligned to the end)", [q, k, v]) {
            scaledDotProductAttention(q, k, v, mask: AttentionMask(causal: true)).output
        }
        let add2 = Tensor((0..<(tq * tk)).map { Float($0 % 3) * 0.3 - 0.2 }, shape: [tq, tk])
        check("additive [Tq, Tk]", [q, k, v]) {
            scaledDotProductAttention(q, k, v, mask: AttentionMask(additive: add2)).output
        }
        let add4 = Tensor(
            (0..<(b * h * tq * tk)).map { $0 % 5 == 0 ? -Float.infinity : Float($0 % 7) * 0.1 }, shape: [b, h, tq, tk])
        check("additive [B, H, Tq, Tk] with −∞", [q, k, v]) {
            scaledDotProductAttention(q, k, v, mask: AttentionMask(additive: add4)).output
        }
        check("causal + padding + additive", [q, k, v]) {
            scaledDotProductAttention(
                q, k, v,
                mask: AttentionMask(
                    keyPadding: AttentionMask.keyLengths([3, 4], keyLength: tk).keyPadding,
                    causal: true, additive: add2)
            ).output
        }
        check("scale 0.5", [q, k, v]) { scaledDotProductAttention(q, k, v, scale: 0.5).output }
    }

    func testFullyMaskedRowGivesZeroOutputAndGradients() {
        let q = leaf([2, 2, 3, 3], seed: 4), k = leaf([2, 2, 4, 3], seed: 5), v = leaf([2, 2, 4, 3], seed: 6)
        let mask = AttentionMask(keyPadding: [true, true, true, true, false, false, true, true])  // sentence 0: no keys
        let (out, weights) = scaledDotProductAttention(q, k, v, mask: mask)
        XCTAssertFalse(out.doubles.contains { $0.isNaN }, "no NaN")
        XCTAssertEqual(
            Array(out.doubles.prefix(2 * 3 * 3)), [Double](repeating: 0, count: 18), "masked sentence outputs 0")
        XCTAssertEqual(
            Array(weights.doubles.prefix(2 * 3 * 4)), [Double](repeating: 0, count: 24), "masked rows' weights are 0")
        out.sum().backward()
        XCTAssertFalse(q.grad!.doubles.contains { $0.isNaN } || k.grad!.doubles.contains { $0.isNaN })
        XCTAssertEqual(Array(q.grad!.doubles.prefix(18)), [Double](repeating: 0, count: 18), "zero query gradient")
        check("fully masked sentence", [q, k, v]) { scaledDotProductAttention(q, k, v, mask: mask).output }
        let rowMask = Tensor(
            [0, 0, -Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity, 0, -1, 0, 0, 0, 0], shape: [3, 4]
        )
        check("one fully masked row (additive)", [q, k, v]) {
            scaledDotProductAttention(q, k, v, mask: AttentionMask(additive: rowMask)).output
        }
    }

    func testAttentionDropoutWithFixedMask() {
        let q = leaf([1, 2, 3, 2], seed: 7), k = leaf([1, 2, 4, 2], seed: 8), v = leaf([1, 2, 4, 2], seed: 9)
        check("attention dropout 0.3", [q, k, v]) {
            var g: RandomGenerator? = RandomGenerator(seed: 3)  // the same mask on every call
            return scaledDotProductAttention(q, k, v, dropout: 0.3, generator: &g).output
        }
        var g: RandomGenerator? = RandomGenerator(seed: 3)
        let out = scaledDotProductAttention(q, k, v, dropout: 0.3, generator: &g).output
        XCTAssertNotEqual(out.doubles, scaledDotProductAttention(q, k, v).output.doubles, "dropout changes the output")
    }

    /// Checks the module's parameters and the given inputs (all converted to float64).
    func checkModule(
        _ name: String, _ module: some Module, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line,
        _ output: () -> Tensor
    ) {
        module.to(.float64)
        check(name, inputs + module.parameters, file: file, line: line, output)
    }

    func testMultiHeadAttentionSelfAndCross() {
        var g = RandomGenerator(seed: 1)
        let x = leaf([2, 3, 8], seed: 10), m = leaf([2, 4, 8], seed: 11)
        let packed = MultiHeadAttention(dModel: 8, heads: 2, using: &g)
        for p in packed.parameters { p.assign(rand(p.shape, -0.6, 0.6, seed: UInt64(p.count)).to(.float32)) }
        checkModule("MHA self (packed, one GEMM)", packed, [x]) { packed(x, mask: .keyLengths([3, 2], keyLength: 3)) }
        checkModule("MHA cross (packed)", packed, [x, m]) {
            packed(query: x, key: m, value: m, mask: .keyLengths([4, 2], keyLength: 4)).output
        }
        let separate = MultiHeadAttention(dModel: 8, heads: 2, keyDim: 6, valueDim: 5, using: &g)
        let k = leaf([2, 4, 6], seed: 12), v = leaf([2, 4, 5], seed: 13)
        checkModule("MHA cross (separate, other widths)", separate, [x, k, v]) {
            separate(query: x, key: k, value: v).output
        }
    }

    func layerConfig(normFirst: Bool) -> TransformerLayerConfig {
        TransformerLayerConfig(
            dModel: 8, heads: 2, feedForward: 12, dropout: 0, activation: normFirst ? .gelu : .relu,
            normFirst: normFirst)
    }

    func testEncoderAndDecoderLayersPreAndPostNorm() {
        for pre in [false, true] {
            var g = RandomGenerator(seed: 2)
            let enc = TransformerEncoderLayer(layerConfig(normFirst: pre), using: &g)
            let x = leaf([2, 3, 8], seed: 20)
            checkModule("encoder layer normFirst=\(pre)", enc, [x]) { enc(x, mask: .keyLengths([3, 2], keyLength: 3)) }
            let dec = TransformerDecoderLayer(layerConfig(normFirst: pre), using: &g)
            let y = leaf([2, 3, 8], seed: 21), m = leaf([2, 4, 8], seed: 22)
            checkModule("decoder layer normFirst=\(pre)", dec, [y, m]) {
                dec(
                    y, memory: m, targetMask: AttentionMask(causal: true), memoryMask: .keyLengths([4, 3], keyLength: 4)
                )
            }
        }
    }

    func testPatchEmbedding() {
        var g = RandomGenerator(seed: 3)
        let pe = PatchEmbedding(channels: 2, dModel: 3, patchSize: 2, using: &g)
        let img = leaf([2, 2, 4, 4], seed: 30)
        checkModule("patch embedding", pe, [img]) { pe(img) }
    }
}

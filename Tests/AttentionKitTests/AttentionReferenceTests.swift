import Foundation
import XCTest

@testable import AttentionKit

/// Attention layers against PyTorch (`nn.MultiheadAttention`, `nn.TransformerEncoderLayer`/`DecoderLayer`,
/// `nn.Transformer`) and timm's ViT on `Fixtures/attention/*.safetensors`, written by
/// `Fixtures/generate_attention_fixtures.py`. Weights come in through `PyTorchWeights` (the users' import path).
/// Tolerance: |ours − torch| ≤ 1e-5 + 1e-4·|torch| on outputs, attention weights, input and parameter gradients.
final class AttentionReferenceTests: XCTestCase {
    static let dir = fixturesDirectory.appendingPathComponent("attention")

    func fixture(_ name: String) throws -> [String: Tensor] {
        try Safetensors.read(from: Self.dir.appendingPathComponent(name + ".safetensors")).tensors
    }

    func close(_ a: Tensor, _ b: Tensor?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let b else { return XCTFail("\(what): missing reference", file: file, line: line) }
        XCTAssertEqual(a.shape, b.shape, "\(what): shape", file: file, line: line)
        assertClose(a.doubles, b.doubles, atol: 1e-5, rtol: 1e-4, what, file: file, line: line)
    }

    /// Loads the `w.` tensors into `model` under `rename`, returns the fixture.
    func load(_ name: String, into model: some Module, rename: (String) -> String = PyTorchWeights.transformerName)
        throws -> [String: Tensor]
    {
        let f = try fixture(name)
        var w: [String: Tensor] = [:]
        for (k, v) in f where k.hasPrefix("w.") { w[String(k.dropFirst(2))] = v }
        try PyTorchWeights.load(w, into: model, rename: rename, source: name)
        return f
    }

    /// Compares every `grad.<torch name>` with our parameter's gradient.
    func checkParameterGradients(
        _ f: [String: Tensor], _ model: some Module, rename: (String) -> String = PyTorchWeights.transformerName,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let ours = Dictionary(
            model.namedParameters(removeDuplicates: false).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }
        )
        var checked = 0
        for (k, ref) in f where k.hasPrefix("grad.") {
            let torchName = String(k.dropFirst(5))
            let name = rename(torchName)
            if let p = ours[name] {
                close(p.grad ?? Tensor.zeros(like: p), ref, "grad \(torchName)", file: file, line: line)
            } else if name.hasSuffix("inProjection.bias") {  // split biases of separate projections
                let stem = String(name.dropLast("inProjection.bias".count))
                let parts = ["query", "key", "value"].map { ours[stem + $0 + ".bias"]!.grad! }
                close(Tensor.concat(parts), ref, "grad \(torchName)", file: file, line: line)
            } else {
                XCTFail("no parameter for \(torchName) → \(name)", file: file, line: line)
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 0, "no parameter gradients in the fixture", file: file, line: line)
    }

    func padding(_ f: [String: Tensor]) -> [Bool] { f["kpm"]!.scalars.map { $0 != 0 } }

    func leaf(_ f: [String: Tensor], _ k: String) -> Tensor { f[k]!.copy().requiringGrad() }

    func testMultiheadAttentionSelfWithKeyPaddingAveragedWeights() throws {
        var g = RandomGenerator(seed: 0)
        let mha = MultiHeadAttention(dModel: 16, heads: 4, using: &g)
        let f = try load("mha_self_padding", into: mha)
        let x = leaf(f, "x")
        let (y, w) = mha(query: x, key: x, value: x, mask: AttentionMask(keyPadding: padding(f)), needWeights: true)
        close(y, f["y"], "output")
        close(w!, f["attn"], "averaged weights")
        y.backward(f["g"]!)
        close(x.grad!, f["dx"], "dx")
        checkParameterGradients(f, mha)
    }

    func testMultiheadAttentionCausalPerHeadWeights() throws {
        var g = RandomGenerator(seed: 0)
        let mha = MultiHeadAttention(dModel: 16, heads: 4, using: &g)
        let f = try load("mha_self_causal", into: mha)
        let x = leaf(f, "x")
        let (y, w) = mha(
            query: x, key: x, value: x, mask: AttentionMask(causal: true), needWeights: true, averageWeights: false)
        close(y, f["y"], "output")
        close(w!, f["attn"], "per-head weights")
        y.backward(f["g"]!)
        close(x.grad!, f["dx"], "dx")
        checkParameterGradients(f, mha)
    }

    func testMultiheadAttentionCross() throws {
        var g = RandomGenerator(seed: 0)
        let mha = MultiHeadAttention(dModel: 16, heads: 4, using: &g)
        let f = try load("mha_cross", into: mha)
        let q = leaf(f, "x"), m = leaf(f, "memory")
        let y = mha(query: q, key: m, value: m, mask: AttentionMask(keyPadding: padding(f))).output
        close(y, f["y"], "output")
        y.backward(f["g"]!)
        close(q.grad!, f["dx"], "dquery")
        close(m.grad!, f["dmemory"], "dmemory")
        checkParameterGradients(f, mha)
    }

    func testMultiheadAttentionOtherKeyAndValueWidths() throws {
        var g = RandomGenerator(seed: 0)
        let mha = MultiHeadAttention(dModel: 16, heads: 4, keyDim: 12, valueDim: 10, using: &g)
        let f = try load("mha_kdim_vdim", into: mha)
        let q = leaf(f, "x"), k = leaf(f, "key"), v = leaf(f, "value")
        let (y, w) = mha(query: q, key: k, value: v, needWeights: true)
        close(y, f["y"], "output")
        close(w!, f["attn"], "weights")
        y.backward(f["g"]!)
        close(q.grad!, f["dx"], "dquery")
        close(k.grad!, f["dkey"], "dkey")
        close(v.grad!, f["dvalue"], "dvalue")
        checkParameterGradients(f, mha)
    }

    func config(normFirst: Bool) -> TransformerLayerConfig {
        TransformerLayerConfig(
            dModel: 16, heads: 4, feedForward: 32, dropout: 0, activation: normFirst ? .gelu : .relu,
            normFirst: normFirst)
    }

    func testEncoderLayerPostAndPreNorm() throws {
        for (tag, pre) in [("post", false), ("pre", true)] {
            var g = RandomGenerator(seed: 0)
            let layer = TransformerEncoderLayer(config(normFirst: pre), using: &g)
            let f = try load("encoder_layer_\(tag)", into: layer)
            let x = leaf(f, "x")
            let y = layer(x, mask: AttentionMask(keyPadding: padding(f)))
            close(y, f["y"], "\(tag) output")
            y.backward(f["g"]!)
            close(x.grad!, f["dx"], "\(tag) dx")
            checkParameterGradients(f, layer)
        }
    }

    func testDecoderLayerPostAndPreNorm() throws {
        for (tag, pre) in [("post", false), ("pre", true)] {
            var g = RandomGenerator(seed: 0)
            let layer = TransformerDecoderLayer(config(normFirst: pre), using: &g)
            let f = try load("decoder_layer_\(tag)", into: layer)
            let x = leaf(f, "x"), m = leaf(f, "memory")
            let y = layer(
                x, memory: m, targetMask: AttentionMask(causal: true), memoryMask: AttentionMask(keyPadding: padding(f))
            )
            close(y, f["y"], "\(tag) output")
            y.backward(f["g"]!)
            close(x.grad!, f["dx"], "\(tag) dx")
            close(m.grad!, f["dmemory"], "\(tag) dmemory")
            checkParameterGradients(f, layer)
        }
    }

    func testFullTransformer() throws {
        var g = RandomGenerator(seed: 0)
        let model = Transformer(config(normFirst: false), encoderLayers: 2, decoderLayers: 2, using: &g)
        let f = try load("transformer", into: model)
        let tgt = leaf(f, "x"), src = leaf(f, "memory")
        let pad = AttentionMask(keyPadding: padding(f))
        let y = model(
            source: src, target: tgt, sourceMask: pad, targetMask: AttentionMask(causal: true), memoryMask: pad)
        close(y, f["y"], "output")
        y.backward(f["g"]!)
        close(tgt.grad!, f["dx"], "dtarget")
        close(src.grad!, f["dmemory"], "dsource")
        checkParameterGradients(f, model)
    }

    func testTimmVisionTransformer() throws {
        var c = ViTConfig()
        c.imageSize = 16; c.patchSize = 4; c.classes = 5; c.dModel = 32; c.depth = 2; c.heads = 4; c.mlpRatio = 2;
        c.dropPath = 0
        var g = RandomGenerator(seed: 0)
        let vit = VisionTransformer(config: c, using: &g)
        let f = try load("vit_timm", into: vit, rename: PyTorchWeights.timmViTName)
        let x = leaf(f, "x")
        let y = vit(x)
        close(y, f["y"], "logits")
        y.backward(f["g"]!)
        close(x.grad!, f["dx"], "dimages")
        checkParameterGradients(f, vit, rename: PyTorchWeights.timmViTName)
    }

    func testSinusoidalTableEqualsTheTutorials() throws {
        let f = try fixture("sinusoidal")
        assertClose(
            sinusoidalTable(length: 50, dim: 16).doubles, f["pe"]!.doubles, atol: 2e-6, rtol: 1e-5, "sinusoidal table")
    }

    func testImportErrorsListEveryProblem() throws {
        var g = RandomGenerator(seed: 0)
        let mha = MultiHeadAttention(dModel: 16, heads: 4, using: &g)
        var w: [String: Tensor] = [:]
        for (k, v) in try fixture("mha_cross") where k.hasPrefix("w.") { w[String(k.dropFirst(2))] = v }
        w["out_proj.bias"] = nil
        w["in_proj_weight"] = Tensor.zeros([48, 8])
        w["extra.thing"] = Tensor.zeros([1])
        XCTAssertThrowsError(
            try PyTorchWeights.load(w, into: mha, rename: PyTorchWeights.transformerName, source: "model.safetensors")
        ) { e in
            let text = String(describing: e)
            XCTAssertTrue(text.contains("model.safetensors"), text)
            XCTAssertTrue(text.contains("missing (1): outProjection.bias"), text)
            XCTAssertTrue(text.contains("unexpected (1): extra.thing"), text)
            XCTAssertTrue(
                text.contains("in_proj_weight → inProjection.weight: [48, 8] in the file, expected [48, 16]"), text)
        }
    }
}

import CKernels
import XCTest

@testable import AttentionKit

/// The packed-weight inference GEMM (`PackedMatrix`, Sources/CKernels/packed_gemm.c): against a float64 reference
/// on shapes around every tile and panel edge; the same bits for any row count, column split and panel width; and
/// `Linear`, attention and whole models computing with it as they do without it.
final class PackedGEMMTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(PackedMatrix.width > 0, "this CPU has no packed kernel (AVX2 + FMA): the BLAS path runs")
    }

    func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = RandomGenerator(seed: seed)
        return Tensor.normal(shape, using: &g)
    }

    /// x·Wᵀ + b in float64.
    func reference(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> [Double] {
        let m = x.count / w.shape[1], n = w.shape[0], k = w.shape[1]
        let xs = x.doubles, ws = w.doubles, bs = b?.doubles
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = bs?[j] ?? 0
                for kk in 0..<k { s += xs[i * k + kk] * ws[j * k + kk] }
                out[i * n + j] = s
            }
        }
        return out
    }

    func testProductMatchesFloat64OnEveryTileEdge() throws {
        // rows around the 12- and 6-row tiles and the few-row multi-panel tiles; outputs around 16/32-wide panels
        for (m, n, k) in [
            (1, 1, 1), (1, 384, 128), (2, 100, 64), (3, 33, 7), (4, 64, 16), (5, 8000 / 50, 256), (6, 17, 9),
            (7, 31, 40), (11, 96, 5), (12, 32, 32), (13, 77, 33), (25, 130, 20), (65, 384, 128)
        ] {
            for withBias in [false, true] {
                let x = random([m, k], seed: UInt64(m * 1000 + n)), w = random([n, k], seed: UInt64(n * 7 + k))
                let b = withBias ? random([n], seed: 3) : nil
                let p = try XCTUnwrap(PackedMatrix(packing: w))
                let y = p.product(x, bias: b)
                XCTAssertEqual(y.shape, [m, n])
                // float32 products summed in order: error ≲ k·2⁻²⁴·Σ|x·w|
                assertClose(y.doubles, reference(x, w, b), atol: 2e-5 * Double(k), rtol: 1e-5, "m \(m) n \(n) k \(k)")
            }
        }
    }

    func testBitsDoNotDependOnRowsSplitsOrWidth() throws {
        let m = 29, n = 200, k = 48
        let x = random([m, k], seed: 11), w = random([n, k], seed: 12), b = random([n], seed: 13)
        let p = try XCTUnwrap(PackedMatrix(packing: w))
        let whole = p.product(x, bias: b).scalars
        // one row at a time: the few-row tiles give what the 12-row tiles gave
        for i in [0, 5, 12, 28] {
            let row = p.product(x.slice(axis: 0, start: i, end: i + 1), bias: b).scalars
            XCTAssertEqual(row, Array(whole[(i * n)..<((i + 1) * n)]), "row \(i)")
        }
        // a column range on a panel boundary
        let lo = p.width * 2
        let part = p.product(x, outputs: lo..<n, bias: b.slice(axis: 0, start: lo, end: n)).scalars
        for i in 0..<m {
            XCTAssertEqual(
                Array(part[(i * (n - lo))..<((i + 1) * (n - lo))]), Array(whole[(i * n + lo)..<((i + 1) * n)]))
        }
        // the threads split the columns: the same bits on one thread
        var single = [Float](repeating: 0, count: m * n)
        single.withUnsafeMutableBufferPointer {
            ak_gemm_packed(
                m, 0, n, k, x.storage.pointer(Float.self), k, p.data, p.width, b.storage.pointer(Float.self),
                $0.baseAddress, n)
        }
        XCTAssertEqual(single, whole)
        // AVX-512 panels of 32 and AVX2 panels of 16: the same chain of fused multiply-adds per output
        if p.width == 32 {
            let narrow = try XCTUnwrap(PackedMatrix(packing: w, width: 16))
            XCTAssertEqual(narrow.product(x, bias: b).scalars, whole)
        }
        XCTAssertFalse(p.canCompute(outputs: 1..<n), "a range must start on a panel")
    }

    func testLinearComputesWithItsPackedWeightAndDropsItWhenTraining() throws {
        var g = RandomGenerator(seed: 21)
        let layer = Linear(48, 70, using: &g)
        let x = random([3, 5, 48], seed: 22)
        let plain = withNoGrad { layer(x) }
        XCTAssertEqual(WeightPacking.pack(layer), 1)
        XCTAssertTrue(WeightPacking.isPacked(layer))
        let packed = withNoGrad { layer(x) }
        XCTAssertEqual(packed.shape, [3, 5, 70])
        assertClose(packed.doubles, plain.doubles, atol: 1e-5, rtol: 1e-5)
        XCTAssertNotEqual(packed.scalars, plain.scalars, "the packed kernel ran (its rounding differs from OpenBLAS's)")
        // a forward that records gradients drops the copy: the weights may change from here on
        let loss = layer(x).sum()
        XCTAssertNil(layer.packed)
        loss.backward()
        SGD(parameters: layer.parameters, learningRate: 0.1).step()
        let after = withNoGrad { layer(x) }
        assertClose(after.doubles, reference(x, layer.weight, layer.bias), atol: 1e-4, rtol: 1e-5)
    }

    func testAttentionProjectionsUseTheirPackedRowRanges() throws {
        var g = RandomGenerator(seed: 31)
        let mha = MultiHeadAttention(dModel: 64, heads: 4, using: &g)
        mha.eval()
        let q = random([2, 7, 64], seed: 32), kv = random([2, 9, 64], seed: 33)
        let selfPlain = withNoGrad { mha(query: q, key: q, value: q).output }
        let crossPlain = withNoGrad { mha(query: q, key: kv, value: kv).output }
        XCTAssertEqual(WeightPacking.pack(mha), 2)  // the in-projection and the out-projection
        assertClose(withNoGrad { mha(query: q, key: q, value: q).output }.doubles, selfPlain.doubles, atol: 1e-5)
        assertClose(withNoGrad { mha(query: q, key: kv, value: kv).output }.doubles, crossPlain.doubles, atol: 1e-5)
    }

    func testATranslatorDecodesTheSameWithPackedWeights() throws {
        var g = RandomGenerator(seed: 41)
        var c = Seq2SeqConfig(sourceVocabulary: 60, targetVocabulary: 50)
        c.dModel = 64; c.heads = 4; c.encoderLayers = 2; c.decoderLayers = 2; c.feedForward = 96; c.dropout = 0
        c.maxLength = 32
        let model = Seq2SeqTransformer(c, using: &g)
        model.eval()
        let source = [[5, 9, 14, 3, 2], [7, 8, 2, 0, 0]]
        let target = [[1, 4, 6, 9], [1, 12, 13, 0]]
        let logits = withNoGrad { model(source: source, targetInput: target) }
        let beams = model.beamSearch(source, beamSize: 3, maxLength: 12)
        XCTAssertGreaterThan(WeightPacking.pack(model), 10)
        assertClose(withNoGrad { model(source: source, targetInput: target) }.doubles, logits.doubles, atol: 1e-4)
        let packedBeams = model.beamSearch(source, beamSize: 3, maxLength: 12)
        XCTAssertEqual(packedBeams.map { $0.map(\.tokens) }, beams.map { $0.map(\.tokens) })
        WeightPacking.unpack(model)
        XCTAssertFalse(WeightPacking.isPacked(model))
    }
}

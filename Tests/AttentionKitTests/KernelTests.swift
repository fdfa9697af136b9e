import CKernels
import XCTest

@testable import AttentionKit

/// The AVX2 loops of the CKernels target against the Swift loops they stand in for: the same bits, on rows of every
/// length around the 8-lane blocks, with large, tiny, infinite and NaN values among them.
final class KernelTests: XCTestCase {
    /// Values a kernel must treat as its Swift loop does: ordinary ones spread over many binades, and the edges.
    func values(_ n: Int, seed: UInt64, spread: Float = 30) -> [Float] {
        var g = RandomGenerator(seed: seed)
        var x = (0..<n).map { _ in (Float(g.nextUnit()) - 0.5) * spread }
        let specials: [Float] = [
            0, -0.0, 1e-30, -1e-30, 88.7, 88.71, -87.3, -87.31, 4, -4, 4.0001, -100, 100, .infinity
        ]
        for (i, s) in specials.enumerated() where i * 7 < n { x[i * 7] = s }
        return x
    }

    func testAVX2KernelsAreOnThisMachine() throws {
        // every host we build on has AVX2; on one without it the Swift loops run and the rest of this file is moot
        try XCTSkipUnless(ak_has_avx2() != 0, "this CPU has no AVX2")
        XCTAssertTrue(Kernels.avx2 || getenv("ATTENTIONKIT_NO_AVX2") != nil)
    }

    /// OpenBLAS falls back to SSE3 kernels on a CPU model its version does not know (0.3.21 on Emerald Rapids); the
    /// first GEMM must leave it on kernels at least as wide as AVX2 on any CPU with AVX2, and still multiply right.
    func testOpenBLASRunsKernelsAsWideAsTheCPU() throws {
        try XCTSkipUnless(ak_has_avx2() != 0, "this CPU has no AVX2")
        let x = (0..<(64 * 48)).map { Float($0 % 7) - 3 }, y = (0..<(48 * 40)).map { Float($0 % 5) - 2 }
        let c = Tensor(x, shape: [64, 48]).matmul(Tensor(y, shape: [48, 40]))
        var expected = [Float](repeating: 0, count: 64 * 40)
        for i in 0..<64 {
            for j in 0..<40 {
                for k in 0..<48 { expected[i * 40 + j] += x[i * 48 + k] * y[k * 40 + j] }
            }
        }
        XCTAssertEqual(c.scalars, expected)  // small integers: exact in any summation order
        let name = BLASKernels.name.lowercased()
        let wide: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]
        try XCTSkipIf(
            !BLASKernels.switched && getenv("OPENBLAS_CORETYPE") != nil, "OPENBLAS_CORETYPE chooses the kernels here")
        XCTAssertTrue(wide.contains(name), "OpenBLAS runs \(BLASKernels.name) kernels on a CPU with AVX2")
    }

    func testSoftmaxStatisticsEqualTheSwiftLoopBitForBit() throws {
        try XCTSkipUnless(ak_has_avx2() != 0, "this CPU has no AVX2")
        for n in [1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 64, 1000, 8003] {
            for seed in UInt64(0)..<4 {
                var x = values(n, seed: seed)
                if seed == 2 { x[n / 2] = -.infinity }
                if seed == 3 {  // a row of logits: every exponential counts in the sum (the specials above swamp it)
                    var g = RandomGenerator(seed: 11)
                    x = (0..<n).map { _ in (Float(g.nextUnit()) - 0.5) * 8 }
                }
                var d1 = [Float](repeating: 0, count: n), d2 = d1
                var m1: Float = 0, z1: Float = 0
                ak_softmax_statistics_avx2(x, &d1, n, &m1, &z1)
                let (m2, z2) = x.withUnsafeBufferPointer { xp in
                    d2.withUnsafeMutableBufferPointer {
                        softmaxRowStatisticsLoop(xp.baseAddress!, exponentials: $0.baseAddress!, n: n)
                    }
                }
                XCTAssertEqual(m1.bitPattern, m2.bitPattern, "max, n \(n)")
                XCTAssertEqual(z1.bitPattern, z2.bitPattern, "sum, n \(n)")
                XCTAssertEqual(d1.map(\.bitPattern), d2.map(\.bitPattern), "exponentials, n \(n)")
                if ak_has_avx512() != 0 {
                    var d3 = [Float](repeating: 0, count: n), m3: Float = 0, z3: Float = 0
                    ak_softmax_statistics_avx512(x, &d3, n, &m3, &z3)
                    XCTAssertEqual(m3.bitPattern, m2.bitPattern, "AVX-512 max, n \(n)")
                    XCTAssertEqual(z3.bitPattern, z2.bitPattern, "AVX-512 sum, n \(n)")
                    XCTAssertEqual(d3.map(\.bitPattern), d2.map(\.bitPattern), "AVX-512 exponentials, n \(n)")
                }
            }
        }
        // all −∞ (a fully masked row): max 0 as the Swift loop; NaN is never the max
        var d = [Float](repeating: 0, count: 9), m: Float = 1, z: Float = 1
        ak_softmax_statistics_avx2([Float](repeating: -.infinity, count: 9), &d, 9, &m, &z)
        XCTAssertEqual(m, 0); XCTAssertEqual(z, 0)
        var withNaN: [Float] = [1, .nan, 3, 2, 0, 0, 0, 0, .nan]
        ak_softmax_statistics_avx2(&withNaN, &d, 9, &m, &z)
        XCTAssertEqual(m, 3)
        if ak_has_avx512() != 0 {
            ak_softmax_statistics_avx512([Float](repeating: -.infinity, count: 9), &d, 9, &m, &z)
            XCTAssertEqual(m, 0); XCTAssertEqual(z, 0)
            ak_softmax_statistics_avx512(&withNaN, &d, 9, &m, &z)
            XCTAssertEqual(m, 3)
        }
    }

    /// The fused attention op's row softmax (scale, max, fastExp, `vectorSum`, times 1/z) on the AVX2 and AVX-512
    /// kernels equals its Swift loops bit for bit, on row lengths around the 8- and 16-lane blocks.
    func testAttentionRowSoftmaxEqualsTheSwiftLoopsBitForBit() throws {
        try XCTSkipUnless(ak_has_avx2() != 0, "this CPU has no AVX2")
        let scale: Float = 0.17677669
        for n in [1, 5, 8, 9, 15, 16, 17, 31, 32, 33, 47, 65, 100, 257] {
            for seed in UInt64(0)..<3 {
                var g = RandomGenerator(seed: seed &+ 40)
                var x = (0..<n).map { _ in (Float(g.nextUnit()) - 0.5) * 40 }
                if seed == 1 && n > 3 { x[2] = .nan }
                if seed == 2 { x[n - 1] = -.infinity }
                // the Swift loops of attentionOp's unmasked path
                var want = x.map { $0 * scale }
                var m = -Float.infinity
                for v in want { m = Swift.max(m, v) }
                for j in 0..<n { want[j] = Float.expFast(want[j] - m) }
                let z = want.withUnsafeBufferPointer { vectorSum($0.baseAddress!, n) }
                let rz = 1 / z
                for j in 0..<n { want[j] *= rz }
                typealias ScaleMax = (UnsafeMutablePointer<Float>, Int, Float) -> Float
                typealias Finish = (UnsafeMutablePointer<Float>, Int, Float) -> Void
                var kernels: [(String, ScaleMax, Finish)] = [("AVX2", ak_scale_max_avx2, ak_softmax_row_finish_avx2)]
                if ak_has_avx512() != 0 {
                    kernels.append(("AVX-512", ak_scale_max_avx512, ak_softmax_row_finish_avx512))
                }
                for (name, scaleMax, finish) in kernels {
                    var y = x
                    let mk = scaleMax(&y, n, scale)
                    XCTAssertEqual(mk, m, "\(name) max, n \(n), seed \(seed)")
                    finish(&y, n, mk)
                    XCTAssertEqual(y.map(\.bitPattern), want.map(\.bitPattern), "\(name), n \(n), seed \(seed)")
                }
            }
        }
    }

    func testGELUEqualsTheSwiftKernelBitForBit() throws {
        try XCTSkipUnless(ak_has_avx2() != 0, "this CPU has no AVX2")
        for n in [1, 7, 8, 9, 15, 16, 17, 100, 1027] {
            var x = values(n, seed: UInt64(n), spread: 12)
            if n > 3 { x[3] = .nan }
            let want = x.map { GeluErfK()($0) }
            var wide = x
            var out = [Float](repeating: .nan, count: n)
            ak_gelu_erf_avx2(x, &out, n)  // out of place, then in place
            XCTAssertEqual(out.map(\.bitPattern), want.map(\.bitPattern), "out of place, n \(n)")
            x.withUnsafeMutableBufferPointer { ak_gelu_erf_avx2($0.baseAddress!, $0.baseAddress!, n) }
            XCTAssertEqual(x.map(\.bitPattern), want.map(\.bitPattern), "n \(n)")
            if ak_has_avx512() != 0 {
                wide.withUnsafeMutableBufferPointer { ak_gelu_erf_avx512($0.baseAddress!, $0.baseAddress!, n) }
                XCTAssertEqual(wide.map(\.bitPattern), want.map(\.bitPattern), "AVX-512, n \(n)")
            }
            // GELU's value and gradient in one pass (the feed-forward op's backward) against the Swift loop
            var g = RandomGenerator(seed: UInt64(n) &+ 5)
            let grad = (0..<n).map { _ in Float(g.nextUnit()) - 0.5 }
            let pairs = zip(grad, x).map { Float.geluErfAndGrad($0, $1) }
            var kernels = [("AVX2", ak_gelu_erf_and_grad_avx2)]
            if ak_has_avx512() != 0 { kernels.append(("AVX-512", ak_gelu_erf_and_grad_avx512)) }
            for (name, kernel) in kernels {
                var value = [Float](repeating: .nan, count: n), dx = value
                kernel(grad, x, &value, &dx, n)
                XCTAssertEqual(value.map(\.bitPattern), pairs.map(\.value.bitPattern), "\(name) value, n \(n)")
                XCTAssertEqual(dx.map(\.bitPattern), pairs.map(\.grad.bitPattern), "\(name) gradient, n \(n)")
            }
        }
        // and through the layer path: geluInPlace on a tensor equals the out-of-place op
        var g = RandomGenerator(seed: 3)
        let t = Tensor.normal([5, 77], using: &g)
        let reference = t.gelu(approximate: false)
        geluInPlace(t)
        XCTAssertEqual(t.scalars.map(\.bitPattern), reference.scalars.map(\.bitPattern))
    }

    func testQuantizeAndDequantizeRowsEqualTheSwiftLoopsBitForBit() throws {
        try XCTSkipUnless(ak_has_avx2() != 0, "this CPU has no AVX2")
        for k in [1, 7, 8, 9, 64, 257] {
            for (seed, spread) in [(UInt64(1), Float(6)), (2, 1e-3), (3, 400)] {
                var x = values(k, seed: seed, spread: spread).map { $0.isFinite ? $0 : 1 }
                if seed == 3 { x = x.map { abs($0) } }  // a row with no negative value: zero point 0
                for levels in [Float(255), 127] {
                    var q1 = [UInt8](repeating: 0, count: k), q2 = q1
                    var s1: Float = 0, s2: Float = 0, z1: Int32 = 0, z2: Int32 = 0
                    ak_quantize_row_avx2(x, k, levels, &q1, &s1, &z1)
                    // the Swift loop reads the levels from the CPU; compare at the levels this CPU uses
                    if Int(levels) == Int8GEMM.activationLevels {
                        Int8GEMM.quantizeRowsLoop(x, rows: 0..<1, k: k, &q2, &s2, &z2)
                        XCTAssertEqual(q1, q2, "k \(k), seed \(seed)")
                        XCTAssertEqual(s1.bitPattern, s2.bitPattern); XCTAssertEqual(z1, z2)
                    }
                    // and the values stand for x within half a step
                    for c in 0..<k {
                        XCTAssertEqual(s1 * (Float(q1[c]) - Float(z1)), x[c], accuracy: s1 * 0.5001 + 1e-6)
                    }
                }
            }
        }
        var g = RandomGenerator(seed: 9)
        for width in [1, 7, 8, 9, 300] {
            let acc = (0..<width).map { _ in Int32(Int(g.nextUnit() * 2_000_000) - 1_000_000) }
            let sums = (0..<width).map { _ in Int32(Int(g.nextUnit() * 20_000) - 10_000) }
            let ws = (0..<width).map { _ in Float(g.nextUnit()) * 0.01 },
                bias = (0..<width).map { _ in Float(g.nextUnit()) - 0.5 }
            for withBias in [true, false] {
                var o1 = [Float](repeating: 0, count: width), o2 = o1
                bias.withUnsafeBufferPointer { b in
                    ak_dequantize_row_avx2(acc, &o1, width, 37, sums, 0.013, ws, withBias ? b.baseAddress : nil)
                    Int8GEMM.dequantizeRowLoop(
                        acc, &o2, width: width, zero: 37, rowSums: sums, scale: 0.013, weightScales: ws,
                        bias: withBias ? b.baseAddress : nil)
                }
                XCTAssertEqual(o1.map(\.bitPattern), o2.map(\.bitPattern), "width \(width), bias \(withBias)")
            }
        }
    }
}

/// The small-attention kernels of decoding steps (attention_small.c) against float64 sums, on head widths and key
/// counts around their 8-lane blocks and 32-column groups, with rows farther apart than they are wide; and the fused
/// attention op, which uses them for a few float32 query rows, against the same op in float64 (BLAS).
final class SmallAttentionKernelTests: XCTestCase {
    func testScoresAndWeightedSumsEqualFloat64Sums() throws {
        try XCTSkipUnless(ak_has_avx2() == 1, "no AVX2 on this machine")
        let off = getenv("ATTENTIONKIT_NO_SMALL_ATTENTION").map { String(cString: $0) } ?? ""
        try XCTSkipIf(!off.isEmpty && off != "0", "ATTENTIONKIT_NO_SMALL_ATTENTION turns the kernels off")
        var g = RandomGenerator(seed: 7)
        let shapes = [
            (1, 1, 8), (1, 7, 13), (5, 8, 32), (1, 9, 40), (3, 17, 64), (2, 20, 70), (16, 3, 33), (7, 36, 32),
            (6, 9, 64), (4, 5, 99)
        ]
        for (tq, tk, width) in shapes {
            let ld = width + 5
            let q = (0..<(tq * ld)).map { _ in Float(g.nextUnit()) - 0.5 }
            let k = (0..<(tk * ld)).map { _ in Float(g.nextUnit()) - 0.5 }
            var s = [Float](repeating: .nan, count: tq * (tk + 2))
            XCTAssertEqual(ak_attention_scores_small(tq, tk, width, q, ld, k, ld, &s, tk + 2), 1)
            var o = [Float](repeating: .nan, count: tq * ld)
            XCTAssertEqual(ak_attention_weighted_sum_small(tq, tk, width, q, ld, k, ld, &o, ld), 1)  // P = q's rows
            for r in 0..<tq {
                for j in 0..<tk {
                    let exact = (0..<width).reduce(0.0) { $0 + Double(q[r * ld + $1]) * Double(k[j * ld + $1]) }
                    XCTAssertEqual(
                        Double(s[r * (tk + 2) + j]), exact, accuracy: 1e-5, "score \(r),\(j) of \(tq)×\(tk)×\(width)")
                }
                XCTAssertTrue(s[r * (tk + 2) + tk].isNaN, "wrote past the \(tk) keys")
                for c in 0..<width {
                    let exact = (0..<tk).reduce(0.0) { $0 + Double(q[r * ld + $1]) * Double(k[$1 * ld + c]) }
                    XCTAssertEqual(
                        Double(o[r * ld + c]), exact, accuracy: 1e-5, "output \(r),\(c) of \(tq)×\(tk)×\(width)")
                }
                XCTAssertTrue(o[r * ld + width].isNaN, "wrote past the \(width) columns")
                // rows computed together (three at a time) give each row's bits alone
                var alone = [Float](repeating: .nan, count: ld)
                XCTAssertEqual(
                    ak_attention_weighted_sum_small(1, tk, width, Array(q[(r * ld)...]), ld, k, ld, &alone, ld), 1)
                XCTAssertEqual(
                    alone[..<width].map(\.bitPattern), o[(r * ld)..<(r * ld + width)].map(\.bitPattern),
                    "row \(r) of \(tq)×\(tk)×\(width) alone")
            }
        }
    }

    func testDecodingStepAttentionEqualsFloat64() throws {
        var g = RandomGenerator(seed: 3)
        let mha = MultiHeadAttention(dModel: 24, heads: 3, using: &g)
        mha.isTraining = false
        let query = Tensor.normal([4, 1, 24], using: &g), memory = Tensor.normal([4, 11, 24], using: &g)
        let mask = AttentionMask(keyPadding: (0..<44).map { $0 % 11 >= 11 - $0 / 11 })
        let single = withNoGrad { mha(query: query, key: memory, value: memory, mask: mask).output }
        mha.to(.float64)
        let double = withNoGrad {
            mha(query: query.to(.float64), key: memory.to(.float64), value: memory.to(.float64), mask: mask).output
        }
        for (a, b) in zip(single.scalars, double.scalars) { XCTAssertEqual(Double(a), Double(b), accuracy: 1e-5) }
    }
}

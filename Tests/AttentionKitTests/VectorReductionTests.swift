import XCTest

@testable import AttentionKit

/// The SIMD16 row kernels (Tensor/VectorReductions.swift) against their plain loops, for lengths around the vector
/// width (empty, tails only, whole vectors, vectors and tails), in float32 and float64.
final class VectorReductionTests: XCTestCase {
    private func check<T: TensorScalar>(_: T.Type, tolerance: Double) {
        var g = RandomGenerator(seed: 99)
        for n in [0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 1029] {
            let a = (0..<n).map { _ in T(2 * g.nextUnit() - 1) }, b = (0..<n).map { _ in T(2 * g.nextUnit() - 1) }
            let y = (0..<n).map { _ in T(2 * g.nextUnit() - 1) }
            let mean = T(0.125)
            func near(_ x: T, _ r: T, _ what: String) {
                XCTAssertEqual(
                    Double(x), Double(r), accuracy: tolerance * max(1, Double(n)), "\(what), n = \(n), \(T.self)")
            }
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    y.withUnsafeBufferPointer { py in
                        let p = pa.baseAddress ?? UnsafePointer(bitPattern: 64)!,
                            q = pb.baseAddress ?? UnsafePointer(bitPattern: 64)!
                        let r = py.baseAddress ?? UnsafePointer(bitPattern: 64)!
                        near(vectorSum(p, n), vectorSumReference(p, n), "sum")
                        near(
                            vectorSumSquaredDeviations(p, n, mean: mean),
                            vectorSumSquaredDeviationsReference(p, n, mean: mean), "squared deviations")
                        near(vectorDot(p, q, n), vectorDotReference(p, q, n), "dot")
                        let s = vectorSumAndCenteredDot(p, q, n, mean: mean),
                            sr = vectorSumAndCenteredDotReference(p, q, n, mean: mean)
                        near(s.sum, sr.sum, "sum and centred dot: sum"); near(s.dot, sr.dot, "sum and centred dot: dot")
                        let w = vectorWeightedSumAndCenteredDot(p, r, q, n, mean: mean)
                        var ws: T = 0, wd: T = 0
                        for i in 0..<n { ws += p[i] * r[i]; wd += p[i] * r[i] * (q[i] - mean) }
                        near(w.sum, ws, "weighted sum"); near(w.dot, wd, "weighted centred dot")
                        // elementwise kernels: exact apart from fused rounding of the same expression
                        var masked = [T](repeating: 7, count: n), back = [T](repeating: 7, count: n)
                        masked.withUnsafeMutableBufferPointer { m in
                            if n > 0 { vectorMaskByPositive(m.baseAddress!, p, r, n) }
                        }
                        back.withUnsafeMutableBufferPointer { m in
                            if n > 0 {
                                vectorNormalizationBackward(
                                    m.baseAddress!, p, q, n, a: 1.5, b: 0.25, c: -0.5, mean: mean)
                            }
                        }
                        for i in 0..<n {
                            XCTAssertEqual(masked[i], r[i] > 0 ? p[i] : 0, "mask, i = \(i)")
                            XCTAssertEqual(
                                Double(back[i]), Double(1.5 * p[i] - 0.25 * (q[i] - mean) + 0.5), accuracy: 1e-6,
                                "normalization backward")
                        }
                    }
                }
            }
        }
    }

    func testFloat() { check(Float.self, tolerance: 2e-6) }
    func testDouble() { check(Double.self, tolerance: 1e-14) }
}

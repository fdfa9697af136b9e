import XCTest

@testable import AttentionKit

/// The fp32 GEMM paths: few rows times a transposed weight (oneDNN's sgemm) and the rest (OpenBLAS), against a
/// Double reference, with strided operands, accumulation (beta 1) and the thread split.
final class GEMMTests: XCTestCase {
    func testFewRowsAndManyRowsMatchTheDoubleReference() {
        var g = RandomGenerator(seed: 11)
        for (m, n, k) in [(1, 256, 64), (3, 1000, 300), (16, 513, 128), (17, 512, 64), (5, 255, 256), (8, 8000, 256)] {
            let (lda, ldb, ldc) = (k + 3, k + 5, n + 2)  // strided: rows of bigger matrices
            let a = (0..<(m * lda)).map { _ in Float(g.nextUnit()) - 0.5 }
            let b = (0..<(n * ldb)).map { _ in Float(g.nextUnit()) - 0.5 }
            for beta: Float in [0, 1] {
                var c = (0..<(m * ldc)).map { _ in Float(g.nextUnit()) }
                let before = c
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            Float.gemm(
                                transA: false, transB: true, m: m, n: n, k: k, a: pa.baseAddress!, lda: lda,
                                b: pb.baseAddress!, ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
                        }
                    }
                }
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var s = Double(beta) * Double(before[i * ldc + j])
                        for p in 0..<k { s += Double(a[i * lda + p]) * Double(b[j * ldb + p]) }
                        worst = max(worst, abs(s - Double(c[i * ldc + j])) / (1 + abs(s)))
                    }
                    // the padding between rows of C is untouched
                    for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], before[i * ldc + j]) }
                }
                XCTAssertLessThan(worst, 1e-5, "m \(m) n \(n) k \(k) beta \(beta)")
            }
        }
        XCTAssertTrue(Float.usesDNNL(transA: false, transB: true, m: 16, n: 256))
        XCTAssertFalse(Float.usesDNNL(transA: false, transB: true, m: 17, n: 4000))
        XCTAssertFalse(Float.usesDNNL(transA: false, transB: true, m: 4, n: 255))
        XCTAssertFalse(Float.usesDNNL(transA: true, transB: true, m: 4, n: 4000))
    }
}

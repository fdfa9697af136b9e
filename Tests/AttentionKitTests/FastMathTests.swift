import Foundation
import XCTest

@testable import AttentionKit

/// The vectorizable float32 exp, tanh and erf (Tensor/FastMath.swift) against libm, and the GELU kernels built on them
/// against their readable references.
final class FastMathTests: XCTestCase {
    func testExpMatchesLibm() {
        var worst = 0.0
        for i in 0...400_000 {
            let x = Float(-87 + 175.0 * Double(i) / 400_000)
            let rel = abs(Double(fastExp(x)) / Foundation.exp(Double(x)) - 1)
            worst = max(worst, rel)
        }
        XCTAssertLessThan(worst, 3e-7, "relative error of fastExp")
        XCTAssertEqual(fastExp(-.infinity), 0)
        XCTAssertEqual(fastExp(-100), 0)
        XCTAssertEqual(fastExp(0), 1)
        XCTAssertTrue(fastExp(.nan).isNaN)
    }

    func testErfMatchesLibm() {
        var worst = 0.0
        for i in 0...400_000 {
            let x = Float(-6 + 12.0 * Double(i) / 400_000)
            worst = max(worst, abs(Double(fastErf(x)) - Foundation.erf(Double(x))))
        }
        XCTAssertLessThan(worst, 5e-7, "absolute error of fastErf")
        XCTAssertTrue(fastErf(.nan).isNaN)
    }

    func testTanhMatchesLibm() {
        var worst = 0.0, worstSmall = 0.0
        for i in 0...400_000 {
            let x = Float(-12 + 24.0 * Double(i) / 400_000)
            let err = abs(Double(fastTanh(x)) - Foundation.tanh(Double(x)))
            worst = max(worst, err)
            if abs(x) < 0.25 && x != 0 { worstSmall = max(worstSmall, err / abs(Double(x))) }
        }
        XCTAssertLessThan(worst, 3e-7, "absolute error of fastTanh")
        XCTAssertLessThan(worstSmall, 3e-7, "relative error of fastTanh near 0 (no cancellation)")
        XCTAssertEqual(fastTanh(.infinity), 1)
        XCTAssertEqual(fastTanh(-.infinity), -1)
        XCTAssertEqual(fastTanh(0), 0)
        XCTAssertTrue(fastTanh(.nan).isNaN)
    }

    func testGeluKernelsMatchTheirReferences() {
        for i in 0...20_000 {
            let x = Float(-10 + 20.0 * Double(i) / 20_000), g: Float = 0.75
            let y = Float.geluErf(x), yRef = Double.geluErfReference(Double(x))
            XCTAssertEqual(Double(y), yRef, accuracy: 1e-6 * max(1, abs(yRef)), "gelu(\(x))")
            let d = Float.geluErfGrad(g, x), dRef = Double.geluErfGradReference(Double(g), Double(x))
            XCTAssertEqual(Double(d), dRef, accuracy: 2e-6, "gelu'(\(x))")
            let both = Float.geluErfAndGrad(g, x)  // the feed-forward backward's one-pass form
            XCTAssertEqual(Double(both.value), yRef, accuracy: 1e-6 * max(1, abs(yRef)), "gelu(\(x)) from the pair")
            XCTAssertEqual(Double(both.grad), dRef, accuracy: 2e-6, "gelu'(\(x)) from the pair")
        }
    }
}

import AttentionKit
import XCTest

final class AutogradTests: XCTestCase {
    func testFanOutSumsGradients() {
        // y = x·x + 3x  ⇒  dy/dx = 2x + 3
        let x = Tensor([1, -2, 0.5]).requiringGrad()
        (x * x + x * 3).sum().backward()
        assertClose(x.grad!, [5, -1, 4])
    }

    func testDiamondGraph() {
        // a = x+1, b = x·2, y = a·b  ⇒  dy/dx = b + 2a = 2x + 2(x+1) = 4x + 2
        let x = Tensor([1, 2]).requiringGrad()
        let a = x + 1, b = x * 2
        (a * b).sum().backward()
        assertClose(x.grad!, [6, 10])
    }

    func testBroadcastGradientSummedToInputShape() {
        let w = Tensor([1, 2, 3]).requiringGrad()
        let x = Tensor.ones([4, 3])
        (x * w).sum().backward()
        XCTAssertEqual(w.grad!.shape, [3])
        assertClose(w.grad!, [4, 4, 4])
    }

    func testGradientsAccumulateUntilZeroed() {
        let x = Tensor([2]).requiringGrad()
        (x * x).sum().backward()
        (x * x).sum().backward()
        assertClose(x.grad!, [8])
        x.zeroGrad()
        XCTAssertNil(x.grad)
        (x * 3).sum().backward()
        assertClose(x.grad!, [3])
    }

    func testExplicitUpstreamGradient() {
        let x = Tensor([1, 2, 3]).requiringGrad()
        let y = x * x
        y.backward(Tensor([1, 0.5, -1]))
        assertClose(x.grad!, [2, 2, -6])
    }

    func testDetachStopsGradient() {
        let x = Tensor([3]).requiringGrad()
        let y = x * x.detach()  // only the first factor is differentiated
        y.sum().backward()
        assertClose(x.grad!, [3])
        XCTAssertFalse(x.detach().requiresGrad)
    }

    func testNoGradScopeRecordsNothing() {
        let x = Tensor([1, 2]).requiringGrad()
        let y = withNoGrad { x * 2 + 1 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.gradFunctionName)
        XCTAssertTrue(GradMode.isEnabled)
        let z = x * 2
        XCTAssertTrue(z.requiresGrad)
        XCTAssertEqual(z.gradFunctionName, "mul")
    }

    func testConstantsDoNotRequireGrad() {
        let a = Tensor([1, 2]), b = Tensor([3, 4])
        XCTAssertFalse((a * b).requiresGrad)
    }

    func testRetainGradOnNonLeaf() {
        let x = Tensor([1, 2]).requiringGrad()
        let h = x * 3
        h.retainsGrad = true
        (h * h).sum().backward()
        assertClose(h.grad!, [6, 12])
        XCTAssertFalse(h.isLeaf)
        XCTAssertTrue(x.isLeaf)
    }

    func testTenThousandNodeChainDoesNotOverflowTheStack() {
        let x = Tensor([1]).requiringGrad()
        var y = x
        for _ in 0..<10_000 { y = y * 1.0001 }
        y.sum().backward()
        assertClose(x.grad!.doubles, [Foundation.pow(1.0001, 10_000)], rtol: 1e-3)
    }

    func testDeepChainIsFreedWithoutRecursion() {
        // releasing a 100,000-node graph must not recurse through deinit
        let x = Tensor([1]).requiringGrad()
        var y = x
        for _ in 0..<100_000 { y = y + 0 }
        y.sum().backward()
        assertClose(x.grad!, [1])
    }

    /// The graph keeps only what a backward reads, and frees that once backward has run: `x * 2`'s result feeds only
    /// tanh, whose backward reads tanh's output, so the product is freed at once and tanh's output storage lives
    /// until backward.
    func testGraphKeepsOnlyWhatBackwardReadsAndFreesItAfterwards() {
        let x = Tensor.ones([64, 64]).requiringGrad()
        weak var weakProduct: Tensor?
        weak var weakSaved: TensorStorage?
        var loss: Tensor
        do {
            let h = x * 2
            weakProduct = h
            let y = h.tanh()
            weakSaved = y.storage
            loss = (y + 1).sum()
        }
        XCTAssertNil(weakProduct, "an input no backward reads is not held by the graph")
        XCTAssertNotNil(weakSaved, "tanh's output is saved for its backward")
        XCTAssertEqual(loss.graphSize, 4)
        loss.backward()
        XCTAssertNil(weakSaved, "saved values must be released once backward has run")
        XCTAssertEqual(loss.graphSize, 0)
        XCTAssertNil(loss.gradFunctionName)
        assertClose(
            x.grad!,
            [Float](repeating: 2 * (1 - Float(Foundation.tanh(2.0)) * Float(Foundation.tanh(2.0))), count: 64 * 64),
            atol: 1e-6)
    }

    func testFloat64GradientsStayFloat64() {
        let x = Tensor(doubles: [0.1, 0.2], shape: [2]).requiringGrad()
        x.exp().sum().backward()
        XCTAssertEqual(x.grad!.dtype, .float64)
        assertClose(x.grad!.doubles, [Foundation.exp(0.1), Foundation.exp(0.2)], atol: 1e-15, rtol: 1e-15)
    }

    func testGradientBuffersAreNotShared() {
        let a = Tensor([1, 2]).requiringGrad(), b = Tensor([3, 4]).requiringGrad()
        (a + b).sum().backward()
        a.grad!.withUnsafeMutableFloats { $0[0] = 100 }
        assertClose(b.grad!, [1, 1])
    }
}

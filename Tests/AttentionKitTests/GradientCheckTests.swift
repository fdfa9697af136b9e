import AttentionKit
import XCTest

/// One finite-difference gradient check (in Double) per differentiable op; see `gradCheck` for tolerances.
final class ElementwiseGradientTests: XCTestCase {
    func testAddBroadcasting() {
        gradCheck("add same shape", [rand([2, 3]), rand([2, 3], seed: 2)]) { $0[0] + $0[1] }
        gradCheck("add [2,3,4]+[3,1]", [rand([2, 3, 4]), rand([3, 1])]) { $0[0] + $0[1] }
        gradCheck("add [1,4]+[3,1]", [rand([1, 4]), rand([3, 1])]) { $0[0] + $0[1] }
        gradCheck("add scalar tensor", [rand([3, 2]), rand([])]) { $0[0] + $0[1] }
        gradCheck("add size-0", [rand([0, 3]), rand([3])]) { $0[0] + $0[1] }
        gradCheck("add float", [rand([4])]) { $0[0] + 2.5 }
    }

    func testSubBroadcasting() {
        gradCheck("sub [4,1,5]-[3,5]", [rand([4, 1, 5]), rand([3, 5])]) { $0[0] - $0[1] }
        gradCheck("sub float-tensor", [rand([3])]) { 1 - $0[0] }
    }

    func testMulBroadcasting() {
        gradCheck("mul [2,1,4]*[3,1]", [rand([2, 1, 4]), rand([3, 1])]) { $0[0] * $0[1] }
        gradCheck("mul fan-out x*x", [rand([5])]) { $0[0] * $0[0] }
        gradCheck("mul size-1 dims", [rand([1, 1]), rand([2, 3])]) { $0[0] * $0[1] }
    }

    func testDivBroadcasting() {
        gradCheck("div [3,4]/[4]", [rand([3, 4]), rand([4], 0.5, 2)]) { $0[0] / $0[1] }
        gradCheck("div float/tensor", [rand([3], 0.5, 2)]) { 2 / $0[0] }
    }

    func testNeg() { gradCheck("neg", [rand([3, 2])]) { -$0[0] } }

    func testPow() {
        gradCheck("pow scalar 2.5", [rand([3, 4], 0.5, 2)]) { $0[0].pow(2.5) }
        gradCheck("pow scalar -1", [rand([3], 0.5, 2)]) { $0[0].pow(-1) }
        gradCheck("pow negative base, integer exponents", [rand([6], -2, 2)]) { $0[0].pow(2) + $0[0].pow(3) }
        gradCheck("pow tensor broadcast", [rand([3, 4], 0.5, 2), rand([4])]) { $0[0].pow($0[1]) }
    }

    func testExpLogSqrtRsqrt() {
        gradCheck("exp", [rand([2, 3], -2, 2)]) { $0[0].exp() }
        gradCheck("log", [rand([2, 3], 0.3, 3)]) { $0[0].log() }
        gradCheck("sqrt", [rand([2, 3], 0.3, 3)]) { $0[0].sqrt() }
        gradCheck("rsqrt", [rand([2, 3], 0.3, 3)]) { $0[0].rsqrt() }
    }

    func testAbs() { gradCheck("abs", [randAwayFromZero([10])]) { $0[0].abs() } }

    func testTanhSigmoid() {
        gradCheck("tanh", [rand([3, 4], -3, 3)]) { $0[0].tanh() }
        gradCheck("sigmoid", [rand([3, 4], -6, 6)]) { $0[0].sigmoid() }
    }

    func testReluFamily() {
        gradCheck("relu", [randAwayFromZero([12])]) { $0[0].relu() }
        gradCheck("leakyRelu", [randAwayFromZero([12])]) { $0[0].leakyRelu(slope: 0.2) }
        gradCheck("elu", [randAwayFromZero([12])]) { $0[0].elu(alpha: 1.5) }
    }

    func testGelu() {
        gradCheck("gelu erf", [rand([15], -4, 4)]) { $0[0].gelu() }
        gradCheck("gelu tanh", [rand([15], -4, 4)]) { $0[0].gelu(approximate: true) }
    }

    func testClamp() {
        // values kept away from the bounds ±0.5 (where the derivative jumps)
        let x = Tensor(doubles: [-1.2, -0.7, -0.3, 0.0, 0.2, 0.45, 0.8, 1.5], shape: [8])
        gradCheck("clamp", [x]) { $0[0].clamp(min: -0.5, max: 0.5) }
        gradCheck("clamp min only", [x]) { $0[0].clamp(min: -0.5) }
    }

    func testMaximumMinimum() {
        gradCheck("maximum", [rand([3, 4], seed: 1), rand([4], seed: 2)]) { $0[0].maximum($0[1]) }
        gradCheck("minimum", [rand([3, 4], seed: 3), rand([3, 1], seed: 4)]) { $0[0].minimum($0[1]) }
    }

    func testWhereAndMaskedFill() {
        let cond = Tensor(doubles: [1, 0, 0, 1, 1, 0], shape: [2, 3])
        gradCheck("where", [cond, rand([2, 3]), rand([3])], checkInputs: [1, 2]) { Tensor.where($0[0], $0[1], $0[2]) }
        let mask = Tensor(doubles: [0, 1, 0], shape: [1, 3])
        gradCheck("maskedFill", [rand([2, 3]), mask], checkInputs: [0]) { $0[0].maskedFill($0[1], -5) }
        // (a moderate fill value: a huge constant in L would drown the finite difference in rounding error)
    }

    func testDtypeConversionGradient() {
        let x = Tensor(doubles: [1, 2, 3], shape: [3]).requiringGrad()
        (x.to(.float32) * Tensor([1, 2, 3])).sum().backward()
        XCTAssertEqual(x.grad?.dtype, .float64)
        assertClose(x.grad!.doubles, [1, 2, 3])
    }
}

final class ReductionGradientTests: XCTestCase {
    func testSum() {
        gradCheck("sum all", [rand([3, 4])]) { $0[0].sum() }
        gradCheck("sum axes [0,2] keepDims", [rand([2, 3, 4])]) { $0[0].sum(axes: [0, 2], keepDims: true) }
        gradCheck("sum axis -1", [rand([2, 3, 4])]) { $0[0].sum(axis: -1) }
        gradCheck("sum size-1 axis", [rand([3, 1])]) { $0[0].sum(axis: 1) }
    }

    func testMean() {
        gradCheck("mean all", [rand([3, 4])]) { $0[0].mean() }
        gradCheck("mean axis 1", [rand([2, 3, 4])]) { $0[0].mean(axis: 1) }
    }

    func testMaxMin() {
        gradCheck("max axis 1", [rand([3, 5])]) { $0[0].max(axis: 1) }
        gradCheck("max all", [rand([3, 5])]) { $0[0].max() }
        gradCheck("min axes [0,2]", [rand([2, 3, 4])]) { $0[0].min(axes: [0, 2], keepDims: true) }
    }

    func testMaxTiesShareGradient() {
        let x = Tensor(doubles: [1, 3, 3, 2], shape: [4]).requiringGrad()
        x.max().backward()
        assertClose(x.grad!.doubles, [0, 0.5, 0.5, 0])
    }

    func testVariance() {
        gradCheck("variance all", [rand([3, 4])]) { $0[0].variance() }
        gradCheck("variance axis 0 biased", [rand([4, 3])]) { $0[0].variance(axis: 0, correction: 0) }
    }

    func testLogsumexp() {
        gradCheck("logsumexp axis 1", [rand([3, 4], -5, 5)]) { $0[0].logsumexp(axis: 1) }
        gradCheck("logsumexp all keepDims", [rand([2, 3], -5, 5)]) { $0[0].logsumexp(keepDims: true) }
    }

    func testSoftmax() {
        gradCheck("softmax last", [rand([3, 5], -3, 3)]) { $0[0].softmax() }
        gradCheck("softmax axis 1 of 3-D", [rand([2, 4, 3], -3, 3)]) { $0[0].softmax(axis: 1) }
        gradCheck("logSoftmax last", [rand([3, 5], -3, 3)]) { $0[0].logSoftmax() }
        gradCheck("logSoftmax axis 0", [rand([4, 3], -3, 3)]) { $0[0].logSoftmax(axis: 0) }
    }
}

final class MovementGradientTests: XCTestCase {
    func testReshapeFamily() {
        gradCheck("reshape", [rand([2, 6])]) { $0[0].reshape([3, -1]) * $0[0].reshape([4, 3]).reshape([3, 4]) }
        gradCheck("flatten", [rand([2, 3, 2])]) { $0[0].flatten(from: 1) }
        gradCheck("unsqueeze/squeeze", [rand([3, 2])]) { $0[0].unsqueeze(1).squeeze() }
    }

    func testPermuteTranspose() {
        gradCheck("permute", [rand([2, 3, 4])]) { $0[0].permute([2, 0, 1]) }
        gradCheck("transposed", [rand([2, 3, 4])]) { $0[0].transposed(0, 2) }
    }

    func testSliceSelect() {
        gradCheck("slice step 2", [rand([3, 5, 2])]) { $0[0].slice(axis: 1, start: 1, end: 5, step: 2) }
        gradCheck("slice negative", [rand([4, 3])]) { $0[0].slice(axis: 0, start: -2) }
        gradCheck("slice empty", [rand([4, 3])]) { $0[0].slice(axis: 0, start: 2, end: 2) }
        gradCheck("select", [rand([4, 3])]) { $0[0].select(axis: 1, index: -1) }
    }

    func testConcatStackSplit() {
        gradCheck("concat", [rand([2, 3]), rand([2, 1]), rand([2, 0])]) { Tensor.concat($0, axis: 1) }
        gradCheck("stack", [rand([2, 3]), rand([2, 3], seed: 9)]) { Tensor.stack($0, axis: 2) }
        gradCheck("split", [rand([5, 2])]) { x in
            let parts = x[0].split([2, 3])
            return parts[0].sum(axis: 0) * parts[1].mean(axis: 0)
        }
        gradCheck("chunk", [rand([2, 4])]) { x in
            let parts = x[0].chunk(2, axis: 1)
            return parts[0] * parts[1]
        }
    }

    func testGatherIndexSelect() {
        let index = Tensor(doubles: [0, 2, 2, 1, 0, 0], shape: [3, 2])
        gradCheck("gather axis 1 (repeated indices)", [rand([3, 4]), index], checkInputs: [0]) {
            $0[0].gather(axis: 1, index: $0[1])
        }
        let index0 = Tensor(doubles: [1, 0, 1], shape: [1, 3])
        gradCheck("gather axis 0 smaller index", [rand([2, 3]), index0], checkInputs: [0]) {
            $0[0].gather(axis: 0, index: $0[1])
        }
        gradCheck("indexSelect repeated", [rand([4, 3])]) { $0[0].indexSelect(axis: 0, indices: [3, 1, 3, 0]) }
        gradCheck("indexSelect axis 1", [rand([2, 4, 2])]) { $0[0].indexSelect(axis: 1, indices: [2, 2]) }
    }

    func testExpandPad() {
        gradCheck("broadcastTo", [rand([3, 1])]) { $0[0].broadcastTo([2, 3, 4]) }
        gradCheck("expand -1", [rand([1, 3])]) { $0[0].expand([4, -1]) }
        gradCheck("pad", [rand([2, 3])]) { $0[0].pad([(1, 2), (0, 3)], value: 0.5) }
        gradCheck("pad last dim only", [rand([2, 3])]) { $0[0].pad([(2, 1)]) }
    }
}

final class MatMulGradientTests: XCTestCase {
    func testTwoDimensional() {
        gradCheck("matmul [5,7]x[7,3]", [rand([5, 7]), rand([7, 3])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul [1,4]x[4,1]", [rand([1, 4]), rand([4, 1])]) { matmul($0[0], $0[1]) }
    }

    func testTransposeFlags() {
        gradCheck("matmul Aᵀ B", [rand([4, 3]), rand([4, 5])]) { matmul($0[0], $0[1], transposeA: true) }
        gradCheck("matmul A Bᵀ", [rand([3, 4]), rand([5, 4])]) { matmul($0[0], $0[1], transposeB: true) }
        gradCheck("matmul Aᵀ Bᵀ", [rand([4, 3]), rand([5, 4])]) {
            matmul($0[0], $0[1], transposeA: true, transposeB: true)
        }
        gradCheck("matmul batched Aᵀ Bᵀ", [rand([2, 4, 3]), rand([2, 5, 4])]) {
            matmul($0[0], $0[1], transposeA: true, transposeB: true)
        }
    }

    func testBatchedAndBroadcast() {
        gradCheck("matmul batched", [rand([2, 4, 5]), rand([2, 5, 3])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 3-D x 2-D", [rand([2, 4, 5]), rand([5, 3])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 2-D x 3-D", [rand([4, 5]), rand([2, 5, 3])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul broadcast batch", [rand([2, 1, 3, 4]), rand([3, 4, 2])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 3-D x 2-D Bᵀ", [rand([2, 4, 5]), rand([3, 5])]) { matmul($0[0], $0[1], transposeB: true) }
        gradCheck("matmul 3-D Aᵀ x 2-D", [rand([2, 5, 4]), rand([5, 3])]) { matmul($0[0], $0[1], transposeA: true) }
    }

    func testVectorOperands() {
        gradCheck("matmul 1-D x 2-D", [rand([5]), rand([5, 3])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 2-D x 1-D", [rand([3, 5]), rand([5])]) { matmul($0[0], $0[1]) }
        gradCheck("matmul 1-D x 1-D", [rand([5]), rand([5], seed: 3)]) { matmul($0[0], $0[1]) }
    }

    func testZeroSizedInnerDimension() {
        let y = matmul(Tensor.zeros([2, 0]), Tensor.zeros([0, 3]))
        XCTAssertEqual(y.shape, [2, 3])
        XCTAssertEqual(y.scalars, [Float](repeating: 0, count: 6))
        gradCheck("matmul k=0", [rand([2, 0]), rand([0, 3])]) { matmul($0[0], $0[1]) }
    }
}

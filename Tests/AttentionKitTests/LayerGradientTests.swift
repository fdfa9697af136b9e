import AttentionKit
import XCTest

/// Finite-difference gradient checks (Double) for every layer's op and every loss.
final class LayerGradientTests: XCTestCase {
    func testCourseZooLayerGradients() {
        let pool = MaxPool1d(3, stride: 2, padding: 1)
        gradCheck("maxPool1d", [randAwayFromZero([2, 3, 9])]) { pool($0[0]) }
        gradCheck("globalMaxPool1d", [randAwayFromZero([2, 3, 6])]) { GlobalMaxPool1d()($0[0]) }
        let gn = GroupNorm(groups: 2, channels: 4)
        gradCheck("groupNorm", [rand([3, 4, 3, 2]), rand([4], 0.5, 1.5), rand([4])]) {
            gn.weight = $0[1]; gn.bias = $0[2]; return gn($0[0])
        }
        let inorm = InstanceNorm2d(3, affine: true, trackRunningStats: true)
        inorm.to(.float64)
        gradCheck("instanceNorm2d", [rand([2, 3, 3, 4]), rand([3], 0.5, 1.5), rand([3])]) {
            inorm.weight = $0[1]; inorm.bias = $0[2]; return inorm($0[0])
        }
        // the residual blocks as wholes (BatchNorm in training mode, projection shortcut)
        var g = RandomGenerator(seed: 4)
        let block = BasicBlock(2, 3, stride: 2, using: &g)
        block.to(.float64)
        gradCheck("basicBlock", [rand([2, 2, 4, 4])]) { block($0[0]) }
        let pre = PreActBlock(2, 3, stride: 2, using: &g)
        pre.to(.float64)
        gradCheck("preActBlock", [rand([2, 2, 4, 4])]) { pre($0[0]) }
    }

    func testConv1dAndTextCNN() {
        var g = RandomGenerator(seed: 3)
        let conv = Conv1d(3, 2, kernelSize: 3, stride: 2, padding: 2, dilation: 2, using: &g)
        gradCheck("conv1d", [rand([2, 3, 9]), rand([2, 3, 3]), rand([2])]) {
            conv.weight = $0[1]; conv.bias = $0[2]; return conv($0[0])
        }
        // Kim's CNN: parameter count as PyTorch's nn.Embedding + 3 × nn.Conv1d + nn.Linear; padding does not change
        // a text's logits; the gradient reaches every part.
        var c = TextCNNConfig(vocabulary: 20, classes: 3)
        c.embeddingDim = 6; c.filters = 4; c.kernelSizes = [2, 3, 4]; c.dropout = 0
        let cnn = TextCNN(config: c, using: &g)
        XCTAssertEqual(
            cnn.parameterCount(), 20 * 6 + (4 * 6 * 2 + 4) + (4 * 6 * 3 + 4) + (4 * 6 * 4 + 4) + (12 * 3 + 3))
        cnn.eval()
        let a = cnn([[5, 6, 7]]).scalars, b = cnn([[5, 6, 7, 0, 0, 0]]).scalars
        for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-5, "padding is masked") }
        XCTAssertEqual(cnn([[5]]).shape, [1, 3], "a text shorter than the widest window")
        let loss = Loss.crossEntropy(cnn([[5, 6, 7, 8], [9, 10, 0, 0]]), [0, 2])
        loss.backward()
        for (name, p) in cnn.namedParameters() { XCTAssertNotNil(p.grad, name) }
    }

    func testConv2d() {
        gradCheck("conv2d plain", [rand([2, 3, 5, 5]), rand([4, 3, 3, 3]), rand([4])]) {
            conv2d($0[0], weight: $0[1], bias: $0[2])
        }
        // 5 images of 4×3: several images per GEMM (uneven groups across the threads' runs), with and without bias
        gradCheck("conv2d grouped images, pad 1", [rand([5, 2, 4, 3]), rand([3, 2, 3, 3]), rand([3])]) {
            conv2d($0[0], weight: $0[1], bias: $0[2], padding: (1, 1))
        }
        gradCheck("conv2d grouped images, stride 2, no bias", [rand([7, 2, 5, 5]), rand([2, 2, 3, 3])]) {
            conv2d($0[0], weight: $0[1], stride: (2, 2))
        }
        gradCheck("conv2d stride 2 pad 1", [rand([1, 2, 6, 5]), rand([3, 2, 3, 3])]) {
            conv2d($0[0], weight: $0[1], stride: (2, 2), padding: (1, 1))
        }
        gradCheck("conv2d dilation 2 pad (2,1) non-square kernel", [rand([2, 2, 7, 6]), rand([2, 2, 3, 2]), rand([2])])
        {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: (1, 2), padding: (2, 1), dilation: (2, 2))
        }
    }

    func testPools() {
        // distinct values so the max is unique (the max is not differentiable at ties)
        let values: [Double] = (0..<100).map { (i: Int) -> Double in Double((i * 37) % 101) / 10 }
        let x = Tensor(doubles: values, shape: [2, 2, 5, 5])
        gradCheck("maxPool2d k2", [x]) { maxPool2d($0[0], kernel: (2, 2)) }
        // even planes: 2×2 windows tile the input (the backward that writes every position without a zero fill)
        gradCheck("maxPool2d k2, tiled 4×6 planes", [rand([2, 3, 4, 6], -2, 2)]) { maxPool2d($0[0], kernel: (2, 2)) }
        gradCheck("maxPool2d k3 s2 p1", [x]) { maxPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        gradCheck("avgPool2d k2", [rand([2, 2, 4, 5])]) { avgPool2d($0[0], kernel: (2, 2)) }
        gradCheck("avgPool2d k3 s2 p1", [rand([1, 2, 5, 5])]) {
            avgPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        }
        gradCheck("global average pool", [rand([2, 3, 4, 4])]) { GlobalAvgPool2d()($0[0]) }
    }

    func testLayerNorm() {
        gradCheck("layerNorm affine", [rand([3, 5], -2, 2), rand([5], 0.5, 1.5), rand([5])]) {
            layerNorm($0[0], normalizedShape: [5], weight: $0[1], bias: $0[2])
        }
        gradCheck("layerNorm over 2 dims, no affine", [rand([2, 3, 4], -2, 2)]) {
            layerNorm($0[0], normalizedShape: [3, 4])
        }
        // rows of 37: the 16-wide vector loops and their tails
        gradCheck("layerNorm affine, rows of 37", [rand([3, 37], -2, 2), rand([37], 0.5, 1.5), rand([37])]) {
            layerNorm($0[0], normalizedShape: [37], weight: $0[1], bias: $0[2])
        }
        gradCheck("layerNorm rows of 37, no affine", [rand([2, 37], -2, 2)]) { layerNorm($0[0], normalizedShape: [37]) }
    }

    func testBatchNorm() {
        gradCheck("batchNorm2d train", [rand([3, 2, 2, 3], -2, 2), rand([2], 0.5, 1.5), rand([2])]) {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true)
        }
        gradCheck("batchNorm1d train [B, C]", [rand([5, 3], -2, 2), rand([3], 0.5, 1.5), rand([3])]) {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true)
        }
        // planes of 35 values: the 16-wide vector loops and their tails; then with the fused ReLU (away from its kink)
        gradCheck("batchNorm2d train, 5×7 planes", [rand([3, 2, 5, 7], -2, 2), rand([2], 0.5, 1.5), rand([2])]) {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true)
        }
        gradCheck(
            "batchNorm2d + fused ReLU train", [rand([3, 2, 5, 7], -2, 2), rand([2], 0.5, 1.5), rand([2], -0.3, 0.3)]
        ) {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true, relu: true)
        }
        let rm = Tensor(doubles: [0.1, -0.2], shape: [2]), rv = Tensor(doubles: [0.5, 2], shape: [2])
        gradCheck("batchNorm eval", [rand([2, 2, 3], -2, 2), rand([2], 0.5, 1.5), rand([2])]) {
            batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
        }
    }

    /// A Sequential's BatchNorm → ReLU runs fused: the same outputs, gradients and running statistics as the two
    /// layers applied one after the other (float32, training and evaluation).
    func testSequentialFusesBatchNormAndReLU() {
        var g = RandomGenerator(seed: 21)
        let x = Tensor.normal([4, 3, 6, 5], using: &g)
        let fusedBN = BatchNorm.twoD(3), plainBN = BatchNorm.twoD(3)
        for bn in [fusedBN, plainBN] {
            bn.weight = Tensor([0.5, 1.5, -1], shape: [3]).requiringGrad()
            bn.bias = Tensor([0.1, -0.2, 0.3], shape: [3]).requiringGrad()
        }
        let fused = Sequential([fusedBN, ReLU()])
        for training in [true, false] {
            fused.isTraining = training; fusedBN.isTraining = training; plainBN.isTraining = training
            let xf = x.detach().requiringGrad(), xp = x.detach().requiringGrad()
            let yf = fused(xf), yp = plainBN(xp).relu()
            XCTAssertEqual(yf.scalars, yp.scalars, "outputs (training: \(training))")
            let w = Tensor.normal(x.shape, using: &g)
            (yf * w).sum().backward()
            (yp * w).sum().backward()
            assertClose(xf.grad!.doubles, xp.grad!.doubles, atol: 1e-5, "∂x (training: \(training))")
            assertClose(fusedBN.weight!.grad!.doubles, plainBN.weight!.grad!.doubles, atol: 1e-4, "∂γ")
            assertClose(fusedBN.bias!.grad!.doubles, plainBN.bias!.grad!.doubles, atol: 1e-4, "∂β")
            fusedBN.weight!.grad = nil; plainBN.weight!.grad = nil; fusedBN.bias!.grad = nil; plainBN.bias!.grad = nil
        }
        XCTAssertEqual(fusedBN.runningMean.scalars, plainBN.runningMean.scalars)
        XCTAssertEqual(fusedBN.runningVar.scalars, plainBN.runningVar.scalars)
    }

    func testDropoutWithFixedMask() {
        let drop = Dropout(p: 0.3, seed: 5)
        let saved = drop.generator
        gradCheck("dropout", [rand([4, 5])]) { x in
            drop.generator = saved  // the same mask on every evaluation
            return drop(x[0])
        }
    }

    func testCrossEntropy() {
        let t = Tensor(doubles: [2, 0, 1, 2], shape: [4])
        gradCheck("crossEntropy mean", [rand([4, 3], -2, 2), t], checkInputs: [0]) { Loss.crossEntropy($0[0], $0[1]) }
        gradCheck("crossEntropy sum smoothing", [rand([4, 3], -2, 2), t], checkInputs: [0]) {
            Loss.crossEntropy($0[0], $0[1], labelSmoothing: 0.1, reduction: .sum)
        }
        gradCheck("crossEntropy none ignoreIndex", [rand([4, 3], -2, 2), t], checkInputs: [0]) {
            Loss.crossEntropy($0[0], $0[1], ignoreIndex: 0, reduction: .none)
        }
        let t3 = Tensor(doubles: [0, 2, 1, 1, 0, 2], shape: [2, 3])
        gradCheck("crossEntropy weighted smoothing", [rand([4, 3], -2, 2), t], checkInputs: [0]) {
            Loss.crossEntropy($0[0], $0[1], ignoreIndex: 2, labelSmoothing: 0.15, weight: [0.5, 2, 1.5])
        }
        gradCheck("crossEntropy [N, C, d]", [rand([2, 3, 3], -2, 2), t3], checkInputs: [0]) {
            Loss.crossEntropy($0[0], $0[1], ignoreIndex: 1, labelSmoothing: 0.2)
        }
    }

    func testOtherLosses() {
        let t = Tensor(doubles: [1, 0, 2], shape: [3])
        gradCheck("nll", [rand([3, 4], -3, -0.1), t], checkInputs: [0]) { Loss.nll($0[0], $0[1], ignoreIndex: 2) }
        gradCheck("mse", [rand([3, 2]), rand([3, 2], seed: 4)]) { Loss.mse($0[0], $0[1]) }
        let y = Tensor(doubles: [1, 0, 0.3, 1], shape: [4])
        gradCheck("bce with logits", [rand([4], -4, 4), y], checkInputs: [0]) {
            Loss.binaryCrossEntropyWithLogits($0[0], $0[1])
        }
        gradCheck("bce with logits pos weight, sum", [rand([4], -4, 4), y], checkInputs: [0]) {
            Loss.binaryCrossEntropyWithLogits($0[0], $0[1], posWeight: 2, reduction: .sum)
        }
    }
}

import AttentionKit
import Foundation
import XCTest

/// Layers, losses and optimizer steps compared with PyTorch on `Fixtures/layers.json`
/// (written by `Fixtures/generate_layer_fixtures.py`): same weights, same input, same upstream gradient.
/// Tolerance: |ours − torch| ≤ 1e-5 + 1e-4·|torch| (both float32; summation orders differ).
final class LayerReferenceTests: XCTestCase {
    nonisolated(unsafe) static let cases: [String: [String: Tensor]] = {  // read-only after load
        let url = fixturesDirectory.appendingPathComponent("layers.json")
        guard let data = try? Data(contentsOf: url),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let cases = root["cases"] as? [String: [String: [String: Any]]]
        else { return [:] }
        return cases.mapValues { tensors in
            tensors.mapValues { t in Tensor((t["data"] as! [Double]).map { Float($0) }, shape: t["shape"] as! [Int]) }
        }
    }()

    func fixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Tensor] {
        try XCTUnwrap(Self.cases[name], "fixture case \(name) missing", file: file, line: line)
    }

    func close(_ a: Tensor, _ b: Tensor?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let b else { return XCTFail("\(what): missing reference", file: file, line: line) }
        XCTAssertEqual(a.shape, b.shape, "\(what): shape", file: file, line: line)
        assertClose(a.doubles, b.doubles, atol: 1e-5, rtol: 1e-4, what, file: file, line: line)
    }

    /// Loads the case's weights, runs forward and backward, and compares output, input gradient, parameter
    /// gradients and (for BatchNorm) the updated running statistics.
    func checkModule(
        _ name: String, _ module: some Layer, train: Bool = true, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let f = try fixture(name, file: file, line: line)
        var weights: [String: Tensor] = [:]
        for (k, v) in f where k.hasPrefix("param.") { weights[String(k.dropFirst(6))] = v }
        try module.loadStateDict(weights)
        module.train(train)
        let x = f["x"]!.copy().requiringGrad()
        let y = module(x)
        close(y, f["y"], "\(name) output", file: file, line: line)
        y.backward(f["g"]!)
        close(x.grad!, f["dx"], "\(name) input gradient", file: file, line: line)
        for (k, p) in module.namedParameters() {
            close(p.grad ?? Tensor.zeros(like: p), f["grad." + k], "\(name) grad \(k)", file: file, line: line)
        }
        for (k, b) in module.namedBuffers() where f["after." + k] != nil {
            close(b, f["after." + k], "\(name) buffer \(k)", file: file, line: line)
        }
    }

    func testConv1d() throws {
        var g = RandomGenerator(seed: 0)
        try checkModule("conv1d_s2_p1_d2", Conv1d(4, 3, kernelSize: 3, stride: 2, padding: 1, dilation: 2, using: &g))
        try checkModule("conv1d_plain", Conv1d(5, 6, kernelSize: 4, using: &g))
    }

    func testCourseZooLayers() throws {
        try checkModule("maxpool1d_k3_s2_p1", MaxPool1d(3, stride: 2, padding: 1))
        try checkModule("maxpool1d_k2_d2", MaxPool1d(2, dilation: 2))
        try checkModule("global_maxpool1d", GlobalMaxPool1d())
        try checkModule("groupnorm_2x6", GroupNorm(groups: 2, channels: 6))
        try checkModule("groupnorm_1d_noaffine", GroupNorm(groups: 3, channels: 3, affine: false))
        try checkModule("instancenorm2d", InstanceNorm2d(3))
        try checkModule(
            "instancenorm2d_affine_tracked_train", InstanceNorm2d(3, affine: true, trackRunningStats: true), train: true
        )
        try checkModule(
            "instancenorm2d_affine_tracked_eval", InstanceNorm2d(3, affine: true, trackRunningStats: true), train: false
        )
    }

    func testLinear() throws {
        var g = RandomGenerator(seed: 0)
        try checkModule("linear", Linear(5, 3, using: &g))
    }

    func testConv2d() throws {
        var g = RandomGenerator(seed: 0)
        try checkModule("conv2d_s2_p1", Conv2d(3, 4, kernelSize: 3, stride: 2, padding: 1, using: &g))
        try checkModule(
            "conv2d_dilated",
            Conv2d(2, 3, kernelSize: (3, 2), stride: (1, 2), padding: (2, 1), dilation: (2, 2), using: &g))
    }

    func testPools() throws {
        try checkModule("maxpool_k3_s2_p1", MaxPool2d(3, stride: 2, padding: 1))
        try checkModule("maxpool_k2", MaxPool2d(2))
        try checkModule("avgpool_k3_s2_p1", AvgPool2d(3, stride: 2, padding: 1))
    }

    func testBatchNorm() throws {
        try checkModule("batchnorm2d_train", BatchNorm.twoD(3), train: true)
        try checkModule("batchnorm2d_eval", BatchNorm.twoD(3), train: false)
        try checkModule("batchnorm1d_train", BatchNorm.oneD(6), train: true)
    }

    func testLayerNorm() throws {
        try checkModule("layernorm", LayerNorm(7))
    }

    func checkLoss(_ name: String, _ fn: (Tensor, Tensor) -> Tensor, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let f = try fixture(name, file: file, line: line)
        let x = f["x"]!.copy().requiringGrad()
        let loss = fn(x, f["arg0"]!)
        close(loss, f["loss"], "\(name) loss", file: file, line: line)
        loss.backward(Tensor.ones(like: loss))
        close(x.grad!, f["dx"], "\(name) gradient", file: file, line: line)
    }

    func testLosses() throws {
        try checkLoss("cross_entropy_mean") { Loss.crossEntropy($0, $1) }
        try checkLoss("cross_entropy_smooth_ignore") { Loss.crossEntropy($0, $1, ignoreIndex: 2, labelSmoothing: 0.1) }
        try checkLoss("cross_entropy_sum") { Loss.crossEntropy($0, $1, reduction: .sum) }
        try checkLoss("cross_entropy_none") { Loss.crossEntropy($0, $1, labelSmoothing: 0.2, reduction: .none) }
        let w: [Float] = [0.5, 2.0, 1.0, 3.0, 0.25]
        try checkLoss("cross_entropy_weighted") { Loss.crossEntropy($0, $1, weight: w) }
        try checkLoss("cross_entropy_weighted_smooth_ignore") {
            Loss.crossEntropy($0, $1, ignoreIndex: 2, labelSmoothing: 0.1, weight: w)
        }
        try checkLoss("cross_entropy_weighted_none_smooth") {
            Loss.crossEntropy($0, $1, labelSmoothing: 0.2, weight: w, reduction: .none)
        }
        try checkLoss("nll_mean") { Loss.nll($0, $1) }
        try checkLoss("mse_mean") { Loss.mse($0, $1) }
        try checkLoss("bce_logits_pos_weight") { Loss.binaryCrossEntropyWithLogits($0, $1, posWeight: 2) }
    }

    func checkOptimizer(
        _ name: String, _ make: ([Tensor]) -> Optimizer, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let f = try fixture("optim_" + name, file: file, line: line)
        let p = f["p0"]!.copy().requiringGrad()
        let opt = make([p])
        p.grad = f["g1"]!.copy()
        opt.step()
        close(p, f["after1"], "\(name) step 1", file: file, line: line)
        p.grad = f["g2"]!.copy()
        opt.step()
        close(p, f["after2"], "\(name) step 2", file: file, line: line)
    }

    func testOptimizers() throws {
        try checkOptimizer("sgd_momentum_wd") {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        }
        try checkOptimizer("sgd_nesterov") { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, nesterov: true) }
        try checkOptimizer("adam") { Adam(parameters: $0, learningRate: 0.01, weightDecay: 0.1) }
        try checkOptimizer("adamw") { AdamW(parameters: $0, learningRate: 0.01, weightDecay: 0.1) }
        try checkOptimizer("rmsprop") { RMSProp([ParameterGroup($0)], learningRate: 0.01, weightDecay: 0.1) }
        try checkOptimizer("adagrad") {
            AdaGrad([ParameterGroup($0)], learningRate: 0.1, lrDecay: 0.01, weightDecay: 0.1)
        }
        try checkOptimizer("adadelta") {
            Adadelta([ParameterGroup($0)], learningRate: 1, rho: 0.95, eps: 1e-6, weightDecay: 0.1)
        }
    }

    /// Max-norm: rows over the norm are rescaled to it as torch.renorm does, the others untouched; an optimizer's
    /// constraint holds after every step, and its state (with Adadelta's two buffers) survives a checkpoint.
    func testMaxNormConstraintAndAdadeltaState() throws {
        let f = try fixture("renorm_rows_3")
        let w = f["x"]!.copy()
        renormRows(w, maxNorm: 3)
        close(w, f["y"], "renorm")
        let p = Tensor.full([4, 5], 2).requiringGrad()  // row norms √20 ≈ 4.47
        let opt = Adadelta([ParameterGroup([p])], rho: 0.95)
        opt.maxNormConstraints = [(p, 3)]
        p.grad = Tensor.full([4, 5], -1)
        opt.step()
        for r in 0..<4 {
            let row = p.scalars[(r * 5)..<(r * 5 + 5)]
            XCTAssertEqual(Double(row.map { $0 * $0 }.reduce(0, +).squareRoot()), 3, accuracy: 1e-4)
        }
        let again = Adadelta([ParameterGroup([p])], rho: 0.95)
        try again.loadState(opt.stateTensors(), stepCount: opt.stepCount)
        XCTAssertEqual(Set(opt.stateTensors().keys), ["state.0.square_avg", "state.0.acc_delta"])
    }

    func testEveryFixtureCaseIsUsed() {
        XCTAssertEqual(Self.cases.count, 38, "update this test when cases are added to generate_layer_fixtures.py")
    }
}

import AttentionKit
import Foundation
import XCTest

final class CIFAR10Tests: XCTestCase {
    let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("corpora/cifar10-sample")
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ak-cifar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func record(label: UInt8, fill: UInt8) -> [UInt8] { [label] + [UInt8](repeating: fill, count: 3072) }

    func testReadsSampleWithAnyRecordCount() throws {
        let data = try CIFAR10(directory: sample)
        XCTAssertEqual(data.count, 100)
        XCTAssertEqual(data.pixels.count, 100 * 3072)
        XCTAssertEqual(data.classNames.count, 10)
        XCTAssertEqual(data.classNames[0], "airplane")
        XCTAssertEqual(data.labels[0], 6)  // the first record of data_batch_1 is a frog
        XCTAssertEqual(Array(data.pixels[0..<3]), [59, 43, 50])
        XCTAssertTrue(data.labels.allSatisfy { (0...9).contains($0) })
    }

    func testMultipleFilesInNumericOrder() throws {
        try Data(record(label: 1, fill: 10) + record(label: 2, fill: 20)).write(
            to: dir.appendingPathComponent("data_batch_2.bin"))
        try Data(record(label: 3, fill: 30)).write(to: dir.appendingPathComponent("data_batch_10.bin"))
        try Data(record(label: 0, fill: 0)).write(to: dir.appendingPathComponent("data_batch_1.bin"))
        let data = try CIFAR10(directory: dir)
        XCTAssertEqual(data.labels, [0, 1, 2, 3])
        XCTAssertEqual(data.classNames.count, 10, "standard names when batches.meta.txt is absent")
    }

    func testFileSizeNotMultipleOfRecordIsAnError() throws {
        let url = dir.appendingPathComponent("data_batch_1.bin")
        try Data(record(label: 1, fill: 1) + [1, 2, 3]).write(to: url)
        XCTAssertThrowsError(try CIFAR10(directory: dir)) { e in
            XCTAssertEqual(e as? DatasetError, .truncatedRecord(file: url.path, record: 1, offset: 3073, bytesLeft: 3))
            XCTAssertTrue("\(e)".contains("data_batch_1.bin"))
        }
    }

    func testLabelAboveNineIsAnError() throws {
        let url = dir.appendingPathComponent("data_batch_1.bin")
        try Data(record(label: 1, fill: 1) + record(label: 10, fill: 1)).write(to: url)
        XCTAssertThrowsError(try CIFAR10(directory: dir)) { e in
            XCTAssertEqual(e as? DatasetError, .badLabel(file: url.path, record: 1, offset: 3073, label: 10))
        }
    }

    func testMissingDirectoryAndFiles() {
        XCTAssertThrowsError(try CIFAR10(directory: dir.appendingPathComponent("nope")))
        XCTAssertThrowsError(try CIFAR10(directory: dir)) { e in XCTAssertTrue("\(e)".contains("data_batch_")) }
        XCTAssertThrowsError(try CIFAR10(directory: dir, split: .test)) { e in
            XCTAssertTrue("\(e)".contains("test_batch.bin"))
        }
    }

    func testSplitAndBatchingAreSeededAndComplete() throws {
        let data = try CIFAR10(directory: sample)
        let (a, b) = data.split(validationFraction: 0.2, seed: 1)
        XCTAssertEqual(a.count, 80)
        XCTAssertEqual(b.count, 20)
        XCTAssertEqual(data.split(validationFraction: 0.2, seed: 1).validation.labels, b.labels)
        let (mean, std) = a.channelStatistics()
        var it1 = CIFARBatches(a, batchSize: 32, mean: mean, std: std, augmentation: ImageAugmentation(), seed: 5)
        var it2 = CIFARBatches(a, batchSize: 32, mean: mean, std: std, augmentation: ImageAugmentation(), seed: 5)
        var sizes: [Int] = []
        while let (x1, y1) = it1.next() {
            let (x2, y2) = try XCTUnwrap(it2.next())
            XCTAssertEqual(x1.scalars, x2.scalars, "same seed, same augmented batches")
            XCTAssertEqual(y1.scalars, y2.scalars)
            XCTAssertEqual(x1.shape, [y1.count, 3, 32, 32])
            sizes.append(y1.count)
        }
        XCTAssertEqual(sizes, [32, 32, 16])
        // Without augmentation the whole set, normalised, has mean ≈ 0 and std ≈ 1 per channel.
        var plain = CIFARBatches(a, batchSize: 80, mean: mean, std: std, shuffle: false)
        let (x, _) = try XCTUnwrap(plain.next())
        let perChannel = x.permute([1, 0, 2, 3]).reshape([3, -1])
        assertClose(perChannel.mean(axis: 1), [0, 0, 0], atol: 1e-4)
        assertClose(perChannel.variance(axis: 1, correction: 0).sqrt(), [1, 1, 1], atol: 1e-3)
    }

    func testIteratorStateRestores() throws {
        let data = try CIFAR10(directory: sample)
        let (mean, std) = data.channelStatistics()
        var it = CIFARBatches(data, batchSize: 10, mean: mean, std: std, augmentation: ImageAugmentation(), seed: 2)
        _ = it.next(); _ = it.next()
        let saved = it.savedState
        let expected = try XCTUnwrap(it.next())
        var other = CIFARBatches(data, batchSize: 10, mean: mean, std: std, augmentation: ImageAugmentation(), seed: 99)
        try other.restore(saved)
        let got = try XCTUnwrap(other.next())
        XCTAssertEqual(got.images.scalars, expected.images.scalars)
        XCTAssertThrowsError(try other.restore("garbage"))
    }
}

final class ModelTests: XCTestCase {
    func testSmallCNNShapesNamesAndCount() {
        var g = RandomGenerator(seed: 0)
        let model = SmallCNN(using: &g)
        XCTAssertEqual(model.parameterCount(), 620_810)
        let names = model.namedParameters().map(\.name)
        XCTAssertEqual(names.first, "features.0.weight")
        XCTAssertTrue(names.contains("features.1.weight"))
        XCTAssertTrue(names.contains("classifier.3.bias"))
        XCTAssertTrue(model.namedBuffers().map(\.name).contains("features.1.running_mean"))
        let y = withNoGrad { model(Tensor.zeros([2, 3, 32, 32])) }
        XCTAssertEqual(y.shape, [2, 10])
    }

    func testFreezeBackboneAndReplaceHead() {
        var g = RandomGenerator(seed: 0)
        let model = SmallCNN(using: &g)
        model.features.freeze()
        model.classifier = Sequential([Flatten(), Linear(2048, 5, using: &g)])
        XCTAssertEqual(model.parameterCount(trainableOnly: true), 2048 * 5 + 5)
        let loss = Loss.crossEntropy(model(Tensor.normal([2, 3, 32, 32], using: &g)), Tensor([1, 4]))
        loss.backward()
        XCTAssertNil(model.features.parameters[0].grad, "frozen parameters get no gradient")
        XCTAssertNotNil(model.classifier.parameters[0].grad)
        model.eval()
        XCTAssertFalse(model.features.layers[1].isTraining)
        model.train()
        XCTAssertTrue(model.features.layers[1].isTraining)
    }

    func testInitialisersHaveTheStatedVariance() {
        var g = RandomGenerator(seed: 0)
        let he = Init.kaimingNormal([256, 512], using: &g)
        XCTAssertEqual(he.variance().item(), 2 / 512, accuracy: 2e-4)
        let xu = Init.xavierUniform([300, 200], using: &g)
        XCTAssertEqual(xu.variance().item(), 2 / 500, accuracy: 2e-4)
        let xn = Init.xavierNormal([300, 200], using: &g)
        XCTAssertEqual(xn.variance().item(), 2 / 500, accuracy: 2e-4)
        XCTAssertEqual(Init.fans([8, 3, 3, 3]).fanIn, 27)
        let lin = Linear(100, 50, using: &g)
        XCTAssertLessThanOrEqual(lin.weight.abs().max().item(), 0.1)
    }

    func testSchedulesAndClipping() throws {
        let s = WarmupCosine(warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s.factor(step: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.factor(step: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.factor(step: 60), 0.5, accuracy: 1e-6)
        XCTAssertEqual(s.factor(step: 110), 0, accuracy: 1e-6)
        XCTAssertEqual(WarmupConstant(warmupSteps: 4).factor(step: 1), 0.5)
        XCTAssertEqual(WarmupConstant(warmupSteps: 4).factor(step: 1000), 1)
        XCTAssertEqual(WarmupConstant(warmupSteps: 0).factor(step: 0), 1)
        XCTAssertEqual(StepDecay(stepSize: 10, gamma: 0.5).factor(step: 25), 0.25)
        XCTAssertEqual(ExponentialDecay(gamma: 0.9).factor(step: 2), 0.81, accuracy: 1e-6)
        XCTAssertEqual(InverseTimeDecay(decay: 0.5).factor(step: 2), 0.5)
        let p = Tensor([0, 0]).requiringGrad()
        p.grad = Tensor([3, 4])
        XCTAssertEqual(try clipGradientNorm([p], maxNorm: 1, step: 7), 5)
        assertClose(p.grad!, [0.6, 0.8], atol: 1e-5)
        p.grad = Tensor([.nan, 1])
        XCTAssertThrowsError(try clipGradientNorm([p], maxNorm: 1, step: 7)) { e in
            XCTAssertTrue("\(e)".contains("step 7"))
        }
    }

    func testParameterGroupsGetTheirOwnOptions() {
        let a = Tensor([1]).requiringGrad(), b = Tensor([1]).requiringGrad()
        let opt = SGD(
            [ParameterGroup([a], weightDecay: 0.5), ParameterGroup([b], learningRate: 0.2)], learningRate: 0.1)
        a.grad = Tensor([0]); b.grad = Tensor([1])
        opt.step()
        XCTAssertEqual(a.item(), 1 - 0.1 * 0.5, accuracy: 1e-7)
        XCTAssertEqual(b.item(), 1 - 0.2, accuracy: 1e-7)
        opt.setLearningRateFactor(0.5)
        XCTAssertEqual(opt.groups.map(\.learningRate), [0.05, 0.1])
    }
}

import AttentionKit
import Foundation
import XCTest

/// The course's image models against their PyTorch twins (`Fixtures/zoo.json`, written by
/// `Fixtures/generate_zoo_fixtures.py`): the same state-dict names and shapes and parameter counts, and for small
/// configs the same eval and train outputs and gradients from the same weights; residual shortcuts carry the
/// gradient; and every `attn train cnn --arch` end to end on the committed CIFAR sample.
final class ModelZooTests: XCTestCase {
    nonisolated(unsafe) static let cases: [String: [String: Any]] = {  // read-only after load
        guard let data = try? Data(contentsOf: fixturesDirectory.appendingPathComponent("zoo.json")),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return root["cases"] as? [String: [String: Any]] ?? [:]
    }()

    func fixture(_ name: String) throws -> [String: Any] {
        try XCTUnwrap(Self.cases[name], "zoo.json case \(name) missing")
    }

    static func tensor(_ t: Any?) -> Tensor {
        let t = t as! [String: Any]
        return Tensor((t["data"] as! [Double]).map { Float($0) }, shape: t["shape"] as! [Int])
    }

    /// The model's state dict (parameters and buffers) has PyTorch's names and shapes, and its parameter count.
    func checkStructure(_ name: String, _ model: some Module, file: StaticString = #filePath, line: UInt = #line) throws
    {
        let f = try fixture(name)
        let theirs = f["state"] as! [String: [Int]]
        let ours = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor.shape) })
        XCTAssertEqual(
            Set(ours.keys).symmetricDifference(theirs.keys).sorted(), [], "\(name): names that only one side has",
            file: file, line: line)
        for (k, shape) in theirs where ours[k] != nil {
            XCTAssertEqual(ours[k], shape, "\(name) \(k)", file: file, line: line)
        }
        XCTAssertEqual(
            model.parameterCount(), f["parameters"] as? Int, "\(name): parameter count", file: file, line: line)
    }

    func testStateDictsAndParameterCountsEqualPyTorch() throws {
        var g = RandomGenerator(seed: 0)
        try checkStructure("lenet5", LeNet5(config: LeNet5Config(), using: &g))
        try checkStructure("vgg11_w32", VGG(config: .vgg11(width: 32), using: &g))
        try checkStructure("vgg11_w64", VGG(config: .vgg11(width: 64), using: &g))
        try checkStructure("resnet20", ResNet(config: ResNetConfig(depth: 20), using: &g))
        try checkStructure("resnet56", ResNet(config: ResNetConfig(depth: 56), using: &g))
        try checkStructure("preact18", PreActResNet(config: PreActResNetConfig(), using: &g))
        var w32 = PreActResNetConfig(); w32.width = 32
        try checkStructure("preact18_w32", PreActResNet(config: w32, using: &g))
        // the CLI's names build the same models
        for (arch, name) in [
            (ImageArchitecture.lenet5, "lenet5"), (.vgg11, "vgg11_w32"), (.resnet20, "resnet20"),
            (.resnet56, "resnet56"), (.preact18, "preact18")
        ] {
            XCTAssertEqual(
                arch.build(classes: 10, using: &g).parameterCount(), try fixture(name)["parameters"] as? Int,
                arch.rawValue)
        }
    }

    /// Same weights, same input: eval output, train output (batch statistics), input and parameter gradients.
    /// - Parameter dtype: `.float64` for fixtures computed in float64 (from float32 weights and inputs).
    func checkNumerics(
        _ name: String, _ model: some Layer, dtype: DType = .float32, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        try checkStructure(name, model, file: file, line: line)
        let f = try fixture(name)
        try model.loadStateDict((f["state_values"] as! [String: Any]).mapValues(Self.tensor))
        model.to(dtype)
        let input = { Self.tensor(f["x"]).to(dtype) }
        model.eval()
        let yEval = withNoGrad { model(input()) }
        assertClose(
            yEval.doubles, Self.tensor(f["y_eval"]).doubles, atol: 1e-5, rtol: 1e-4, "\(name) eval output", file: file,
            line: line)
        model.train()
        let x = input().requiringGrad()
        let y = model(x)
        assertClose(
            y.doubles, Self.tensor(f["y_train"]).doubles, atol: 1e-5, rtol: 1e-4, "\(name) train output", file: file,
            line: line)
        y.backward(Self.tensor(f["g"]).to(dtype))
        assertClose(
            x.grad!.doubles, Self.tensor(f["dx"]).doubles, atol: 1e-5, rtol: 1e-4, "\(name) input gradient", file: file,
            line: line)
        let grads = f["grads"] as! [String: Any]
        for (k, p) in model.namedParameters() {
            assertClose(
                (p.grad ?? Tensor.zeros(like: p)).doubles, Self.tensor(grads[k]).doubles, atol: 1e-5, rtol: 1e-4,
                "\(name) grad \(k)", file: file, line: line)
        }
    }

    func testSmallModelsMatchPyTorchNumerically() throws {
        var g = RandomGenerator(seed: 1)
        var r = ResNetConfig(depth: 8, classes: 3); r.widths = [4, 8, 16]
        try checkNumerics("resnet8_tiny", ResNet(config: r, using: &g))
        var p = PreActResNetConfig(); p.blocks = [1, 2]; p.width = 4; p.classes = 3
        try checkNumerics("preact_tiny", PreActResNet(config: p, using: &g))
        var v = VGGConfig(); v.stages = [[4], [8, 8]]; v.classes = 3
        try checkNumerics("vgg_tiny", VGG(config: v, using: &g))
    }

    /// With the residual branch silenced (its last conv zeroed), a block is its shortcut: the gradient still reaches
    /// the input through it, exactly as the shortcut alone would pass it, and nothing reaches the branch's first conv.
    func testGradientFlowsThroughTheShortcutWhenTheBranchIsZero() {
        var g = RandomGenerator(seed: 2)
        let x = rand([2, 4, 5, 5]).to(.float32)
        let upstream = rand([2, 4, 5, 5], seed: 9).to(.float32)

        let basic = BasicBlock(4, 4, stride: 1, using: &g)
        basic.conv2.weight.assign(Tensor.zeros(basic.conv2.weight.shape))
        let xb = x.copy().requiringGrad()
        basic(xb).backward(upstream)  // y = relu(bn2(0) + x) = relu(x): β starts at 0
        let expected = zip(x.scalars, upstream.scalars).map { $0 > 0 ? $1 : 0 }
        assertClose(xb.grad!.doubles, expected.map(Double.init), atol: 1e-6, rtol: 0, "basic block shortcut gradient")
        XCTAssertEqual(basic.conv1.weight.grad?.scalars.map(abs).max() ?? 0, 0, "no gradient into the silenced branch")

        let pre = PreActBlock(4, 4, stride: 1, using: &g)
        pre.conv2.weight.assign(Tensor.zeros(pre.conv2.weight.shape))
        let xp = x.copy().requiringGrad()
        pre(xp).backward(upstream)  // y = 0 + x
        assertClose(xp.grad!.doubles, upstream.doubles, atol: 1e-6, rtol: 0, "pre-activation block identity gradient")

        // a projection shortcut (stride 2, more channels) carries the gradient too
        let down = BasicBlock(4, 8, stride: 2, using: &g)
        down.conv2.weight.assign(Tensor.zeros(down.conv2.weight.shape))
        let xd = x.copy().requiringGrad()
        down(xd).sum().backward()
        XCTAssertGreaterThan(xd.grad!.scalars.map(abs).max()!, 0)
        XCTAssertGreaterThan(down.shortcut.namedParameters().first!.tensor.grad!.scalars.map(abs).max()!, 0)
    }

    func testComparisonSummaryNamesTheBadLine() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-metrics-\(UInt32.random(in: 0...UInt32.max)).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(
            "{\"epoch\": 1, \"epoch_seconds\": 2.5, \"val_accuracy\": 0.5}\n{\"epoch\": 2, \"epoch_seconds\": 3, \"val_accuracy\": 0.75}\n"
                .utf8
        ).write(to: url)
        let s = try ModelComparison.summarize(metricsJSONL: url)
        XCTAssertEqual(s.best, 0.75); XCTAssertEqual(s.bestEpoch, 2); XCTAssertEqual(s.epochs, 2);
        XCTAssertEqual(s.seconds, 5.5)
        try Data("{\"epoch\": 1, \"val_accuracy\": 0.5}\n{\"epoch\": 2,\n".utf8).write(to: url)
        XCTAssertThrowsError(try ModelComparison.summarize(metricsJSONL: url)) {
            XCTAssertTrue("\($0)".contains(url.path + ":2:"), "\($0)")
        }
        try Data("{\"epoch\": 1, \"train_loss\": 0.5}\n".utf8).write(to: url)
        XCTAssertThrowsError(try ModelComparison.summarize(metricsJSONL: url)) {
            XCTAssertTrue("\($0)".contains("no epoch with a finite val_accuracy"), "\($0)")
        }
    }

    /// Every `--arch` trains for one epoch on the committed sample; evaluate and predict rebuild the model the run holds.
    func testEveryArchitectureTrainsEndToEnd() throws {
        let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let cifar = root.appendingPathComponent("corpora/cifar10-sample").path
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-zoo-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: tmp) }
        for arch in ImageArchitecture.allCases {
            let out = tmp.appendingPathComponent(arch.rawValue).path
            let width = [.small, .lenet5].contains(arch) ? [] : ["--width", "4"]
            let r = try runAttn(
                [
                    "train", "cnn", "--arch", arch.rawValue, "--data", cifar, "--out", out, "--epochs", "1",
                    "--batch-size", "40", "--warmup-epochs", "0"
                ] + width)
            XCTAssertEqual(r.status, 0, "\(arch): \(r.err)")
            XCTAssertTrue(r.out.contains("best validation accuracy"), "\(arch): \(r.out)")
            let e = try runAttn(["evaluate", "--checkpoint", out, "--data", cifar + "/data_batch_1.bin", "--json"])
            XCTAssertEqual(e.status, 0, "\(arch) evaluate: \(e.err)")
            XCTAssertTrue(e.out.hasPrefix("{"), e.out)
            let p = try runAttn(["predict", "--checkpoint", out, "--image", cifar + "/data_batch_1.bin:3"])
            XCTAssertEqual(p.status, 0, "\(arch) predict: \(p.err)")
        }
        // the course comparison of the runs just trained: table, CSV, chart; with --json one snake_case object per run
        let cmp = try runAttn([
            "compare", tmp.appendingPathComponent("small").path, "res=" + tmp.appendingPathComponent("resnet20").path,
            "--out", tmp.appendingPathComponent("cmp").path, "--batch-size", "8", "--json"
        ])
        XCTAssertEqual(cmp.status, 0, cmp.err)
        let rows = try cmp.out.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(rows.map { $0["name"] as? String }, ["small", "res"])
        XCTAssertEqual(rows[1]["model"] as? String, "ResNet (resnet20)")
        XCTAssertGreaterThan(rows[1]["parameters"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(rows[1]["inference_per_second"] as? Double ?? 0, 0)
        let chart = try ImageDecoding.read(contentsOf: tmp.appendingPathComponent("cmp/comparison.png"))
        XCTAssertGreaterThan(chart.width, 400)
        let table = try String(contentsOf: tmp.appendingPathComponent("cmp/comparison.md"), encoding: .utf8)
        XCTAssertTrue(table.contains("| res | image | ResNet (resnet20) |"), table)
        // into the directory the runs live in (Examples/compare-models.sh's layout): the run directories beside it
        // are allowed, any other file is not
        try FileManager.default.removeItem(at: tmp.appendingPathComponent("cmp"))
        let beside = try runAttn([
            "compare", tmp.appendingPathComponent("small").path, "--out", tmp.path, "--batch-size", "8"
        ])
        XCTAssertEqual(beside.status, 0, beside.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("comparison.md").path))
        try Data("x".utf8).write(to: tmp.appendingPathComponent("notes.txt"))
        try FileManager.default.removeItem(at: tmp.appendingPathComponent("comparison.csv"))
        let other = try runAttn(["compare", tmp.appendingPathComponent("small").path, "--out", tmp.path])
        XCTAssertEqual(other.status, 1, other.err)
        XCTAssertTrue(other.err.contains("that are not a comparison"), other.err)
        let notRun = try runAttn(["compare", tmp.path, "--out", tmp.appendingPathComponent("cmp2").path])
        XCTAssertNotEqual(notRun.status, 0)
        XCTAssertTrue(notRun.err.contains(tmp.appendingPathComponent("config.json").path), notRun.err)

        let wrong = try runAttn([
            "train", "cnn", "--arch", "resnet19", "--data", cifar, "--out", tmp.appendingPathComponent("x").path
        ])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.err.contains("resnet20"), wrong.err)
        let mixed = try runAttn(["train", "cnn", "--arch", "resnet20", "--channels", "8,16", "--data", cifar])
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssertTrue(mixed.err.contains("--arch small only"), mixed.err)
    }
}

/// The parts a compact convolutional transformer (CCT) adds to the ViT — the convolutional tokenizer and sequence
/// pooling — against their PyTorch twins (`zoo.json` "cct_parts"), a finite-difference check of sequence pooling
/// with padding, and a whole CCT trained a step end to end.
extension ModelZooTests {
    /// Tokenizer → sequence pooling → head, named as in the fixture (and in `VisionTransformer`).
    final class Parts: Layer {
        var convTokenizer: ConvTokenizer
        var attentionPool: AttentionPooling
        var head: Linear
        var isTraining = true
        init(using g: inout RandomGenerator) {
            convTokenizer = ConvTokenizer(
                channels: 3, dModel: 6, config: ConvTokenizerConfig(layers: 2, channels: 4), using: &g)
            attentionPool = AttentionPooling(6, using: &g)
            head = Linear(6, 3, using: &g)
        }
        var children: [(name: String, module: any Module)] {
            [("convTokenizer", convTokenizer), ("attentionPool", attentionPool), ("head", head)]
        }
        func callAsFunction(_ x: Tensor) -> Tensor { head(attentionPool(convTokenizer(x))) }
    }

    func testTokenizerAndSequencePoolingMatchPyTorch() throws {
        var g = RandomGenerator(seed: 2)
        try checkNumerics("cct_parts", Parts(using: &g))
    }

    func testSequencePoolingGradientsAndPadding() {
        var g = RandomGenerator(seed: 3)
        let pool = AttentionPooling(4, using: &g)
        let h = Tensor.normal([2, 3, 4], std: 1, using: &g)
        let w = Tensor.normal([1, 4], std: 1, using: &g), b = Tensor.normal([1], std: 1, using: &g)
        pool.score.weight = w.to(.float64); pool.score.bias = b.to(.float64)
        gradCheck("sequence pooling", [h, w, b]) { x in
            pool.score.weight = x[1]; pool.score.bias = x[2]
            return pool.pool(x[0], padding: [false, false, true, false, false, false])
        }
        // a padded position gets no weight: the result equals pooling without it
        let padded = withNoGrad { pool.pool(h.to(.float64), padding: [false, true, true, false, false, false]) }
        let alone = withNoGrad {
            pool(h.to(.float64).slice(axis: 1, end: 1).select(axis: 0, index: 0).reshape([1, 1, 4]))
        }
        assertClose(Array(padded.doubles.prefix(4)), alone.doubles, atol: 1e-12, rtol: 0, "padding ignored")
    }

    func testCCTTrainsAndReportsItsGrid() throws {
        var c = ViTConfig()
        (c.dModel, c.depth, c.heads, c.mlpRatio, c.classes, c.pooling) = (16, 1, 2, 2, 3, .attention)
        c.convTokenizer = ConvTokenizerConfig(layers: 2, channels: 8)
        try c.validate()
        XCTAssertEqual(c.patchesPerSide, 8, "32 → 16 → 8")
        var g = RandomGenerator(seed: 4)
        let vit = VisionTransformer(config: c, using: &g)
        XCTAssertNil(vit.patchEmbedding)
        XCTAssertTrue(vit.namedParameters().map(\.name).contains("convTokenizer.convolutions.1.weight"))
        XCTAssertTrue(vit.namedParameters().map(\.name).contains("attentionPool.score.weight"))
        let x = Tensor.normal([2, 3, 32, 32], std: 1, using: &g)
        let logits = vit(x)
        XCTAssertEqual(logits.shape, [2, 3])
        Loss.crossEntropy(logits, [0, 2]).backward()
        XCTAssertTrue(vit.namedParameters().allSatisfy { $0.tensor.grad != nil }, "every parameter gets a gradient")
        var bad = c
        bad.convTokenizer = ConvTokenizerConfig(layers: 6)
        XCTAssertThrowsError(try bad.validate(), "6 halvings do not fit 32 pixels")
    }
}

/// torchvision's ImageNet ResNets: the state-dict names, shapes and parameter counts of `resnet18` and `resnet50`,
/// and (at a first-stage width of 2, torchvision's own blocks and forward) the same outputs and gradients.
extension ModelZooTests {
    func testTorchVisionResNetsMatchTorchVision() throws {
        var g = RandomGenerator(seed: 5)
        try checkStructure(
            "torchvision_resnet18", TorchVisionResNet(config: TorchVisionResNetConfig(depth: 18), using: &g))
        try checkStructure(
            "torchvision_resnet50", TorchVisionResNet(config: TorchVisionResNetConfig(depth: 50), using: &g))
        var narrow = TorchVisionResNetConfig(depth: 18, classes: 3)
        narrow.width = 2
        try checkNumerics("torchvision_resnet18_w2", TorchVisionResNet(config: narrow, using: &g))
        // 50 layers of batch statistics: float32 results differ between implementations by rounding alone
        // (PyTorch's own float32 and float64 differ by 1e-4 here), so this one is compared in float64
        narrow.depth = 50
        try checkNumerics("torchvision_resnet50_w2", TorchVisionResNet(config: narrow, using: &g), dtype: .float64)
    }
}

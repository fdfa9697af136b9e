import AttentionKit
import Foundation
import XCTest

/// ULMFiT (Howard & Ruder 2018) in the library: layer groups, discriminative rates, gradual unfreezing, Adam's
/// per-parameter step count (what makes a layer unfrozen late start like PyTorch's), and `attn train classifier
/// --init-from` a recurrent language model on the binary.
final class ULMFiTTests: XCTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-ulmfit-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    var trec: String { root.appendingPathComponent("corpora/trec-sample/train.label").path }

    func recurrentClassifier(bidirectional: Bool = false) -> RecurrentTextClassifier {
        var c = RecurrentTextClassifierConfig(vocabulary: 20, classes: 3)
        (c.embeddingDim, c.hidden, c.layers, c.bidirectional) = (6, 5, 2, bidirectional)
        var g = RandomGenerator(seed: 1)
        return RecurrentTextClassifier(config: c, using: &g)
    }

    /// Concat pooling: the head reads [the final state, the max, the mean] of the last layer's outputs over each
    /// row's real steps; the final state is the output at the row's last real step (forward) and at its first
    /// (the reverse direction), so padding never reaches it.
    func testConcatPoolingReadsTheLastStateTheMaxAndTheMean() throws {
        for bidirectional in [false, true] {
            var c = RecurrentTextClassifierConfig(vocabulary: 20, classes: 3)
            (c.embeddingDim, c.hidden, c.layers, c.bidirectional, c.pooling) = (6, 5, 2, bidirectional, .concat)
            try c.validate()
            var g = RandomGenerator(seed: 4)
            let model = RecurrentTextClassifier(config: c, using: &g)
            model.eval()
            XCTAssertEqual(model.head.weight.shape, [3, 3 * 5 * (bidirectional ? 2 : 1)])
            let rows = [[3, 5, 7, 9], [4, 6, 0, 0]], lengths = [4, 2]
            let logits = withNoGrad { model(rows).scalars }
            let (out, _) = withNoGrad {
                model.rnn(model.embedding(rows.flatMap { $0 }, shape: [2, 4]), lengths: lengths)
            }
            let width = 5 * (bidirectional ? 2 : 1), o = out.scalars
            var expected: [Float] = []
            for r in 0..<2 {
                let n = lengths[r]
                func at(_ t: Int, _ k: Int) -> Float { o[(r * 4 + t) * width + k] }
                let last = (0..<width).map { k in k < 5 ? at(n - 1, k) : at(0, k) }
                let maxima = (0..<width).map { k in (0..<n).map { at($0, k) }.max()! }
                let means = (0..<width).map { k in (0..<n).map { at($0, k) }.reduce(0, +) / Float(n) }
                let pooled = last + maxima + means
                let w = model.head.weight.scalars, b = model.head.bias!.scalars
                for j in 0..<3 {
                    expected.append(
                        b[j] + (0..<pooled.count).map { w[j * pooled.count + $0] * pooled[$0] }.reduce(0, +))
                }
            }
            for (a, e) in zip(logits, expected) {
                XCTAssertEqual(a, e, accuracy: 1e-5, "bidirectional \(bidirectional)")
            }
        }
        var t = TextClassifierConfig(vocabulary: 20, classes: 3)
        t.pooling = .concat
        XCTAssertThrowsError(try t.validate()) { XCTAssertTrue("\($0)".contains("recurrent"), "\($0)") }
    }

    func testLayerGroupsRunFromTheHeadDownToTheEmbeddings() {
        let groups = TransferRecipe.layerGroups(recurrentClassifier(bidirectional: true))
        XCTAssertEqual(groups.map(\.name), ["head", "rnn.l1", "rnn.l0", "embedding"])
        XCTAssertEqual(
            Set(groups[1].parameters),
            Set(
                ["weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"].flatMap {
                    ["rnn." + $0, "rnn." + $0 + "_reverse"]
                }
            ))
        var c = TextClassifierConfig(vocabulary: 20, classes: 3)
        (c.dModel, c.heads, c.layers, c.feedForward, c.pooling) = (8, 2, 3, 16, .mean)
        var g = RandomGenerator(seed: 1)
        let transformer = TransferRecipe.layerGroups(TextClassifier(config: c, using: &g)).map(\.name)
        XCTAssertEqual(transformer.first, "head")
        XCTAssertEqual(transformer.last, "embedding")
        let layers = transformer.filter { $0.hasPrefix("encoder.layers.") }
        XCTAssertEqual(layers, ["encoder.layers.2", "encoder.layers.1", "encoder.layers.0"], "\(transformer)")
        // every parameter is in exactly one group
        let all = TransferRecipe.layerGroups(TextClassifier(config: c, using: &g)).flatMap(\.parameters)
        XCTAssertEqual(all.count, Set(all).count)
        XCTAssertEqual(Set(all), Set(TextClassifier(config: c, using: &g).namedParameters().map(\.name)))
    }

    func testDiscriminativeRatesDivideByTheFactorOncePerGroupDown() throws {
        let model = recurrentClassifier()
        let training = TrainingRecipe(
            epochs: 1, lr: 0.01, optimizer: .adamw(beta2: 0.999), weightDecay: 0.1, clipNorm: 0)
        let recipe = TransferRecipe(discriminativeLR: 2.5)
        let optimizer = recipe.makeOptimizer(training, for: model)
        let named = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor) })
        func rate(_ name: String) -> Float? {
            optimizer.groups.first { g in g.parameters.contains { $0 === named[name]! } }?.learningRate
        }
        XCTAssertEqual(rate("head.weight"), 0.01)
        XCTAssertEqual(rate("head.bias"), 0.01)
        XCTAssertEqual(try XCTUnwrap(rate("rnn.weight_hh_l1")), 0.004, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(rate("rnn.bias_ih_l0")), 0.0016, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(rate("embedding.weight")), 0.00064, accuracy: 1e-9)
        XCTAssertEqual(optimizer.allParameters.count, named.count, "every parameter once")
        // biases are not decayed, matrices are (the AdamW split within each layer group)
        let headBias = optimizer.groups.first { g in g.parameters.contains { $0 === named["head.bias"]! } }
        XCTAssertEqual(headBias?.weightDecay, 0)
        XCTAssertThrowsError(try TransferRecipe(discriminativeLR: 0.5).validate())
        XCTAssertThrowsError(try TransferRecipe(gradualUnfreezing: true).validate(), "needs --init-from")
        XCTAssertThrowsError(
            try TransferRecipe(initFrom: "x", freeze: ["rnn"], gradualUnfreezing: true).validate(), "freeze decides")
    }

    /// PyTorch keeps Adam's step per parameter: a parameter that first gets a gradient at step 6 takes the same
    /// first update as on step 1 of a fresh optimizer (with the global count it took ≈ 3× that).
    func testAdamCountsStepsPerParameterLikePyTorch() throws {
        let late = Tensor([0.5, -1, 2], shape: [3]).requiringGrad()
        let early = Tensor([1, 1], shape: [2]).requiringGrad()
        let adam = AdamW([ParameterGroup([early, late])], learningRate: 0.1, weightDecay: 0)
        for _ in 0..<5 {
            early.grad = Tensor([0.3, -0.2], shape: [2])
            adam.step()
        }
        late.grad = Tensor([0.01, -4, 0.5], shape: [3])
        early.grad = Tensor([0.3, -0.2], shape: [2])
        adam.step()
        let fresh = Tensor([0.5, -1, 2], shape: [3]).requiringGrad()
        let one = AdamW([ParameterGroup([fresh])], learningRate: 0.1, weightDecay: 0)
        fresh.grad = Tensor([0.01, -4, 0.5], shape: [3])
        one.step()
        XCTAssertEqual(late.scalars, fresh.scalars, "the late parameter's first update is a first update")
        XCTAssertEqual(late.scalars[0], 0.4, accuracy: 1e-5, "lr × sign(g) on a first step")

        // The count is saved ("state.1.step", one number) and restored.
        let saved = adam.stateTensors()
        XCTAssertEqual(saved["state.1.step"]?.shape, [1])
        XCTAssertEqual(saved["state.1.step"]?.scalars, [1])
        XCTAssertEqual(saved["state.0.step"]?.scalars, [6])
        let copy = AdamW(
            [ParameterGroup([early.copy().requiringGrad(), late.copy().requiringGrad()])], learningRate: 0.1,
            weightDecay: 0)
        try copy.loadState(saved, stepCount: adam.stepCount)
        for (p, q) in zip(adam.allParameters, copy.allParameters) {
            p.grad = Tensor([Float](repeating: 0.25, count: p.count), shape: p.shape)
            q.grad = Tensor([Float](repeating: 0.25, count: q.count), shape: q.shape)
        }
        adam.step()
        copy.step()
        XCTAssertEqual(adam.allParameters.map(\.scalars), copy.allParameters.map(\.scalars))

        // A checkpoint from before the count (moments, no step): every parameter had taken every step.
        let a = Tensor([1, 2], shape: [2]).requiringGrad()
        let reference = AdamW([ParameterGroup([a])], learningRate: 0.1, weightDecay: 0)
        for _ in 0..<3 {
            a.grad = Tensor([0.5, -0.1], shape: [2])
            reference.step()
        }
        let b = a.copy().requiringGrad()
        let old = AdamW([ParameterGroup([b])], learningRate: 0.1, weightDecay: 0)
        try old.loadState(reference.stateTensors().filter { !$0.key.hasSuffix(".step") }, stepCount: 3)
        a.grad = Tensor([0.5, -0.1], shape: [2])
        b.grad = Tensor([0.5, -0.1], shape: [2])
        reference.step()
        old.step()
        XCTAssertEqual(a.scalars, b.scalars)
        XCTAssertThrowsError(try old.loadState(["state.0.step": Tensor([1, 2], shape: [2])], stepCount: 1))
    }

    /// The binary: a 2-layer LSTM language model on the TREC sample's questions, then a classifier from it with
    /// gradual unfreezing and discriminative rates: the log names the groups and their rates; after 2 epochs the
    /// layers not yet unfrozen are the language model's bit for bit and the unfrozen one is not; the tokenizer is the
    /// language model's; stopping after epoch 2 and resuming gives the uninterrupted run's weights.
    func testClassifierFineTunesARecurrentLanguageModelGradually() throws {
        let questions = try String(contentsOfFile: trec, encoding: .isoLatin1).split(separator: "\n").map {
            $0.split(separator: " ", maxSplits: 1).last.map(String.init) ?? ""
        }
        try questions.joined(separator: "\n").write(toFile: path("questions.txt"), atomically: true, encoding: .utf8)
        let lm = try runAttn([
            "train", "lm", "--model", "lstm", "--data", path("questions.txt"), "--tokenizer", "word", "--vocab-size",
            "300", "--hidden", "12", "--layers", "2", "--block-size", "12", "--batch-size", "8", "--epochs", "1",
            "--sample-tokens", "0", "--seed", "1", "--out", path("lm")
        ])
        XCTAssertEqual(lm.status, 0, lm.err)
        let args = [
            "train", "classifier", "--format", "trec", "--data", trec, "--model", "lstm", "--init-from", path("lm"),
            "--gradual-unfreeze", "--discriminative-lr", "2", "--schedule", "inverse-sqrt", "--warmup-steps", "5",
            "--seed", "2"
        ]
        let two = try runAttn(args + ["--epochs", "2", "--out", path("two")])
        XCTAssertEqual(two.status, 0, two.err)
        XCTAssertTrue(two.out.contains("fine-tuning the language model"), two.out)
        XCTAssertTrue(
            two.out.contains(
                "layer groups from the top: head, rnn.l1 (lr × 0.5), rnn.l0 (lr × 0.25), embedding (lr × 0.125)"),
            two.out.split(separator: "\n").filter { $0.contains("layer groups") }.joined())
        XCTAssertTrue(two.out.contains("epoch 2: unfrozen rnn.l1; 2 of 4 layer groups train"), two.out)
        XCTAssertFalse(two.out.contains("unfrozen rnn.l0"), two.out)
        let source = try Safetensors.read(from: URL(fileURLWithPath: path("lm/best.safetensors"))).tensors
        let tuned = try Safetensors.read(from: URL(fileURLWithPath: path("two/last.safetensors"))).tensors
        for (name, t) in tuned where name.hasPrefix("rnn.") || name.hasPrefix("embedding.") {
            if name.hasSuffix("_l1") {
                XCTAssertTrue(t.scalars != source[name]?.scalars, "\(name) trained in epoch 2")
            } else {
                XCTAssertTrue(t.scalars == source[name]?.scalars, "\(name) still frozen")
            }
        }
        XCTAssertEqual(tuned["head.weight"]?.shape, [6, 12])
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: path("two/tokenizer.json"))),
            try Data(contentsOf: URL(fileURLWithPath: path("lm/tokenizer.json"))))
        let evaluation = try runAttn(["evaluate", "--checkpoint", path("two"), "--data", trec, "--json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.err)

        // epochs 3 and 4 unfreeze the rest; stopping after 3 and resuming is bit for bit
        let straight = try runAttn(args + ["--epochs", "4", "--out", path("straight")])
        XCTAssertEqual(straight.status, 0, straight.err)
        XCTAssertTrue(straight.out.contains("epoch 4: unfrozen embedding; 4 of 4 layer groups train"), straight.out)
        XCTAssertEqual(try runAttn(args + ["--epochs", "3", "--out", path("split")]).status, 0)
        let resumed = try runAttn(args + ["--epochs", "4", "--out", path("split"), "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("straight/last.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("split/last.safetensors"))).tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (k, t) in a { XCTAssertTrue(t.scalars == b[k]?.scalars, "\(k) differs after resume") }
        XCTAssertTrue(a["embedding.weight"]?.scalars != source["embedding.weight"]?.scalars)

        let noSource = try runAttn(["train", "classifier", "--format", "trec", "--data", trec, "--gradual-unfreeze"])
        XCTAssertNotEqual(noSource.status, 0)
        XCTAssertTrue(noSource.err.contains("--init-from"), noSource.err)
        let badFactor = try runAttn(args + ["--discriminative-lr", "0.5", "--out", path("bad")])
        XCTAssertNotEqual(badFactor.status, 0)
        XCTAssertTrue(badFactor.err.contains("[1, 100]"), badFactor.err)
    }

    /// `--unfreeze-epoch` on a text classifier: the frozen encoder trains from that epoch (it was ignored before).
    func testTextClassifierUnfreezesAtTheEpochAsked() throws {
        let small = [
            "--format", "trec", "--data", trec, "--d-model", "16", "--heads", "2", "--layers", "1", "--feed-forward",
            "16", "--seed", "1"
        ]
        XCTAssertEqual(
            try runAttn(["train", "classifier"] + small + ["--epochs", "1", "--out", path("base")]).status, 0)
        let ft = try runAttn([
            "train", "classifier", "--format", "trec", "--data", trec, "--init-from", path("base"), "--freeze",
            "embedding,encoder", "--unfreeze-epoch", "2", "--epochs", "2", "--out", path("ft")
        ])
        XCTAssertEqual(ft.status, 0, ft.err)
        XCTAssertTrue(ft.out.contains("epoch 2: unfrozen"), ft.out)
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("base/best.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("ft/last.safetensors"))).tensors
        XCTAssertNotNil(b["encoder.layers.0.linear1.weight"])
        XCTAssertTrue(b["encoder.layers.0.linear1.weight"]?.scalars != a["encoder.layers.0.linear1.weight"]?.scalars)
    }
}

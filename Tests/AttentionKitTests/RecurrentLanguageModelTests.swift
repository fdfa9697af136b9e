import AttentionKit
import Foundation
import XCTest

/// The recurrent language model: PyTorch parity (word_language_model's tied LSTM), generation through the carried
/// state equal to recomputing the prefix, training on a pattern, and `attn train lm --model lstm` with generate,
/// evaluate, attention (refused: no attention layers), --resume bit for bit and transformer-only flags refused.
final class RecurrentLanguageModelTests: TemporaryDirectoryTestCase {
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "../../corpora/shakespeare-sample/input.txt"
    ).standardized.path

    func smallModel(cell: RecurrentCell = .lstm, tie: Bool = true) -> RecurrentLanguageModel {
        var c = RecurrentLanguageModelConfig(vocabulary: 11)
        (c.cell, c.embeddingDim, c.hidden, c.layers, c.dropout, c.blockSize, c.tieWeights) = (cell, 8, 8, 2, 0, 12, tie)
        var g = RandomGenerator(seed: 5)
        return RecurrentLanguageModel(config: c, using: &g)
    }

    /// Logits, loss and every parameter's gradient equal PyTorch's word_language_model RNNModel (2-layer LSTM,
    /// tied), from `Fixtures/recurrent.json` (`generate_recurrent_fixtures.py`).
    func testEqualsPyTorchWordLanguageModel() throws {
        let data = try Data(contentsOf: fixturesDirectory.appendingPathComponent("recurrent.json"))
        let f = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["language_model"] as? [String: Any])
        func tensor(_ t: Any?) -> Tensor {
            let t = t as! [String: Any]
            return Tensor((t["data"] as! [Double]).map { Float($0) }, shape: t["shape"] as! [Int])
        }
        var c = RecurrentLanguageModelConfig(vocabulary: f["vocabulary"] as! Int)
        (c.embeddingDim, c.hidden, c.layers, c.dropout) = (
            f["width"] as! Int, f["width"] as! Int, f["layers"] as! Int, 0
        )
        var g = RandomGenerator(seed: 0)
        let model = RecurrentLanguageModel(config: c, using: &g)
        var weights = (f["weights"] as! [String: Any]).mapValues(tensor)
        weights["head.weight"] = weights["embedding.weight"]
        try model.loadStateDict(weights)
        let ids = f["ids"] as! [[Int]], targets = f["targets"] as! [[Int]]
        assertClose(model(ids), tensor(f["logits"]).scalars, atol: 1e-5, rtol: 1e-4, "logits")
        let loss = model.loss(ids, targets: targets)
        XCTAssertEqual(Double(loss.item()), f["loss"] as! Double, accuracy: 1e-5)
        loss.backward()
        let grads = f["grads"] as! [String: Any]
        XCTAssertEqual(Set(model.namedParameters().map(\.name)), Set(grads.keys))
        for (name, p) in model.namedParameters() {
            assertClose(
                try XCTUnwrap(p.grad, name), tensor(grads[name]).scalars, atol: 1e-6, rtol: 1e-3, "∂loss/∂\(name)")
        }
    }

    /// Feeding tokens one at a time through the carried state gives the full pass's logits at every position, for
    /// the LSTM and the GRU; greedy generation continues with the full pass's most probable token.
    func testStatefulStepsEqualTheFullPass() throws {
        for cell in [RecurrentCell.lstm, .gru] {
            let model = smallModel(cell: cell)
            model.eval()
            let ids = [[1, 4, 2, 9, 3, 3, 7, 0], [2, 2, 8, 1, 6, 4, 0, 9]]
            let full = withNoGrad { model(ids) }.scalars  // [2, 8, 11]
            var state: RecurrentState? = nil
            for pos in 0..<8 {
                let (logits, next) = withNoGrad { model(ids.map { [$0[pos]] }, initial: state) }
                state = next
                for r in 0..<2 {
                    let expected = Array(full[((r * 8 + pos) * 11)..<((r * 8 + pos + 1) * 11)]).map(Double.init)
                    assertClose(
                        Array(logits.scalars[(r * 11)..<((r + 1) * 11)]).map(Double.init), expected, atol: 1e-5,
                        rtol: 1e-4, "\(cell) position \(pos), row \(r)")
                }
            }
            var g = RandomGenerator(seed: 1)
            let drawn = model.generate([[1, 4, 2]], maxNewTokens: 6, sampling: Sampling(temperature: 0), using: &g)[0]
            XCTAssertEqual(drawn.count, 6)
            var prefix = [1, 4, 2]
            for token in drawn {
                let logits = withNoGrad { model([prefix]) }.scalars.suffix(11)
                XCTAssertEqual(
                    token, logits.indices.max { logits[$0] < logits[$1] }! - logits.startIndex,
                    "\(cell): greedy takes the most probable token")
                prefix.append(token)
            }
        }
    }

    /// The loss falls on a repeated pattern within 150 Adam steps; every parameter gets a gradient; the head is
    /// tied to the embedding (one parameter) unless told otherwise; a configuration that cannot tie is refused.
    func testTrainsTiesAndValidates() throws {
        let model = smallModel()
        XCTAssertTrue(model.head.weight === model.embedding.weight)
        XCTAssertFalse(smallModel(tie: false).head.weight === smallModel(tie: false).embedding.weight)
        // small embeddings (U(±0.1)) make the input's signal weak at first: the loss rests near ln 3 (any of the
        // three tokens) for a few dozen steps before the model uses its input (PyTorch's twin does the same)
        assertLearnsRepeatedPattern(model, learningRate: 3e-2, steps: 150)
        var c = RecurrentLanguageModelConfig(vocabulary: 11)
        c.embeddingDim = 64
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("tieWeights"), "\($0)") }
        c.tieWeights = false
        XCTAssertNoThrow(try c.validate())
    }

    /// The verbs on the built binary with `--model lstm`: train (samples logged, config.json names the network),
    /// --resume bit for bit, generate (same seed, same text; prompts longer than the training window), evaluate's
    /// JSON line, attention refused with a reason, transformer-only flags refused, and a run written before
    /// `model_type` existed still loads as a GPT.
    func testTrainGenerateEvaluateResumeOnTheBinary() throws {
        let text = String(try String(contentsOfFile: sample, encoding: .utf8).prefix(6000))
        try text.write(toFile: path("small.txt"), atomically: true, encoding: .utf8)
        let args = [
            "train", "lm", "--model", "lstm", "--data", path("small.txt"), "--block-size", "16", "--batch-size", "8",
            "--hidden", "24",
            "--layers", "1", "--sample-tokens", "20", "--schedule", "inverse-sqrt", "--warmup-steps", "5", "--seed", "2"
        ]
        let straight = try runAttn(args + ["--out", path("straight"), "--epochs", "2"])
        XCTAssertEqual(straight.status, 0, straight.err)
        XCTAssertTrue(straight.out.contains("model: RecurrentLanguageModel"), straight.out)
        XCTAssertTrue(straight.out.contains("sample: "), straight.out)
        let config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("straight/config.json"))))
            as? [String: Any]
        XCTAssertEqual(config?["model_type"] as? String, "RecurrentLanguageModel")
        XCTAssertEqual((config?["model"] as? [String: Any])?["cell"] as? String, "lstm")
        let first = try runAttn(args + ["--out", path("split"), "--epochs", "1"])
        XCTAssertEqual(first.status, 0, first.err)
        let resumed = try runAttn(args + ["--out", path("split"), "--epochs", "2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("straight/last.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("split/last.safetensors"))).tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (k, t) in a { XCTAssertEqual(t.scalars, b[k]?.scalars, "\(k) differs after resume") }

        let gen = [
            "generate", "--checkpoint", path("straight"), "--prompt", String(text.prefix(40)), "--max-new-tokens", "30",
            "--seed", "7", "--top-k", "10"
        ]
        let g1 = try runAttn(gen), g2 = try runAttn(gen)
        XCTAssertEqual(g1.status, 0, g1.err)
        XCTAssertEqual(g1.out, g2.out, "the same seed gives the same text")
        XCTAssertTrue(g1.out.hasPrefix(String(text.prefix(40))), g1.out)
        XCTAssertFalse(g1.err.contains("slid"), "a recurrent model carries its state: no window to slide")

        let eval = try runAttn(["evaluate", "--checkpoint", path("straight"), "--data", path("small.txt"), "--json"])
        XCTAssertEqual(eval.status, 0, eval.err)
        let json =
            try JSONSerialization.jsonObject(
                with: Data((eval.out.split(separator: "\n").last.map(String.init) ?? "").utf8)) as? [String: Any]
        XCTAssertEqual(json?["metric"] as? String, "perplexity")
        XCTAssertGreaterThan(json?["value"] as? Double ?? 0, 1)

        let att = try runAttn(["attention", "--checkpoint", path("straight"), "--text", "First", "--out", path("att")])
        XCTAssertNotEqual(att.status, 0)
        XCTAssertTrue(att.err.contains("no attention layers"), att.err)

        for (extra, named) in [
            (["--heads", "2"], "--heads"), (["--positions", "sincos"], "--positions"), (["--d-model", "32"], "--no-tie")
        ] {
            let r = try runAttn(args + extra + ["--out", path("bad")])
            XCTAssertEqual(r.status, 64, r.err)
            XCTAssertTrue(r.err.contains(named), r.err)
        }
        let hidden = try runAttn(["train", "lm", "--data", path("small.txt"), "--hidden", "32", "--out", path("bad")])
        XCTAssertEqual(hidden.status, 64, hidden.err)
        XCTAssertTrue(hidden.err.contains("--hidden is only read by --model lstm|gru"), hidden.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad")))

        // config.json of a transformer run from before model_type: the "model" entry alone says GPT
        let gpt = try runAttn([
            "train", "lm", "--data", path("small.txt"), "--block-size", "16", "--batch-size", "8", "--layers", "1",
            "--heads", "2",
            "--d-model", "16", "--sample-tokens", "0", "--max-steps", "3", "--out", path("gpt")
        ])
        XCTAssertEqual(gpt.status, 0, gpt.err)
        var old = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("gpt/config.json"))))
                as? [String: Any])
        XCTAssertEqual(old.removeValue(forKey: "model_type") as? String, "GPT")
        try JSONSerialization.data(withJSONObject: old).write(to: URL(fileURLWithPath: path("gpt/config.json")))
        let oldGen = try runAttn(["generate", "--checkpoint", path("gpt"), "--prompt", "First", "--max-new-tokens", "5"]
        )
        XCTAssertEqual(oldGen.status, 0, oldGen.err)
        let decoded = try RunDirectory(path: path("gpt")).readConfig(LanguageModelConfig.self)
        guard case .gpt = decoded.model else { return XCTFail("a config.json without model_type is a GPT run") }
    }
}

import AttentionKit
import Foundation
import XCTest

/// Every parameter of `model` gets a gradient, and the next-token loss on 1 2 3 1 2 3 … falls below 30% of its
/// first value within `steps` AdamW steps.
func assertLearnsRepeatedPattern(
    _ model: some CausalLanguageModel, learningRate: Float, steps: Int, file: StaticString = #filePath,
    line: UInt = #line
) {
    let x = [[1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2]], y = [[2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]]
    let opt = AdamW(ParameterGroup.weightDecayGroups(model, weightDecay: 0), learningRate: learningRate, weightDecay: 0)
    let first = model.loss(x, targets: y)
    first.backward()
    for (name, p) in model.namedParameters() {
        XCTAssertNotNil(p.grad, "\(name) has no gradient", file: file, line: line)
    }
    opt.step(); opt.zeroGrad()
    for _ in 0..<steps { let l = model.loss(x, targets: y); l.backward(); opt.step(); opt.zeroGrad() }
    XCTAssertLessThan(model.loss(x, targets: y).item(), first.item() * 0.3, file: file, line: line)
}

/// The language model: cached decoding equals recomputing the prefix, sampling's knobs, the character tokenizer's
/// tokenizer.json round trip, and `attn train lm` / `generate` / `evaluate` / `attention` / `--resume` on the binary.
final class LanguageModelTests: TemporaryDirectoryTestCase {
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "../../corpora/shakespeare-sample/input.txt"
    ).standardized.path

    func smallGPT(positions: PositionKind = .learned) -> GPT {
        var c = GPTConfig(vocabulary: 11)
        (c.blockSize, c.layers, c.heads, c.dModel, c.positions) = (12, 2, 2, 8, positions)
        var g = RandomGenerator(seed: 3)
        return GPT(config: c, using: &g)
    }

    /// The logits of each new position fed through the key/value cache (one at a time, or a prefix at once) equal
    /// the full causal pass's logits at that position.
    func testCachedDecodingEqualsRecomputingThePrefix() throws {
        for positions in [PositionKind.learned, .sinusoidal] {
            let model = smallGPT(positions: positions)
            model.eval()
            let ids = [[1, 4, 2, 9, 3, 3, 7, 0, 5, 10], [2, 2, 8, 1, 6, 4, 0, 9, 1, 3]]
            let full = withNoGrad { model(ids) }.scalars  // [B, T, V]
            let (b, t, v) = (2, 10, 11)
            func row(_ r: Int, _ pos: Int) -> [Double] { (0..<v).map { Double(full[(r * t + pos) * v + $0]) } }
            let caches = model.makeCaches(batch: b)
            let prefix = withNoGrad { model.step(ids.map { Array($0[0..<4]) }, caches: caches) }.scalars  // position 3
            for r in 0..<b {
                assertClose(
                    Array(prefix[(r * v)..<((r + 1) * v)]).map(Double.init), row(r, 3), atol: 1e-5, rtol: 1e-4,
                    "prefix, row \(r)")
            }
            for pos in 4..<t {
                let step = withNoGrad { model.step(ids.map { [$0[pos]] }, caches: caches) }.scalars
                for r in 0..<b {
                    assertClose(
                        Array(step[(r * v)..<((r + 1) * v)]).map(Double.init), row(r, pos), atol: 1e-5, rtol: 1e-4,
                        "\(positions) step \(pos), row \(r)")
                }
            }
        }
    }

    /// Logits, loss and every parameter's gradient equal a PyTorch twin's (`Fixtures/gpt.json`, written by
    /// `Fixtures/generate_gpt_fixtures.py`: nanoGPT's layout with our names, tied head, causal SDPA, exact GELU).
    func testGPTEqualsPyTorchTwin() throws {
        let data = try Data(contentsOf: fixturesDirectory.appendingPathComponent("gpt.json"))
        let f = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        func tensor(_ t: Any?) -> Tensor {
            let t = t as! [String: Any]
            return Tensor((t["data"] as! [Double]).map { Float($0) }, shape: t["shape"] as! [Int])
        }
        let c = f["config"] as! [String: Int]
        var config = GPTConfig(vocabulary: c["vocabulary"]!)
        (config.blockSize, config.layers, config.heads, config.dModel) = (
            c["blockSize"]!, c["layers"]!, c["heads"]!, c["dModel"]!
        )
        var g = RandomGenerator(seed: 0)
        let model = GPT(config: config, using: &g)
        try model.loadStateDict((f["weights"] as! [String: Any]).mapValues(tensor))
        model.train()  // no dropout in this config: train and eval agree
        let ids = f["ids"] as! [[Int]], targets = f["targets"] as! [[Int]]
        let logits = model(ids)
        assertClose(logits, tensor(f["logits"]).scalars, atol: 2e-5, rtol: 1e-4, "logits")
        let loss = Loss.crossEntropy(logits.reshape([-1, config.vocabulary]), targets.flatMap { $0 })
        XCTAssertEqual(Double(loss.item()), f["loss"] as! Double, accuracy: 1e-5)
        loss.backward()
        let grads = f["grads"] as! [String: Any]
        for (name, p) in model.namedParameters() {
            let expected = try XCTUnwrap(grads[name], "no PyTorch gradient for \(name)")
            assertClose(try XCTUnwrap(p.grad, name), tensor(expected).scalars, atol: 1e-6, rtol: 1e-3, "∂loss/∂\(name)")
        }
        XCTAssertEqual(Set(model.namedParameters().map(\.name)), Set(grads.keys))
    }

    /// The causal mask: changing a later token leaves earlier positions' logits unchanged; the loss trains (it falls
    /// on a repeated pattern within a few Adam steps) and every parameter gets a gradient.
    func testCausalityAndTraining() throws {
        let model = smallGPT()
        model.eval()
        let a = withNoGrad { model([[1, 2, 3, 4, 5]]) }.scalars, b = withNoGrad { model([[1, 2, 3, 9, 9]]) }.scalars
        XCTAssertEqual(Array(a[0..<(3 * 11)]), Array(b[0..<(3 * 11)]), "positions 0…2 do not see positions 3, 4")
        model.train()
        assertLearnsRepeatedPattern(model, learningRate: 1e-2, steps: 30)
        XCTAssertTrue(model.head.weight === model.embedding.embedding.weight, "the head is tied to the token embedding")
    }

    /// Temperature 0 and top-k 1 take the most probable token; top-p keeps the nucleus only; the same seed draws
    /// the same tokens; a draw follows the softmax (frequencies within a few percent).
    func testSamplingKnobs() {
        let logits: [Float] = [0.5, 2.0, 1.0, -1.0]
        logits.withUnsafeBufferPointer { p in
            var g = RandomGenerator(seed: 1)
            XCTAssertEqual(Sampling(temperature: 0).draw(p, using: &g), 1)
            XCTAssertEqual((0..<50).map { _ in Sampling(topK: 1).draw(p, using: &g) }, Array(repeating: 1, count: 50))
            XCTAssertEqual(
                Set((0..<200).map { _ in Sampling(topP: 0.5).draw(p, using: &g) }), [1],
                "p(1) ≈ 0.61 ≥ 0.5: the nucleus is token 1")
            XCTAssertEqual(Set((0..<400).map { _ in Sampling(topK: 2).draw(p, using: &g) }), [1, 2])
            var a = RandomGenerator(seed: 9), b = RandomGenerator(seed: 9)
            XCTAssertEqual(
                (0..<20).map { _ in Sampling().draw(p, using: &a) }, (0..<20).map { _ in Sampling().draw(p, using: &b) }
            )
            var counts = [0, 0, 0, 0]
            for _ in 0..<20_000 { counts[Sampling().draw(p, using: &g)] += 1 }
            let e = logits.map { Foundation.exp(Double($0)) }, z = e.reduce(0, +)
            for k in 0..<4 { XCTAssertEqual(Double(counts[k]) / 20_000, e[k] / z, accuracy: 0.015, "token \(k)") }
        }
    }

    /// The text streamed piece by piece equals the whole sample decoded at once, for character, word-level (spaces
    /// between tokens) and byte-level BPE (characters split over tokens) tokenizers.
    func testStreamedTextEqualsTheDecodedSample() throws {
        let text = "Où est la gare ? Ça va très bien, merci. Über alles — naïve café.\n"
        for recipe in [
            TokenizerRecipe.characters(), .wordLevel(lowercase: false, minFrequency: 1),
            .byteLevelBPE(vocabularySize: 300)
        ] {
            let tok = recipe.train(on: [text, text])
            var c = GPTConfig(vocabulary: tok.vocabularySize)
            (c.blockSize, c.layers, c.heads, c.dModel) = (16, 1, 2, 8)
            var g = RandomGenerator(seed: 4)
            let lm = LanguageModel(model: GPT(config: c, using: &g), tokenizer: tok)
            var streamed = ["", ""]
            let samples = try lm.generate(
                "Où", maxNewTokens: 40, samples: 2, seed: 3, onText: { r, piece in streamed[r] += piece })
            XCTAssertEqual(streamed, samples, "\(recipe.model)")
            XCTAssertFalse(samples[0].isEmpty, "\(recipe.model)")
        }
    }

    /// A character tokenizer keeps spaces and newlines, decodes by joining, and survives tokenizer.json.
    func testCharacterTokenizerRoundTrip() throws {
        let text = "First Citizen:\nBefore we proceed, hear me.\n"
        let tok = TokenizerRecipe.characters().train(on: [text])
        let e = tok.encode("hear me\n", addSpecialTokens: false)
        XCTAssertEqual(e.tokens, ["h", "e", "a", "r", " ", "m", "e", "\n"])
        XCTAssertEqual(tok.decode(e.ids), "hear me\n")
        XCTAssertEqual(
            tok.encode("hear Zed", addSpecialTokens: false).tokens.filter { $0 == "[UNK]" }.count, 1,
            "Z is unknown; e and d are not")
        let url = tmp.appendingPathComponent("char.json")
        try tok.save(to: url)
        let back = try Tokenizer.load(from: url)
        XCTAssertEqual(back.encode(text, addSpecialTokens: false).ids, tok.encode(text, addSpecialTokens: false).ids)
        XCTAssertEqual(back.decode(tok.encode(text, addSpecialTokens: false).ids), text)
    }

    /// The verbs on the built binary: train (samples logged), generate (same seed, same text; greedy is
    /// deterministic), evaluate's JSON line, the attention report, another task's run refused, and `--resume`
    /// continuing bit for bit (an inverse-sqrt schedule does not depend on the run's length).
    func testTrainGenerateEvaluateAttentionResume() throws {
        let text = String(try String(contentsOfFile: sample, encoding: .utf8).prefix(6000))
        try text.write(toFile: path("small.txt"), atomically: true, encoding: .utf8)
        let args = [
            "train", "lm", "--data", path("small.txt"), "--block-size", "16", "--batch-size", "8", "--layers", "1",
            "--heads", "2",
            "--d-model", "16", "--sample-tokens", "20", "--schedule", "inverse-sqrt", "--warmup-steps", "5", "--seed",
            "2"
        ]
        let straight = try runAttn(args + ["--out", path("straight"), "--epochs", "2"])
        XCTAssertEqual(straight.status, 0, straight.err)
        XCTAssertTrue(straight.out.contains("sample: "), straight.out)
        XCTAssertTrue(straight.out.contains("bits per character"), straight.out)
        let first = try runAttn(args + ["--out", path("split"), "--epochs", "1"])
        XCTAssertEqual(first.status, 0, first.err)
        let resumed = try runAttn(args + ["--out", path("split"), "--epochs", "2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("straight/last.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("split/last.safetensors"))).tensors
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (k, t) in a { XCTAssertEqual(t.scalars, b[k]?.scalars, "\(k) differs after resume") }

        let gen = [
            "generate", "--checkpoint", path("straight"), "--prompt", "First", "--max-new-tokens", "30", "--seed", "7",
            "--top-k", "10"
        ]
        let g1 = try runAttn(gen), g2 = try runAttn(gen)
        XCTAssertEqual(g1.status, 0, g1.err)
        XCTAssertEqual(g1.out, g2.out, "the same seed gives the same text")
        XCTAssertTrue(g1.out.hasPrefix("First"), g1.out)
        let gj = try runAttn(gen + ["--json"])
        XCTAssertEqual(gj.status, 0, gj.err)
        let sample = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(gj.out.utf8)) as? [String: Any])
        XCTAssertEqual(sample["prompt"] as? String, "First")
        XCTAssertEqual(
            "First" + (sample["text"] as? String ?? "") + "\n", g1.out, "--json holds the same sample, not streamed")
        let other = try runAttn(Array(gen.dropLast(4)) + ["--seed", "8"])
        XCTAssertEqual(other.status, 0, other.err)
        let unknown = try runAttn([
            "generate", "--checkpoint", path("straight"), "--prompt", "Zébra", "--max-new-tokens", "5", "--temperature",
            "0"
        ])
        XCTAssertEqual(unknown.status, 0, unknown.err)
        XCTAssertTrue(unknown.err.contains("became [UNK]"), unknown.err)
        let bad = try runAttn(["generate", "--checkpoint", path("straight"), "--top-p", "1.5"])
        XCTAssertEqual(bad.status, 64, bad.err)

        let eval = try runAttn(["evaluate", "--checkpoint", path("straight"), "--data", path("small.txt"), "--json"])
        XCTAssertEqual(eval.status, 0, eval.err)
        let last = eval.out.split(separator: "\n").last.map(String.init) ?? ""
        let json = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        XCTAssertEqual(json?["task"] as? String, "language-model")
        XCTAssertEqual(json?["metric"] as? String, "perplexity")
        XCTAssertGreaterThan(json?["value"] as? Double ?? 0, 1)
        XCTAssertNotNil(json?["bits_per_char"] as? Double)

        let att = try runAttn([
            "attention", "--checkpoint", path("straight"), "--text", "First Citizen", "--out", path("att")
        ])
        XCTAssertEqual(att.status, 0, att.err)
        XCTAssertEqual(att.out.split(separator: "\n").last.map(String.init), path("att/index.html"))
        let maps =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("att/maps.json"))))
            as? [String: Any]
        XCTAssertEqual((maps?["layers"] as? [Any])?.count, 1)
        let npy = try Data(contentsOf: URL(fileURLWithPath: path("att/blocks.layers.0.selfAttention.npy")))
        XCTAssertGreaterThan(npy.count, 2 * 13 * 13 * 4, "[heads 2, 13, 13] float32")
    }

    /// Bad input is refused with the file or flag named, non-zero exit, and the run directory untouched: an empty, a
    /// binary and a non-UTF-8 file, a text shorter than one block, generation flags out of range, and a run of another
    /// task given to `generate`.
    func testBadInputIsRefusedClearly() throws {
        try Data().write(to: URL(fileURLWithPath: path("empty.txt")))
        try Data([0x00, 0x01, 0x02, 0x00, 0x41]).write(to: URL(fileURLWithPath: path("binary.txt")))
        try Data([0x41, 0x42, 0xFF, 0x43]).write(to: URL(fileURLWithPath: path("latin.txt")))
        try "a short text".write(toFile: path("short.txt"), atomically: true, encoding: .utf8)
        let tiny = [
            "--block-size", "16", "--layers", "1", "--heads", "2", "--d-model", "16", "--max-steps", "2",
            "--sample-tokens", "0"
        ]
        let cases: [([String], [String], Int32)] = [
            (["train", "lm", "--data", path("empty.txt"), "--out", path("o")] + tiny, ["empty.txt", "no text"], 1),
            (["train", "lm", "--data", path("binary.txt"), "--out", path("o")] + tiny, ["binary.txt"], 1),
            (["train", "lm", "--data", path("latin.txt"), "--out", path("o")] + tiny, ["latin.txt", "byte 2"], 1),
            (
                ["train", "lm", "--data", path("short.txt"), "--out", path("o")] + tiny,
                ["short.txt", "shorter than one block", "--block-size"], 1
            ),
            (["train", "lm", "--data", path("missing.txt"), "--out", path("o")] + tiny, ["missing.txt"], 1),
            (["train", "lm", "--data", sample, "--block-size", "1"], ["--block-size"], 64),
            (["generate", "--checkpoint", path("nothing"), "--prompt", "x"], [path("nothing")], 1),
            (
                ["generate", "--checkpoint", legacyClassifier, "--prompt", "x"],
                ["text classification run, not a language model"], 64
            ),
            (["generate", "--checkpoint", legacyClassifier, "--max-new-tokens", "0"], ["--max-new-tokens"], 64),
            (["generate", "--checkpoint", legacyClassifier, "--temperature", "-1"], ["--temperature"], 64),
            (["generate", "--checkpoint", legacyClassifier, "--top-k", "0"], ["--top-k"], 64),
            (
                ["evaluate", "--checkpoint", legacyClassifier.replacingOccurrences(of: "classifier", with: "vit")],
                ["--data"], 64
            )
        ]
        for (args, fragments, status) in cases {
            let r = try runAttn(args)
            XCTAssertEqual(r.status, status, "\(args): \(r.err)")
            for f in fragments { XCTAssertTrue(r.err.contains(f), "\(args): the message should name \(f):\n\(r.err)") }
            XCTAssertFalse(r.err.contains("Fatal error") || r.err.contains("NSCocoaErrorDomain"), r.err)
        }
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: path("o/config.json")), "a failed run leaves no config.json")
    }

    let legacyClassifier = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/legacy-runs/classifier"
    ).path
}

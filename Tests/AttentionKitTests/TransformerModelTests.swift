import Foundation
import XCTest

@testable import AttentionKit

/// Models built from the attention layers: capture, incremental decoding, beam search, the module tree's
/// completeness, tied weights, bit-exact resume and overfitting a tiny batch.
final class TransformerModelTests: XCTestCase {
    func seq2seqConfig(dropout: Float = 0) -> Seq2SeqConfig {
        var c = Seq2SeqConfig(sourceVocabulary: 13, targetVocabulary: 11)
        c.dModel = 16; c.heads = 2; c.encoderLayers = 2; c.decoderLayers = 2; c.feedForward = 32; c.dropout = dropout;
        c.maxLength = 32
        return c
    }

    func vitConfig() -> ViTConfig {
        var c = ViTConfig()
        c.imageSize = 8; c.patchSize = 4; c.classes = 3; c.dModel = 16; c.depth = 2; c.heads = 2; c.mlpRatio = 2;
        c.dropPath = 0
        return c
    }

    let source = [[3, 4, 5, 6, 2], [7, 8, 2, 0, 0]]
    let targetIn = [[1, 5, 6, 7], [1, 8, 9, 0]]

    func testCaptureIsBitIdenticalAndKeyedByModulePath() {
        var g = RandomGenerator(seed: 0)
        let model = Seq2SeqTransformer(seq2seqConfig(), using: &g)
        model.eval()
        let plain = model(source: source, targetInput: targetIn)
        let (captured, maps) = withAttentionCapture(on: model) { model(source: source, targetInput: targetIn) }
        XCTAssertEqual(plain.scalars, captured.scalars, "capture must not change the output")
        XCTAssertEqual(
            maps.paths,
            [
                "encoder.layers.0.selfAttention", "encoder.layers.1.selfAttention",
                "decoder.layers.0.selfAttention", "decoder.layers.0.crossAttention",
                "decoder.layers.1.selfAttention", "decoder.layers.1.crossAttention"
            ])
        XCTAssertEqual(maps["encoder.layers.0.selfAttention"]!.shape, [2, 2, 5, 5])
        XCTAssertEqual(maps["decoder.layers.1.crossAttention"]!.shape, [2, 2, 4, 5])
        for (path, w) in maps.entries {
            let rows = w.sum(axis: -1).scalars
            for r in rows { XCTAssertEqual(r, 1, accuracy: 1e-5, "\(path): rows sum to 1") }
        }
        // the padded source keys get no attention
        let cross = maps["decoder.layers.0.crossAttention"]!
        XCTAssertEqual(cross[1, 0, 0, 3], 0)
        XCTAssertEqual(cross[1, 1, 2, 4], 0)
        // causal: no query looks ahead
        let selfMap = maps["decoder.layers.0.selfAttention"]!
        XCTAssertEqual(selfMap[0, 1, 1, 2], 0)
        // outside a capture scope nothing is recorded
        let (_, none) = withAttentionCapture(on: model) { 0 }
        XCTAssertTrue(none.entries.isEmpty)
    }

    func testCapturedFullyMaskedRowsSumToZero() {
        var g = RandomGenerator(seed: 0)
        let mha = MultiHeadAttention(dModel: 8, heads: 2, using: &g)
        let x = Tensor.normal([1, 3, 8], using: &g)
        let (_, maps) = withAttentionCapture(on: mha) { mha(x, mask: AttentionMask(keyPadding: [true, true, true])) }
        XCTAssertEqual(maps.paths, [""])
        XCTAssertEqual(maps[""]!.sum(axis: -1).scalars, [Float](repeating: 0, count: 6))
    }

    func testIncrementalDecodingEqualsRecomputingThePrefix() {
        for pre in [true, false] {
            var c = seq2seqConfig()
            c.normFirst = pre
            var g = RandomGenerator(seed: 1)
            let model = Seq2SeqTransformer(c, using: &g)
            model.eval()
            withNoGrad {
                let (memory, mask) = model.encode(source)
                let target = [[1, 5, 6, 7], [1, 8, 9, 10]]  // no padding: a cached step has no key-padding mask
                let full = model.decode(target, memory: memory, memoryMask: mask).logSoftmax(axis: -1)  // [2, 4, V]
                let state = model.startDecoding(memory: memory, memoryMask: mask, maxLength: 8)
                for t in 0..<4 {
                    let step = model.stepLogits(target.map { $0[t] }, state).logSoftmax(axis: -1)  // [2, V]
                    let ref = full.select(axis: 1, index: t)
                    assertClose(step.doubles, ref.doubles, atol: 1e-5, rtol: 1e-4, "normFirst=\(pre) step \(t)")
                }
            }
        }
    }

    /// A model trained to copy its source (so that search has something real to find).
    func trainedCopyModel() -> Seq2SeqTransformer {
        var g = RandomGenerator(seed: 5)
        var c = seq2seqConfig()
        c.sourceVocabulary = 11
        let model = Seq2SeqTransformer(c, using: &g)
        let opt = Adam(parameters: model.parameters, learningRate: 3e-3)
        let src = [[3, 4, 5, 2], [6, 7, 8, 2], [9, 10, 3, 2], [5, 6, 7, 2]]
        let tin = src.map { [1] + $0.dropLast() }, tout = src
        for _ in 0..<150 {
            let logits = model(source: src, targetInput: tin)
            let loss = Loss.crossEntropy(logits.reshape([-1, 11]), tout.flatMap { $0 })
            opt.zeroGrad(); loss.backward(); opt.step()
        }
        model.eval()
        return model
    }

    func testBeamSearchOrderStopsAtEOSAndBeamOneIsGreedy() {
        let model = trainedCopyModel()
        let src = [[3, 4, 5, 2], [9, 10, 3, 2]]
        let greedy = model.greedyDecode(src, maxLength: 10)
        XCTAssertEqual(greedy.map(\.tokens), [[3, 4, 5], [9, 10, 3]], "the copy model copies")
        XCTAssertTrue(greedy.allSatisfy(\.finished), "stops at EOS")
        let beam1 = model.beamSearch(src, beamSize: 1, maxLength: 10, lengthPenalty: 0)
        XCTAssertEqual(beam1.map { $0[0].tokens }, greedy.map(\.tokens))
        XCTAssertEqual(beam1.map { $0[0].logProbability }, greedy.map(\.logProbability))
        let beams = model.beamSearch(src, beamSize: 4, maxLength: 10, lengthPenalty: 0.6, nBest: 4)
        for (s, hs) in beams.enumerated() {
            XCTAssertEqual(hs.count, 4)
            XCTAssertEqual(hs[0].tokens, greedy[s].tokens, "the best beam is the copy")
            XCTAssertEqual(hs.map(\.score), hs.map(\.score).sorted(by: >), "n-best in score order")
            XCTAssertEqual(Set(hs.map(\.tokens)).count, 4, "distinct hypotheses")
            for h in hs where h.finished { XCTAssertFalse(h.tokens.contains(2), "EOS is not part of the tokens") }
        }
        // capture works while decoding: one query row per step
        let (_, maps) = withAttentionCapture(on: model) { model.greedyDecode([[3, 4, 5, 2]], maxLength: 10) }
        let m = maps["decoder.layers.0.selfAttention"]!
        XCTAssertEqual(m.shape, [1, 2, 4, 4], "4 steps (3 tokens + EOS), keys padded to the longest step")
        XCTAssertEqual(m[0, 0, 0, 1], 0)
        XCTAssertEqual(maps["decoder.layers.1.crossAttention"]!.shape, [1, 2, 4, 4])
    }

    /// Beam search's first step feeds one row per sentence (only beam 0 is live) and widens the decoder state to K
    /// rows per sentence at the first reorder: the same hypotheses as a search that feeds all K rows from the start,
    /// sentences finishing at different steps (some at the first: `maxLength` 1), beams wider than the vocabulary.
    func testBeamSearchFromOneRowPerSentenceEqualsTheFullWidthSearch() {
        var c = Seq2SeqConfig(sourceVocabulary: 13, targetVocabulary: 11)
        c.dModel = 16; c.heads = 2; c.encoderLayers = 2; c.decoderLayers = 2; c.feedForward = 24; c.dropout = 0
        var g = RandomGenerator(seed: 21)
        let model = Seq2SeqTransformer(c, using: &g)
        model.eval()
        let src = [[3, 4, 5, 2, 0], [9, 10, 3, 6, 2], [7, 2, 0, 0, 0]]
        for (k, maxLength) in [(4, 9), (3, 1), (2, 5), (12, 4)] {
            let narrow = model.beamSearch(src, beamSize: k, maxLength: maxLength, lengthPenalty: 0.6, nBest: k)
            let kk = min(k, c.targetVocabulary)
            let full = withNoGrad {
                let (memory, mask) = model.encode(src)
                let state = model.startDecoding(memory: memory, memoryMask: mask, maxLength: maxLength, beams: kk)
                return searchBeams(
                    sentences: src.count, beam: kk, vocabulary: c.targetVocabulary, bos: c.bosID, eos: c.eosID,
                    pad: c.padID, maxLength: maxLength, lengthPenalty: 0.6, keep: kk, minLength: 1,
                    step: { model.stepLogits($0, state) },
                    reorder: { state.keep(rows: $0, sourceLength: src[0].count) })
            }
            XCTAssertEqual(
                narrow.map { $0.map(\.tokens) }, full.map { $0.map(\.tokens) }, "beam \(k), max \(maxLength)")
            XCTAssertEqual(narrow.map { $0.map(\.finished) }, full.map { $0.map(\.finished) })
            for (a, b) in zip(narrow.joined(), full.joined()) {
                XCTAssertEqual(a.score, b.score, accuracy: 1e-5, "beam \(k), max \(maxLength)")
            }
        }
    }

    /// A small untrained translator (vocabularies 13 → 11, 1+2 layers, d 16) in evaluation mode, its output biases
    /// replaced by `shift(token, bias)`.
    func smallTranslator(seed: UInt64, shiftingBias shift: (Int, Float) -> Float) -> (Seq2SeqTransformer, Seq2SeqConfig)
    {
        var c = Seq2SeqConfig(sourceVocabulary: 13, targetVocabulary: 11)
        c.dModel = 16; c.heads = 2; c.encoderLayers = 1; c.decoderLayers = 2; c.feedForward = 24; c.dropout = 0
        var g = RandomGenerator(seed: seed)
        let model = Seq2SeqTransformer(c, using: &g)
        model.eval()
        let bias = model.outputProjection.bias!.scalars.enumerated().map { shift($0.offset, $0.element) }
        model.outputProjection.bias = Tensor(bias, shape: [c.targetVocabulary]).requiringGrad()
        return (model, c)
    }

    /// Beam search normalises each row of logits itself (max and log Σ exp, without writing the log-softmax): its
    /// scores are the sums of `logSoftmax`'s values bit for bit.
    func testSearchScoresAreSumsOfTheLogSoftmaxExactly() {
        // logits far from 0 (the softmax is unchanged): x − (m + log z) would round differently from (x − m) − log z
        let (model, c) = smallTranslator(seed: 8) { _, b in b + 300.37 }
        for src in [[3, 4, 5, 2], [9, 10, 3, 6, 7, 2], [5, 5, 11, 12, 2]] {
            let h = model.beamSearch([src], beamSize: 1, maxLength: 7, lengthPenalty: 0)[0][0]
            let replay: Float = withNoGrad {
                let (memory, mask) = model.encode([src])
                let state = model.startDecoding(memory: memory, memoryMask: mask, maxLength: 7)
                var sum: Float = 0, last = c.bosID
                for token in h.tokens + (h.finished ? [c.eosID] : []) {
                    sum = sum + model.stepLogits([last], state).logSoftmax(axis: -1).scalars[token]
                    last = token
                }
                return sum
            }
            XCTAssertEqual(h.logProbability, replay, "source \(src): \(h.tokens)")
            XCTAssertFalse(h.tokens.isEmpty)
        }
    }

    /// With α 0 and one hypothesis wanted, ending a sentence when its best candidate is EOS (CTranslate2's early exit)
    /// returns what the search run until K hypotheses are finished returns, in fewer decoded rows.
    func testEarlyExitReturnsTheFullSearchsBestInFewerRows() {
        // EOS likely enough that sentences end at different steps, some with their best candidate, some without
        let eos = Seq2SeqConfig(sourceVocabulary: 13, targetVocabulary: 11).eosID
        let (model, c) = smallTranslator(seed: 5) { token, b in token == eos ? b + 1.2 : b }
        let src = (0..<12).map { i in (0..<6).map { j in j == 5 ? c.eosID : 3 + (i * 7 + j * 5) % 10 } }
        var saved = 0
        for (k, maxLength, minLength) in [(4, 12, 1), (2, 9, 1), (5, 12, 3), (1, 12, 1)] {
            var rows = [0, 0]
            let runs = [true, false].enumerated().map { (index, exitEarly) in
                withNoGrad {
                    let (memory, mask) = model.encode(src)
                    let state = model.startDecoding(
                        memory: memory, memoryMask: mask, maxLength: maxLength, beams: k, narrowFirstStep: true)
                    return searchBeams(
                        sentences: src.count, beam: k, vocabulary: c.targetVocabulary, bos: c.bosID, eos: c.eosID,
                        pad: c.padID, maxLength: maxLength, lengthPenalty: 0, keep: 1, minLength: minLength,
                        narrowFirstStep: true, exitEarly: exitEarly,
                        step: { tokens in
                            rows[index] += tokens.count
                            return model.stepLogits(tokens, state)
                        },
                        reorder: { state.keep(rows: $0, sourceLength: src[0].count) })
                }
            }
            XCTAssertEqual(runs[0].map { $0.map(\.tokens) }, runs[1].map { $0.map(\.tokens) }, "beam \(k)")
            XCTAssertEqual(runs[0].map { $0.map(\.score) }, runs[1].map { $0.map(\.score) }, "beam \(k)")
            XCTAssertEqual(runs[0].map { $0.map(\.finished) }, runs[1].map { $0.map(\.finished) }, "beam \(k)")
            XCTAssertLessThanOrEqual(rows[0], rows[1], "beam \(k)")
            if k > 1 { saved += rows[1] - rows[0] }
        }
        XCTAssertGreaterThan(saved, 0, "the early exit never ended a sentence sooner")
        // the public entry point: one hypothesis exits early, four run the full search; the best is the same
        let a = model.beamSearch(src, beamSize: 4, maxLength: 12, lengthPenalty: 0, nBest: 1)
        let b = model.beamSearch(src, beamSize: 4, maxLength: 12, lengthPenalty: 0, nBest: 4)
        XCTAssertEqual(a.map { $0[0].tokens }, b.map { $0[0].tokens })
    }

    /// Beam search's per-row selection equals sorting every candidate (largest first, equal values in token order),
    /// with a token skipped, ties, fewer candidates than asked for and -infinity entries.
    func testTopContinuationsEqualsAFullSort() {
        var g = RandomGenerator(seed: 3)
        for trial in 0..<200 {
            let count = 1 + trial % 37, keep = 1 + trial % 11, skip = trial % 3 == 0 ? trial % count : -1
            // few distinct values so that ties are common
            var row = (0..<count).map { _ in Float(Int(g.nextUnit() * 6)) - 3 }
            if trial % 5 == 0 { row[trial % count] = -.infinity }
            let base: Float = trial % 2 == 0 ? 0 : -1.5
            var scores = [Float](repeating: .nan, count: keep), tokens = [Int](repeating: -1, count: keep)
            let n = row.withUnsafeBufferPointer { r in
                topContinuations(
                    r.baseAddress!, count: count, skipping: skip, adding: base, keep: keep, scores: &scores,
                    tokens: &tokens)
            }
            let candidates: [(score: Float, token: Int)] = (0..<count).filter { $0 != skip }.map {
                (score: base + row[$0], token: $0)
            }
            let sorted = candidates.sorted { a, b in a.score != b.score ? a.score > b.score : a.token < b.token }
            let expected = Array(sorted.prefix(keep))
            XCTAssertEqual(n, expected.count, "trial \(trial)")
            XCTAssertEqual(Array(tokens.prefix(n)), expected.map { $0.token }, "trial \(trial)")
            XCTAssertEqual(Array(scores.prefix(n)), expected.map { $0.score }, "trial \(trial)")
        }
    }

    /// Every stored submodule and tensor of every model must be reachable through the explicit listing:
    /// a forgotten child would silently leave the optimizer and the checkpoint.
    func testMirrorFindsNothingMissingFromTheExplicitListing() {
        var g = RandomGenerator(seed: 0)
        var tc = TextClassifierConfig(vocabulary: 20, classes: 3)
        tc.dModel = 8; tc.heads = 2; tc.layers = 1; tc.feedForward = 8
        var sinViT = vitConfig()
        sinViT.positions = .sinusoidal
        sinViT.pooling = .mean
        let models: [any Module] = [
            Seq2SeqTransformer(seq2seqConfig(), using: &g), TextClassifier(config: tc, using: &g),
            VisionTransformer(config: vitConfig(), using: &g), VisionTransformer(config: sinViT, using: &g),
            Transformer(
                TransformerLayerConfig(dModel: 8, heads: 2, feedForward: 8), encoderLayers: 1, decoderLayers: 1,
                using: &g),
            MultiHeadAttention(dModel: 8, heads: 2, keyDim: 4, valueDim: 4, using: &g),
            SmallCNN(using: &g)
        ]
        for model in models {
            for (path, m) in model.namedModules() {
                let listed = Set(
                    m.localParameters.map { ObjectIdentifier($0.tensor) }
                        + m.localBuffers.map { ObjectIdentifier($0.tensor) })
                let children = Set(m.children.map { ObjectIdentifier($0.module) })
                for child in Mirror(reflecting: m).children {
                    for value in flatten(child.value) {
                        if let t = value as? Tensor {
                            XCTAssertTrue(
                                listed.contains(ObjectIdentifier(t)),
                                "\(type(of: model)) '\(path)'.\(child.label ?? "?"): tensor not listed")
                        } else if let sub = value as? any Module {
                            XCTAssertTrue(
                                children.contains(ObjectIdentifier(sub)),
                                "\(type(of: model)) '\(path)'.\(child.label ?? "?"): module not listed")
                        }
                    }
                }
            }
        }
    }

    /// Values inside optionals and arrays.
    func flatten(_ v: Any) -> [Any] {
        let m = Mirror(reflecting: v)
        if m.displayStyle == .optional { return m.children.first.map { flatten($0.value) } ?? [] }
        if m.displayStyle == .collection { return m.children.flatMap { flatten($0.value) } }
        return [v]
    }

    func testTiedEmbeddingsAreOneParameterWithOneUpdate() {
        var c = seq2seqConfig()
        c.sourceVocabulary = 11
        c.sharedEmbeddings = true
        c.tieOutput = true
        var g = RandomGenerator(seed: 0)
        let model = Seq2SeqTransformer(c, using: &g)
        let names = model.namedParameters().map(\.name)
        XCTAssertTrue(names.contains("sourceEmbedding.embedding.weight"))
        XCTAssertFalse(names.contains("targetEmbedding.embedding.weight"), "listed once")
        XCTAssertFalse(names.contains("outputProjection.weight"), "listed once")
        XCTAssertEqual(Set(model.parameters.map { ObjectIdentifier($0) }).count, model.parameters.count)
        let dict = model.stateDict().map(\.name)
        XCTAssertTrue(dict.contains("outputProjection.weight"), "the state dict keeps every name, as PyTorch's")
        let before = model.sourceEmbedding.embedding.weight.copy()
        let opt = SGD(parameters: model.parameters, learningRate: 0.1)
        let loss = Loss.crossEntropy(
            model(source: source.map { $0.map { min($0, 10) } }, targetInput: targetIn).reshape([-1, 11]),
            [5, 6, 7, 2, 8, 9, 2, 0])
        opt.zeroGrad(); loss.backward(); opt.step()
        let grad = model.sourceEmbedding.embedding.weight.grad!
        let expected = (before - grad * 0.1).scalars
        XCTAssertEqual(model.targetEmbedding.embedding.weight.scalars, expected, "one update with the summed gradient")
        XCTAssertTrue(model.outputProjection.weight === model.sourceEmbedding.embedding.weight)
    }

    func testResumedTransformerRunWithDropoutIsBitExact() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-resume-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = seq2seqConfig(dropout: 0.2)
        c.sourceVocabulary = 11
        func fresh() -> (Seq2SeqTransformer, Adam) {
            var g = RandomGenerator(seed: 3)
            let m = Seq2SeqTransformer(c, using: &g)
            return (m, Adam(parameters: m.parameters, learningRate: 1e-3))
        }
        func step(_ m: Seq2SeqTransformer, _ o: Adam) {
            let loss = Loss.crossEntropy(
                m(source: [[3, 4, 5, 2], [6, 7, 2, 0]], targetInput: [[1, 3, 4], [1, 6, 7]]).reshape([-1, 11]),
                [3, 4, 5, 6, 7, 2])
            o.zeroGrad(); loss.backward(); o.step()
        }
        // per encoder layer 3 dropouts + drop-path + attention; per decoder layer 4 dropouts + 2 attentions; 2 embeddings
        XCTAssertEqual(fresh().0.randomModules().count, 2 * 5 + 2 * 6 + 2, "every generator-owning module is found")
        let (straight, so) = fresh()
        for _ in 0..<6 { step(straight, so) }
        let (first, fo) = fresh()
        for _ in 0..<3 { step(first, fo) }
        let url = dir.appendingPathComponent("resume.safetensors")
        try Checkpoint.saveTrainingState(model: first, optimizer: fo, to: url)
        let (resumed, ro) = fresh()
        try Checkpoint.loadTrainingState(model: resumed, optimizer: ro, from: url)
        for _ in 0..<3 { step(resumed, ro) }
        for ((n, a), (_, b)) in zip(straight.stateDict(), resumed.stateDict()) {
            XCTAssertEqual(a.scalars, b.scalars, "\(n) differs after resume")
        }
    }

    func testModelFileRebuildsTheModel() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-vit-\(UInt32.random(in: 0...UInt32.max)).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        var g = RandomGenerator(seed: 4)
        let vit = VisionTransformer(config: vitConfig(), using: &g)
        vit.eval()
        try ModelFile.save(vit, to: url)
        let back = try ModelFile.load(VisionTransformer.self, from: url)
        back.eval()
        XCTAssertEqual(back.config, vit.config)
        let x = Tensor.normal([2, 3, 8, 8], using: &g)
        XCTAssertEqual(back(x).scalars, vit(x).scalars)
        XCTAssertThrowsError(try ModelFile.load(Seq2SeqTransformer.self, from: url)) { e in
            XCTAssertTrue(String(describing: e).contains("holds a VisionTransformer"), "\(e)")
        }
    }

    /// Loading builds the model without drawing random initial values (the strict load overwrites them all): inside
    /// `Init.skippingRandomValues` the random constructors give zeros and leave the generator as it was, and a loaded
    /// translator holds every saved tensor bit for bit.
    func testLoadingDrawsNoRandomInitialValues() throws {
        var g = RandomGenerator(seed: 5)
        let before = g
        let (u, n) = Init.skippingRandomValues {
            (Tensor.uniform([3, 4], low: -1, high: 1, using: &g), Tensor.normal([5], std: 2, using: &g))
        }
        XCTAssertEqual(g, before)
        XCTAssertEqual(u.scalars, [Float](repeating: 0, count: 12))
        XCTAssertEqual(n.scalars, [Float](repeating: 0, count: 5))
        XCTAssertFalse(Tensor.normal([5], using: &g).scalars.contains(0))  // outside it, drawn again
        XCTAssertNotEqual(g, before)

        var c = Seq2SeqConfig(sourceVocabulary: 30, targetVocabulary: 31)
        (c.dModel, c.feedForward, c.heads, c.encoderLayers, c.decoderLayers, c.positions) = (16, 32, 2, 1, 1, .learned)
        let model = Seq2SeqTransformer(config: c, using: &g)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-s2s-\(UInt32.random(in: 0...UInt32.max)).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try ModelFile.save(model, to: url)
        let back = try ModelFile.load(Seq2SeqTransformer.self, from: url)
        let saved = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor.scalars) })
        XCTAssertEqual(back.stateDict().count, saved.count)
        for (name, t) in back.stateDict() { XCTAssertEqual(t.scalars, saved[name], name) }
    }

    /// The class-token path (the last layer computes row 0 only) gives the logits and gradients of the whole encoder
    /// followed by row 0, for pre-norm and post-norm layers, in training and evaluation.
    func testViTClassTokenPathEqualsTheWholeEncoder() {
        for normFirst in [true, false] {
            var g = RandomGenerator(seed: 8)
            var c = vitConfig()
            c.dropPath = 0
            let vit = VisionTransformer(config: c, using: &g)
            if !normFirst {
                var lc = vit.encoder.layers.modules[0].config
                lc.normFirst = false
                vit.encoder = TransformerEncoder(lc, layers: 2, finalNorm: false, using: &g)
            }
            let x = Tensor.normal([3, 3, 8, 8], using: &g)
            for training in [true, false] {
                if training { vit.train() } else { vit.eval() }
                let fast = vit(x)
                let whole = vit.head(vit.features(x).select(axis: 1, index: 0))
                assertClose(
                    fast.doubles, whole.doubles, atol: 1e-5, "logits (pre-norm: \(normFirst), training: \(training))")
                guard training else { continue }
                let w = Tensor.normal(fast.shape, using: &g)
                (fast * w).sum().backward()
                let fastGrads = vit.namedParameters().map { $0.tensor.grad?.doubles ?? [] }
                vit.zeroGrad()
                (whole * w).sum().backward()
                for (p, fg) in zip(vit.namedParameters(), fastGrads) {
                    assertClose(fg, p.tensor.grad?.doubles ?? [], atol: 1e-5, "∂\(p.name)")
                }
                vit.zeroGrad()
            }
        }
    }

    func testTwoLayerViTOverfitsATinyBatch() {
        var g = RandomGenerator(seed: 6)
        let vit = VisionTransformer(config: vitConfig(), using: &g)
        let x = Tensor.normal([6, 3, 8, 8], using: &g)
        let y = [0, 1, 2, 0, 1, 2]
        let opt = AdamW(parameters: vit.parameters, learningRate: 3e-3, weightDecay: 0)
        var loss: Float = .infinity
        for _ in 0..<60 {
            let l = Loss.crossEntropy(vit(x), y)
            opt.zeroGrad(); l.backward(); opt.step()
            loss = l.item()
        }
        XCTAssertLessThan(loss, 0.05, "ViT overfits 6 images")
        vit.eval()
        XCTAssertEqual(vit(x).argmax(axis: 1).scalars.map { Int($0) }, y)
    }

    func testTwoLayerSeq2SeqOverfitsATinyBatch() {
        var g = RandomGenerator(seed: 7)
        var c = seq2seqConfig()
        c.sourceVocabulary = 11
        let model = Seq2SeqTransformer(c, using: &g)
        let src = [[3, 4, 5, 6, 2], [7, 8, 9, 2, 0], [10, 3, 2, 0, 0]]
        let tin = [[1, 6, 5, 4, 3], [1, 9, 8, 7, 0], [1, 3, 10, 0, 0]]
        let tout = [[6, 5, 4, 3, 2], [9, 8, 7, 2, 0], [3, 10, 2, 0, 0]]
        let opt = Adam(parameters: model.parameters, learningRate: 3e-3)
        var loss: Float = .infinity
        for _ in 0..<100 {
            let l = Loss.crossEntropy(
                model(source: src, targetInput: tin).reshape([-1, 11]), tout.flatMap { $0 }, ignoreIndex: 0)
            opt.zeroGrad(); l.backward(); opt.step()
            loss = l.item()
        }
        XCTAssertLessThan(loss, 0.05, "seq2seq overfits 3 reversal pairs")
        model.eval()
        XCTAssertEqual(model.greedyDecode(src, maxLength: 8).map(\.tokens), [[6, 5, 4, 3], [9, 8, 7], [3, 10]])
    }

    func testTextClassifierPoolings() {
        for pooling in [Pooling.cls, .mean, .max] {
            var c = TextClassifierConfig(vocabulary: 12, classes: 2)
            c.dModel = 16; c.heads = 2; c.layers = 1; c.feedForward = 16; c.dropout = 0; c.pooling = pooling
            var g = RandomGenerator(seed: 8)
            let model = TextClassifier(config: c, using: &g)
            let ids = [[3, 4, 5, 0], [6, 7, 0, 0], [3, 5, 4, 8], [7, 6, 9, 0]]
            let labels = [0, 1, 0, 1]
            let opt = Adam(parameters: model.parameters, learningRate: 5e-3)
            for _ in 0..<40 {
                let l = Loss.crossEntropy(model(ids), labels)
                opt.zeroGrad(); l.backward(); opt.step()
            }
            model.eval()
            XCTAssertEqual(model(ids).argmax(axis: 1).scalars.map { Int($0) }, labels, "\(pooling)")
            // padding does not change a sentence's logits
            let a = model([[6, 7]]).scalars, b = model([[6, 7, 0, 0, 0]]).scalars
            for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-5, "\(pooling): padding is masked") }
        }
    }

    func testRolloutRowsAndClassTokenMap() {
        var g = RandomGenerator(seed: 9)
        let vit = VisionTransformer(config: vitConfig(), using: &g)
        vit.eval()
        let (_, maps) = withAttentionCapture(on: vit) { vit(Tensor.normal([2, 3, 8, 8], using: &g)) }
        XCTAssertEqual(maps.paths, ["encoder.layers.0.selfAttention", "encoder.layers.1.selfAttention"])
        for fusion in [HeadFusion.mean, .max, .min] {
            let r = attentionRollout(maps.entries.map(\.weights), headFusion: fusion, discardRatio: 0.5)
            XCTAssertEqual(r.shape, [2, 5, 5])
            for s in r.sum(axis: -1).scalars { XCTAssertEqual(s, 1, accuracy: 1e-5, "rows stay stochastic") }
        }
        XCTAssertEqual(classTokenRollout(maps.entries.map(\.weights)).shape, [2, 4])
        // one layer of uniform attention: (A + I)/2 exactly
        let uniform = Tensor.full([1, 1, 3, 3], 1.0 / 3)
        let one = attentionRollout([uniform])
        XCTAssertEqual(one[0, 0, 0], (1.0 / 3 + 1) / 2, accuracy: 1e-6)
        XCTAssertEqual(one[0, 0, 1], (1.0 / 3) / 2, accuracy: 1e-6)
    }

    func testValidationNamesTheRowAndPosition() {
        var g = RandomGenerator(seed: 0)
        let model = Seq2SeqTransformer(seq2seqConfig(), using: &g)
        XCTAssertNoThrow(try model.validate(source: source, targetInput: targetIn))
        XCTAssertThrowsError(try model.validate(source: [[3, 4], [5]])) {
            XCTAssertTrue("\($0)".contains("row 1 has 1 ids"), "\($0)")
        }
        XCTAssertThrowsError(try model.validate(source: [[3, 40]])) {
            XCTAssertTrue("\($0)".contains("row 0, position 1: id 40"), "\($0)")
        }
        XCTAssertThrowsError(try model.validate(source: [Array(repeating: 3, count: 33)])) {
            XCTAssertTrue("\($0)".contains("maxLength 32"), "\($0)")
        }
    }

    func testPositionalTables() {
        let pe = SinusoidalPositionalEncoding(dim: 6, maxLength: 10)
        XCTAssertEqual(pe.namedBuffers().map(\.name), ["pe"])
        XCTAssertTrue(pe.namedParameters().isEmpty, "a buffer, not a parameter")
        XCTAssertEqual(pe.table[3, 2], Float(sin(3 / pow(10000, 2.0 / 6))), accuracy: 1e-6)
        XCTAssertEqual(pe.table[3, 3], Float(cos(3 / pow(10000, 2.0 / 6))), accuracy: 1e-6)
        let t2 = sinusoidalTable2D(rows: 2, columns: 3, dim: 8, classToken: true)
        XCTAssertEqual(t2.shape, [7, 8])
        XCTAssertEqual(t2.select(axis: 0, index: 0).scalars, [Float](repeating: 0, count: 8))
        // patch (row 1, column 2): first half encodes the row, second half the column
        XCTAssertEqual(t2[1 + 5, 0], Float(sin(1.0)), accuracy: 1e-6)
        XCTAssertEqual(t2[1 + 5, 4], Float(sin(2.0)), accuracy: 1e-6)
        XCTAssertEqual(t2[1 + 5, 2], Float(cos(1.0)), accuracy: 1e-6)
    }

    /// The cache's reorder is a gather of the filled rows, whatever the pattern (fan-out from one row, swaps, cycles,
    /// fewer rows than before), read through its buffer-row map; appends after a reorder land in the mapped rows.
    func testKeyValueCacheReorderGathersRows() {
        /// Batch row i of the cache's keys (or values), positions 0..<length, read through its buffer-row map.
        func row(_ cache: KeyValueCache, _ t: Tensor, _ i: Int, width w: Int) -> [Float] {
            let b = cache.batchRows?[i] ?? i
            return Array(t.scalars[(b * 6 * w)..<(b * 6 * w + cache.length * w)])
        }
        let patterns = [[0, 0, 1, 0], [1, 0, 2, 3], [1, 2, 3, 0], [3, 3, 3, 3], [2, 0], [0, 1, 2, 3], [3, 2, 1, 0]]
        for rows in patterns {
            for then in patterns where then.allSatisfy({ $0 < rows.count }) {
                let cache = KeyValueCache(batch: 4, capacity: 6, keyWidth: 3, valueWidth: 2)
                let k = Tensor((0..<(4 * 5 * 3)).map { Float($0) }, shape: [4, 5, 3])
                let v = Tensor((0..<(4 * 5 * 2)).map { Float(-$0) }, shape: [4, 5, 2])
                cache.append(keys: k, values: v)
                cache.reorder(rows)
                // a row whose source no earlier row took is not copied: it points at the source's buffer row
                for (i, r) in rows.enumerated() where !rows[..<i].contains(r) { XCTAssertEqual(cache.batchRows?[i], r) }
                // one more position per row, written through the map, then a second reorder
                let k2 = Tensor((0..<(rows.count * 3)).map { Float(1000 + $0) }, shape: [rows.count, 1, 3])
                let v2 = Tensor((0..<(rows.count * 2)).map { Float(-1000 - $0) }, shape: [rows.count, 1, 2])
                cache.append(keys: k2, values: v2)
                cache.reorder(then)
                XCTAssertEqual(cache.batchRows?.count, then.count)
                for (t, src, add, w) in [(cache.keys, k, k2, 3), (cache.values, v, v2, 2)] {
                    for (i, r) in then.enumerated() {
                        let first = rows[r]  // the original row batch row i descends from
                        let want =
                            Array(src.scalars[(first * 5 * w)..<((first + 1) * 5 * w)])
                            + Array(add.scalars[(r * w)..<((r + 1) * w)])
                        XCTAssertEqual(row(cache, t, i, width: w), want, "rows \(rows) then \(then), row \(i)")
                    }
                }
            }
        }
    }
}

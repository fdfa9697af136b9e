import AttentionKit
import Foundation
import XCTest

/// RNN, LSTM and GRU: finite-difference gradient checks in Double for every input of the fused op (both directions,
/// variable lengths), parity with PyTorch's nn.RNN/LSTM/GRU on committed fixtures (outputs, final states, every
/// gradient; packed sequences), and a padded batch equal to its sequences run one by one.
final class RecurrentTests: XCTestCase {
    func tensor(_ t: Any?) -> Tensor {
        let t = t as! [String: Any]
        return Tensor(doubles: t["data"] as! [Double], shape: t["shape"] as! [Int])
    }

    func network(_ cell: RecurrentCell, input: Int, hidden: Int, layers: Int, bidirectional: Bool, seed: UInt64 = 1)
        -> RecurrentNetwork
    {
        var g = RandomGenerator(seed: seed)
        let net = RecurrentNetwork(
            cell: cell, inputSize: input, hiddenSize: hidden, layers: layers, bidirectional: bidirectional, using: &g)
        net.to(.float64)
        return net
    }

    func testGradientsOfEveryInput() {
        for cell in RecurrentCell.allCases {
            for (bidirectional, lengths) in [(false, nil), (true, [4, 2, 3] as [Int]?)] {
                let net = network(cell, input: 3, hidden: 2, layers: 2, bidirectional: bidirectional)
                let d = net.directions
                var inputs = [rand([3, 4, 3], seed: 3), rand([2 * d, 3, 2], seed: 4)]
                if cell.hasCellState { inputs.append(rand([2 * d, 3, 2], seed: 5)) }
                let first = inputs.count
                for w in net.weights { inputs += [w.ih, w.hh, w.biasIH!, w.biasHH!] }
                gradCheck(
                    "\(cell.rawValue) bidirectional \(bidirectional) lengths \(lengths ?? [])", inputs, atol: 1e-6,
                    rtol: 1e-5
                ) { xs in
                    net.weights = (0..<net.weights.count).map { i in
                        (xs[first + 4 * i], xs[first + 4 * i + 1], xs[first + 4 * i + 2], xs[first + 4 * i + 3])
                    }
                    let (out, state) = net(
                        xs[0], initial: RecurrentState(h: xs[1], c: cell.hasCellState ? xs[2] : nil), lengths: lengths)
                    // one output carrying the outputs and both final states
                    var parts = [out.reshape([-1]), state.h.reshape([-1])]
                    if let c = state.c { parts.append(c.reshape([-1])) }
                    return Tensor.concat(parts, axis: 0)
                }
            }
        }
    }

    func testEqualsPyTorch() throws {
        let data = try Data(contentsOf: fixturesDirectory.appendingPathComponent("recurrent.json"))
        let f = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = f["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 16)
        for c in cases {
            let cell = RecurrentCell(rawValue: c["cell"] as! String)!, bidirectional = c["bidirectional"] as! Bool
            let lengths = c["lengths"] as? [Int]
            let name = "\(cell.rawValue) bidirectional \(bidirectional) packed \(lengths != nil)"
            let net = network(
                cell, input: f["I"] as! Int, hidden: f["H"] as! Int, layers: 2, bidirectional: bidirectional, seed: 9)
            // strict: PyTorch's names, every one
            try net.loadStateDict((c["weights"] as! [String: Any]).mapValues(tensor))
            let x = tensor(c["x"]).requiringGrad(), h0 = tensor(c["h0"]).requiringGrad()
            let c0 = cell.hasCellState ? tensor(c["c0"]).requiringGrad() : nil
            let (out, state) = net(x, initial: RecurrentState(h: h0, c: c0), lengths: lengths)
            assertClose(out.doubles, tensor(c["output"]).doubles, atol: 1e-12, rtol: 1e-10, "\(name): output")
            assertClose(state.h.doubles, tensor(c["h_n"]).doubles, atol: 1e-12, rtol: 1e-10, "\(name): h_n")
            var loss = (out * tensor(c["w_out"])).sum() + (state.h * tensor(c["w_h"])).sum()
            if let cn = state.c {
                assertClose(cn.doubles, tensor(c["c_n"]).doubles, atol: 1e-12, rtol: 1e-10, "\(name): c_n")
                loss = loss + (cn * tensor(c["w_c"])).sum()
            }
            XCTAssertEqual(loss.itemDouble(), c["loss"] as! Double, accuracy: 1e-10, name)
            loss.backward()
            let grads = c["grads"] as! [String: Any]
            for (pname, p) in net.namedParameters() {
                assertClose(
                    try XCTUnwrap(p.grad, "\(name): \(pname)").doubles, tensor(grads[pname]).doubles, atol: 1e-11,
                    rtol: 1e-9, "\(name): ∂\(pname)")
            }
            assertClose(x.grad!.doubles, tensor(c["grad_x"]).doubles, atol: 1e-11, rtol: 1e-9, "\(name): ∂x")
            assertClose(h0.grad!.doubles, tensor(c["grad_h0"]).doubles, atol: 1e-11, rtol: 1e-9, "\(name): ∂h0")
            if let c0 {
                assertClose(c0.grad!.doubles, tensor(c["grad_c0"]).doubles, atol: 1e-11, rtol: 1e-9, "\(name): ∂c0")
            }
        }
    }

    /// A padded batch with lengths gives, row by row, what each sequence gives alone (outputs past a row's length
    /// are 0); gradients too: the padded steps' inputs get none.
    func testPaddedBatchEqualsSequencesOneByOne() {
        for cell in RecurrentCell.allCases {
            var g = RandomGenerator(seed: 2)
            let net = RecurrentNetwork(
                cell: cell, inputSize: 3, hiddenSize: 4, layers: 2, bidirectional: true, using: &g)
            let lengths = [6, 1, 3, 6], x = Tensor.normal([4, 6, 3], using: &g).requiringGrad()
            let (out, state) = net(x, lengths: lengths)
            out.sum().backward()
            let gx = x.grad!.scalars
            for (r, n) in lengths.enumerated() {
                let row = withNoGrad { x.select(axis: 0, index: r).slice(axis: 0, start: 0, end: n).unsqueeze(0) }
                    .detach().requiringGrad()
                let (alone, s) = net(row)
                assertClose(
                    out.select(axis: 0, index: r).slice(axis: 0, start: 0, end: n).detach(),
                    alone.reshape([n, -1]).scalars, atol: 1e-6, "\(cell.rawValue) row \(r)")
                if n < 6 {
                    XCTAssertTrue(
                        out.select(axis: 0, index: r).slice(axis: 0, start: n, end: 6).scalars.allSatisfy { $0 == 0 },
                        "padded outputs are 0")
                }
                assertClose(
                    state.h.select(axis: 1, index: r).detach(), s.h.reshape([4, 4]).scalars, atol: 1e-6,
                    "\(cell.rawValue) row \(r): h_n")
                if let c = state.c {
                    assertClose(
                        c.select(axis: 1, index: r).detach(), s.c!.reshape([4, 4]).scalars, atol: 1e-6,
                        "\(cell.rawValue) row \(r): c_n")
                }
                alone.sum().backward()
                let mine = Array(gx[(r * 18)..<(r * 18 + n * 3)])
                assertClose(Tensor(mine), row.grad!.scalars, atol: 1e-5, "\(cell.rawValue) row \(r): ∂x")
                XCTAssertTrue(
                    gx[(r * 18 + n * 3)..<(r * 18 + 18)].allSatisfy { $0 == 0 }, "padded steps get no gradient")
            }
        }
    }

    /// PyTorch's parameter names, shapes and count.
    func testParameterNamesAndShapes() {
        var g = RandomGenerator(seed: 1)
        let lstm = LSTM(10, 20, layers: 2, bidirectional: true, using: &g)
        XCTAssertEqual(
            lstm.namedParameters().map(\.name),
            [
                "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
                "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_ih_l1_reverse",
                "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"
            ])
        XCTAssertEqual(lstm.weights[2].ih.shape, [80, 40], "layer 1 reads both directions")
        // torch: 26,880
        XCTAssertEqual(lstm.parameterCount(), 2 * (80 * 10 + 80 * 20 + 160) + 2 * (80 * 40 + 80 * 20 + 160))
        let gru = GRU(5, 7, using: &g), rnn = RNN(5, 7, nonlinearity: .relu, bias: false, using: &g)
        XCTAssertEqual(gru.parameterCount(), 3 * 7 * (5 + 7 + 2))
        XCTAssertEqual(rnn.namedParameters().map(\.name), ["weight_ih_l0", "weight_hh_l0"])
        let bound = 1 / Float(20).squareRoot()
        XCTAssertTrue(lstm.parameters.allSatisfy { $0.scalars.allSatisfy { abs($0) <= bound } }, "U(±1/√H)")
        let (y, s) = lstm(Tensor.normal([3, 7, 10], using: &g))
        XCTAssertEqual(y.shape, [3, 7, 40])
        XCTAssertEqual(s.h.shape, [4, 3, 20])
        XCTAssertEqual(s.c?.shape, [4, 3, 20])
        // lengths that cannot go with the batch are named by row before anything runs
        XCTAssertThrowsError(try lstm.validate(lengths: [3, 0, 2], batch: 3, steps: 7)) {
            XCTAssertTrue("\($0)".hasPrefix("row 1: length 0"), "\($0)")
        }
        XCTAssertThrowsError(try lstm.validate(lengths: [3, 8, 2], batch: 3, steps: 7)) {
            XCTAssertEqual("\($0)", "row 1: length 8 is beyond the padded width 7")
        }
        XCTAssertThrowsError(try lstm.validate(lengths: [3], batch: 3, steps: 7)) {
            XCTAssertTrue("\($0)".contains("one per row"), "\($0)")
        }
        XCTAssertNoThrow(try lstm.validate(lengths: [7, 1, 2], batch: 3, steps: 7))
    }
}

/// Bahdanau's and Luong's attention: gradients, masking, and the weights seen by `withAttentionCapture`.
final class RecurrentAttentionTests: XCTestCase {
    func testGradientsMaskingAndCapture() {
        for score in AlignmentScore.allCases {
            var g = RandomGenerator(seed: 5)
            let attention = RecurrentAttention(
                score, queryWidth: 4, keyWidth: score == .dot ? 4 : 3, hidden: 5, using: &g)
            attention.to(.float64)
            let kw = attention.keyWidth
            var inputs = [rand([2, 3, 4], seed: 1), rand([2, 5, kw], seed: 2), rand([2, 5, 2], seed: 3)]
            var setters: [(Tensor) -> Void] = []  // the check's leaves become the layer's parameters
            for l in [attention.queryProjection, attention.keyProjection, attention.energy].compactMap({ $0 }) {
                inputs.append(l.weight); setters.append { l.weight = $0 }
                if let b = l.bias { inputs.append(b); setters.append { l.bias = $0 } }
            }
            XCTAssertEqual(setters.count, attention.parameters.count)
            gradCheck("\(score.rawValue) attention", inputs) { xs in
                for (set, x) in zip(setters, xs[3...]) { set(x) }
                return attention(query: xs[0], keys: xs[1], values: xs[2], keyLengths: [5, 2]).context
            }
            let (out, maps) = withAttentionCapture(on: attention) {
                attention(
                    query: rand([2, 3, 4], seed: 1), keys: rand([2, 5, kw], seed: 2), values: rand([2, 5, 2], seed: 3),
                    keyLengths: [5, 2])
            }
            let w = out.weights
            XCTAssertEqual(w.shape, [2, 3, 5])
            for r in 0..<2 {
                for i in 0..<3 {
                    let row = w.select(axis: 0, index: r).select(axis: 0, index: i).doubles
                    XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-12, "\(score): weights sum to 1")
                    if r == 1 { XCTAssertEqual(row[2...].reduce(0, +), 0, "\(score): padded keys get no weight") }
                }
            }
            XCTAssertEqual(maps.entries.count, 1)
            XCTAssertEqual(maps.entries.first?.weights.shape, [2, 1, 3, 5], "captured as one head")
        }
        // Bahdanau's score by hand: vᵀ tanh(W q + U k + b)
        var g = RandomGenerator(seed: 1)
        let a = RecurrentAttention(.additive, queryWidth: 1, keyWidth: 1, hidden: 1, using: &g)
        a.queryProjection!.weight = Tensor([2], shape: [1, 1]); a.keyProjection!.weight = Tensor([3], shape: [1, 1])
        a.keyProjection!.bias = Tensor([0.5]); a.energy!.weight = Tensor([1.5], shape: [1, 1])
        let (_, w) = a(
            query: Tensor([0.2], shape: [1, 1, 1]), keys: Tensor([0.1, -0.4], shape: [1, 2, 1]),
            values: Tensor([1, 2], shape: [1, 2, 1]))
        let e = [1.5 * Foundation.tanh(0.4 + 0.3 + 0.5), 1.5 * Foundation.tanh(0.4 - 1.2 + 0.5)]
        let z = Foundation.exp(e[0]) + Foundation.exp(e[1])
        assertClose(w, [Float(Foundation.exp(e[0]) / z), Float(Foundation.exp(e[1]) / z)], atol: 1e-6)
    }
}

/// The BiLSTM text classifier: padding does not change a text's logits, it learns a small batch, and
/// `attn train classifier --model lstm` trains, saves, classifies, evaluates and resumes like the other models.
final class RecurrentTextClassifierTests: XCTestCase {
    func testPaddingInvarianceAndLearning() {
        for (cell, pooling) in [(RecurrentCell.lstm, Pooling.max), (.gru, .mean)] {
            var c = RecurrentTextClassifierConfig(vocabulary: 20, classes: 3)
            (c.cell, c.embeddingDim, c.hidden, c.layers, c.pooling, c.dropout) = (cell, 8, 6, 2, pooling, 0.1)
            var g = RandomGenerator(seed: 3)
            let model = RecurrentTextClassifier(config: c, using: &g)
            model.eval()
            let a = model([[5, 6, 7]]).scalars, b = model([[5, 6, 7, 0, 0, 0]]).scalars
            for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-6, "\(cell): padding is skipped") }
            model.train()
            let opt = Adam([ParameterGroup(model.parameters)], learningRate: 0.02)
            let batch = [[3, 4, 5, 0], [6, 7, 0, 0], [8, 9, 10, 11], [12, 0, 0, 0]], labels = [0, 1, 2, 1]
            var first = 0.0, last = 0.0
            for step in 0..<60 {
                let loss = Loss.crossEntropy(model(batch), labels)
                if step == 0 { first = loss.itemDouble() }
                last = loss.itemDouble()
                opt.zeroGrad(); loss.backward(); opt.step()
            }
            XCTAssertLessThan(last, first * 0.1, "\(cell): overfits a batch (\(first) → \(last))")
        }
    }

    func testTrainClassifyEvaluateResume() throws {
        let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let trec = root.appendingPathComponent("corpora/trec-sample/train.label").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-lstm-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = [
            "train", "classifier", "--format", "trec", "--data", trec, "--model", "lstm", "--d-model", "16", "--hidden",
            "8", "--out", dir
        ]
        let r = try runAttn(args + ["--epochs", "2"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("RecurrentTextClassifier"), r.out)
        let c = try runAttn(["classify", "--checkpoint", dir, "--text", "Who wrote Hamlet ?", "--top", "2"])
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertEqual(c.out.split(separator: "\t").count, 2, c.out)
        let e = try runAttn(["evaluate", "--checkpoint", dir, "--data", trec, "--json"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.split(separator: "\n").last?.contains("\"accuracy\"") ?? false, e.out)
        let resumed = try runAttn(args + ["--epochs", "3", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.out.contains("epoch 3/3"), resumed.out)
        let bad = try runAttn(args + ["--pooling", "cls", "--epochs", "1", "--overwrite"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.err.contains("--pooling cls"), bad.err)
    }
}

/// The recurrent encoder–decoder: it learns to copy, its beam of one is greedy decoding, padding changes nothing, and
/// its attention is captured step by step.
final class RecurrentTranslatorTests: XCTestCase {
    func testLearnsToCopyAndDecodes() {
        for (cell, score) in [(RecurrentCell.gru, AlignmentScore.additive), (.lstm, .general)] {
            var c = RecurrentTranslatorConfig(sourceVocabulary: 12, targetVocabulary: 12)
            (c.cell, c.attention, c.embeddingDim, c.hidden, c.dropout) = (cell, score, 16, 24, 0)
            var g = RandomGenerator(seed: 7)
            let model = RecurrentTranslator(config: c, using: &g)
            let sources: [[Int]] = [
                [3, 4, 5, 2], [6, 7, 2], [8, 9, 10, 11, 2], [4, 3, 2], [11, 10, 9, 2], [5, 6, 7, 8, 2], [9, 3, 2],
                [7, 11, 4, 6, 2]
            ]
            let targets = sources.map { Array($0.dropLast()) }
            let width = sources.map(\.count).max()!
            let padded = sources.map { $0 + [Int](repeating: 0, count: width - $0.count) }
            let input = targets.map { [1] + $0 + [Int](repeating: 0, count: width - 1 - $0.count) }
            let gold = targets.flatMap { $0 + [2] + [Int](repeating: 0, count: width - 1 - $0.count) }
            let opt = Adam([ParameterGroup(model.parameters)], learningRate: 0.02)
            var last = 0.0
            for _ in 0..<150 {
                let logits = model(source: padded, targetInput: input)
                let loss = Loss.crossEntropy(logits.reshape([-1, 12]), gold, ignoreIndex: 0)
                last = loss.itemDouble()
                opt.zeroGrad(); loss.backward(); opt.step()
            }
            XCTAssertLessThan(last, 0.05, "\(cell): learns to copy")
            model.eval()
            let greedy = model.greedyDecode(padded, maxLength: 8)
            XCTAssertEqual(greedy.map(\.tokens), targets, "\(cell): copies")
            let beam1 = model.beamSearch(padded, beamSize: 1, maxLength: 8, lengthPenalty: 0).map { $0[0].tokens }
            XCTAssertEqual(beam1, greedy.map(\.tokens), "\(cell): a beam of one is greedy")
            let beams = model.beamSearch(padded, beamSize: 4, maxLength: 8, nBest: 2)
            XCTAssertEqual(beams.map { $0[0].tokens }, targets, "\(cell): the best beam copies")
            // padding: one sentence alone gives the logits it gives in the padded batch
            let alone = withNoGrad { model(source: [sources[1]], targetInput: [input[1]]) }
            let batch = withNoGrad { model(source: padded, targetInput: input) }
            assertClose(
                batch.select(axis: 0, index: 1).slice(axis: 0, start: 0, end: 3).detach(),
                alone.select(axis: 0, index: 0).slice(axis: 0, start: 0, end: 3).scalars, atol: 1e-4, "\(cell): padding"
            )
            let (_, maps) = withAttentionCapture(on: model) { model.greedyDecode([sources[2]], maxLength: 8) }
            XCTAssertEqual(maps["attention"]?.shape.prefix(2), [1, 1], "\(cell): one head")
            XCTAssertEqual(maps["attention"]?.shape.last, 5, "\(cell): over the source")
            XCTAssertGreaterThanOrEqual(maps["attention"]?.shape[2] ?? 0, 4, "\(cell): a row per decoding step")
        }
    }
}

/// `attn train translation --model rnn`: trains, translates, evaluates, draws its attention (target × source) and
/// resumes like the transformer.
final class RecurrentTranslationCLITests: XCTestCase {
    func testTrainTranslateEvaluateAttentionResume() throws {
        let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-rnn-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (side, name) in [("de", "train.de"), ("en", "train.en")] {
            let lines = try String(
                contentsOf: root.appendingPathComponent("corpora/multi30k-sample/train.\(side)"), encoding: .utf8
            ).split(separator: "\n").prefix(40)
            try (lines.joined(separator: "\n") + "\n").write(
                to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let run = dir.appendingPathComponent("run").path
        let args = [
            "train", "translation", "--model", "rnn", "--cell", "lstm", "--attention", "general", "--source",
            dir.appendingPathComponent("train.de").path,
            "--target", dir.appendingPathComponent("train.en").path, "--d-model", "16", "--hidden", "16",
            "--min-frequency", "1",
            "--max-tokens", "400", "--warmup-steps", "1", "--out", run
        ]
        let r = try runAttn(args + ["--epochs", "2"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("RecurrentTranslator"), r.out)
        let config = try String(contentsOfFile: run + "/config.json", encoding: .utf8)
        XCTAssertTrue(
            config.contains("\"model_type\" : \"RecurrentTranslator\"") && config.contains("\"cell\" : \"lstm\""),
            config)
        let t = try runAttn(["translate", "--checkpoint", run, "--text", "Ein Hund.", "--beam", "3"])
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertFalse(t.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        let e = try runAttn([
            "evaluate", "--checkpoint", run, "--source", dir.appendingPathComponent("train.de").path, "--reference",
            dir.appendingPathComponent("train.en").path, "--json"
        ])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.split(separator: "\n").last?.contains("\"metric\": \"bleu\"") ?? false, e.out)
        let a = try runAttn([
            "attention", "--checkpoint", run, "--text", "Ein Hund läuft.", "--out",
            dir.appendingPathComponent("att").path
        ])
        XCTAssertEqual(a.status, 0, a.err)
        let maps = try String(contentsOf: dir.appendingPathComponent("att/maps.json"), encoding: .utf8)
        XCTAssertTrue(maps.contains("\"attention\""), "the decoder's attention over the source is in the report")
        let resumed = try runAttn(args + ["--epochs", "3", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.out.contains("epoch 3/3"), resumed.out)
        let dot = try runAttn(args.map { $0 == "general" ? "dot" : $0 } + ["--epochs", "1", "--overwrite"])
        XCTAssertEqual(dot.status, 64, dot.err)
        XCTAssertTrue(
            dot.err.contains("--attention") && dot.err.contains("additive") && dot.err.contains("general"), dot.err)
        // flags the chosen model does not read are refused by name
        let heads = try runAttn(args + ["--heads", "4", "--overwrite"])
        XCTAssertEqual(heads.status, 64, heads.err)
        XCTAssertTrue(heads.err.contains("--heads is only read by --model transformer, not by --model rnn"), heads.err)
        let cell = try runAttn([
            "train", "translation", "--source", "a", "--target", "b", "--cell", "lstm", "--no-input-feeding"
        ])
        XCTAssertEqual(cell.status, 64, cell.err)
        XCTAssertTrue(cell.err.contains("--cell, --no-input-feeding are only read by --model rnn"), cell.err)

        // the course's comparison: the recurrent and the transformer translator on the same data, scored by BLEU and
        // chrF on the held-out sentences decoded here
        let transformer = dir.appendingPathComponent("tf").path
        let tf = try runAttn([
            "train", "translation", "--source", dir.appendingPathComponent("train.de").path, "--target",
            dir.appendingPathComponent("train.en").path,
            "--d-model", "16", "--heads", "2", "--layers", "1", "--feed-forward", "16", "--min-frequency", "1",
            "--max-tokens", "400",
            "--warmup-steps", "1", "--epochs", "1", "--out", transformer
        ])
        XCTAssertEqual(tf.status, 0, tf.err)
        let cmp = try runAttn([
            "compare", "rnn=" + run, "transformer=" + transformer, "--beam", "2", "--out",
            dir.appendingPathComponent("cmp").path, "--json"
        ])
        XCTAssertEqual(cmp.status, 0, cmp.err)
        let rows = try cmp.out.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(rows.map { $0["model"] as? String }, ["RecurrentTranslator", "Seq2SeqTransformer"])
        for row in rows {
            XCTAssertEqual(row["metric"] as? String, "bleu")
            XCTAssertEqual(row["task"] as? String, "translation")
            XCTAssertEqual(row["beam"] as? Int, 2)
            XCTAssertNotNil(row["chrf"] as? Double)
            XCTAssertGreaterThan(row["inference_per_second"] as? Double ?? 0, 0)
            XCTAssertNil(row["validation_accuracy"])
        }
        XCTAssertEqual(rows[0]["epochs"] as? Int, 3)
        let table = try String(contentsOf: dir.appendingPathComponent("cmp/comparison.md"), encoding: .utf8)
        XCTAssertTrue(table.contains("BLEU · chrF") && table.contains("sentences/s (beam 2)"), table)
    }
}

import AttentionKit
import Foundation
import XCTest

/// word2vec skip-gram with negative sampling, word-vector files, and classifiers starting from them.
final class Word2VecTests: TemporaryDirectoryTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The pair loss −log σ(u₀·v) − Σₖ log σ(−uₖ·v) in Double.
    func pairLoss(_ v: [Double], _ u: [[Double]]) -> Double {
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }
        return u.enumerated().map { k, row in
            let x = k == 0 ? dot(row, v) : -dot(row, v)
            return log(1 + exp(-x))
        }.reduce(0, +)
    }

    func testAStepIsMinusTheRateTimesTheFiniteDifferenceGradient() {
        let d = 6, rate: Float = 0.1
        let v0 = rand([d], seed: 3).scalars, u0 = rand([4, d], seed: 5).scalars  // rows 0…3 of the output table
        var input = v0, outputs = u0, scratch = [Float](repeating: 0, count: d)
        let targets: [Int32] = [2, 0, 3]  // context word 2, noise words 0 and 3 (row 1 is not touched)
        let loss = input.withUnsafeMutableBufferPointer { i in
            outputs.withUnsafeMutableBufferPointer { o in
                scratch.withUnsafeMutableBufferPointer { s in
                    targets.withUnsafeBufferPointer { t in
                        Word2Vec.step(
                            input: i.baseAddress!, outputs: o.baseAddress!, targets: t, dimensions: d, rate: rate,
                            scratch: s.baseAddress!)
                    }
                }
            }
        }
        let v = v0.map(Double.init)
        let rows = targets.map { t in (0..<d).map { Double(u0[Int(t) * d + $0]) } }
        XCTAssertEqual(loss, pairLoss(v, rows), accuracy: 1e-5)
        let eps = 1e-6
        for i in 0..<d {
            var plus = v, minus = v
            plus[i] += eps
            minus[i] -= eps
            let g = (pairLoss(plus, rows) - pairLoss(minus, rows)) / (2 * eps)
            XCTAssertEqual(Double(input[i]), v[i] - Double(rate) * g, accuracy: 1e-5, "input \(i)")
        }
        for (k, t) in targets.enumerated() {
            for i in 0..<d {
                var plus = rows, minus = rows
                plus[k][i] += eps
                minus[k][i] -= eps
                let g = (pairLoss(v, plus) - pairLoss(v, minus)) / (2 * eps)
                XCTAssertEqual(
                    Double(outputs[Int(t) * d + i]), rows[k][i] - Double(rate) * g, accuracy: 1e-5, "output \(t), \(i)")
            }
        }
        XCTAssertEqual(Array(outputs[d..<(2 * d)]), Array(u0[d..<(2 * d)]), "a row no target names is not touched")

        // a noise word equal to the context word is skipped (word2vec.c), not pushed away from it
        func stepped(_ targets: [Int32]) -> ([Float], [Float]) {
            var i = v0, o = u0
            i.withUnsafeMutableBufferPointer { ib in
                o.withUnsafeMutableBufferPointer { ob in
                    scratch.withUnsafeMutableBufferPointer { s in
                        targets.withUnsafeBufferPointer { t in
                            _ = Word2Vec.step(
                                input: ib.baseAddress!, outputs: ob.baseAddress!, targets: t, dimensions: d,
                                rate: rate, scratch: s.baseAddress!)
                        }
                    }
                }
            }
            return (i, o)
        }
        let (withDuplicate, skipped) = (stepped([2, 2, 3]), stepped([2, 3]))
        XCTAssertEqual(withDuplicate.0, skipped.0)
        XCTAssertEqual(withDuplicate.1, skipped.1)
    }

    /// Two groups of words that never share a sentence: each word's nearest words are of its own group.
    func testWordsThatShareContextsEndUpNearAndTheSeedFixesTheVectors() throws {
        let groups = [["cat", "dog", "horse", "cow", "sheep"], ["red", "blue", "green", "yellow", "pink"]]
        var g = RandomGenerator(seed: 1)
        let sentences: [[String]] = (0..<600).map { i in
            let group = groups[i % 2]
            return (0..<8).map { _ in group[Int(g.next() % UInt64(group.count))] }
        }
        var c = Word2VecConfig()
        (c.dimensions, c.epochs, c.minCount, c.subsample, c.window) = (16, 3, 1, 0, 3)
        var losses: [Double] = []
        let (vectors, report) = try Word2Vec.train(sentences, config: c, epochEnd: { losses.append($1) })
        XCTAssertEqual(report.epochLosses, losses)
        XCTAssertEqual(report.wordsPerEpoch, 600 * 8)
        XCTAssertLessThan(losses.last!, losses.first!)
        XCTAssertEqual(vectors.words.count, 10)
        for group in groups {
            for w in group {
                let near = vectors.nearest(to: w, count: 4).map(\.word)
                XCTAssertEqual(Set(near), Set(group).subtracting([w]), "\(w): \(near)")
            }
        }
        XCTAssertTrue(vectors.nearest(to: "unknown").isEmpty)
        let again = try Word2Vec.train(sentences, config: c).vectors
        XCTAssertEqual(again.vectors, vectors.vectors, "the same seed, the same vectors")
        c.seed = 1
        XCTAssertNotEqual(try Word2Vec.train(sentences, config: c).vectors.vectors, vectors.vectors)
        c.minCount = 100_000
        XCTAssertThrowsError(try Word2Vec.train(sentences, config: c))
        c.minCount = 1
        c.window = 0
        XCTAssertThrowsError(try Word2Vec.train(sentences, config: c)) { XCTAssertTrue("\($0)".contains("--window")) }
    }

    func testVectorFilesRoundTripAndBadFilesAreNamedWithTheirLine() throws {
        let v = WordVectors(words: ["a", "Bé", "c"], dimensions: 2, vectors: [1, -2, 0.5, 1e-8, 3, 0.25])
        let url = tmp.appendingPathComponent("v.txt")
        try v.write(to: url)
        XCTAssertTrue(try String(contentsOf: url, encoding: .utf8).hasPrefix("3 2\na 1.0 -2.0\n"))
        let back = try WordVectors.read(from: url)
        XCTAssertEqual(back.words, v.words)
        XCTAssertEqual(back.vectors, v.vectors)
        XCTAssertEqual(back.vector("Bé").map(Array.init), [0.5, 1e-8])
        let cases: [(Data, String)] = [
            (Data(), "empty file"),
            (Data("two words\n".utf8), ":1: expected the header"),
            (Data("2 2\na 1 2\nb 1\n".utf8), ":3: expected a word and 2 numbers, got 2 fields"),
            (Data("1 2\na 1 x\n".utf8), ":2: 'x' is not a finite number"),
            (Data("1 2\na 1 nan\n".utf8), ":2: 'nan' is not a finite number"),
            (Data("3 2\na 1 2\n".utf8), "promises 3 words, the file has 1"),
            (Data("1 2\n".utf8) + Data([0x61, 0xFF, 0x20, 0x31, 0x20, 0x32, 0x0A]), ":2: invalid UTF-8 at byte offset")
        ]
        for (data, words) in cases {
            try data.write(to: url)
            XCTAssertThrowsError(try WordVectors.read(from: url)) { e in
                XCTAssertTrue("\(e)".contains(url.path) && "\(e)".contains(words), "\(e) lacks \(words)")
            }
        }
        XCTAssertThrowsError(try WordVectors.read(from: tmp.appendingPathComponent("missing.txt")))
    }

    func testAnEmbeddingStartsFromTheVectorsOfItsWords() throws {
        let tokenizer = TokenizerRecipe.wordLevel(lowercase: false, minFrequency: 1).train(on: ["What is Paris ?"])
        var g = RandomGenerator(seed: 0)
        let pad = tokenizer.id(of: "[PAD]")!
        let table = Embedding(tokenizer.vocabularySize, 2, paddingIndex: pad, using: &g)
        let before = table.weight.scalars
        let vectors = WordVectors(words: ["what", "Paris", "is"], dimensions: 2, vectors: [1, 1, 2, 2, 3, 3])
        let n = try table.initialize(from: vectors, tokenizer: tokenizer)
        XCTAssertEqual(n.exact, 2)  // Paris, is
        XCTAssertEqual(n.lowercased, 1)  // What → what
        XCTAssertEqual(n.words, 4)  // What is Paris ? ("?" has no vector)
        let w = table.weight.scalars
        func row(_ t: String) -> [Float] { let i = tokenizer.id(of: t)!; return Array(w[(2 * i)..<(2 * i + 2)]) }
        func rowBefore(_ t: String) -> [Float] {
            let i = tokenizer.id(of: t)!
            return Array(before[(2 * i)..<(2 * i + 2)])
        }
        XCTAssertEqual(row("What"), [1, 1])
        XCTAssertEqual(row("Paris"), [2, 2])
        XCTAssertEqual(row("is"), [3, 3])
        XCTAssertEqual(row("?"), rowBefore("?"))
        XCTAssertEqual(row("[PAD]"), [0, 0])
        XCTAssertEqual(row("[UNK]"), rowBefore("[UNK]"))
        let wide = WordVectors(words: ["is"], dimensions: 3, vectors: [1, 2, 3])
        XCTAssertThrowsError(try table.initialize(from: wide, tokenizer: tokenizer)) { e in
            XCTAssertTrue("\(e)".contains("3 wide") && "\(e)".contains("table 2"), "\(e)")
        }
    }

    func testTheCLITrainsVectorsAndTheClassifierStartsFromThem() throws {
        let text = root.appendingPathComponent("corpora/multi30k-sample/train.en").path
        let trec = root.appendingPathComponent("corpora/trec-sample/train.label").path
        let vectors = tmp.appendingPathComponent("v.txt").path
        let args = [
            "train", "word2vec", "--data", text, "--data", trec, "--dimensions", "16", "--epochs", "2", "--out",
            vectors,
            "--neighbors", "man,zzzz"
        ]
        let r = try runAttn(args)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("epoch 2/2  loss"), r.out)
        XCTAssertTrue(r.out.contains("zzzz: not in the vocabulary"), r.out)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(r.out.split(separator: "\n").last!.utf8)) as? [String: Any])
        XCTAssertEqual(json["dimensions"] as? Int, 16)
        let trained = try WordVectors.read(from: URL(fileURLWithPath: vectors))
        XCTAssertEqual(json["vocabulary"] as? Int, trained.words.count)
        XCTAssertEqual(trained.dimensions, 16)
        // the same seed again: the same file; an existing --out needs --overwrite
        let first = try Data(contentsOf: URL(fileURLWithPath: vectors))
        let refused = try runAttn(args)
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.err.contains("--overwrite"), refused.err)
        XCTAssertEqual(try runAttn(args + ["--overwrite"]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: vectors)), first)
        for bad in [["--dimensions", "0"], ["--window", "0"], ["--subsample", "1"]] {
            XCTAssertEqual(try runAttn(["train", "word2vec", "--data", text] + bad).status, 64, "\(bad)")
        }
        XCTAssertEqual(try runAttn(["train", "word2vec"]).status, 64)

        // a CNN whose embeddings start from the vectors and stay there (--freeze embedding: Kim's CNN-static)
        let run = tmp.appendingPathComponent("cls").path
        let train = [
            "train", "classifier", "--format", "trec", "--data", trec, "--model", "cnn", "--d-model", "16",
            "--filters", "4", "--epochs", "1", "--init-embeddings", vectors, "--out", run
        ]
        let c = try runAttn(train + ["--freeze", "embedding"])
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertTrue(c.out.contains("lowercased"), c.out)
        let config = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json")))
                as? [String: Any])
        XCTAssertEqual(config["init_embeddings"] as? String, vectors)
        let tokenizer = try Tokenizer.load(from: URL(fileURLWithPath: run + "/tokenizer.json"))
        let saved = try Safetensors.read(from: URL(fileURLWithPath: run + "/best.safetensors")).tensors
        let table = try XCTUnwrap(saved["embedding.weight"]).scalars
        var checked = 0
        for w in ["a", "the", "of", "in"] {
            guard let id = tokenizer.id(of: w), let v = trained.vector(w) else { continue }
            XCTAssertEqual(Array(table[(id * 16)..<(id * 16 + 16)]), Array(v), w)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 0)
        let wrongWidth = try runAttn(
            train.map { $0 == "16" ? "32" : $0 } + ["--overwrite"])
        XCTAssertEqual(wrongWidth.status, 1)
        XCTAssertTrue(wrongWidth.err.contains("16 wide and the embedding table 32"), wrongWidth.err)
        let missing = try runAttn(
            train.map { $0 == vectors ? vectors + ".missing" : $0 } + ["--overwrite"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains(vectors + ".missing"), missing.err)
    }
}

import AttentionKit
import Foundation
import XCTest

/// Seeded mutation fuzzing of every reader of user files: bit flips, truncation, splicing, overwritten and inserted
/// bytes, numbers replaced by huge, negative and non-finite ones, deep nesting. Each mutant must be read or refused
/// with an error; a trap ends the test process (and so fails the suite), a hang times it out. The suite runs
/// `ATTENTIONKIT_FUZZ_CASES` cases per reader (default 150); `scripts/fuzz.sh N` runs N.
final class FuzzTests: XCTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tmp: URL!
    var cases: Int { ProcessInfo.processInfo.environment["ATTENTIONKIT_FUZZ_CASES"].flatMap(Int.init) ?? 150 }
    var seed: UInt64 {
        ProcessInfo.processInfo.environment["ATTENTIONKIT_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_124
    }

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-fuzz-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// One mutation of `bytes` (seeded): the mutation fuzzers' usual operators, plus number and nesting edits for
    /// text formats.
    static func mutate(_ bytes: [UInt8], _ g: inout RandomGenerator) -> [UInt8] {
        var b = bytes
        func pos(_ n: Int) -> Int { n <= 0 ? 0 : Int(g.next() % UInt64(n)) }
        let rounds = 1 + pos(3)
        for _ in 0..<rounds {
            switch pos(9) {
            case 0 where !b.isEmpty:  // bit flips
                for _ in 0..<(1 + pos(4)) { let i = pos(b.count); b[i] ^= UInt8(1) << UInt8(pos(8)) }
            case 1:  // truncation
                b = Array(b.prefix(pos(b.count + 1)))
            case 2 where b.count > 2:  // splice: a chunk copied elsewhere
                let from = pos(b.count), len = 1 + pos(min(64, b.count - from)), to = pos(b.count)
                b.insert(contentsOf: b[from..<(from + len)], at: to)
            case 3 where !b.isEmpty:  // overwrite with interesting bytes
                let specials: [UInt8] = [0, 0xFF, 0x7F, 0x80, 0x22, 0x5C, 0x0A, 0x09, 0x2C, 0xC3, 0xE2]
                for _ in 0..<(1 + pos(8)) { b[pos(b.count)] = specials[pos(specials.count)] }
            case 4:  // insert random bytes
                b.insert(
                    contentsOf: (0..<(1 + pos(16))).map { _ in UInt8(truncatingIfNeeded: g.next()) },
                    at: pos(b.count + 1))
            case 5 where !b.isEmpty:  // delete a range
                let i = pos(b.count); b.removeSubrange(i..<min(b.count, i + 1 + pos(32)))
            case 6:  // a number replaced by a huge, negative or non-finite one
                let numbers = [
                    "-1", "0", "-0", "99999999999999999999", "4294967297", "1e308", "-1e308", "NaN", "1.5",
                    "-9223372036854775808", "65536"
                ]
                let digits = b.indices.filter { b[$0] >= 0x30 && b[$0] <= 0x39 }
                if let i = digits.isEmpty ? nil : digits[pos(digits.count)] {
                    var j = i
                    while j < b.count && b[j] >= 0x30 && b[j] <= 0x39 { j += 1 }
                    var k = i
                    while k > 0 && b[k - 1] >= 0x30 && b[k - 1] <= 0x39 { k -= 1 }
                    b.replaceSubrange(k..<j, with: Array(numbers[pos(numbers.count)].utf8))
                }
            case 7:  // deep nesting
                let depth = 1 + pos(20_000)
                let at = pos(b.count + 1)
                b.insert(contentsOf: [UInt8](repeating: pos(2) == 0 ? 0x5B : 0x7B, count: depth), at: at)
            default:  // a byte-level length field made absurd (safetensors' first 8 bytes, record sizes)
                if b.count >= 8 {
                    let v = [UInt64(0), 1, UInt64(b.count), UInt64.max, 1 << 40][pos(5)];
                    for k in 0..<8 { b[k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
                }
            }
        }
        return b
    }

    /// Runs `read` on `cases` mutants of `original`; returns (accepted, refused) counts. A mutant that traps ends the
    /// process: the seed and case number are printed before each run so that it can be replayed.
    func fuzz(_ name: String, _ original: [UInt8], file: String, salt: UInt64, read: (URL) throws -> Void) throws -> (
        Int, Int
    ) {
        var g = RandomGenerator(seed: seed ^ salt)
        var accepted = 0, refused = 0
        let url = tmp.appendingPathComponent(file)
        let marker = tmp.appendingPathComponent("current-case.txt")
        for i in 0..<cases {
            let mutant = Self.mutate(original, &g)
            try Data(mutant).write(to: url)
            try? "\(name) case \(i) seed \(seed)".write(to: marker, atomically: false, encoding: .utf8)
            do { try read(url); accepted += 1 } catch {
                refused += 1
                let text = "\(error)"
                XCTAssertFalse(text.isEmpty, "\(name) case \(i): an error without a message")
            }
        }
        print("fuzz \(name): \(cases) cases, \(accepted) read, \(refused) refused with an error, 0 traps")
        return (accepted, refused)
    }

    func fixture(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: root.appendingPathComponent(path))) }

    func testSafetensorsAndCheckpointReaders() throws {
        // A real training state: a small model with dropout and BatchNorm, an AdamW state, trainer metadata.
        var g = RandomGenerator(seed: 1)
        var c = SmallCNNConfig(); c.channels = [4, 8]; c.hidden = 8
        let model = SmallCNN(c, using: &g)
        let opt = AdamW(
            ParameterGroup.weightDecayGroups(model, weightDecay: 0.01), learningRate: 1e-3, weightDecay: 0.01)
        let x = Tensor.normal([2, 3, 32, 32], using: &g)
        Loss.crossEntropy(model(x), Tensor([1, 2], shape: [2])).backward()
        opt.step()
        let state = tmp.appendingPathComponent("state.safetensors"),
            weights = tmp.appendingPathComponent("model.safetensors")
        try Checkpoint.saveTrainingState(
            model: model, optimizer: opt, metadata: ["trainer.epoch": "1", "trainer.data": "x"], to: state)
        try ModelFile.save(model, to: weights)
        let stateBytes = [UInt8](try Data(contentsOf: state))
        _ = try fuzz("safetensors", stateBytes, file: "a.safetensors", salt: 1) { _ = try Safetensors.read(from: $0) }
        _ = try fuzz("training state", stateBytes, file: "b.safetensors", salt: 2) { url in
            var h = RandomGenerator(seed: 1)
            let fresh = SmallCNN(c, using: &h)
            let o = AdamW(
                ParameterGroup.weightDecayGroups(fresh, weightDecay: 0.01), learningRate: 1e-3, weightDecay: 0.01)
            try Checkpoint.loadTrainingState(model: fresh, optimizer: o, from: url)
            o.step()  // an accepted state must be usable: the update reads every moment
        }
        _ = try fuzz("model file", [UInt8](try Data(contentsOf: weights)), file: "c.safetensors", salt: 3) { url in
            let m = try ModelFile.load(SmallCNN.self, from: url)
            _ = withNoGrad { m(Tensor.zeros([1, 3, 32, 32])) }
        }
        _ = try fuzz("image run weights", [UInt8](try Data(contentsOf: weights)), file: "d.safetensors", salt: 4) {
            url in
            let m = try ImageClassification.loadModel(from: url)
            _ = withNoGrad { m(Tensor.zeros([1, 3, m.imageSize, m.imageSize])) }
        }
    }

    /// A resume file whose optimizer moment has shape [] (the update would write past a one-element buffer), or any
    /// other misfit, is refused naming the file and tensor, and the model and optimizer are left as they were.
    func testACheckpointIsCheckedWholeBeforeAnythingChanges() throws {
        var g = RandomGenerator(seed: 2)
        let model = Linear(4, 3, using: &g)
        let opt = Adam(parameters: model.parameters, learningRate: 0.1)
        Loss.mse(model(Tensor.ones([2, 4])), Tensor.zeros([2, 3])).backward()
        opt.step()
        let url = tmp.appendingPathComponent("resume.safetensors")
        try Checkpoint.saveTrainingState(model: model, optimizer: opt, to: url)
        let (tensors, order, meta) = try Safetensors.read(from: url)
        let before = model.weight.scalars, moments = opt.stateTensors().mapValues(\.scalars)
        let other = Linear(4, 3, using: &g)
        func attempt(
            _ edit: (inout [String: Tensor], inout [String: String]) -> Void, _ expected: String, line: UInt = #line
        ) throws {
            var t = tensors, m = meta
            edit(&t, &m)
            let bad = tmp.appendingPathComponent("bad.safetensors")
            try Safetensors.write(
                order.compactMap { n in t[n].map { (name: n, tensor: $0) } }
                    + t.keys.filter { !order.contains($0) }.map { (name: $0, tensor: t[$0]!) },
                metadata: m, to: bad)
            XCTAssertThrowsError(
                try Checkpoint.loadTrainingState(
                    model: other, optimizer: Adam(parameters: other.parameters, learningRate: 0.1), from: bad),
                line: line
            ) { e in
                XCTAssertTrue("\(e)".contains(bad.path) && "\(e)".contains(expected), "\(e)", line: line)
            }
            XCTAssertThrowsError(try Checkpoint.loadTrainingState(model: model, optimizer: opt, from: bad), line: line)
            XCTAssertEqual(model.weight.scalars, before, "nothing changed", line: line)
            XCTAssertEqual(opt.stateTensors().mapValues(\.scalars), moments, line: line)
        }
        try attempt(
            { t, _ in t["optimizer.state.0.exp_avg"] = Tensor([1], shape: []) }, "'state.0.exp_avg' has shape []")
        try attempt(
            { t, _ in t["optimizer.state.1.surprise"] = Tensor.zeros([3]) }, "'surprise' is not an optimizer state")
        try attempt({ t, _ in t["model.weight"] = Tensor.zeros([3, 5]) }, "'weight' has shape [3, 5]")
        try attempt({ t, _ in t["extra"] = Tensor.zeros([1]) }, "unexpected tensor 'extra'")
        try attempt({ _, m in m["optimizer.step"] = "-4" }, "optimizer.step")
    }

    /// Every number of every model configuration in a checkpoint set to zero, negative, huge or fractional, and every
    /// string to nonsense: `ModelFile.load` refuses each with an error (or builds the model if it still fits the
    /// weights) and never traps or allocates an absurd model.
    func testEveryModelConfigurationFieldIsChecked() throws {
        var g = RandomGenerator(seed: 3)
        var small = SmallCNNConfig(); small.channels = [4, 8]; small.hidden = 8
        var lenet = LeNet5Config(); lenet.classes = 3
        var vgg = VGGConfig(); vgg.stages = [[4], [8]]
        var resnet = ResNetConfig(depth: 8); resnet.widths = [4, 8, 8]
        var preact = PreActResNetConfig(); preact.blocks = [1, 1]; preact.width = 4
        var vit = ViTConfig(); vit.imageSize = 8; vit.patchSize = 4; vit.dModel = 8; vit.depth = 1; vit.heads = 2
        var cls = TextClassifierConfig(vocabulary: 20, classes: 3); cls.dModel = 8; cls.heads = 2; cls.layers = 1;
        cls.feedForward = 8
        var cnn = TextCNNConfig(vocabulary: 20, classes: 3); cnn.embeddingDim = 8; cnn.filters = 4
        var s2s = Seq2SeqConfig(sourceVocabulary: 20, targetVocabulary: 20); s2s.dModel = 8; s2s.heads = 2
        s2s.encoderLayers = 1; s2s.decoderLayers = 1; s2s.feedForward = 8
        var total = 0, refused = 0
        func check<M: ConfigurableModel>(_ model: M) throws {
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(model.config))
            let url = tmp.appendingPathComponent("\(M.self).safetensors")
            for variant in Self.variants(of: json) {
                let text = String(
                    decoding: try JSONSerialization.data(withJSONObject: variant, options: [.fragmentsAllowed]),
                    as: UTF8.self)
                try Safetensors.write(
                    model.stateDict(),
                    metadata: ["attentionkit.model": String(describing: M.self), "attentionkit.config": text], to: url)
                total += 1
                do { _ = try ModelFile.load(M.self, from: url) } catch {
                    refused += 1; XCTAssertTrue("\(error)".contains(url.path), "\(error)")
                }
            }
        }
        try check(SmallCNN(small, using: &g)); try check(LeNet5(config: lenet, using: &g));
        try check(VGG(config: vgg, using: &g))
        try check(ResNet(config: resnet, using: &g)); try check(PreActResNet(config: preact, using: &g))
        try check(VisionTransformer(config: vit, using: &g)); try check(TextClassifier(config: cls, using: &g))
        try check(TextCNN(config: cnn, using: &g)); try check(Seq2SeqTransformer(s2s, using: &g))
        print(
            "model configurations: \(total) variants, \(refused) refused with an error, \(total - refused) built, 0 traps"
        )
        XCTAssertGreaterThan(refused, total / 2)
    }

    /// The JSON value with one leaf changed, for every leaf and every bad value.
    static func variants(of json: Any) -> [Any] {
        let numbers: [Any] = [-1, 0, 3, 1 << 40, -(1 << 40), 65536, 1.5, -0.5, 1e30]
        switch json {
        case let o as [String: Any]:
            return o.keys.sorted().flatMap { k in
                variants(of: o[k]!).map { v -> Any in
                    var c = o; c[k] = v; return c
                }
            }
        case let a as [Any]:
            return a.indices.flatMap { i in
                variants(of: a[i]).map { v -> Any in
                    var c = a; c[i] = v; return c
                }
            } + [[Any]()]
        case is String:
            return ["bogus", ""]
        case let n as NSNumber where String(cString: n.objCType) == "c":
            return [!n.boolValue]
        default:
            return numbers
        }
    }

    func testTokenizerReader() throws {
        let hf = try fixture("Tests/AttentionKitTests/Fixtures/hf_bytelevel_tokenizer.json")
        _ = try fuzz("tokenizer.json (BPE)", hf, file: "tokenizer.json", salt: 5) { url in
            let t = try Tokenizer.load(from: url)
            _ = t.decode(t.encode("Ein Mann fährt 3 Räder. 😀").ids)
        }
        let word = TokenizerRecipe.wordLevel(lowercase: true, minFrequency: 1).train(on: [
            "a small corpus of words", "words again"
        ])
        let url = tmp.appendingPathComponent("word.json")
        try word.save(to: url)
        _ = try fuzz("tokenizer.json (WordLevel)", [UInt8](try Data(contentsOf: url)), file: "w.json", salt: 6) { url in
            let t = try Tokenizer.load(from: url)
            _ = t.decode(t.encode("a small WORD").ids)
        }
    }

    func testDataReaders() throws {
        let cifar = try fixture("corpora/cifar10-sample/data_batch_1.bin")
        _ = try fuzz("CIFAR-10 batch", Array(cifar.prefix(3073 * 6)), file: "data_batch_1.bin", salt: 7) { url in
            var pixels: [UInt8] = [], labels: [Int] = []
            try CIFAR10.appendRecords(from: url, pixels: &pixels, labels: &labels)
        }
        let meta = try fixture("corpora/cifar10-sample/batches.meta.txt")
        let dir = tmp.appendingPathComponent("cifar")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(cifar.prefix(3073 * 4)).write(to: dir.appendingPathComponent("data_batch_1.bin"))
        _ = try fuzz("CIFAR-10 meta", meta, file: "cifar/batches.meta.txt", salt: 8) { _ in
            _ = try CIFAR10(directory: dir)
        }

        func lines(_ bytes: [UInt8], _ n: Int) -> [UInt8] {  // the first n lines, so that both sides stay aligned
            var count = 0
            return Array(
                bytes.prefix { b in
                    if b == 0x0A { count += 1 }; return count < n
                }) + [0x0A]
        }
        let de = lines(try fixture("corpora/multi30k-sample/train.de"), 30),
            en = lines(try fixture("corpora/multi30k-sample/train.en"), 30)
        let enURL = tmp.appendingPathComponent("en.txt")
        try Data(en).write(to: enURL)
        _ = try fuzz("parallel text", de, file: "de.txt", salt: 9) { url in
            _ = try ParallelCorpus.read(source: url, target: enURL, policy: .skip)
            _ = try? ParallelCorpus.read(source: url, target: enURL, policy: .stop)
        }
        let tsv = try fixture("corpora/sms-spam-sample/SMSSpamCollection").prefix(4000)
        _ = try fuzz("TSV", Array(tsv), file: "sms.tsv", salt: 10) { url in
            _ = try LabelledCorpus.readTSV(url)
            _ = try ParallelCorpus.readTSV(url, columns: (0, 1))
        }
        let trec = try fixture("corpora/trec-sample/train.label").prefix(4000)
        _ = try fuzz("TREC", Array(trec), file: "train.label", salt: 11) { url in
            _ = try LabelledCorpus.readTREC(url)
            _ = try LabelledCorpus.readTREC(url, fine: true)
        }
    }

    func testImageDecoders() throws {
        for (name, salt) in [("record0.png", UInt64(12)), ("gray_alpha.png", 13), ("record0.jpg", 14)] {
            let bytes = try fixture("Tests/AttentionKitTests/Fixtures/images/" + name)
            _ = try fuzz(name, bytes, file: name, salt: salt) { url in
                let image = try ImageDecoding.read(contentsOf: url)
                XCTAssertGreaterThan(image.width * image.height, 0)
            }
        }
    }

    /// config.json and labels.json of real run directories (a text classifier, a CNN), mutated: loading the run for
    /// inference reads them or refuses them with an error naming the file; never a trap, never a silently
    /// mislabelled model (a labels.json that still parses but disagrees with config.json is refused).
    func testRunDirectoryFiles() throws {
        let trec = root.appendingPathComponent("corpora/trec-sample/train.label").path
        let cifar = root.appendingPathComponent("corpora/cifar10-sample").path
        for (name, args) in [
            (
                "cls",
                [
                    "train", "classifier", "--format", "trec", "--data", trec, "--d-model", "8", "--heads", "2",
                    "--layers", "1", "--feed-forward", "8", "--epochs", "1"
                ]
            ),
            (
                "cnn",
                [
                    "train", "cnn", "--data", cifar, "--limit", "200", "--channels", "4,8", "--hidden", "8", "--epochs",
                    "1", "--warmup-epochs", "0", "--batch-size", "32"
                ]
            )
        ] {
            let out = tmp.appendingPathComponent(name).path
            let r = try runAttn(args + ["--out", out])
            XCTAssertEqual(r.status, 0, r.err)
            let labels = try Data(contentsOf: URL(fileURLWithPath: out + "/labels.json"))
            for (file, salt) in [("config.json", UInt64(15)), ("labels.json", 16)] {
                let original = try Data(contentsOf: URL(fileURLWithPath: out + "/" + file))
                var silentlyOther = 0
                _ = try fuzz(
                    "\(name) \(file)", [UInt8](original), file: "\(name)/\(file)", salt: salt ^ UInt64(name.count)
                ) { _ in
                    let run = try RunTasks.load(RunDirectory(path: out))
                    if let c = run as? TextClassification { _ = c.classify(["What is it ?"], top: 1) }
                    let now = try Data(contentsOf: URL(fileURLWithPath: out + "/labels.json"))
                    if file == "labels.json", now != labels,
                        let a = try? JSONSerialization.jsonObject(with: now) as? [String],
                        let b = try? JSONSerialization.jsonObject(with: labels) as? [String], a != b
                    {
                        silentlyOther += 1  // loaded with other label names than training wrote
                    }
                }
                XCTAssertEqual(silentlyOther, 0, "\(name): a labels.json with other names was accepted")
                try original.write(to: URL(fileURLWithPath: out + "/" + file))
            }
        }
    }
}

import AttentionKit
import Foundation
import XCTest

/// Every JSON file AttentionKit writes has snake_case keys: config.json (every section) and a checkpoint's
/// `attentionkit.config`; they read back equal, and the camelCase keys that earlier versions wrote still load,
/// resume and check their weights.
final class SnakeCaseTests: TemporaryDirectoryTestCase {

    func testKeyConversionBothWays() {
        let pairs = [
            ("dModel", "d_model"), ("bosID", "bos_id"), ("minLRFactor", "min_lr_factor"), ("qkvBias", "qkv_bias"),
            ("unfreezeLRFactor", "unfreeze_lr_factor"), ("layerNormEps", "layer_norm_eps"), ("lr", "lr"),
            ("beta2", "beta2"), ("modelType", "model_type"), ("convTokenizer", "conv_tokenizer")
        ]
        for (name, key) in pairs {
            XCTAssertEqual(SnakeCase.key(name), key)
            XCTAssertEqual(SnakeCase.property(key), name)
        }
        // not property names: left alone
        for s in ["HUM", "LOC", "val_fraction", "_x", "a__b", "[PAD]", ""] { XCTAssertEqual(SnakeCase.key(s), s) }
        XCTAssertEqual(SnakeCase.property("HUM_x"), "HUM_x")
        XCTAssertEqual(SnakeCase.path("model.kernelSizes[2]"), "model.kernel_sizes[2]")
    }

    /// Every configuration a run can hold, with its optional parts set.
    func configurations() -> [any Codable] {
        var vit = ViTConfig()
        vit.convTokenizer = ConvTokenizerConfig()
        var training = TrainingRecipe(
            epochs: 3, lr: 1e-3, optimizer: .adamw(beta2: 0.98), weightDecay: 0.01, clipNorm: 1)
        (training.warmupSteps, training.warmupEpochs, training.minLRFactor) = (5, 1, 0.1)
        (training.batchSize, training.maxTokens, training.defaultWarmupSteps) = (8, 500, 100)
        var translation = TranslationConfig.recipe
        translation.data.validSource = "v.de"; translation.data.validTarget = "v.en"
        translation.vocabulary.sourceTokenizer = "s.json"; translation.vocabulary.targetTokenizer = "t.json"
        translation.training = training
        var image = ImageClassificationConfig(
            architecture: .vit(vit), data: ImageDataSelection(data: "cifar"), training: training)
        image.transfer = TransferRecipe(initFrom: "runs/a", freeze: ["features"])
        image.transfer.unfreezeEpoch = 2; image.transfer.unfreezeLRFactor = 0.1
        image.data.validData = "v"; image.data.splitSeed = 3; image.data.imageSize = 32; image.data.badFiles = .skip
        var textCNN = TextCNNConfig(vocabulary: 10, classes: 2)
        textCNN.maxNorm = 3; textCNN.embeddingInitRange = 0.25
        var lm = LanguageModelConfig(
            model: .gpt(GPTConfig(vocabulary: 50)), data: LanguageModelData(files: ["a.txt"], validFiles: ["b.txt"]),
            tokenizer: .characters(), training: training)
        lm.maxSteps = 10
        return [
            translation, image, lm, textCNN, vit, training,
            TextClassificationConfig(
                model: .transformer(TextClassifierConfig(vocabulary: 10, classes: 2)),
                format: TextFormat(format: .tsv, labelColumn: 1, textColumn: 0),
                data: LabelledTextData(data: "t.tsv", validData: "v.tsv"),
                tokenizer: .wordLevel(lowercase: true, minFrequency: 2), training: training),
            Seq2SeqConfig(sourceVocabulary: 10, targetVocabulary: 12),
            RecurrentTranslatorConfig(sourceVocabulary: 10, targetVocabulary: 12),
            RecurrentTextClassifierConfig(vocabulary: 10, classes: 3),
            RecurrentLanguageModelConfig(vocabulary: 10), GPTConfig(vocabulary: 10), SmallCNNConfig(), LeNet5Config(),
            VGGConfig(), ResNetConfig(), PreActResNetConfig(), TorchVisionResNetConfig(),
            TokenizerRecipe.byteLevelBPE(vocabularySize: 300), ImageMixing(mixupAlpha: 0.2, cutmixAlpha: 1)
        ]
    }

    /// The names the files spell: every stored property (a nil optional too, which the encoder leaves out) of every
    /// configuration, at any depth, converts to a key that converts back to it.
    func testEveryConfigurationPropertyRoundTripsThroughItsKey() {
        var seen = Set<String>()
        func walk(_ value: Any) {
            let m = Mirror(reflecting: value)
            for child in m.children {
                if let label = child.label, m.displayStyle == .struct || m.displayStyle == .enum,
                    !label.hasPrefix("_"), !label.hasPrefix(".")
                {
                    seen.insert(label)
                    XCTAssertEqual(SnakeCase.property(SnakeCase.key(label)), label, "\(type(of: value)).\(label)")
                }
                walk(child.value)
            }
        }
        for c in configurations() { walk(c) }
        XCTAssertTrue(seen.isSuperset(of: ["bosID", "minLRFactor", "unfreezeLRFactor", "dModel", "convTokenizer"]))
    }

    /// Encoded, every key is snake_case; decoded, the value is the same.
    func testEveryConfigurationEncodesSnakeCaseAndReadsBackEqual() throws {
        func keys(_ v: JSONValue, _ path: String, _ out: inout [String]) {
            switch v {
            case .object(let o): for (k, x) in o { out.append(path + k); keys(x, path + k + ".", &out) }
            case .array(let a): for x in a { keys(x, path, &out) }
            default: break
            }
        }
        func check<C: Codable & Equatable>(_ c: C) throws {
            let data = try SnakeCase.encoder().encode(c)
            var all: [String] = []
            keys(try JSONDecoder().decode(JSONValue.self, from: data), "", &all)
            XCTAssertFalse(all.isEmpty)
            for k in all { XCTAssertEqual(k, k.lowercased(), "\(C.self): \(k)") }
            XCTAssertEqual(try SnakeCase.decoder().decode(C.self, from: data), c)
        }
        for c in configurations() {
            guard let e = c as? any (Codable & Equatable) else { return XCTFail("\(type(of: c)) is not Equatable") }
            try check(e)
        }
    }

    /// config.json as earlier versions wrote it (camelCase keys in the model, tokenizer, format sections): it reads
    /// back the same configuration, a resume with it is accepted (and one with another seed refused, naming the
    /// snake_case field), and a checkpoint of its model passes the weights check.
    func testCamelCaseConfigOfEarlierVersionsStillLoadsAndResumes() throws {
        let run = RunDirectory(path: tmp.appendingPathComponent("old").path)
        try run.create()
        var cnn = TextCNNConfig(vocabulary: 10, classes: 2)
        cnn.maxNorm = 3
        let config = TextClassificationConfig(
            model: .cnn(cnn), format: TextFormat(format: .tsv, labelColumn: 1, textColumn: 0),
            data: LabelledTextData(data: "t.tsv"), tokenizer: .wordLevel(lowercase: true, minFrequency: 2),
            training: TrainingRecipe(epochs: 2, lr: 1, optimizer: .adadelta(rho: 0.95), weightDecay: 0, clipNorm: 0))
        try run.writeConfig(config, labels: ["HUM", "LOC"])
        try run.writeLabels(["HUM", "LOC"])
        let written = try String(contentsOf: run.configURL, encoding: .utf8)
        for key in [
            "\"max_norm\"", "\"pad_id\"", "\"label_column\"", "\"min_frequency\"", "\"kernel_sizes\"", "\"HUM\""
        ] {
            XCTAssertTrue(written.contains(key), "\(key) in \(written)")
        }
        XCTAssertNil(written.range(of: "\"[a-z]+[A-Z][A-Za-z]*\" :", options: .regularExpression), written)

        // rewrite it the way earlier versions did: property names as keys
        func camel(_ v: JSONValue) -> JSONValue {
            switch v {
            case .object(let o):
                return .object(Dictionary(uniqueKeysWithValues: o.map { (SnakeCase.property($0), camel($1)) }))
            case .array(let a): return .array(a.map(camel))
            default: return v
            }
        }
        let old = camel(try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: run.configURL)))
        let oldText = String(decoding: try JSONEncoder().encode(old), as: UTF8.self)
        XCTAssertTrue(oldText.contains("\"padID\"") && oldText.contains("\"maxNorm\""), oldText)
        try Data(oldText.utf8).write(to: run.configURL)

        XCTAssertEqual(try run.readConfig(TextClassificationConfig.self), config)
        XCTAssertNoThrow(try run.checkResume(config))
        var other = config
        other.training.seed = 9
        XCTAssertThrowsError(try run.checkResume(other)) { XCTAssertTrue("\($0)".contains("training.seed"), "\($0)") }
        var g = RandomGenerator(seed: 1)
        try ModelFile.save(TextCNN(config: cnn, using: &g), to: run.file("best.safetensors"))
        XCTAssertNoThrow(try run.loadModel("best.safetensors", oneOf: [TextCNN.self], kind: "a text classifier"))
        var wider = cnn
        wider.filters += 1
        try ModelFile.save(TextCNN(config: wider, using: &g), to: run.file("other.safetensors"))
        XCTAssertThrowsError(try run.loadModel("other.safetensors", oneOf: [TextCNN.self], kind: "a text classifier")) {
            XCTAssertTrue("\($0)".contains("model.filters"), "\($0)")
        }
        XCTAssertEqual(try run.labels(), ["HUM", "LOC"])
    }

    /// A checkpoint's metadata has snake_case keys; one with an earlier version's camelCase keys still loads; a bad
    /// value is named as the file spells it.
    func testCheckpointMetadataIsSnakeCaseAndOldMetadataLoads() throws {
        var g = RandomGenerator(seed: 1)
        let config = Seq2SeqConfig(sourceVocabulary: 20, targetVocabulary: 21)
        var small = config
        (small.dModel, small.feedForward, small.heads, small.encoderLayers, small.decoderLayers) = (16, 32, 2, 1, 1)
        let model = Seq2SeqTransformer(config: small, using: &g)
        let url = tmp.appendingPathComponent("m.safetensors")
        try ModelFile.save(model, to: url)
        let (tensors, _, meta) = try Safetensors.read(from: url)
        let text = meta["attentionkit.config"]!
        XCTAssertTrue(text.contains("\"d_model\":16") && text.contains("\"bos_id\":1"), text)
        XCTAssertEqual(try ModelFile.load(Seq2SeqTransformer.self, from: url).config, small)

        var oldMeta = meta
        oldMeta["attentionkit.config"] = String(decoding: try JSONEncoder().encode(small), as: UTF8.self)
        XCTAssertTrue(oldMeta["attentionkit.config"]!.contains("\"dModel\""))
        let oldURL = tmp.appendingPathComponent("old.safetensors")
        try Safetensors.write(tensors.map { ($0.key, $0.value) }, metadata: oldMeta, to: oldURL)
        XCTAssertEqual(try ModelFile.load(Seq2SeqTransformer.self, from: oldURL).config, small)

        var bad = meta
        bad["attentionkit.config"] = text.replacingOccurrences(of: "\"pad_id\":0", with: "\"pad_id\":99")
        try Safetensors.write(tensors.map { ($0.key, $0.value) }, metadata: bad, to: oldURL)
        XCTAssertThrowsError(try ModelFile.load(Seq2SeqTransformer.self, from: oldURL)) {
            XCTAssertTrue("\($0)".contains("pad_id"), "\($0)")
        }
    }
}

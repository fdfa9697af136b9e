import AttentionKit
import Foundation
import XCTest

/// `NPY` and `AttentionExport`: headers numpy accepts, arrays equal to the captured maps, an index that matches.
final class AttentionExportTests: XCTestCase {
    /// Parses an .npy file the way numpy does (magic, version 1.0, header dict, C-order float32 data).
    func parseNPY(_ d: Data) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](d)
        XCTAssertEqual(Array(bytes[0..<6]), [0x93] + Array("NUMPY".utf8))
        XCTAssertEqual(bytes[6], 1); XCTAssertEqual(bytes[7], 0)
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0, "data aligned to 64 bytes")
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasSuffix("\n"))
        XCTAssertTrue(header.contains("'descr': '<f4'"), header)
        XCTAssertTrue(header.contains("'fortran_order': False"), header)
        let inner = try XCTUnwrap(header.range(of: "'shape': (").map { header[$0.upperBound...].prefix { $0 != ")" } })
        let shape = inner.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let body = bytes[(10 + headerLength)...]
        XCTAssertEqual(body.count, 4 * shape.reduce(1, *))
        let values = stride(from: body.startIndex, to: body.endIndex, by: 4).map { i in
            Float(
                bitPattern: UInt32(body[i]) | UInt32(body[i + 1]) << 8 | UInt32(body[i + 2]) << 16 | UInt32(body[i + 3])
                    << 24)
        }
        return (shape, values)
    }

    func testNPYHeaderAndData() throws {
        let t = Tensor((0..<24).map { Float($0) * 0.5 - 3 }, shape: [2, 3, 4])
        let (shape, values) = try parseNPY(NPY.encode(t))
        XCTAssertEqual(shape, [2, 3, 4])
        XCTAssertEqual(values, t.scalars)
        XCTAssertEqual(try parseNPY(NPY.encode(Tensor([1, 2, 3]))).shape, [3])
    }

    /// `NPY.decode` reads what `encode` writes, and names what it cannot read.
    func testNPYDecodeRoundTripsAndRefusesOtherFiles() throws {
        let t = Tensor((0..<24).map { Float($0) * 0.5 - 3 }, shape: [2, 3, 4])
        let back = try NPY.decode(NPY.encode(t))
        XCTAssertEqual(back.shape, [2, 3, 4])
        XCTAssertEqual(back.scalars, t.scalars)
        XCTAssertEqual(try NPY.decode(NPY.encode(Tensor([1, 2, 3]))).shape, [3])
        let good = NPY.encode(t)
        var float64 = good
        float64.replaceSubrange(try XCTUnwrap(good.range(of: Data("<f4".utf8))), with: Data("<f8".utf8))
        for (bytes, reason) in [
            (Data("not numpy at all".utf8), "not a .npy file"), (good.prefix(good.count - 4), "data bytes"),
            (float64, "float32")
        ] {
            XCTAssertThrowsError(try NPY.decode(bytes)) { e in
                XCTAssertTrue("\(e)".contains(reason), "\(e)")
            }
        }
    }

    func testTranslationExportMatchesCapturedMaps() throws {
        var c = Seq2SeqConfig(sourceVocabulary: 12, targetVocabulary: 12)
        c.dModel = 16; c.heads = 2; c.encoderLayers = 1; c.decoderLayers = 1; c.feedForward = 16; c.dropout = 0
        var g = RandomGenerator(seed: 1)
        let words = ["ein", "hund", "läuft", "im", "schnee", "a", "dog", "runs"]
        let tok = TokenizerRecipe.wordLevel(lowercase: true, minFrequency: 1).train(on: words)
        let translator = Translator(model: Seq2SeqTransformer(c, using: &g), sourceTokenizer: tok, targetTokenizer: tok)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-att-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try translator.writeAttention(of: "Ein Hund läuft", to: dir, maxLength: 6)
        let index = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("maps.json")))
                as? [String: Any])
        XCTAssertEqual(index["kind"] as? String, "translation")
        let tokens = try XCTUnwrap(index["tokens"] as? [String: [[String: Any]]])
        XCTAssertEqual(tokens["source"]?.map { $0["text"] as? String }, ["ein", "hund", "läuft", "[EOS]"])
        XCTAssertEqual(tokens["source"]?[2]["bytes"] as? [Int], [9, 15], "UTF-8 byte range of 'läuft' in the input")
        let layers = try XCTUnwrap(index["layers"] as? [[String: Any]])
        XCTAssertEqual(
            layers.map { $0["path"] as? String },
            ["encoder.layers.0.selfAttention", "decoder.layers.0.selfAttention", "decoder.layers.0.crossAttention"])
        // the same decoding, captured directly
        let ids = translator.sourceIDs("Ein Hund läuft")
        let (_, maps) = withAttentionCapture(on: translator.model) {
            translator.model.greedyDecode([ids], maxLength: 6)
        }
        for layer in layers {
            let file = try XCTUnwrap(layer["file"] as? String), path = try XCTUnwrap(layer["path"] as? String)
            let (shape, values) = try parseNPY(Data(contentsOf: dir.appendingPathComponent(file)))
            XCTAssertEqual(shape, layer["shape"] as? [Int], "\(file): maps.json states the file's shape")
            let q = tokens[layer["queries"] as! String]!.count, k = tokens[layer["keys"] as! String]!.count
            XCTAssertEqual(shape, [2, q, k])
            let captured = maps[path]!.select(axis: 0, index: 0).slice(axis: 1, end: q).slice(axis: 2, end: k)
            XCTAssertEqual(values, captured.copy().scalars, "\(file) equals the captured map")
            for r in 0..<(2 * q) {
                XCTAssertEqual(
                    values[(r * k)..<(r * k + k)].reduce(0, +), 1, accuracy: 1e-5, "\(file) row \(r) sums to 1")
            }
        }
    }

    // MARK: reports (pictures and the page)

    var tmp: URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ak-rep-\(UInt32.random(in: 0...UInt32.max))")
    }

    func smallClassifier() -> TextClassification {
        var g = RandomGenerator(seed: 4)
        let tok = TokenizerRecipe.wordLevel(lowercase: true, minFrequency: 1).train(on: [
            "how many people live in tokyo", "who wrote hamlet", "grüße aus köln"
        ])
        var c = TextClassifierConfig(vocabulary: tok.vocabularySize, classes: 3)
        c.dModel = 16; c.heads = 2; c.layers = 2; c.feedForward = 16; c.dropout = 0; c.pooling = .cls
        return TextClassification(
            model: TextClassifier(config: c, using: &g), tokenizer: tok, labels: ["NUM", "HUM", "LOC"])
    }

    func smallViT() -> ImageClassification {
        var g = RandomGenerator(seed: 5)
        var c = ViTConfig()
        c.dModel = 16; c.heads = 2; c.depth = 2; c.patchSize = 8; c.mlpRatio = 2; c.dropPath = 0; c.classes = 3
        let vit = VisionTransformer(config: c, using: &g)
        return ImageClassification(
            model: vit, forward: { vit($0) }, labels: ["cat", "dog", "ship"], mean: [0.5, 0.5, 0.5],
            std: [0.25, 0.25, 0.25])
    }

    /// Checks a report directory: maps.json ↔ NPY files (shapes, rows sum to 1) ↔ PNGs (decode, stated sizes).
    func checkReport(_ dir: URL, layers expected: Int) throws -> [String: Any] {
        let index = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("maps.json")))
                as? [String: Any])
        let layers = try XCTUnwrap(index["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, expected)
        for layer in layers {
            let (shape, values) = try parseNPY(Data(contentsOf: dir.appendingPathComponent(layer["file"] as! String)))
            XCTAssertEqual(shape, layer["shape"] as? [Int])
            let k = shape[2]
            for r in 0..<(shape[0] * shape[1]) {
                XCTAssertEqual(values[(r * k)..<(r * k + k)].reduce(0, +), 1, accuracy: 1e-4)
            }
            let png = try ImageDecoding.read(
                contentsOf: dir.appendingPathComponent(try XCTUnwrap(layer["png"] as? String)))
            XCTAssertEqual(
                [png.width, png.height], layer["png_size"] as? [Int], "the PNG has the size maps.json states")
        }
        let html = try String(contentsOf: dir.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertFalse(html.contains("http://") && html.contains("<script src"), "no network resources")
        for layer in layers { XCTAssertTrue(html.contains(layer["path"] as! String)) }
        return index
    }

    func testTextClassifierReportMatchesCapturedMaps() throws {
        let c = smallClassifier(), dir = tmp
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = "Grüße aus Köln: how many people live in Tokyo?"
        let (label, p) = try c.writeAttention(of: text, to: dir)
        XCTAssertTrue(c.labels.contains(label) && p > 0 && p <= 1)
        let index = try checkReport(dir, layers: 2)
        let tokens = try XCTUnwrap((index["tokens"] as? [String: [[String: Any]]])?["tokens"])
        XCTAssertEqual(tokens[0]["text"] as? String, "[CLS]")
        XCTAssertTrue(tokens.contains { $0["original"] as? String == "Grüße" }, "original spans kept")
        XCTAssertTrue(
            tokens.contains { $0["text"] as? String == "[UNK]" && $0["original"] as? String == "Köln:" }
                || tokens.contains { $0["original"] as? String == "Köln" })
        XCTAssertTrue((index["prediction"] as? String)?.hasPrefix(label) ?? false)
        let (_, maps) = withAttentionCapture(on: c.model) { withNoGrad { c.model([c.ids(text)]) } }
        for layer in index["layers"] as! [[String: Any]] {
            let (_, values) = try parseNPY(Data(contentsOf: dir.appendingPathComponent(layer["file"] as! String)))
            XCTAssertEqual(values, maps[layer["path"] as! String]!.select(axis: 0, index: 0).copy().scalars)
        }
    }

    func testViTReportWritesOverlaysAndEqualsCapturedMaps() throws {
        let c = smallViT(), dir = tmp
        defer { try? FileManager.default.removeItem(at: dir) }
        var picture = RGBImage(width: 40, height: 30)
        for y in 0..<30 { for x in 0..<40 { picture.set(x, y, (UInt8(x * 6), UInt8(y * 8), 100)) } }
        _ = try c.writeAttention(of: picture, name: "gradient.png", to: dir)
        let index = try checkReport(dir, layers: 2)
        let image = try XCTUnwrap(index["image"] as? [String: Any])
        XCTAssertEqual(image["patch_side"] as? Int, 4)
        let strip = try ImageDecoding.read(contentsOf: dir.appendingPathComponent("attention-overlay.png"))
        XCTAssertGreaterThan(strip.width, 4 * 160, "input, two layers and the rollout side by side")
        let tokens = try XCTUnwrap((index["tokens"] as? [String: [[String: Any]]])?["patches"])
        XCTAssertEqual(tokens.count, 17, "class token + 16 patches")
        // The same forward pass, captured directly.
        var loader = CIFARBatches(
            CIFAR10(pixels: ImageFolder.centreCropped(picture, side: 32), labels: [0]), batchSize: 1, mean: c.mean,
            std: c.std, shuffle: false)
        let x = loader.next()!.images
        let (_, maps) = withAttentionCapture(on: c.model) { withNoGrad { (c.model as! VisionTransformer)(x) } }
        let (_, values) = try parseNPY(
            Data(contentsOf: dir.appendingPathComponent("encoder.layers.1.selfAttention.npy")))
        XCTAssertEqual(values, maps["encoder.layers.1.selfAttention"]!.select(axis: 0, index: 0).copy().scalars)
    }

    func testTranslationReportWithAGivenTarget() throws {
        var c = Seq2SeqConfig(sourceVocabulary: 12, targetVocabulary: 12)
        c.dModel = 16; c.heads = 2; c.encoderLayers = 1; c.decoderLayers = 1; c.feedForward = 16; c.dropout = 0
        var g = RandomGenerator(seed: 1)
        let tok = TokenizerRecipe.wordLevel(lowercase: true, minFrequency: 1).train(on: [
            "ein", "hund", "läuft", "a", "dog", "runs"
        ])
        let t = Translator(model: Seq2SeqTransformer(c, using: &g), sourceTokenizer: tok, targetTokenizer: tok)
        let dir = tmp
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try t.writeAttention(of: "Ein Hund läuft", target: "a dog runs", to: dir), "a dog runs")
        let index = try checkReport(dir, layers: 3)
        // Decoder rows are labelled by the token each step produces; the decoder's keys are its inputs.
        let tokens = try XCTUnwrap(index["tokens"] as? [String: [[String: Any]]])
        XCTAssertEqual(tokens["target"]?.map { $0["text"] as? String }, ["a", "dog", "runs", "[EOS]"])
        XCTAssertEqual(tokens["decoder_input"]?.map { $0["text"] as? String }, ["[BOS]", "a", "dog", "runs"])
        let layers = index["layers"] as! [[String: Any]]
        let cross = layers.first { ($0["path"] as! String).hasSuffix("crossAttention") }!
        XCTAssertEqual(cross["shape"] as? [Int], [2, 4, 4], "target rows (3 + EOS produced) × source keys (3 + EOS)")
        XCTAssertEqual(cross["queries"] as? String, "target")
        let decoderSelf = layers.first {
            ($0["path"] as! String).hasSuffix("selfAttention") && ($0["path"] as! String).hasPrefix("decoder")
        }!
        XCTAssertEqual([decoderSelf["queries"] as? String, decoderSelf["keys"] as? String], ["target", "decoder_input"])
        // Without a target and with a beam: the page shows what `translate` gives with that beam.
        let beamDir = dir.appendingPathComponent("beam")
        let shown = try t.writeAttention(of: "Ein Hund läuft", beam: 3, to: beamDir)
        XCTAssertEqual(shown, t.translate(["Ein Hund läuft"], beam: 3)[0][0].text)
        let beamIndex = try checkReport(beamDir, layers: 3)
        let beamTokens = try XCTUnwrap(beamIndex["tokens"] as? [String: [[String: Any]]])
        XCTAssertEqual(beamTokens["decoder_input"]?.first?["text"] as? String, "[BOS]")
        XCTAssertEqual(
            beamTokens["target"]?.count, beamTokens["decoder_input"]?.count, "one produced token per decoder step")
    }

    /// The page in a real browser: headless Chromium loads index.html, runs its script and the DOM shows every layer
    /// and a token; a screenshot is taken; opened as `#selftest` the page clicks through its own controls (pin a
    /// token or a patch, toggle a head, open a model-view thumbnail) and the test checks what changed. Skipped with
    /// a message where Chromium is absent (CI installs it).
    func testReportPageRendersInHeadlessChromium() throws {
        let chromium = try headlessChromium()
        let root = tmp
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try smallClassifier().writeAttention(
            of: "who wrote Hamlet in Paris", to: root.appendingPathComponent("text"))
        var picture = RGBImage(width: 32, height: 32)
        for y in 0..<32 { for x in 0..<32 { picture.set(x, y, (UInt8(x * 8), 50, UInt8(y * 8))) } }
        _ = try smallViT().writeAttention(of: picture, name: "picture", to: root.appendingPathComponent("image"))
        func browse(_ args: [String]) throws -> String { try browseHeadless(chromium, args) }
        for (name, token) in [("text", "Hamlet"), ("image", "p0")] {
            let page = root.appendingPathComponent(name).appendingPathComponent("index.html")
            let dom = try browse(["--dump-dom", page.absoluteString])
            XCTAssertTrue(dom.contains("data-ready=\"1\""), "\(name): the script ran to the end")
            XCTAssertFalse(
                dom.contains("data-errors"),
                "\(name): script errors: \(dom.components(separatedBy: "data-errors=").dropFirst().first?.prefix(200) ?? "")"
            )
            let index =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: page.deletingLastPathComponent().appendingPathComponent("maps.json")))
                as! [String: Any]
            let layers = index["layers"] as! [[String: Any]]
            for layer in layers {
                XCTAssertTrue(dom.contains("<option value=") && dom.contains(layer["path"] as! String))
            }
            if name == "text" {
                XCTAssertTrue(dom.contains(">\(token)<") || dom.contains(">\(token)"), "a token label is on the page")
            }
            let shot = page.deletingLastPathComponent().appendingPathComponent("screenshot.png")
            _ = try browse(["--window-size=1200,900", "--screenshot=\(shot.path)", page.absoluteString])
            let image = try ImageDecoding.read(contentsOf: shot)
            XCTAssertEqual([image.width, image.height], [1200, 900])
            XCTAssertTrue(image.pixels.contains { $0 < 100 }, "the screenshot is not blank")

            // The interactions, clicked by the page itself.
            let tested = try browse(["--dump-dom", page.absoluteString + "#selftest"])
            XCTAssertFalse(tested.contains("data-errors"), "\(name): script errors during the self-test")
            let attribute = try XCTUnwrap(
                tested.components(separatedBy: "data-selftest=\"").dropFirst().first?.components(separatedBy: "\"")
                    .first,
                "\(name): the self-test ran")
            let json = attribute.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(
                of: "&amp;", with: "&"
            )
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            let r = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
            let heads = layers[0]["heads"] as! Int
            XCTAssertEqual(
                r["thumbnails"] as? Int, layers.count * heads, "model view: one thumbnail per layer and head")
            XCTAssertEqual(r["layerAfterThumb"] as? Int, layers.count - 1, "a thumbnail click opens its layer")
            XCTAssertEqual(r["headsAfterThumb"] as? [Int], [1], "… with only its head")
            XCTAssertEqual(r["tabAfterThumb"] as? String, "head")
            XCTAssertEqual(
                r["picture"] as? String, r["expectedPicture"] as? String, "the PNG shown follows the layer selector")
            XCTAssertGreaterThan(r["tableRows"] as? Int ?? 0, 1, "the weights table has rows")
            XCTAssertEqual(r["head0Off"] as? Bool, true, "a head chip click turns the head off")
            if name == "text" {
                XCTAssertEqual(r["pinned"] as? Int, 1, "a click pins a token")
                XCTAssertEqual(r["pinnedClass"] as? Bool, true)
                XCTAssertEqual(r["pinnedAfterHover"] as? Int, 1, "hovering another token keeps the pin")
                let pinned = r["linesPinned"] as? Int ?? 0, all = r["linesAll"] as? Int ?? 0,
                    off = r["linesHead0Off"] as? Int ?? -1
                XCTAssertGreaterThan(pinned, 0)
                XCTAssertGreaterThan(all, pinned, "unpinned: every token's lines")
                XCTAssertLessThan(off, pinned, "turning head 0 off removes its lines")
                // [UNK] on the page exactly where maps.json says the model saw its unknown token
                let tokens = (index["tokens"] as! [String: [[String: Any]]])["tokens"]!
                let unknown = tokens.filter { $0["unknown"] as? Bool == true }
                XCTAssertEqual(unknown.map { $0["original"] as? String }, ["Paris"])
                XCTAssertEqual(unknown.map { $0["text"] as? String }, ["[UNK]"])
                let shown = try XCTUnwrap(r["unknown"] as? [[String]])
                XCTAssertEqual(shown.map { $0[0] }, ["[UNK]", "[UNK]"], "query and key columns both show [UNK]")
                XCTAssertTrue(shown.allSatisfy { $0[1].contains("Paris") }, "the word it replaced is in the tooltip")
            } else {
                XCTAssertEqual(r["pinned"] as? Int, r["expected"] as? Int, "a click pins the patch under the pointer")
                XCTAssertEqual(r["changedByClick"] as? Bool, true)
                XCTAssertEqual(r["changedByHeadToggle"] as? Bool, true, "toggling a head redraws the map")
                XCTAssertEqual(r["headMaps"] as? Int, heads, "every head's map for the pinned patch")
                XCTAssertEqual(r["rollout"] as? Int, layers.count, "the rollout after each layer")
            }
        }
    }

    /// Words outside the vocabulary: `[UNK]` in maps.json with the word as `original`, drawn as `[UNK]`, counted
    /// for the user.
    func testUnknownWordsAreShownAsTheUnknownToken() throws {
        let c = smallClassifier()
        let dir = tmp
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try c.writeAttention(of: "who wrote Faust", to: dir)
        let index = try checkReport(dir, layers: 2)
        let tokens = (index["tokens"] as! [String: [[String: Any]]])["tokens"]!
        XCTAssertEqual(tokens.map { $0["text"] as? String }, ["[CLS]", "who", "wrote", "[UNK]"])
        XCTAssertEqual(tokens.last?["original"] as? String, "Faust")
        XCTAssertEqual(tokens.last?["unknown"] as? Bool, true)
        var t = AttentionExport.Token(text: "[UNK]", bytes: 10..<15, unknown: true)
        t.original = "Faust"
        XCTAssertEqual(t.label, "[UNK]", "pictures draw the token the model saw")
        XCTAssertEqual(c.tokenizer.unknownWords(in: "who wrote Faust in Weimar"), ["Faust", "Weimar"])
        XCTAssertEqual(
            c.unknownWordsNote(["who wrote Faust", "who wrote hamlet"]),
            "unknown words: 1 of 6 input tokens are not in the vocabulary and were read as [UNK]: Faust")
        XCTAssertEqual(
            c.unknownWordsNote(["who wrote hamlet"]), "unknown words: none (all 3 input tokens are in the vocabulary)")
    }
}

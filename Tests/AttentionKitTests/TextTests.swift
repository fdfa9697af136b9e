import AttentionKit
import Foundation
import XCTest

final class NormalizationTests: XCTestCase {
    /// utf8proc's normalisation, through our per-cluster pipeline, on a committed sample of NormalizationTest.txt.
    func testUnicodeConformanceSample() throws {
        let text = try String(
            contentsOf: fixturesDirectory.appendingPathComponent("NormalizationTestSample.txt"), encoding: .utf8)
        var checked = 0
        func str(_ field: Substring) -> String {
            String(
                String.UnicodeScalarView(field.split(separator: " ").map { Unicode.Scalar(UInt32($0, radix: 16)!)! }))
        }
        let nfc = Normalizer([.nfc]), nfd = Normalizer([.nfd]), nfkc = Normalizer([.nfkc]), nfkd = Normalizer([.nfkd])
        func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("@") {
            let c = line.split(separator: ";", omittingEmptySubsequences: false).prefix(5).map(str)
            guard c.count == 5 else { continue }
            for x in c[0...2] {
                XCTAssertEqual(scalars(nfc.normalize(x)), scalars(c[1]), "NFC of \(line)")
                XCTAssertEqual(scalars(nfd.normalize(x)), scalars(c[2]), "NFD of \(line)")
            }
            for x in c[3...4] {
                XCTAssertEqual(scalars(nfc.normalize(x)), scalars(c[3]), "NFC of \(line)")
                XCTAssertEqual(scalars(nfd.normalize(x)), scalars(c[4]), "NFD of \(line)")
            }
            for x in c {
                XCTAssertEqual(scalars(nfkc.normalize(x)), scalars(c[3]), "NFKC of \(line)")
                XCTAssertEqual(scalars(nfkd.normalize(x)), scalars(c[4]), "NFKD of \(line)")
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 300)
    }

    func testSteps() {
        XCTAssertEqual(Normalizer([.lowercase]).normalize("ÀB Σ"), "àb σ")
        XCTAssertEqual(Normalizer([.caseFold]).normalize("Straße"), "strasse")
        XCTAssertEqual(Normalizer([.stripAccents]).normalize("café naïve Ångström"), "cafe naive Angstrom")
        XCTAssertEqual(Normalizer([.removeControl]).normalize("a\u{0007}b\tc\u{200B}d"), "ab cd")
        XCTAssertEqual(Normalizer([.collapseWhitespace]).normalize("  a \t\n b   c  "), "a b c")
        XCTAssertEqual(Normalizer([.nfkc]).normalize("ﬁ x² Ａ"), "fi x2 A")
        XCTAssertEqual(Normalizer([.nfd, .lowercase, .stripAccents]).normalize("Ünïcödé"), "unicode")
    }

    func testAlignmentPointsIntoTheOriginalBytes() {
        let (text, offsets) = Normalizer([.nfd, .stripAccents, .lowercase]).normalizeAligned("Éa")
        XCTAssertEqual(text, "ea")
        XCTAssertEqual(offsets, [0..<2, 2..<3])  // "É" is 2 UTF-8 bytes
    }
}

final class TextDecodingTests: XCTestCase {
    func decode(_ bytes: [UInt8], _ enc: TextEncoding = .utf8Replacing) -> DecodedText {
        bytes.withUnsafeBufferPointer { TextDecoding.decode($0, encoding: enc) }
    }

    func testInvalidBytesBecomeOneReplacementEach() {
        let d = decode([0x61, 0xFF, 0xC3, 0xA9, 0xE2, 0x82, 0x62, 0xED, 0xA0, 0x80, 0xC0, 0xAF])
        // a, FF bad, é ok, E2 82 truncated (2 bad bytes), b, ED A0 80 surrogate (3 bad), C0 AF overlong (2 bad)
        XCTAssertEqual(d.text, "a\u{FFFD}é\u{FFFD}\u{FFFD}b\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}")
        XCTAssertEqual(d.replacedByteOffsets, [1, 4, 5, 7, 8, 9, 10, 11])
        XCTAssertEqual(decode([0xE2, 0x82, 0xAC]).text, "€")
        XCTAssertEqual(decode([0xF0, 0x9F, 0x99, 0x82]).text, "🙂")
    }

    func testLatin1Option() {
        XCTAssertEqual(decode([0x63, 0x61, 0x66, 0xE9], .latin1).text, "café")
        XCTAssertEqual(decode([0x63, 0x61, 0x66, 0xE9]).replacedByteOffsets, [3])
    }

    func testTRECLatin1LineIsReportedNotCrashed() throws {
        let trec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/data/trec/train_5500.label")
        guard FileManager.default.fileExists(atPath: trec.path) else {
            throw XCTSkip("../shared/data/trec not present")
        }
        let lines = try TextFile.lines(of: trec)
        let bad = lines.filter { !$0.replacedByteOffsets.isEmpty }
        XCTAssertEqual(bad.map(\.number), [66], "exactly line 66 holds the raw Latin-1 byte")
        XCTAssertTrue(bad[0].text.contains("\u{FFFD}"))
        let latin = try TextFile.lines(of: trec, encoding: .latin1)
        XCTAssertFalse(latin[65].text.contains("\u{FFFD}"))
        XCTAssertEqual(lines.count, 5452)
    }

    func testFileLinesWithCRLFAndBadBytes() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ak-lines-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data([0x61, 0x0D, 0x0A, 0x62, 0xFF, 0x0A, 0x0A, 0x63]).write(to: url)
        let lines = try TextFile.lines(of: url)
        XCTAssertEqual(lines.map(\.text), ["a", "b\u{FFFD}", "", "c"])
        XCTAssertEqual(lines[1].replacedByteOffsets, [4])
        XCTAssertEqual(lines[1].number, 2)
    }
}

final class PreTokenizerTests: XCTestCase {
    func pieces(_ p: PreTokenizer, _ s: String) -> [String] { p.split(s).map(\.piece) }

    func testSplitters() {
        XCTAssertEqual(pieces(.whitespaceSplit, " Hello,  world! "), ["Hello,", "world!"])
        XCTAssertEqual(
            pieces(.whitespace, "Hello, world!! it's x²"), ["Hello", ",", "world", "!!", "it", "'", "s", "x", "²"])
        XCTAssertEqual(pieces(.unicodeCategories, "abc123 東京駅!? é"), ["abc", "123", "東", "京", "駅", "!", "?", "é"])
        XCTAssertEqual(pieces(.byteLevel(addPrefixSpace: false), "Hi there  you"), ["Hi", "Ġthere", "Ġ", "Ġyou"])
        XCTAssertEqual(pieces(.byteLevel(addPrefixSpace: true), "it's"), ["Ġit", "'s"])
        XCTAssertEqual(pieces(.byteLevel(addPrefixSpace: false), "é"), ["Ã©"])
    }

    /// Kim's clean_str split: the same pieces as his Python function and as the Hugging Face Sequence of Splits that
    /// tokenizer.json holds for it (kim_clean_str.json, generate_kim_fixture.py), byte offsets included; the
    /// tokenizer.json round trip keeps it.
    func testKimCleanStrEqualsKimAndHuggingFace() throws {
        let data = try Data(contentsOf: fixturesDirectory.appendingPathComponent("kim_clean_str.json"))
        let cases = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            let split = PreTokenizer.kimCleanStr.split(text)
            XCTAssertEqual(split.map(\.piece), c["clean_str"] as? [String], "clean_str: \(text)")
            XCTAssertEqual(split.map(\.piece), c["hf"] as? [String], "Hugging Face: \(text)")
            // scalar ranges → UTF-8 byte offsets
            let scalars = Array(text.unicodeScalars)
            var byte = [0]
            for u in scalars { byte.append(byte.last! + UTF8.width(u)) }
            XCTAssertEqual(
                split.map { [byte[$0.range.lowerBound], byte[$0.range.upperBound]] }, c["hf_offsets"] as? [[Int]],
                "offsets: \(text)")
        }
        var recipe = TokenizerRecipe.wordLevel(lowercase: false, minFrequency: 1, kimCleanStr: true)
        recipe.vocabularySize = nil
        let t = Tokenizer(
            preTokenizer: recipe.preTokenizerValue,
            model: .wordLevel(WordLevel(vocabulary: ["[UNK]": 0, "do": 1, "n't": 2, "?": 3], unknownToken: "[UNK]")))
        XCTAssertEqual(t.encode("don't?").ids, [1, 2, 3])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ak-kim-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try t.save(to: url)
        let json = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(
            json.contains("MergedWithNext") && json.contains("Sequence"), "Hugging Face's spelling of the split")
        XCTAssertEqual(try Tokenizer.load(from: url).preTokenizer, .kimCleanStr)
    }
}

final class TokenizerParityTests: XCTestCase {
    struct Case {
        let name: String; let vocab: [String: Int]; let merges: [[String]]; let encodings: [[String: Any]];
        let settings: [String: Int]
    }

    static func load() throws -> (train: [String], cases: [Case]) {
        let data = try Data(contentsOf: fixturesDirectory.appendingPathComponent("tokenizers.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = (root["cases"] as! [[String: Any]]).map {
            Case(
                name: $0["name"] as! String, vocab: $0["vocab"] as! [String: Int], merges: $0["merges"] as! [[String]],
                encodings: $0["encodings"] as! [[String: Any]], settings: $0["settings"] as! [String: Int])
        }
        return (root["train_lines"] as! [String], cases)
    }

    let special = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]

    func train(
        _ c: Case, _ lines: [String], normalizer: Normalizer, pre: PreTokenizer, unk: String?, alphabet: [String]
    ) -> Tokenizer {
        var t = Tokenizer(
            normalizer: normalizer, preTokenizer: pre, model: .wordLevel(WordLevel(vocabulary: [:])),
            specialTokens: special)
        let pieces = lines.flatMap { t.pieces($0) }
        let bpe = BPE.train(
            pieces: pieces, vocabularySize: c.settings["vocab_size"]!, minFrequency: c.settings["min_frequency"]!,
            specialTokens: special, unknownToken: unk, initialAlphabet: alphabet)
        t.model = .bpe(bpe)
        return t
    }

    func compare(_ t: Tokenizer, _ c: Case, offsets: Bool, file: StaticString = #filePath, line: UInt = #line) {
        guard case .bpe(let bpe) = t.model else { return XCTFail("not BPE", file: file, line: line) }
        XCTAssertEqual(bpe.merges.count, c.merges.count, "\(c.name): merge count", file: file, line: line)
        let firstDiff = zip(bpe.merges, c.merges).enumerated().first {
            $0.element.0.0 != $0.element.1[0] || $0.element.0.1 != $0.element.1[1]
        }
        XCTAssertNil(
            firstDiff.map { "merge \($0.offset): ours \($0.element.0), HF \($0.element.1)" }, c.name, file: file,
            line: line)
        XCTAssertEqual(bpe.vocabulary, c.vocab, "\(c.name): vocabulary", file: file, line: line)
        for e in c.encodings {
            let text = e["text"] as! String
            let ours = t.encode(text, addSpecialTokens: false)
            XCTAssertEqual(ours.ids, e["ids"] as! [Int], "\(c.name): ids of \(text)", file: file, line: line)
            XCTAssertEqual(
                ours.tokens, e["tokens"] as! [String], "\(c.name): tokens of \(text)", file: file, line: line)
            if offsets {
                XCTAssertEqual(
                    ours.offsets.map { [$0.lowerBound, $0.upperBound] }, e["offsets"] as! [[Int]],
                    "\(c.name): offsets of \(text)", file: file, line: line)
            }
        }
    }

    func testByteLevelBPEMatchesHuggingFace() throws {
        let (lines, cases) = try Self.load()
        let c = try XCTUnwrap(cases.first { $0.name == "bytelevel_bpe" })
        let t = train(
            c, lines, normalizer: Normalizer(), pre: .byteLevel(addPrefixSpace: false), unk: nil,
            alphabet: ByteLevel.byteToScalar.map { String($0) })
        compare(t, c, offsets: false)
    }

    func testWhitespaceBPEWithNormalizerMatchesHuggingFace() throws {
        let (lines, cases) = try Self.load()
        let c = try XCTUnwrap(cases.first { $0.name == "whitespace_bpe_lower" })
        let t = train(
            c, lines, normalizer: Normalizer([.nfd, .lowercase, .stripAccents]), pre: .whitespace, unk: "[UNK]",
            alphabet: [])
        compare(t, c, offsets: true)
    }

    func testLoadsHuggingFaceTokenizerJSONAndEncodesIdentically() throws {
        let (_, cases) = try Self.load()
        let c = try XCTUnwrap(cases.first { $0.name == "bytelevel_bpe" })
        let t = try Tokenizer.load(from: fixturesDirectory.appendingPathComponent("hf_bytelevel_tokenizer.json"))
        XCTAssertEqual(t.specialTokens, special)
        for e in c.encodings {
            XCTAssertEqual(t.encode(e["text"] as! String, addSpecialTokens: false).ids, e["ids"] as! [Int])
        }
    }
}

final class TokenizerTests: XCTestCase {
    func makeTokenizer() -> Tokenizer {
        let lines = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs"]
        var t = Tokenizer(
            normalizer: Normalizer([.nfc, .lowercase]), preTokenizer: .whitespace,
            model: .wordLevel(WordLevel(vocabulary: [:])), specialTokens: ["[PAD]", "[UNK]", "[BOS]", "[EOS]"],
            bosToken: "[BOS]", eosToken: "[EOS]")
        t.model = .bpe(
            BPE.train(
                pieces: lines.flatMap { t.pieces($0) }, vocabularySize: 40, specialTokens: t.specialTokens,
                unknownToken: "[UNK]"))
        return t
    }

    func testSpecialTokensNeverSplitAndBOSEOS() {
        let t = makeTokenizer()
        let e = t.encode("The cat[PAD]sat")
        XCTAssertEqual(e.tokens.first, "[BOS]")
        XCTAssertEqual(e.tokens.last, "[EOS]")
        XCTAssertTrue(e.tokens.contains("[PAD]"))
        XCTAssertEqual(e.specialTokensMask.filter { $0 == 1 }.count, 3)
        let padIndex = e.tokens.firstIndex(of: "[PAD]")!
        XCTAssertEqual(e.offsets[padIndex], 7..<12)
        XCTAssertEqual(t.decode(e.ids), "the cat sat".replacingOccurrences(of: " ", with: " "))
    }

    func testOffsetsPointIntoTheOriginalText() {
        let t = makeTokenizer()
        let text = "THE  Cat"
        let e = t.encode(text, addSpecialTokens: false)
        let bytes = Array(text.utf8)
        let covered = e.offsets.map { String(decoding: bytes[$0], as: UTF8.self) }
        XCTAssertEqual(covered.joined(), "THECat")
    }

    func testBatchPaddingTruncationAndMasks() {
        let t = makeTokenizer()
        let batch = t.encodeBatch(["the cat", "the dog sat on the mat"], padding: .longest)
        XCTAssertEqual(batch[0].ids.count, batch[1].ids.count)
        XCTAssertEqual(
            batch[0].attentionMask.filter { $0 == 0 }.count, batch[1].ids.count - t.encode("the cat").ids.count)
        XCTAssertEqual(batch[0].ids.last, t.id(of: "[PAD]"))
        let fixed = t.encodeBatch(["the cat"], padding: .fixed(10))
        XCTAssertEqual(fixed[0].ids.count, 10)
        let cut = t.encodeBatch(["the dog sat on the mat"], padding: .none, truncation: 4)
        XCTAssertEqual(cut[0].ids.count, 4)
        XCTAssertEqual(cut[0].tokens.first, "[BOS]")
        XCTAssertEqual(cut[0].tokens.last, "[EOS]", "truncation keeps the end-of-sequence token")
    }

    func testWordAndCharacterLevel() {
        let w = WordLevel.train(pieces: ["a", "b", "a", "c", "a", "b"], minFrequency: 2, specialTokens: ["[UNK]"])
        XCTAssertEqual(w.vocabulary, ["[UNK]": 0, "a": 1, "b": 2])
        let t = Tokenizer(preTokenizer: .whitespaceSplit, model: .wordLevel(w))
        XCTAssertEqual(t.encode("a c b").ids, [1, 0, 2])
        let chars = Tokenizer(
            preTokenizer: .whitespaceSplit, model: .characterLevel(WordLevel(vocabulary: ["[UNK]": 0, "a": 1, "b": 2])))
        XCTAssertEqual(chars.encode("ab x").ids, [1, 2, 0])
        XCTAssertEqual(chars.decode([1, 2]), "ab")
    }

    func testSaveLoadRoundTrip() throws {
        let t = makeTokenizer()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ak-tok-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try t.save(to: url)
        let u = try Tokenizer.load(from: url)
        for s in ["the cat sat", "Dogs and [PAD] cats", "unknown zebra"] {
            XCTAssertEqual(u.encode(s).ids, t.encode(s).ids, s)
        }
        XCTAssertEqual(u.bosToken, "[BOS]")
        XCTAssertEqual(u.eosToken, "[EOS]")
    }

    func testMalformedTokenizerFilesAreRejectedWithClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ak-badtok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func reject(_ json: String, _ fragment: String, line: UInt = #line) throws {
            let url = dir.appendingPathComponent("t\(line).json")
            try json.write(to: url, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Tokenizer.load(from: url), line: line) { e in
                XCTAssertTrue("\(e)".contains(fragment) && "\(e)".contains(url.path), "\(e)", line: line)
            }
        }
        let model = #""model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}"#
        try reject("{", "not valid JSON")
        try reject("[1,2]", "not an object")
        try reject("{\(model),\"surprise\":1}", "unknown field 'surprise'")
        try reject(#"{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]}}"#, "'b', which is not in the vocabulary")
        try reject(#"{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}}"#, "merged token 'ab'")
        try reject(#"{"model":{"type":"Unigram","vocab":{"a":0}}}"#, "not supported")
        try reject(#"{"model":{"type":"WordLevel","vocab":{}}}"#, "$.model.vocab: is empty")
        try reject(
            #"{"model":{"type":"WordLevel","vocab":{"a":0,"b":7}}}"#, "ids must be 0…1 for 2 tokens, but one is 7")
        try reject(
            #"{"model":{"type":"WordLevel","vocab":{"a":0,"b":1}},"added_tokens":[{"content":"[PAD]","id":1}]}"#,
            "$.added_tokens[0].id: 1 for '[PAD]' is already 'b'")
        try reject(
            #"{"model":{"type":"WordLevel","vocab":{"a":0,"b":1}},"added_tokens":[{"content":"b","id":0}]}"#,
            "0 clashes with the vocabulary, where 'b' is 1")
        try reject(
            #"{"model":{"type":"WordLevel","vocab":{"a":0}},"added_tokens":[{"content":"c","id":-3}]}"#,
            "$.added_tokens[0].id: must be a non-negative integer")
        try reject(#"{"model":{"type":"WordLevel","vocab":{"a":-1}}}"#, "non-negative integer")
        try reject(#"{"model":{"type":"WordLevel","vocab":{"a":0,"b":0}}}"#, "share an id")
        try reject("{\(model),\"normalizer\":{\"type\":\"Precompiled\"}}", "normalizer 'Precompiled'")
        let ok = dir.appendingPathComponent("ok.json")
        try "{\(model)}".write(to: ok, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Tokenizer.load(from: ok).encode("ab").ids, [2])
    }

    /// Property test: for random strings mixing scripts, combining marks, ZWJ emoji, RTL, CJK and controls,
    /// byte-level BPE round-trips exactly: decode(encode(x)) == normalize(x).
    func testByteLevelRoundTripOnRandomStrings() throws {
        let (lines, _) = try TokenizerParityTests.load()
        var t = Tokenizer(
            preTokenizer: .byteLevel(addPrefixSpace: false), model: .wordLevel(WordLevel(vocabulary: [:])))
        t.model = .bpe(
            BPE.train(
                pieces: lines.prefix(200).flatMap { t.pieces($0) }, vocabularySize: 400,
                initialAlphabet: ByteLevel.byteToScalar.map { String($0) }))
        let pool: [Unicode.Scalar] = [
            "a", "Z", " ", "  ", "\n", "\t", "é", "\u{0301}", "\u{0308}", "👩", "\u{200D}", "💻", "🙂",
            "ש", "ל", "ו", "م", "ر", "東", "京", "\u{0007}", "\u{0000}", "\u{FEFF}", "1", "²", "'", "!", "ß"
        ]
        .flatMap { $0.unicodeScalars }
        var g = RandomGenerator(seed: 42)
        for _ in 0..<300 {
            let n = Int(g.next() % 40)
            let s = String(String.UnicodeScalarView((0..<n).map { _ in pool[Int(g.next() % UInt64(pool.count))] }))
            XCTAssertEqual(
                t.decode(t.encode(s).ids), t.normalizer.normalize(s),
                "round trip of \(s.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// Property test: arbitrary bytes (decoded with replacement) never crash any pre-tokenizer or model.
    func testRandomBytesNeverCrash() {
        var g = RandomGenerator(seed: 7)
        let t = makeTokenizer()
        for _ in 0..<300 {
            let bytes = (0..<Int(g.next() % 64)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            let text = bytes.withUnsafeBufferPointer { TextDecoding.decode($0).text }
            _ = t.encode(text)
            for p in [PreTokenizer.whitespace, .whitespaceSplit, .unicodeCategories, .byteLevel(addPrefixSpace: true)] {
                _ = p.split(text)
            }
            _ = Normalizer([.nfkc, .caseFold, .stripAccents, .removeControl, .collapseWhitespace]).normalize(text)
        }
    }
}

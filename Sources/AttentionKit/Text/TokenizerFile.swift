import Foundation

/// Why a tokenizer.json was rejected (or could not be written); names the file and the JSON path.
public struct TokenizerFileError: Error, Equatable, CustomStringConvertible {
    /// The tokenizer.json file.
    public let file: String
    /// The JSON path of the bad field ("$" for the whole file).
    public let path: String
    /// What is wrong.
    public let reason: String
    /// File, path and reason on one line.
    public var description: String { path == "$" ? "\(file): \(reason)" : "\(file): \(path): \(reason)" }
}

/// Hugging Face `tokenizer.json` reading and writing for BPE and WordLevel tokenizers.
extension Tokenizer {
    /// Largest tokenizer.json accepted.
    public static let maxFileBytes = 512 << 20

    /// Writes a `tokenizer.json` that Hugging Face `tokenizers` loads (atomically).
    public func save(to url: URL) throws {
        func fail(_ path: String, _ reason: String) -> TokenizerFileError {
            TokenizerFileError(file: url.path, path: path, reason: reason)
        }
        var root: [String: Any] = ["version": "1.0", "truncation": NSNull(), "padding": NSNull()]
        let vocab = model.vocabulary
        root["added_tokens"] = specialTokens.compactMap { t -> [String: Any]? in
            guard let id = vocab[t] else { return nil }
            return [
                "id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false,
                "special": true
            ]
        }
        var norms: [[String: Any]] = []
        for step in normalizer.steps {
            switch step {
            case .nfc: norms.append(["type": "NFC"])
            case .nfd: norms.append(["type": "NFD"])
            case .nfkc: norms.append(["type": "NFKC"])
            case .nfkd: norms.append(["type": "NFKD"])
            case .lowercase: norms.append(["type": "Lowercase"])
            case .stripAccents: norms += [["type": "NFD"], ["type": "StripAccents"]]
            case .collapseWhitespace:
                norms += [
                    ["type": "Replace", "pattern": ["Regex": "\\s+"], "content": " "],
                    ["type": "Strip", "strip_left": true, "strip_right": true]
                ]
            case .caseFold, .removeControl:
                throw fail("normalizer", "step \(step) has no tokenizer.json equivalent")
            }
        }
        root["normalizer"] = norms.isEmpty ? NSNull() : (["type": "Sequence", "normalizers": norms] as [String: Any])
        switch preTokenizer {
        case .whitespace: root["pre_tokenizer"] = ["type": "Whitespace"]
        case .whitespaceSplit: root["pre_tokenizer"] = ["type": "WhitespaceSplit"]
        case .kimCleanStr: root["pre_tokenizer"] = PreTokenizer.kimCleanStrJSON
        case .byteLevel(let p):
            root["pre_tokenizer"] = [
                "type": "ByteLevel", "add_prefix_space": p, "trim_offsets": true, "use_regex": true
            ]
        case .unicodeCategories:
            throw fail("pre_tokenizer", "the Unicode-category pre-tokenizer has no tokenizer.json equivalent")
        case .characters:
            root["pre_tokenizer"] =
                ["type": "Split", "pattern": ["Regex": "(?s)."], "behavior": "Isolated", "invert": false]
                as [String: Any]
        }
        if bosToken != nil || eosToken != nil {
            var single: [[String: Any]] = []
            var specials: [String: Any] = [:]
            for t in [bosToken].compactMap({ $0 }) { single.append(["SpecialToken": ["id": t, "type_id": 0]]) }
            single.append(["Sequence": ["id": "A", "type_id": 0]])
            for t in [eosToken].compactMap({ $0 }) { single.append(["SpecialToken": ["id": t, "type_id": 0]]) }
            for t in [bosToken, eosToken].compactMap({ $0 }) {
                guard let id = vocab[t] else { throw fail("post_processor", "token '\(t)' is not in the vocabulary") }
                specials[t] = ["id": t, "ids": [id], "tokens": [t]]
            }
            root["post_processor"] = [
                "type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": specials
            ]
        } else {
            root["post_processor"] = NSNull()
        }
        switch model {
        case .bpe(let m):
            root["model"] =
                [
                    "type": "BPE", "dropout": NSNull(), "unk_token": m.unknownToken ?? NSNull(),
                    "continuing_subword_prefix": m.continuingSubwordPrefix ?? NSNull(),
                    "end_of_word_suffix": m.endOfWordSuffix ?? NSNull(), "fuse_unk": false, "byte_fallback": false,
                    "ignore_merges": false, "vocab": m.vocabulary, "merges": m.merges.map { [$0.0, $0.1] }
                ] as [String: Any]
            if case .byteLevel = preTokenizer {
                root["decoder"] = [
                    "type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true
                ]
            } else if let s = m.endOfWordSuffix {
                root["decoder"] = ["type": "BPEDecoder", "suffix": s]
            } else {
                root["decoder"] = NSNull()
            }
        case .wordLevel(let m):
            root["model"] = ["type": "WordLevel", "vocab": m.vocabulary, "unk_token": m.unknownToken]
            root["decoder"] = NSNull()
        case .characterLevel(let m):
            // HF: WordLevel over the pieces of the per-character Split, decoded by joining (Fuse).
            guard case .characters = preTokenizer else {
                throw fail("model", "a character-level model is saved with the character pre-tokenizer only")
            }
            root["model"] = ["type": "WordLevel", "vocab": m.vocabulary, "unk_token": m.unknownToken]
            root["decoder"] = ["type": "Fuse"]
        }
        let data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: url)
    }

    /// Loads a `tokenizer.json` (BPE or WordLevel model; normalizers NFC/NFD/NFKC/NFKD/Lowercase/StripAccents/
    /// Sequence; pre-tokenizers Whitespace/WhitespaceSplit/ByteLevel; TemplateProcessing with one BOS/EOS).
    /// Anything else — unknown types or fields, merges naming missing tokens, oversize or malformed JSON — throws.
    public static func load(from url: URL) throws -> Tokenizer {
        let file = url.path
        func fail(_ path: String, _ reason: String) -> TokenizerFileError {
            TokenizerFileError(file: file, path: path, reason: reason)
        }
        let data: Data
        do { data = try UserFile.read(url, maxBytes: maxFileBytes) } catch {
            throw fail("$", UserFile.reason(for: error))
        }
        let parsed: Any
        do { parsed = try UserFile.json(data, path: file) } catch { throw fail("$", UserFile.reason(for: error)) }
        guard let root = parsed as? [String: Any] else { throw fail("$", "top level is not an object") }
        try checkKeys(
            root,
            [
                "version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor",
                "decoder", "model"
            ], "$", fail)

        // model
        guard let m = root["model"] as? [String: Any], let type = m["type"] as? String else {
            throw fail("$.model", "missing or not an object with a type")
        }
        guard let vocabAny = m["vocab"] as? [String: Any] else {
            throw fail("$.model.vocab", "missing or not an object")
        }
        var vocab: [String: Int] = [:]
        for (k, v) in vocabAny {
            guard let n = v as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue == n.doubleValue.rounded(),
                n.intValue >= 0
            else {
                throw fail("$.model.vocab[\"\(k)\"]", "id must be a non-negative integer")
            }
            vocab[k] = n.intValue
        }
        if vocab.isEmpty { throw fail("$.model.vocab", "is empty: every text would encode to nothing") }
        if Set(vocab.values).count != vocab.count { throw fail("$.model.vocab", "two tokens share an id") }
        func optString(_ key: String) throws -> String? {
            guard let v = m[key], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw fail("$.model.\(key)", "must be a string or null") }
            return s
        }
        let tokenModel: TokenModel
        switch type {
        case "BPE":
            try checkKeys(
                m,
                [
                    "type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
                    "byte_fallback", "ignore_merges", "vocab", "merges"
                ], "$.model", fail)
            if let d = m["dropout"], !(d is NSNull) { throw fail("$.model.dropout", "BPE dropout is not supported") }
            if (m["byte_fallback"] as? Bool) == true {
                throw fail("$.model.byte_fallback", "byte fallback is not supported")
            }
            guard let mergesAny = m["merges"] as? [Any] else { throw fail("$.model.merges", "missing or not a list") }
            var merges: [(String, String)] = []
            for (i, item) in mergesAny.enumerated() {
                let pair: [String]
                if let s = item as? String {
                    pair = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                } else if let a = item as? [Any], a.allSatisfy({ $0 is String }) {
                    pair = a.map { $0 as! String }
                } else {
                    throw fail("$.model.merges[\(i)]", "must be \"a b\" or [\"a\", \"b\"]")
                }
                guard pair.count == 2 else { throw fail("$.model.merges[\(i)]", "is not a pair") }
                for t in pair where vocab[t] == nil {
                    throw fail("$.model.merges[\(i)]", "refers to '\(t)', which is not in the vocabulary")
                }
                merges.append((pair[0], pair[1]))
            }
            let prefix = try optString("continuing_subword_prefix")
            for (i, (a, b)) in merges.enumerated() {
                let merged = a + (prefix.map { b.hasPrefix($0) ? String(b.dropFirst($0.count)) : b } ?? b)
                if vocab[merged] == nil {
                    throw fail("$.model.merges[\(i)]", "merged token '\(merged)' is not in the vocabulary")
                }
            }
            let unk = try optString("unk_token")
            if let unk, vocab[unk] == nil { throw fail("$.model.unk_token", "'\(unk)' is not in the vocabulary") }
            tokenModel = .bpe(
                BPE(
                    vocabulary: vocab, merges: merges, unknownToken: unk,
                    endOfWordSuffix: try optString("end_of_word_suffix"), continuingSubwordPrefix: prefix))
        case "WordLevel":
            try checkKeys(m, ["type", "vocab", "unk_token"], "$.model", fail)
            let unk = try optString("unk_token") ?? "[UNK]"
            tokenModel = .wordLevel(WordLevel(vocabulary: vocab, unknownToken: unk))
        default:
            throw fail("$.model.type", "model type '\(type)' is not supported (BPE, WordLevel)")
        }

        // normalizer
        var steps: [NormalizationStep] = []
        func addNormalizer(_ n: [String: Any], _ path: String) throws {
            guard let t = n["type"] as? String else { throw fail(path, "missing type") }
            switch t {
            case "NFC": steps.append(.nfc)
            case "NFD": steps.append(.nfd)
            case "NFKC": steps.append(.nfkc)
            case "NFKD": steps.append(.nfkd)
            case "Lowercase": steps.append(.lowercase)
            case "StripAccents": steps.append(.stripAccents)
            case "Strip":
                if steps.last != .collapseWhitespace {
                    throw fail(path, "Strip is only supported after Replace(\\s+, \" \")")
                }
            case "Replace":
                guard let p = n["pattern"] as? [String: Any], p["Regex"] as? String == "\\s+",
                    n["content"] as? String == " "
                else {
                    throw fail(path, "only Replace(Regex \\s+ → \" \") is supported")
                }
                steps.append(.collapseWhitespace)
            case "Sequence":
                guard let list = n["normalizers"] as? [[String: Any]] else {
                    throw fail(path + ".normalizers", "missing or not a list of objects")
                }
                for (i, x) in list.enumerated() { try addNormalizer(x, path + ".normalizers[\(i)]") }
            default: throw fail(path + ".type", "normalizer '\(t)' is not supported")
            }
        }
        if let n = root["normalizer"], !(n is NSNull) {
            guard let obj = n as? [String: Any] else { throw fail("$.normalizer", "not an object") }
            try addNormalizer(obj, "$.normalizer")
        }

        // pre-tokenizer
        var pre = PreTokenizer.whitespaceSplit
        if let p = root["pre_tokenizer"], !(p is NSNull) {
            guard let obj = p as? [String: Any], let t = obj["type"] as? String else {
                throw fail("$.pre_tokenizer", "not an object with a type")
            }
            switch t {
            case "Whitespace": pre = .whitespace
            case "WhitespaceSplit": pre = .whitespaceSplit
            case "Sequence":
                guard NSDictionary(dictionary: obj).isEqual(to: PreTokenizer.kimCleanStrJSON) else {
                    throw fail(
                        "$.pre_tokenizer",
                        "a Sequence is supported as Kim's clean_str split only (the three Splits attn writes)")
                }
                pre = .kimCleanStr
            case "Split":
                guard (obj["pattern"] as? [String: Any])?["Regex"] as? String == "(?s).",
                    obj["behavior"] as? String == "Isolated",
                    (obj["invert"] as? Bool ?? false) == false
                else {
                    throw fail(
                        "$.pre_tokenizer",
                        "Split is supported on every character only ({\"Regex\": \"(?s).\"}, Isolated)")
                }
                pre = .characters
            case "ByteLevel":
                if (obj["use_regex"] as? Bool) == false {
                    throw fail("$.pre_tokenizer.use_regex", "ByteLevel without the regex is not supported")
                }
                pre = .byteLevel(addPrefixSpace: obj["add_prefix_space"] as? Bool ?? true)
            default: throw fail("$.pre_tokenizer.type", "pre-tokenizer '\(t)' is not supported")
            }
        }

        // special tokens and BOS/EOS
        var specials: [String] = []
        if let added = root["added_tokens"] as? [[String: Any]] {
            for (i, a) in added.enumerated() {
                guard let content = a["content"] as? String else {
                    throw fail("$.added_tokens[\(i)].content", "missing")
                }
                let given = (a["id"] as? NSNumber).flatMap {
                    String(cString: $0.objCType) != "c" && $0.doubleValue == $0.doubleValue.rounded()
                        && $0.doubleValue >= 0 ? $0.intValue : nil
                }
                if a["id"] != nil && given == nil {
                    throw fail("$.added_tokens[\(i)].id", "must be a non-negative integer")
                }
                guard vocab[content] != nil || given != nil else { throw fail("$.added_tokens[\(i)]", "no id") }
                if let own = vocab[content], let given, own != given {
                    throw fail(
                        "$.added_tokens[\(i)].id", "\(given) clashes with the vocabulary, where '\(content)' is \(own)")
                }
                if vocab[content] == nil, let id = given {
                    if let other = vocab.first(where: { $0.value == id }) {
                        throw fail(
                            "$.added_tokens[\(i)].id",
                            "\(id) for '\(content)' is already '\(other.key)' in the vocabulary")
                    }
                    vocab[content] = id
                }
                specials.append(content)
            }
        }
        // Ids index the embedding table: they must be 0…N−1 (a stray large id would size a huge table).
        if let top = vocab.values.max(), top != vocab.count - 1 {
            throw fail("$.model.vocab", "ids must be 0…\(vocab.count - 1) for \(vocab.count) tokens, but one is \(top)")
        }
        var bos: String? = nil, eos: String? = nil
        if let pp = root["post_processor"], !(pp is NSNull) {
            guard let obj = pp as? [String: Any], obj["type"] as? String == "TemplateProcessing",
                let single = obj["single"] as? [[String: Any]]
            else {
                throw fail("$.post_processor", "only TemplateProcessing is supported")
            }
            var seenSequence = false
            for (i, item) in single.enumerated() {
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let st = item["SpecialToken"] as? [String: Any], let id = st["id"] as? String else {
                    throw fail("$.post_processor.single[\(i)]", "expected SpecialToken or Sequence")
                }
                if seenSequence { eos = id } else { bos = id }
            }
        }
        let model: TokenModel
        switch tokenModel {
        case .bpe(let b):
            model = .bpe(
                BPE(
                    vocabulary: vocab, merges: b.merges, unknownToken: b.unknownToken,
                    endOfWordSuffix: b.endOfWordSuffix, continuingSubwordPrefix: b.continuingSubwordPrefix))
        case .wordLevel(let w):
            // a WordLevel model over single characters is a character-level model (decoded by joining)
            let word = WordLevel(vocabulary: vocab, unknownToken: w.unknownToken)
            if case .characters = pre { model = .characterLevel(word) } else { model = .wordLevel(word) }
        case .characterLevel: model = tokenModel
        }
        let pad = specials.first(where: { $0 == "[PAD]" || $0 == "<pad>" }) ?? "[PAD]"
        return Tokenizer(
            normalizer: Normalizer(steps), preTokenizer: pre, model: model, specialTokens: specials,
            bosToken: bos, eosToken: eos, padToken: pad)
    }

    private static func checkKeys(
        _ obj: [String: Any], _ allowed: [String], _ path: String,
        _ fail: (String, String) -> TokenizerFileError
    ) throws {
        if let extra = obj.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail(path, "unknown field '\(extra)'")
        }
    }
}

import CUTF8Proc

/// How normalised text is cut into pieces before the model sees it (Hugging Face `pre_tokenizers`).
public enum PreTokenizer: Sendable, Equatable {
    /// Split on whitespace (HF `WhitespaceSplit`).
    case whitespaceSplit
    /// Runs of word characters, and runs of other non-space characters (HF `Whitespace`: `\w+|[^\w\s]+`).
    case whitespace
    /// Unicode-category aware: runs of letters (with their marks), runs of digits, every punctuation or symbol
    /// character alone, every CJK ideograph alone; whitespace separates.
    case unicodeCategories
    /// GPT-2 byte level: the GPT-2 regex split, then every UTF-8 byte mapped to a printable character, so any input
    /// is representable with a 256-symbol alphabet (HF `ByteLevel`).
    case byteLevel(addPrefixSpace: Bool)
    /// Every Unicode scalar is a piece, spaces and newlines included (HF `Split` on `(?s).`, isolated): the
    /// pre-tokenizer of character-level language models.
    case characters
    /// Kim's (2014) `clean_str` as a split: every character but ASCII letters, digits and `(),!?'`` ` separates
    /// (and is dropped), `(` `)` `,` `!` `?` are pieces of their own, and the clitics `'s 've n't 're 'd 'll` start a
    /// new piece ("don't" → "do" "n't", "it's" → "it" "'s"). As a Hugging Face `Sequence` of three `Split`s.
    case kimCleanStr

    /// Pieces with their ranges in Unicode scalar indices of `text`.
    public func split(_ text: String) -> [(piece: String, range: Range<Int>)] {
        let s = Array(text.unicodeScalars)
        var out: [(String, Range<Int>)] = []
        func emit(_ r: Range<Int>) {
            guard !r.isEmpty else { return }
            var v = String.UnicodeScalarView()
            v.append(contentsOf: s[r])
            out.append((String(v), r))
        }
        switch self {
        case .characters:
            for i in 0..<s.count { emit(i..<(i + 1)) }
        case .kimCleanStr:
            var i = 0
            while i < s.count {
                let c = s[i]
                if Self.kimIsolated(c) { emit(i..<(i + 1)); i += 1; continue }
                guard Self.kimKept(c) else { i += 1; continue }
                var j = i + 1
                while j < s.count && Self.kimKept(s[j]) && !Self.kimIsolated(s[j]) { j += 1 }
                // within the run, a piece starts at every clitic
                var start = i
                for k in (i + 1)..<Swift.max(i + 1, j) where Self.kimCliticStarts(s, at: k, end: j) {
                    emit(start..<k)
                    start = k
                }
                emit(start..<j)
                i = j
            }
        case .whitespaceSplit:
            var start: Int? = nil
            for i in 0..<s.count {
                if CharClass.isSpace(s[i]) {
                    if let st = start { emit(st..<i); start = nil }
                } else if start == nil {
                    start = i
                }
            }
            if let st = start { emit(st..<s.count) }
        case .whitespace:
            var i = 0
            while i < s.count {
                if CharClass.isSpace(s[i]) { i += 1; continue }
                let word = CharClass.isWord(s[i])
                var j = i + 1
                while j < s.count && !CharClass.isSpace(s[j]) && CharClass.isWord(s[j]) == word { j += 1 }
                emit(i..<j)
                i = j
            }
        case .unicodeCategories:
            var i = 0
            while i < s.count {
                let c = s[i]
                if CharClass.isSpace(c) { i += 1; continue }
                if CharClass.isCJK(c) || (!CharClass.isLetter(c) && !CharClass.isDigit(c) && !CharClass.isMark(c)) {
                    emit(i..<(i + 1)); i += 1; continue
                }
                let digit = CharClass.isDigit(c)
                var j = i + 1
                while j < s.count && !CharClass.isCJK(s[j])
                    && (digit ? CharClass.isDigit(s[j]) : (CharClass.isLetter(s[j]) || CharClass.isMark(s[j])))
                { j += 1 }
                emit(i..<j)
                i = j
            }
        case .byteLevel(let addPrefixSpace):
            let shift = addPrefixSpace && !(s.first.map(CharClass.isSpace) ?? true) ? 1 : 0
            let t = shift == 1 ? [" "] + s : s
            let table = ByteLevel.byteToUTF8
            var utf8: [UInt8] = []
            for r in ByteLevel.gpt2Split(t) {
                // each scalar's UTF-8 bytes, each byte as its stand-in character's UTF-8: no String per scalar
                utf8.removeAll(keepingCapacity: true)
                for k in r { UTF8.encode(t[k]) { byte in utf8.append(contentsOf: table[Int(byte)]) } }
                let mapped = String(decoding: utf8, as: UTF8.self)
                let lo = Swift.max(r.lowerBound - shift, 0), hi = Swift.max(r.upperBound - shift, 0)
                out.append((mapped, lo..<hi))
            }
        }
        return out
    }
}

extension PreTokenizer {
    /// `clean_str`'s kept characters: ASCII letters and digits, `(),!?'` and the backquote.
    static func kimKept(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39: return true
        default: return "(),!?'`".unicodeScalars.contains(c)
        }
    }

    /// The characters `clean_str` pads with spaces.
    static func kimIsolated(_ c: Unicode.Scalar) -> Bool { "(),!?".unicodeScalars.contains(c) }

    /// Whether one of `'s 've n't 're 'd 'll` starts at `k` (before `end`).
    static func kimCliticStarts(_ s: [Unicode.Scalar], at k: Int, end: Int) -> Bool {
        for clitic in ["'s", "'ve", "n't", "'re", "'d", "'ll"] {
            let u = Array(clitic.unicodeScalars)
            if k + u.count <= end && (0..<u.count).allSatisfy({ s[k + $0] == u[$0] }) { return true }
        }
        return false
    }

    /// The Hugging Face form of `kimCleanStr`: drop what is not kept, isolate `(),!?`, start a piece at each clitic.
    static var kimCleanStrJSON: [String: Any] {
        [
            "type": "Sequence",
            "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": "[^A-Za-z0-9(),!?'`]+"], "behavior": "Removed", "invert": false]
                    as [String: Any],
                ["type": "Split", "pattern": ["Regex": "[(),!?]"], "behavior": "Isolated", "invert": false]
                    as [String: Any],
                [
                    "type": "Split", "pattern": ["Regex": "'s|'ve|n't|'re|'d|'ll"], "behavior": "MergedWithNext",
                    "invert": false
                ] as [String: Any]
            ]
        ]
    }
}

/// Character classes on Unicode general categories (utf8proc).
enum CharClass {
    static func category(_ c: Unicode.Scalar) -> utf8proc_category_t { utf8proc_category(Int32(c.value)) }
    static func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }
    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        let k = category(c)
        return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT
            || k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO
    }
    static func isMark(_ c: Unicode.Scalar) -> Bool {
        let k = category(c)
        return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME
    }
    static func isDigit(_ c: Unicode.Scalar) -> Bool { category(c) == UTF8PROC_CATEGORY_ND }
    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        let k = category(c)
        return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO
    }
    /// `\w` of the Rust regex crate: alphabetic, marks, decimal digits, connector punctuation, join controls.
    static func isWord(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic || isMark(c) || isDigit(c) || category(c) == UTF8PROC_CATEGORY_PC || c.value == 0x200C
            || c.value == 0x200D
    }
    /// CJK Unified Ideographs and their extensions and compatibility blocks (BERT's definition).
    static func isCJK(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }
}

/// GPT-2's byte-level alphabet and regex split.
public enum ByteLevel {
    /// byte → printable scalar: printable Latin-1 bytes map to themselves, the others to U+0100 onwards.
    /// The UTF-8 bytes of each byte's stand-in character (`byteToScalar`), for building pieces without Strings.
    static let byteToUTF8: [[UInt8]] = byteToScalar.map { Array(String($0).utf8) }

    /// GPT-2's byte-to-character table: each byte's printable stand-in.
    public static let byteToScalar: [Unicode.Scalar] = {
        let keep = Array(33...126) + Array(161...172) + Array(174...255)
        var map = [Unicode.Scalar](repeating: " ", count: 256)
        for b in keep { map[b] = Unicode.Scalar(UInt8(b)) }
        var n = 0
        for b in 0..<256 where !keep.contains(b) {
            map[b] = Unicode.Scalar(UInt32(256 + n))!
            n += 1
        }
        return map
    }()

    /// scalar → byte, the inverse of `byteToScalar`.
    public static let scalarToByte: [UInt32: UInt8] = {
        var d: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { d[s.value] = UInt8(b) }
        return d
    }()

    /// The GPT-2 pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, as ranges.
    static func gpt2Split(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        let n = s.count
        func isL(_ k: Int) -> Bool { CharClass.isLetter(s[k]) }
        func isN(_ k: Int) -> Bool { CharClass.isNumber(s[k]) }
        func isS(_ k: Int) -> Bool { CharClass.isSpace(s[k]) }
        while i < n {
            // contractions
            if s[i] == "'" && i + 1 < n {
                let rest = String(String.UnicodeScalarView(s[(i + 1)..<Swift.min(n, i + 3)]))
                if rest.hasPrefix("re") || rest.hasPrefix("ve") || rest.hasPrefix("ll") {
                    out.append(i..<(i + 3)); i += 3; continue
                }
                if let f = rest.first, "stmd".contains(f) { out.append(i..<(i + 2)); i += 2; continue }
            }
            let start = i
            let hasSpace = s[i] == " " && i + 1 < n && !isS(i + 1)
            let j = hasSpace ? i + 1 : i
            if j < n && isL(j) {
                var k = j + 1
                while k < n && isL(k) { k += 1 }
                out.append(start..<k); i = k; continue
            }
            if j < n && isN(j) {
                var k = j + 1
                while k < n && isN(k) { k += 1 }
                out.append(start..<k); i = k; continue
            }
            if j < n && !isS(j) {
                var k = j + 1
                while k < n && !isS(k) && !isL(k) && !isN(k) { k += 1 }
                out.append(start..<k); i = k; continue
            }
            // whitespace: \s+(?!\S) takes all but the last space before a non-space; \s+ takes the rest
            var k = i
            while k < n && isS(k) { k += 1 }
            if k < n && k - i > 1 { out.append(i..<(k - 1)); i = k - 1 } else { out.append(i..<k); i = k }
        }
        return out
    }
}

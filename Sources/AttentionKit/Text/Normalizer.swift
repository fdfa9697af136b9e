import CUTF8Proc

#if canImport(Glibc)
    import Glibc
#endif

/// One text normalisation step (the Hugging Face `normalizers` vocabulary).
public enum NormalizationStep: Sendable, Equatable {
    case nfc, nfd, nfkc, nfkd
    /// Full lowercase mapping (utf8proc's, per code point).
    case lowercase
    /// Unicode case folding (for caseless matching; ß → ss).
    case caseFold
    /// Canonical decomposition, then drop combining marks (category Mn): "café" → "cafe".
    case stripAccents
    /// Drop control characters (category Cc and Cf, except tab, LF and CR, which become spaces).
    case removeControl
    /// Runs of whitespace become one space; leading and trailing whitespace is dropped.
    case collapseWhitespace
}

/// A normalisation pipeline on utf8proc that keeps an alignment to the original text.
///
/// Each step works on one grapheme cluster at a time (combining sequences never cross clusters, so composition and
/// decomposition are exact), which lets every output scalar remember the UTF-8 byte range of the original cluster
/// it came from: the offsets of encodings point back into the user's string.
public struct Normalizer: Sendable, Equatable {
    /// The steps, applied in order.
    public var steps: [NormalizationStep]
    /// A normalizer of these steps (none: identity).
    public init(_ steps: [NormalizationStep] = []) { self.steps = steps }

    /// Normalised text.
    public func normalize(_ text: String) -> String {
        // ASCII text through steps that leave ASCII as it is (or only lowercase it): no per-cluster work.
        if steps.allSatisfy({ [.nfc, .nfd, .nfkc, .nfkd, .stripAccents, .lowercase, .caseFold].contains($0) }),
            text.utf8.allSatisfy({ $0 < 0x80 })
        {
            guard steps.contains(.lowercase) || steps.contains(.caseFold) else { return text }
            return String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
        }
        return normalizeAligned(text).text
    }

    /// Normalised text and, for each of its Unicode scalars, the byte range in `text` it came from.
    public func normalizeAligned(_ text: String) -> (text: String, offsets: [Range<Int>]) {
        if steps.isEmpty {
            var offsets: [Range<Int>] = []
            var byte = 0
            for c in text.unicodeScalars {
                let n = UTF8.width(c)
                offsets.append(byte..<(byte + n))
                byte += n
            }
            return (text, offsets)
        }
        var pieces: [(scalars: [Unicode.Scalar], range: Range<Int>)] = []
        var byte = 0
        for ch in text {
            let n = ch.utf8.count
            pieces.append((Array(ch.unicodeScalars), byte..<(byte + n)))
            byte += n
        }
        for step in steps {
            if step == .collapseWhitespace {
                var out: [(scalars: [Unicode.Scalar], range: Range<Int>)] = []
                var pendingSpace: Range<Int>? = nil
                for p in pieces {
                    if p.scalars.allSatisfy({ $0.properties.isWhitespace }) {
                        if !out.isEmpty && pendingSpace == nil { pendingSpace = p.range }
                    } else {
                        if let r = pendingSpace { out.append(([" "], r)); pendingSpace = nil }
                        out.append(p)
                    }
                }
                pieces = out
                continue
            }
            pieces = pieces.compactMap { p in
                let s = Self.apply(step, p.scalars)
                return s.isEmpty ? nil : (s, p.range)
            }
        }
        var utf8: [UInt8] = []
        utf8.reserveCapacity(byte)
        var offsets: [Range<Int>] = []
        offsets.reserveCapacity(pieces.count)
        for p in pieces {
            for c in p.scalars { utf8.append(contentsOf: UTF8.encode(c)!) }
            offsets += repeatElement(p.range, count: p.scalars.count)
        }
        return (String(decoding: utf8, as: UTF8.self), offsets)
    }

    /// One step on one cluster's scalars.
    static func apply(_ step: NormalizationStep, _ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // ASCII clusters are their own NFC/NFD/NFKC/NFKD and have no accents: no utf8proc round trip for them.
        if step == .nfc || step == .nfd || step == .nfkc || step == .nfkd || step == .stripAccents,
            s.allSatisfy({ $0.isASCII })
        {
            return s
        }
        switch step {
        case .nfc: return map(s, UTF8PROC_STABLE.rawValue | UTF8PROC_COMPOSE.rawValue)
        case .nfd: return map(s, UTF8PROC_STABLE.rawValue | UTF8PROC_DECOMPOSE.rawValue)
        case .nfkc: return map(s, UTF8PROC_STABLE.rawValue | UTF8PROC_COMPOSE.rawValue | UTF8PROC_COMPAT.rawValue)
        case .nfkd: return map(s, UTF8PROC_STABLE.rawValue | UTF8PROC_DECOMPOSE.rawValue | UTF8PROC_COMPAT.rawValue)
        case .caseFold: return map(s, UTF8PROC_STABLE.rawValue | UTF8PROC_CASEFOLD.rawValue)
        case .lowercase: return s.map { Unicode.Scalar(UInt32(utf8proc_tolower(Int32($0.value)))) ?? $0 }
        case .stripAccents:
            return map(s, UTF8PROC_STABLE.rawValue | UTF8PROC_DECOMPOSE.rawValue).filter {
                utf8proc_category(Int32($0.value)) != UTF8PROC_CATEGORY_MN
            }
        case .removeControl:
            return s.compactMap { c in
                if c == "\t" || c == "\n" || c == "\r" { return " " }
                let cat = utf8proc_category(Int32(c.value))
                return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ? nil : c
            }
        case .collapseWhitespace: return s
        }
    }

    /// utf8proc_map (decompose, canonical reordering, optional composition) on a scalar sequence.
    static func map(_ s: [Unicode.Scalar], _ options: UInt32) -> [Unicode.Scalar] {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s)
        var bytes = Array(String(view).utf8)
        var dst: UnsafeMutablePointer<UInt8>? = nil
        let n = bytes.withUnsafeMutableBufferPointer { b in
            utf8proc_map(b.baseAddress, b.count, &dst, utf8proc_option_t(rawValue: options))
        }
        defer { free(dst) }
        guard n >= 0, let dst else { return s }  // cannot happen for valid scalars; keep the input
        return Array(String(decoding: UnsafeBufferPointer(start: dst, count: n), as: UTF8.self).unicodeScalars)
    }
}

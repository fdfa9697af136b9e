import RealModule

// Corpus metrics for translation, reproducing sacreBLEU 2.x exactly (checked against it on committed fixtures).
// Text is handled as Unicode scalars, as Python handles str (code points, not grapheme clusters).

/// Python's `str.isspace()` set, which `str.split()` splits on.
@inline(__always)
func isPythonSpace(_ u: Unicode.Scalar) -> Bool {
    switch u.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default: return false
    }
}

/// Python's `s.split()`: maximal runs of non-space scalars.
func pythonSplit(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
    var out: [[Unicode.Scalar]] = [], cur: [Unicode.Scalar] = []
    for u in s {
        if isPythonSpace(u) { if !cur.isEmpty { out.append(cur); cur = [] } } else { cur.append(u) }
    }
    if !cur.isEmpty { out.append(cur) }
    return out
}

/// sacreBLEU's default `13a` tokenizer (mteval-v13a): unescape &quot; &amp; &lt; &gt;, split off punctuation and
/// symbols, periods and commas unless next to a digit, a dash after a digit; single spaces.
public func tokenize13a(_ line: String) -> String {
    var text = line.replacingOccurrencesOf("<skipped>", with: "").replacingOccurrencesOf("-\n", with: "")
        .replacingOccurrencesOf("\n", with: " ")
    if text.contains("&") {
        text = text.replacingOccurrencesOf("&quot;", with: "\"").replacingOccurrencesOf("&amp;", with: "&")
            .replacingOccurrencesOf("&lt;", with: "<").replacingOccurrencesOf("&gt;", with: ">")
    }
    var s = Array((" " + text + " ").unicodeScalars)
    func isDigit(_ u: Unicode.Scalar) -> Bool { u.value >= 0x30 && u.value <= 0x39 }
    func isPeriodComma(_ u: Unicode.Scalar) -> Bool { u == "." || u == "," }
    // 1. ([\{-\~\[-\` -\&\(-\+\:-\@\/]) → " \1 "
    var out: [Unicode.Scalar] = []
    for u in s {
        switch u.value {
        case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F: out += [" ", u, " "]
        default: out.append(u)
        }
    }
    // 2–4: left-to-right, non-overlapping two-scalar rules (re.sub semantics)
    func pass(
        _ s: [Unicode.Scalar], _ matches: (Unicode.Scalar, Unicode.Scalar) -> Bool,
        _ replace: (Unicode.Scalar, Unicode.Scalar) -> [Unicode.Scalar]
    ) -> [Unicode.Scalar] {
        var r: [Unicode.Scalar] = [], i = 0
        while i < s.count {
            if i + 1 < s.count && matches(s[i], s[i + 1]) {
                r += replace(s[i], s[i + 1]); i += 2
            } else {
                r.append(s[i]); i += 1
            }
        }
        return r
    }
    s = pass(out, { !isDigit($0) && isPeriodComma($1) }, { [$0, " ", $1, " "] })  // ([^0-9])([\.,]) → "\1 \2 "
    s = pass(s, { isPeriodComma($0) && !isDigit($1) }, { [" ", $0, " ", $1] })  // ([\.,])([^0-9]) → " \1 \2"
    s = pass(s, { isDigit($0) && $1 == "-" }, { [$0, " ", $1, " "] })  // ([0-9])(-) → "\1 \2 "
    return pythonSplit(s).map { String(String.UnicodeScalarView($0)) }.joined(separator: " ")
}

extension String {
    /// Literal substring replacement (no Foundation dependency in the metric).
    fileprivate func replacingOccurrencesOf(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        return literalParts(separatedBy: target).joined(separator: replacement)
    }

    fileprivate func literalParts(separatedBy separator: String) -> [String] {
        var parts: [String] = [], rest = Substring(self)
        while let r = rest.literalRange(of: separator) {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}

extension Substring {
    fileprivate func literalRange(of needle: String) -> Range<Substring.Index>? {
        let n = Array(needle.unicodeScalars)
        var i = startIndex
        while i < endIndex {
            var j = i, k = 0
            while k < n.count && j < endIndex && unicodeScalars[j] == n[k] {
                j = unicodeScalars.index(after: j); k += 1
            }
            if k == n.count { return i..<j }
            i = unicodeScalars.index(after: i)
        }
        return nil
    }
}

/// A corpus BLEU score with its sufficient statistics (sacreBLEU's `BLEUScore`).
public struct BLEUScore: Sendable, Equatable, CustomStringConvertible {
    /// 0…100.
    public var score: Double
    public var correct: [Int], total: [Int]
    /// The modified n-gram precisions, n = 1…4 (percent).
    public var precisions: [Double]
    /// The brevity penalty.
    public var brevityPenalty: Double
    public var hypothesisLength: Int, referenceLength: Int

    /// sacreBLEU's one-line summary.
    public var description: String {
        String(
            format: "BLEU = %.2f %@ (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)", score,
            precisions.map { String(format: "%.1f", $0) }.joined(separator: "/"), brevityPenalty,
            referenceLength > 0 ? Double(hypothesisLength) / Double(referenceLength) : 0, hypothesisLength,
            referenceLength)
    }
}

/// Corpus BLEU as `sacrebleu.corpus_bleu(hyps, [refs])` computes it by default: 13a tokenization, n-grams 1…4 with
/// clipped counts, brevity penalty exp(1 − r/c) when c < r, exponential smoothing ("exp": each n-gram order with no
/// match gets precision 100/(2^k·total), k counting such orders), cased unless `lowercase`.
/// BLEU = BP · exp(¼ Σ log pₙ).
public func corpusBLEU(hypotheses: [String], references: [String], lowercase: Bool = false, tokenize: Bool = true)
    -> BLEUScore
{
    precondition(
        hypotheses.count == references.count,
        "corpusBLEU: \(hypotheses.count) hypotheses but \(references.count) references")
    let order = 4
    var correct = [Int](repeating: 0, count: order), total = [Int](repeating: 0, count: order)
    var sysLen = 0, refLen = 0
    func prepare(_ s: String) -> [String] {
        var t = lowercase ? s.lowercased() : s
        while let last = t.unicodeScalars.last, isPythonSpace(last) { t.unicodeScalars.removeLast() }  // rstrip
        let tok = tokenize ? tokenize13a(t) : t
        return pythonSplit(Array(tok.unicodeScalars)).map { String(String.UnicodeScalarView($0)) }
    }
    for (h, r) in zip(hypotheses, references) {
        let ht = prepare(h), rt = prepare(r)
        sysLen += ht.count
        refLen += rt.count
        for n in 1...order {
            guard ht.count >= n else { continue }
            var refCounts: [ArraySlice<String>: Int] = [:]
            if rt.count >= n { for i in 0...(rt.count - n) { refCounts[rt[i..<(i + n)], default: 0] += 1 } }
            var hypCounts: [ArraySlice<String>: Int] = [:]
            for i in 0...(ht.count - n) { hypCounts[ht[i..<(i + n)], default: 0] += 1 }
            for (g, c) in hypCounts { correct[n - 1] += min(c, refCounts[g] ?? 0) }
            total[n - 1] += ht.count - n + 1
        }
    }
    var bp = 1.0
    if sysLen < refLen { bp = sysLen > 0 ? Double.exp(1 - Double(refLen) / Double(sysLen)) : 0 }
    var precisions = [Double](repeating: 0, count: order)
    if correct.allSatisfy({ $0 == 0 }) {
        return BLEUScore(
            score: 0, correct: correct, total: total, precisions: precisions, brevityPenalty: bp,
            hypothesisLength: sysLen, referenceLength: refLen)
    }
    var smooth = 1.0
    for n in 0..<order {
        if total[n] == 0 { break }
        if correct[n] == 0 {
            smooth *= 2; precisions[n] = 100 / (smooth * Double(total[n]))
        } else {
            precisions[n] = 100 * Double(correct[n]) / Double(total[n])
        }
    }
    let logs = precisions.map { $0 == 0 ? -9999999999.0 : Double.log($0) }
    let score = bp * Double.exp(logs.reduce(0, +) / Double(order))
    return BLEUScore(
        score: score, correct: correct, total: total, precisions: precisions, brevityPenalty: bp,
        hypothesisLength: sysLen, referenceLength: refLen)
}

/// Corpus chrF as `sacrebleu.corpus_chrf(hyps, [refs])` computes it by default: character n-grams 1…6 with
/// whitespace removed, statistics summed over the corpus, then per order P and R, averaged over the orders where
/// both sides have n-grams, and F_β = (1+β²)·P·R/(β²·P + R) with β = 2; 0…100.
public func corpusChrF(hypotheses: [String], references: [String], charOrder: Int = 6, beta: Double = 2) -> Double {
    precondition(
        hypotheses.count == references.count,
        "corpusChrF: \(hypotheses.count) hypotheses but \(references.count) references")
    var stats = [Int](repeating: 0, count: 3 * charOrder)  // [hyp, ref, match] per order
    func grams(_ s: String, _ n: Int) -> [ArraySlice<Unicode.Scalar>: Int] {
        let chars = Array(s.unicodeScalars.filter { !isPythonSpace($0) })
        var c: [ArraySlice<Unicode.Scalar>: Int] = [:]
        if chars.count >= n { for i in 0...(chars.count - n) { c[chars[i..<(i + n)], default: 0] += 1 } }
        return c
    }
    for (h, r) in zip(hypotheses, references) {
        for n in 1...charOrder {
            let hg = grams(h, n), rg = grams(r, n)
            var match = 0, hypCount = 0
            for (g, c) in hg { hypCount += c; match += min(c, rg[g] ?? 0) }
            stats[3 * (n - 1)] += rg.isEmpty ? 0 : hypCount
            stats[3 * (n - 1) + 1] += rg.values.reduce(0, +)
            stats[3 * (n - 1) + 2] += match
        }
    }
    let eps = 1e-16, factor = beta * beta
    var avgP = 0.0, avgR = 0.0, effective = 0
    for n in 0..<charOrder {
        let (nh, nr, nm) = (stats[3 * n], stats[3 * n + 1], stats[3 * n + 2])
        let p = nh > 0 ? Double(nm) / Double(nh) : eps, r = nr > 0 ? Double(nm) / Double(nr) : eps
        if nh > 0 && nr > 0 { avgP += p; avgR += r; effective += 1 }
    }
    guard effective > 0 else { return 0 }
    avgP /= Double(effective)
    avgR /= Double(effective)
    guard avgP + avgR > 0 else { return 0 }
    return 100 * (1 + factor) * avgP * avgR / (factor * avgP + avgR)
}

import Synchronization

/// A token model: turns one pre-tokenized piece into token ids (Hugging Face `models`).
public enum TokenModel: Sendable {
    case wordLevel(WordLevel)
    case characterLevel(WordLevel)  // the vocabulary holds single characters
    case bpe(BPE)

    /// Token → id for every token of the model.
    public var vocabulary: [String: Int] {
        switch self {
        case .wordLevel(let m), .characterLevel(let m): return m.vocabulary
        case .bpe(let m): return m.vocabulary
        }
    }
}

/// Whole-word vocabulary with an unknown token (HF `WordLevel`).
public struct WordLevel: Sendable {
    /// Token → id.
    public var vocabulary: [String: Int]
    /// The token for words not in the vocabulary.
    public var unknownToken: String

    /// A word-level model of this vocabulary.
    public init(vocabulary: [String: Int], unknownToken: String = "[UNK]") {
        self.vocabulary = vocabulary
        self.unknownToken = unknownToken
    }

    /// Builds a vocabulary: special tokens first, then words by descending count (ties: by word), keeping those seen
    /// at least `minFrequency` times, up to `maxSize` entries in all.
    public static func train(
        pieces: [String], minFrequency: Int = 1, maxSize: Int? = nil,
        specialTokens: [String] = ["[UNK]"], unknownToken: String = "[UNK]"
    ) -> WordLevel {
        var counts: [String: Int] = [:]
        for p in pieces { counts[p, default: 0] += 1 }
        var vocab: [String: Int] = [:]
        for t in specialTokens where vocab[t] == nil { vocab[t] = vocab.count }
        for (w, c) in counts.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) })
        where c >= minFrequency && vocab[w] == nil {
            if let maxSize, vocab.count >= maxSize { break }
            vocab[w] = vocab.count
        }
        return WordLevel(vocabulary: vocab, unknownToken: unknownToken)
    }

    func encode(_ piece: String) -> [Int] {
        if let id = vocabulary[piece] { return [id] }
        return vocabulary[unknownToken].map { [$0] } ?? []
    }
}

/// Byte-pair encoding (HF `BPE`): a vocabulary and ranked merges, applied lowest rank first within each piece.
public struct BPE: @unchecked Sendable {
    /// Token → id.
    public var vocabulary: [String: Int]
    /// Merges in rank order (rank = index).
    public var merges: [(String, String)]
    /// The token for symbols not in the vocabulary (nil: byte-level BPE, which never needs one).
    public var unknownToken: String?
    /// Appended to the last symbol of every word during training and encoding (e.g. "</w>"), or nil.
    public var endOfWordSuffix: String?
    /// Prefixed to every symbol but the first of a word (e.g. "##"), or nil.
    public var continuingSubwordPrefix: String?
    let ranks: [PairKey: (rank: Int, merged: String)]
    let cache = EncodeCache()

    struct PairKey: Hashable { let a: String, b: String }

    /// Merged symbols per piece, shared by copies of the model and safe across threads.
    final class EncodeCache: Sendable {
        let entries = Mutex<[String: [String]]>([:])
    }

    /// A BPE model of this vocabulary and merges (in rank order).
    public init(
        vocabulary: [String: Int], merges: [(String, String)], unknownToken: String? = nil,
        endOfWordSuffix: String? = nil, continuingSubwordPrefix: String? = nil
    ) {
        self.vocabulary = vocabulary
        self.merges = merges
        self.unknownToken = unknownToken
        self.endOfWordSuffix = endOfWordSuffix
        self.continuingSubwordPrefix = continuingSubwordPrefix
        var r: [PairKey: (Int, String)] = [:]
        let prefix = continuingSubwordPrefix ?? ""
        for (i, (a, b)) in merges.enumerated() where r[PairKey(a: a, b: b)] == nil {
            let merged = a + (b.hasPrefix(prefix) && !prefix.isEmpty ? String(b.dropFirst(prefix.count)) : b)
            r[PairKey(a: a, b: b)] = (i, merged)
        }
        ranks = r
    }

    /// Initial symbols of a word: its characters, with the subword prefix and end-of-word suffix applied.
    func symbols(_ word: String) -> [String] {
        var out = word.unicodeScalars.map { String($0) }
        if let p = continuingSubwordPrefix { for i in out.indices.dropFirst() { out[i] = p + out[i] } }
        if let s = endOfWordSuffix, !out.isEmpty { out[out.count - 1] += s }
        return out
    }

    /// Symbols of one piece after applying merges in rank order (lowest rank first, every occurrence left to right).
    /// Cached per piece.
    func mergedSymbols(_ piece: String) -> [String] {
        if let hit = cache.entries.withLock({ $0[piece] }) { return hit }
        var syms = symbols(piece)
        while syms.count > 1 {
            var best: (rank: Int, at: Int, merged: String)? = nil
            for i in 0..<(syms.count - 1) {
                if let r = ranks[PairKey(a: syms[i], b: syms[i + 1])], best == nil || r.rank < best!.rank {
                    best = (r.rank, i, r.merged)
                }
            }
            guard let b = best else { break }
            let (x, y) = (syms[b.at], syms[b.at + 1])
            var out: [String] = []
            var i = 0
            while i < syms.count {
                if i + 1 < syms.count && syms[i] == x && syms[i + 1] == y {
                    out.append(b.merged); i += 2
                } else {
                    out.append(syms[i]); i += 1
                }
            }
            syms = out
        }
        cache.entries.withLock { if $0.count < 100_000 { $0[piece] = syms } }
        return syms
    }

    /// Token ids of one piece with the symbol each came from (for offsets): symbols missing from the vocabulary
    /// become the unknown token (not fused), or are dropped when there is none.
    func encodeWithSymbols(_ piece: String) -> [(id: Int, symbol: String)] {
        mergedSymbols(piece).compactMap { s in
            if let id = vocabulary[s] { return (id, s) }
            if let u = unknownToken, let id = vocabulary[u] { return (id, s) }
            return nil
        }
    }

    /// Number of characters of the piece that a symbol covers (without prefix and suffix markers).
    func width(of symbol: String, first: Bool) -> Int {
        var n = symbol.unicodeScalars.count
        if let p = continuingSubwordPrefix, !first, symbol.hasPrefix(p) { n -= p.unicodeScalars.count }
        if let s = endOfWordSuffix, symbol.hasSuffix(s) { n -= s.unicodeScalars.count }
        return Swift.max(n, 0)
    }
    /// Trains merges on pre-tokenized pieces (HF `BpeTrainer` semantics).
    ///
    /// Ids: special tokens first, then every symbol of the alphabet sorted by code point, then one new token per
    /// merge. Each step merges the most frequent adjacent pair (ties: the smallest pair of ids), stopping when the
    /// vocabulary reaches `vocabularySize` or the best pair occurs fewer than `minFrequency` times.
    public static func train(
        pieces: [String], vocabularySize: Int, minFrequency: Int = 0, specialTokens: [String] = [],
        unknownToken: String? = nil, endOfWordSuffix: String? = nil,
        continuingSubwordPrefix: String? = nil, initialAlphabet: [String] = []
    ) -> BPE {
        var wordCounts: [String: Int] = [:]
        for p in pieces { wordCounts[p, default: 0] += 1 }
        var vocab: [String: Int] = [:], idToToken: [String] = []
        func add(_ t: String) { if vocab[t] == nil { vocab[t] = idToToken.count; idToToken.append(t) } }
        for t in specialTokens { add(t) }
        let template = BPE(
            vocabulary: [:], merges: [], endOfWordSuffix: endOfWordSuffix,
            continuingSubwordPrefix: continuingSubwordPrefix)
        // alphabet: every character (as it appears in symbols), sorted by code point
        var alphabet = Set(initialAlphabet.flatMap { $0.unicodeScalars.map { String($0) } })
        for w in wordCounts.keys { for c in w.unicodeScalars { alphabet.insert(String(c)) } }
        for c in alphabet.sorted(by: { $0.unicodeScalars.first!.value < $1.unicodeScalars.first!.value }) { add(c) }
        // words as id sequences (prefix/suffix variants of alphabet symbols are added as needed)
        let sortedWords = wordCounts.keys.sorted()
        var words: [[Int]] = sortedWords.map { w in
            template.symbols(w).map { s in
                add(s); return vocab[s]!
            }
        }
        let counts = sortedWords.map { wordCounts[$0]! }
        // A pair of symbol ids packed into one key (a in the high half): one hash per lookup, and its order is (a, b).
        @inline(__always) func key(_ a: Int, _ b: Int) -> UInt64 { UInt64(a) << 32 | UInt64(b) }
        var pairCounts: [UInt64: Int] = [:]
        // pair → the words that held it when it was counted (may repeat, may be stale: checked when used)
        var pairHolders: [UInt64: [Int32]] = [:]
        for (wi, w) in words.enumerated() where w.count > 1 {
            for i in 0..<(w.count - 1) {
                let p = key(w[i], w[i + 1])
                pairCounts[p, default: 0] += counts[wi]
                pairHolders[p, default: []].append(Int32(wi))
            }
        }
        var merges: [(String, String)] = []
        let prefix = continuingSubwordPrefix ?? ""
        // The most frequent pair (ties: the smallest ids) from a max-heap with lazy deletion: every pair whose count
        // changed is pushed again with its new count, and popped entries whose count is no longer current are
        // skipped — the same choice as scanning every pair, without the scan per merge.
        var heap = PairHeap()
        for (p, c) in pairCounts where c > 0 { heap.push(count: c, a: Int(p >> 32), b: Int(p & 0xFFFF_FFFF)) }
        var touched = Set<UInt64>()  // pairs whose count changed in this merge: pushed once each
        var seen = [Int](repeating: -1, count: words.count)  // the merge that last visited each word
        while idToToken.count < vocabularySize {
            var best: (a: Int, b: Int, count: Int)? = nil
            while let top = heap.pop() {
                if let c = pairCounts[key(top.a, top.b)], c == top.count, c > 0 { best = (top.a, top.b, c); break }
            }
            guard let (pa, pb, count) = best, count >= minFrequency, count > 0 else { break }
            let pairKey = key(pa, pb)
            let left = idToToken[pa], right = idToToken[pb]
            let merged =
                left + (!prefix.isEmpty && right.hasPrefix(prefix) ? String(right.dropFirst(prefix.count)) : right)
            add(merged)
            let newId = vocab[merged]!
            let mergeIndex = merges.count
            merges.append((left, right))
            for wi32 in pairHolders[pairKey] ?? [] {
                let wi = Int(wi32)
                guard seen[wi] != mergeIndex else { continue }
                seen[wi] = mergeIndex
                let w = words[wi], c = counts[wi]
                guard w.count > 1 else { continue }
                var holds = false
                for i in 0..<(w.count - 1) where w[i] == pa && w[i + 1] == pb { holds = true; break }
                guard holds else { continue }  // an entry from before an earlier merge changed this word
                // remove this word's old pairs, merge, add its new pairs
                for i in 0..<(w.count - 1) { let p = key(w[i], w[i + 1]); pairCounts[p]! -= c; touched.insert(p) }
                var out: [Int] = []
                out.reserveCapacity(w.count)
                var i = 0
                while i < w.count {
                    if i + 1 < w.count && w[i] == pa && w[i + 1] == pb {
                        out.append(newId); i += 2
                    } else {
                        out.append(w[i]); i += 1
                    }
                }
                words[wi] = out
                if out.count > 1 {
                    for k in 0..<(out.count - 1) {
                        let p = key(out[k], out[k + 1])
                        pairCounts[p, default: 0] += c
                        // new pairs only
                        if out[k] == newId || out[k + 1] == newId { pairHolders[p, default: []].append(wi32) }
                        touched.insert(p)
                    }
                }
            }
            pairCounts[pairKey] = nil
            pairHolders[pairKey] = nil
            for p in touched {
                if let c = pairCounts[p], c > 0 { heap.push(count: c, a: Int(p >> 32), b: Int(p & 0xFFFF_FFFF)) }
            }
            touched.removeAll(keepingCapacity: true)
        }
        return BPE(
            vocabulary: vocab, merges: merges, unknownToken: unknownToken, endOfWordSuffix: endOfWordSuffix,
            continuingSubwordPrefix: continuingSubwordPrefix)
    }
}

/// A binary max-heap of (count, pair) for BPE training: higher count first, ties broken by the smaller (a, b).
struct PairHeap {
    private var items: [(count: Int, a: Int, b: Int)] = []

    @inline(__always) private static func above(_ x: (count: Int, a: Int, b: Int), _ y: (count: Int, a: Int, b: Int))
        -> Bool
    {
        x.count != y.count ? x.count > y.count : (x.a, x.b) < (y.a, y.b)
    }

    mutating func push(count: Int, a: Int, b: Int) {
        items.append((count, a, b))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.above(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (count: Int, a: Int, b: Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count && Self.above(items[l], items[best]) { best = l }
                if r < items.count && Self.above(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}

import Foundation

/// A problem in a parallel corpus, naming the file and line.
public struct CorpusError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, naming the file and line.
    public let message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// A sentence pair with the line it came from (1-based).
public struct SentencePair: Sendable, Equatable {
    public var source: String, target: String, line: Int
    /// A sentence pair read from `line` (1-based) of both files.
    public init(source: String, target: String, line: Int) {
        self.source = source; self.target = target; self.line = line
    }
}

/// What to do with a bad line (empty side, invalid UTF-8, over-long).
public enum BadLinePolicy: String, Codable, Sendable, CaseIterable { case skip, stop }

/// Reading line-aligned parallel text: two files, or one TSV with chosen columns.
public enum ParallelCorpus {
    /// Pairs from two line-aligned files. Mismatched line counts are an error naming both files and counts;
    /// lines with an empty side, invalid UTF-8 or more than `maxCharacters` characters are skipped and counted, or
    /// stop the read, by `policy`.
    public static func read(source: URL, target: URL, policy: BadLinePolicy = .skip, maxCharacters: Int = 1000)
        throws -> (pairs: [SentencePair], skipped: [String])
    {
        let s = try TextFile.lines(of: source), t = try TextFile.lines(of: target)
        guard s.count == t.count else {
            throw CorpusError(
                "\(source.path) has \(s.count) lines but \(target.path) has \(t.count): the files must be line-aligned")
        }
        var pairs: [SentencePair] = [], skipped: [String] = []
        for (a, b) in zip(s, t) {
            if let problem = check(a, source) ?? check(b, target) ?? length(a, source, maxCharacters)
                ?? length(b, target, maxCharacters)
            {
                if policy == .stop { throw CorpusError(problem) }
                skipped.append(problem)
                continue
            }
            pairs.append(SentencePair(source: a.text, target: b.text, line: a.number))
        }
        return (pairs, skipped)
    }

    /// Pairs from a tab-separated file (e.g. Tatoeba's `english<TAB>french<TAB>attribution`), taking the 0-based
    /// `columns` (source, target).
    public static func readTSV(
        _ url: URL, columns: (Int, Int), policy: BadLinePolicy = .skip, maxCharacters: Int = 1000
    )
        throws -> (pairs: [SentencePair], skipped: [String])
    {
        var pairs: [SentencePair] = [], skipped: [String] = []
        for line in try TextFile.lines(of: url) {
            let fields = line.text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            var problem: String? = nil
            if fields.count <= max(columns.0, columns.1) {
                problem =
                    "\(url.path):\(line.number): \(fields.count) tab-separated columns, need column \(max(columns.0, columns.1) + 1)"
            } else {
                let (a, b) = (
                    fields[columns.0].trimmingCharacters(in: .whitespaces),
                    fields[columns.1].trimmingCharacters(in: .whitespaces)
                )
                if !line.replacedByteOffsets.isEmpty {
                    problem = "\(url.path):\(line.number): invalid UTF-8 at byte offset \(line.replacedByteOffsets[0])"
                } else if a.isEmpty || b.isEmpty {
                    problem = "\(url.path):\(line.number): empty sentence"
                } else if a.count > maxCharacters || b.count > maxCharacters {
                    problem = "\(url.path):\(line.number): longer than \(maxCharacters) characters"
                } else {
                    pairs.append(SentencePair(source: a, target: b, line: line.number))
                }
            }
            if let problem {
                if policy == .stop { throw CorpusError(problem) }
                skipped.append(problem)
            }
        }
        return (pairs, skipped)
    }

    private static func check(_ l: TextLine, _ url: URL) -> String? {
        if !l.replacedByteOffsets.isEmpty {
            return "\(url.path):\(l.number): invalid UTF-8 at byte offset \(l.replacedByteOffsets[0])"
        }
        if l.text.trimmingCharacters(in: .whitespaces).isEmpty { return "\(url.path):\(l.number): empty line" }
        return nil
    }

    private static func length(_ l: TextLine, _ url: URL, _ max: Int) -> String? {
        l.text.count > max ? "\(url.path):\(l.number): \(l.text.count) characters, more than \(max)" : nil
    }

    /// A seeded split: `fraction` of the pairs (at least one) for validation, the rest for training.
    public static func split(_ pairs: [SentencePair], validationFraction fraction: Double, seed: UInt64) -> (
        train: [SentencePair], validation: [SentencePair]
    ) {
        var g = RandomGenerator(seed: seed)
        var order = Array(pairs.indices)
        order.shuffle(using: &g)
        let n = max(1, Int((Double(pairs.count) * fraction).rounded()))
        let val = Set(order.prefix(n))
        return (
            pairs.indices.filter { !val.contains($0) }.map { pairs[$0] }, order.prefix(n).sorted().map { pairs[$0] }
        )
    }
}

/// A tokenized pair: source ids end with EOS; target ids are BOS … EOS.
public struct TokenPair: Sendable {
    public var source: [Int], target: [Int]
    /// A pair of token-ID sequences.
    public init(source: [Int], target: [Int]) { self.source = source; self.target = target }
}

/// A padded batch for teacher forcing: source [B, S]; decoder input [B, T] (BOS …); decoder output [B·T] (… EOS).
public struct TranslationBatch {
    public var source: [[Int]], targetInput: [[Int]], targetOutput: [Int]
    /// Non-padding target tokens.
    public var tokens: Int
}

/// Batches of indices drawn anew each epoch by `make` from a seeded generator. The generator state at the start of
/// the epoch and the position in it are the whole resume state: `restore` redraws the same epoch and skips ahead.
/// One process's part of every global batch in data-parallel training: process `rank` of `count` takes the
/// `rank`-th of `count` contiguous slices (sizes differing by at most one). Every process draws the same global
/// batches from the same seeded generator, so the slices are disjoint and together cover each global batch.
public struct Shard: Sendable, Equatable {
    public let rank: Int, count: Int
    /// Process `rank` of `count` (0 ≤ rank < count).
    public init(rank: Int, of count: Int) {
        precondition(count >= 1 && rank >= 0 && rank < count, "Shard: rank \(rank) of \(count)")
        self.rank = rank
        self.count = count
    }
    /// The whole batch (a single process).
    public static let whole = Shard(rank: 0, of: 1)
    /// This process's items of a global batch of `n`.
    public func range(of n: Int) -> Range<Int> { (rank * n / count)..<((rank + 1) * n / count) }
    /// This process's slices of an epoch's global batches; a last global batch too small to give every process an
    /// item is left out (it is reshuffled into the next epoch).
    func slices(_ batches: [[Int]]) -> [[Int]] {
        count == 1 ? batches : batches.filter { $0.count >= count }.map { Array($0[range(of: $0.count)]) }
    }
}

struct EpochBatches {
    private let make: (inout RandomGenerator) -> [[Int]]
    private var generator: RandomGenerator, epochStart: RandomGenerator
    private(set) var batches: [[Int]]
    private(set) var index = 0

    /// - Parameter make: an epoch's (global) batches; with a `shard`, this process keeps its slice of each.
    init(seed: UInt64, shard: Shard = .whole, make: @escaping (inout RandomGenerator) -> [[Int]]) {
        let sliced = { (g: inout RandomGenerator) in shard.slices(make(&g)) }
        self.make = sliced
        generator = RandomGenerator(seed: seed)
        epochStart = generator
        batches = sliced(&generator)
    }

    /// The next batch of this epoch, or nil at its end.
    mutating func next() -> [Int]? {
        guard index < batches.count else { return nil }
        defer { index += 1 }
        return batches[index]
    }

    mutating func startNextEpoch() {
        epochStart = generator
        batches = make(&generator)
        index = 0
    }

    /// Generator state at the start of this epoch and the batch index.
    var savedState: String { "\(epochStart.serialized):\(index)" }

    mutating func restore(_ text: String) throws {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let g = RandomGenerator(serialized: String(parts[0])), let i = Int(parts[1]) else {
            throw CheckpointError.invalidState("data position '\(text)' is malformed")
        }
        var next = g
        let epoch = make(&next)
        guard i >= 0 && i <= epoch.count else {
            throw CheckpointError.invalidState("data position \(i) is past the epoch's \(epoch.count) batches")
        }
        generator = next  // only now: a failed restore changes nothing
        epochStart = g
        batches = epoch
        index = i
    }
}

/// Length-bucketed batches under a token budget (fairseq/OpenNMT style): pairs sorted by length with a little
/// seeded noise, cut into batches whose padded size (rows × longest side) stays within `maxTokens`, the batch order
/// shuffled every epoch. Resumable through `savedState`/`restore` (see `EpochBatches`).
public struct TokenBudgetBatches {
    /// The tokenized pairs to batch.
    public let pairs: [TokenPair]
    public let maxTokens: Int, padID: Int
    private var epochs: EpochBatches

    /// - Parameters:
    ///   - pairs: the tokenized sentence pairs.
    ///   - maxTokens: padded tokens per batch (source or target, whichever is longer).
    ///   - padID: the padding token's id.
    ///   - seed: the batch order's seed.
    ///   - shard: data-parallel training: global batches of `maxTokens` × processes, this process's slice
    ///     of each (about `maxTokens`).
    public init(_ pairs: [TokenPair], maxTokens: Int, padID: Int, seed: UInt64, shard: Shard = .whole) {
        self.pairs = pairs
        self.maxTokens = maxTokens
        self.padID = padID
        epochs = EpochBatches(seed: seed, shard: shard) { g in
            Self.bucket(pairs, maxTokens: maxTokens * shard.count, using: &g)
        }
    }

    /// Number of batches in each epoch.
    public var batchesPerEpoch: Int { epochs.batches.count }
    /// Index of the next batch in the current epoch.
    public var index: Int { epochs.index }

    private static func bucket(_ pairs: [TokenPair], maxTokens: Int, using generator: inout RandomGenerator) -> [[Int]]
    {
        let keyed = pairs.indices.map { i in
            (i, Double(max(pairs[i].source.count, pairs[i].target.count)) + generator.nextUnit())
        }
        let sorted = keyed.sorted { $0.1 < $1.1 }.map(\.0)
        var batches: [[Int]] = [], cur: [Int] = [], longest = 0
        for i in sorted {
            let l = max(pairs[i].source.count, pairs[i].target.count)
            if !cur.isEmpty && max(longest, l) * (cur.count + 1) > maxTokens {
                batches.append(cur); cur = []; longest = 0
            }
            cur.append(i)
            longest = max(longest, l)
        }
        if !cur.isEmpty { batches.append(cur) }
        batches.shuffle(using: &generator)
        return batches
    }

    /// The next batch of this epoch, padded; nil at the end of the epoch.
    public mutating func next() -> TranslationBatch? {
        epochs.next().map { Self.batch($0.map { pairs[$0] }, padID: padID) }
    }

    /// Shuffles the batches for the next epoch and starts it.
    public mutating func startNextEpoch() { epochs.startNextEpoch() }

    /// Pads pairs into one batch.
    public static func batch(_ ps: [TokenPair], padID: Int) -> TranslationBatch {
        let s = ps.map(\.source.count).max() ?? 0, t = (ps.map(\.target.count).max() ?? 1) - 1
        let src = ps.map { $0.source + Array(repeating: padID, count: s - $0.source.count) }
        let tin = ps.map { Array($0.target.dropLast()) + Array(repeating: padID, count: t - ($0.target.count - 1)) }
        let tout = ps.flatMap {
            Array($0.target.dropFirst()) + Array(repeating: padID, count: t - ($0.target.count - 1))
        }
        return TranslationBatch(
            source: src, targetInput: tin, targetOutput: tout, tokens: ps.reduce(0) { $0 + $1.target.count - 1 })
    }

    /// The position (epoch, index, generator) as text, for a checkpoint.
    public var savedState: String { epochs.savedState }
    /// Restores a position saved by `savedState`; throws when the text does not fit these batches.
    public mutating func restore(_ text: String) throws { try epochs.restore(text) }
}

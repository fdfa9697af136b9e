import Foundation

/// Settings of word2vec's skip-gram with negative sampling (Mikolov et al. 2013; the defaults of `word2vec.c` where a
/// small corpus does not argue otherwise).
public struct Word2VecConfig: Codable, Sendable, Equatable {
    /// Vector width (Kim's CNN takes 300).
    public var dimensions = 300
    /// The widest context: each position draws its window from 1…`window` words on either side (`word2vec.c`).
    public var window = 5
    /// Noise words per (word, context) pair, drawn from the unigram distribution raised to 3/4.
    public var negatives = 5
    /// Words seen fewer times are left out of the vocabulary (and of the windows).
    public var minCount = 2
    /// Frequent-word subsampling threshold t: a word of frequency f is kept with probability (√(f/t) + 1)·t/f
    /// (`word2vec.c`'s formula); 0 keeps every word.
    public var subsample = 1e-3
    /// Passes over the corpus.
    public var epochs = 5
    /// The starting learning rate, decayed linearly to 1e-4 of it over the run.
    public var lr: Float = 0.025
    /// Vectors, subsampling, windows and noise words come from this seed (one thread: the same seed, the same vectors).
    public var seed: UInt64 = 0

    /// The defaults.
    public init() {}

    /// Throws when a value is out of its range, naming the flag.
    public func validate() throws {
        func fail(_ m: String) -> RunSetupError { RunSetupError(m) }
        guard (1...4096).contains(dimensions) else { throw fail("--dimensions must be in 1…4096 (got \(dimensions))") }
        guard (1...100).contains(window) else { throw fail("--window must be in 1…100 (got \(window))") }
        guard (1...100).contains(negatives) else { throw fail("--negatives must be in 1…100 (got \(negatives))") }
        guard minCount >= 1 else { throw fail("--min-count must be at least 1 (got \(minCount))") }
        guard subsample >= 0, subsample < 1 else { throw fail("--subsample must be in [0, 1) (got \(subsample))") }
        guard (1...10_000).contains(epochs) else { throw fail("--epochs must be in 1…10000 (got \(epochs))") }
        guard lr > 0, lr <= 10, lr.isFinite else { throw fail("--lr must be in (0, 10] (got \(lr))") }
    }
}

/// Word vectors: one row of `dimensions` floats per word, in the word2vec text format on disk (`N D`, then one
/// `word v1 … vD` line per word: what `word2vec.c -binary 0` writes and gensim's
/// `KeyedVectors.load_word2vec_format` reads).
public struct WordVectors: Sendable {
    /// The words, most frequent first (as trained).
    public let words: [String]
    /// The width of a vector.
    public let dimensions: Int
    /// Row-major [words.count, dimensions].
    public var vectors: [Float]
    /// A word's row.
    public let index: [String: Int]

    /// Vectors for `words` (row-major `vectors`, `dimensions` wide). Duplicate words keep their first row.
    public init(words: [String], dimensions: Int, vectors: [Float]) {
        precondition(
            vectors.count == words.count * dimensions,
            "WordVectors: \(vectors.count) values for \(words.count) × \(dimensions)")
        self.words = words
        self.dimensions = dimensions
        self.vectors = vectors
        var index: [String: Int] = [:]
        for (i, w) in words.enumerated() where index[w] == nil { index[w] = i }
        self.index = index
    }

    /// A word's vector, or nil when it has none.
    public func vector(_ word: String) -> ArraySlice<Float>? {
        index[word].map { vectors[($0 * dimensions)..<(($0 + 1) * dimensions)] }
    }

    /// The `count` words nearest to `word` by cosine similarity (the word itself left out); empty when it has no
    /// vector.
    public func nearest(to word: String, count: Int = 5) -> [(word: String, similarity: Float)] {
        guard let q = index[word] else { return [] }
        let d = dimensions
        return vectors.withUnsafeBufferPointer { v in
            func norm(_ i: Int) -> Float {
                var s: Float = 0
                for k in 0..<d { s += v[i * d + k] * v[i * d + k] }
                return s.squareRoot()
            }
            let qn = max(norm(q), 1e-12)
            var scored: [(String, Float)] = []
            for i in 0..<words.count where i != q {
                var s: Float = 0
                for k in 0..<d { s += v[i * d + k] * v[q * d + k] }
                scored.append((words[i], s / (qn * max(norm(i), 1e-12))))
            }
            return Array(scored.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(count))
        }
    }

    /// Writes the word2vec text format atomically (`%g`-style shortest round-trip floats).
    public func write(to url: URL) throws {
        var text = "\(words.count) \(dimensions)\n"
        text.reserveCapacity(words.count * dimensions * 11)
        for (i, w) in words.enumerated() {
            text += w
            for k in 0..<dimensions { text += " " + String(vectors[i * dimensions + k]) }
            text += "\n"
        }
        try AtomicFile.write(Data(text.utf8), to: url)
    }

    /// Reads the word2vec text format (a `N D` header line, then `word v1 … vD` lines; words must not contain
    /// spaces). Errors name the file and line.
    public static func read(from url: URL) throws -> WordVectors {
        let lines = try TextFile.lines(of: url, encoding: .utf8Replacing)
        func fail(_ line: Int, _ m: String) -> WordVectorsError { WordVectorsError("\(url.path):\(line): \(m)") }
        guard let header = lines.first else {
            throw WordVectorsError("\(url.path): empty file (expected word vectors in the word2vec text format)")
        }
        let h = header.text.split(separator: " ")
        guard h.count == 2, let n = Int(h[0]), let d = Int(h[1]), n >= 0, (1...65_536).contains(d) else {
            throw fail(
                header.number,
                "expected the header 'WORDS DIMENSIONS' of the word2vec text format, got '\(header.text.prefix(60))'")
        }
        var words: [String] = [], vectors: [Float] = []
        words.reserveCapacity(n)
        vectors.reserveCapacity(n * d)
        for l in lines.dropFirst() where !l.text.isEmpty {
            if let b = l.replacedByteOffsets.first { throw fail(l.number, "invalid UTF-8 at byte offset \(b)") }
            let parts = l.text.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == d + 1 else {
                throw fail(l.number, "expected a word and \(d) numbers, got \(parts.count) fields")
            }
            for p in parts.dropFirst() {
                guard let x = Float(p), x.isFinite else {
                    throw fail(l.number, "'\(p.prefix(30))' is not a finite number")
                }
                vectors.append(x)
            }
            words.append(String(parts[0]))
        }
        guard words.count == n else {
            throw WordVectorsError(
                "\(url.path): the header promises \(n) words, the file has \(words.count) (truncated?)")
        }
        return WordVectors(words: words, dimensions: d, vectors: vectors)
    }
}

/// A word-vectors file that cannot be read or does not fit.
public struct WordVectorsError: Error, CustomStringConvertible {
    /// What is wrong, naming the file (and line).
    public let description: String
    /// An error with this message.
    public init(_ description: String) { self.description = description }
}

/// word2vec skip-gram with negative sampling, trained as `word2vec.c` does (plain SGD on each pair, linearly decaying
/// rate, frequent-word subsampling, dynamic windows, unigram^0.75 noise), on one thread so a seed fixes the result.
///
/// For each kept word w and each context word c in its window, with noise words n₁…n_k:
/// loss = −log σ(u_c·v_w) − Σ log σ(−u_nᵢ·v_w), where v are the input vectors (what is kept) and u the output vectors.
/// `step` applies one such pair's gradient (checked against finite differences in the tests).
public enum Word2Vec {
    /// How a training run went.
    public struct Report: Sendable {
        /// Mean loss per (word, context) pair of each epoch.
        public var epochLosses: [Double]
        /// Corpus words (after the vocabulary's min count, before subsampling) per epoch.
        public var wordsPerEpoch: Int
        /// Training time in seconds.
        public var seconds: Double
    }

    /// The vocabulary: words seen at least `minCount` times, most frequent first (ties alphabetically), with counts.
    public static func vocabulary(_ sentences: [[String]], minCount: Int) -> [(word: String, count: Int)] {
        var counts: [String: Int] = [:]
        for s in sentences { for w in s { counts[w, default: 0] += 1 } }
        return counts.filter { $0.value >= minCount }.map { ($0.key, $0.value) }.sorted {
            $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0)
        }
    }

    /// Trains vectors on tokenized sentences (windows do not cross sentences). `progress` gets (words done, words in
    /// the run, mean loss so far in this epoch) now and then, and `epochEnd` each epoch's (1-based) mean loss.
    /// - Throws: when no word is seen `minCount` times.
    public static func train(
        _ sentences: [[String]], config: Word2VecConfig, progress: ((Int, Int, Double) -> Void)? = nil,
        epochEnd: ((Int, Double) -> Void)? = nil
    ) throws -> (vectors: WordVectors, report: Report) {
        try config.validate()
        let vocab = vocabulary(sentences, minCount: config.minCount)
        guard !vocab.isEmpty else {
            throw RunSetupError("no word is seen --min-count (\(config.minCount)) times: nothing to train")
        }
        let index = Dictionary(uniqueKeysWithValues: vocab.enumerated().map { ($1.word, Int32($0)) })
        let corpus: [[Int32]] = sentences.map { $0.compactMap { index[$0] } }.filter { $0.count > 1 }
        let total = corpus.reduce(0) { $0 + $1.count }
        let v = vocab.count, d = config.dimensions
        var g = RandomGenerator(seed: config.seed)
        // word2vec.c: input vectors U(−0.5/d, 0.5/d), output vectors 0
        let input = UnsafeMutablePointer<Float>.allocate(capacity: v * d)
        let output = UnsafeMutablePointer<Float>.allocate(capacity: v * d)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: d)
        defer { input.deallocate(); output.deallocate(); scratch.deallocate() }
        for i in 0..<(v * d) { input[i] = Float((g.nextUnit() - 0.5) / Double(d)) }
        output.initialize(repeating: 0, count: v * d)
        // subsampling: keep probabilities
        let threshold = config.subsample * Double(total)
        let keep: [Double] = vocab.map { w in
            guard config.subsample > 0 else { return 1 }
            let f = Double(w.count)
            return min(1, ((f / threshold).squareRoot() + 1) * threshold / f)
        }
        // noise: cumulative unigram^0.75
        var cumulative = [Double](repeating: 0, count: v)
        var acc = 0.0
        for (i, w) in vocab.enumerated() {
            acc += pow(Double(w.count), 0.75)
            cumulative[i] = acc
        }
        func noise(_ g: inout RandomGenerator) -> Int32 {
            let x = g.nextUnit() * acc
            var lo = 0, hi = v - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] > x { hi = mid } else { lo = mid + 1 }
            }
            return Int32(lo)
        }
        let started = Date()
        var losses: [Double] = []
        let totalWords = total * config.epochs
        var done = 0
        var targets = [Int32](repeating: 0, count: config.negatives + 1)
        for epoch in 0..<config.epochs {
            var lossSum = 0.0, pairs = 0
            for sentence in corpus {
                // subsampled sentence
                var kept: [Int32] = []
                kept.reserveCapacity(sentence.count)
                for w in sentence where keep[Int(w)] >= 1 || g.nextUnit() < keep[Int(w)] { kept.append(w) }
                let progressFraction = Double(done) / Double(max(totalWords, 1))
                let rate = config.lr * Float(max(1e-4, 1 - progressFraction))
                if kept.count > 1 {
                    for (i, w) in kept.enumerated() {
                        let reach = 1 + Int(g.next() % UInt64(config.window))
                        for j in max(0, i - reach)...min(kept.count - 1, i + reach) where j != i {
                            targets[0] = kept[j]
                            for k in 1...config.negatives { targets[k] = noise(&g) }
                            lossSum += targets.withUnsafeBufferPointer { t in
                                step(
                                    input: input + Int(w) * d, outputs: output, targets: t, dimensions: d, rate: rate,
                                    scratch: scratch)
                            }
                            pairs += 1
                        }
                    }
                }
                done += sentence.count
                progress?(done, totalWords, lossSum / Double(max(pairs, 1)))
            }
            let mean = lossSum / Double(max(pairs, 1))
            losses.append(mean)
            epochEnd?(epoch + 1, mean)
        }
        return (
            WordVectors(
                words: vocab.map(\.word), dimensions: d, vectors: Array(UnsafeBufferPointer(start: input, count: v * d))
            ),
            Report(epochLosses: losses, wordsPerEpoch: total, seconds: Date().timeIntervalSince(started))
        )
    }

    /// One (word, context) pair's SGD step: `targets[0]` is the context word (label 1), the rest noise words (label
    /// 0; a noise word equal to the context word is skipped, as in `word2vec.c`). The output rows are updated as
    /// they are visited, the input row once at the end with the summed gradient. Returns the pair's loss before the
    /// step.
    @discardableResult
    public static func step(
        input: UnsafeMutablePointer<Float>, outputs: UnsafeMutablePointer<Float>, targets: UnsafeBufferPointer<Int32>,
        dimensions d: Int, rate: Float, scratch: UnsafeMutablePointer<Float>
    ) -> Double {
        scratch.update(repeating: 0, count: d)
        var loss = 0.0
        for (k, t) in targets.enumerated() {
            if k > 0 && t == targets[0] { continue }
            let u = outputs + Int(t) * d
            let dot = Self.dot(input, u, d)
            let label: Float = k == 0 ? 1 : 0
            // σ(x) and the loss −log σ(±x) without overflow
            let sigma = dot >= 0 ? 1 / (1 + exp(-dot)) : exp(dot) / (1 + exp(dot))
            let signed = Double(k == 0 ? dot : -dot)
            loss += signed >= 0 ? log1p(exp(-signed)) : -signed + log1p(exp(signed))
            let step = (label - sigma) * rate
            for i in 0..<d {
                scratch[i] += step * u[i]
                u[i] += step * input[i]
            }
        }
        for i in 0..<d { input[i] += scratch[i] }
        return loss
    }

    /// a·b over `n` floats, in 8 lanes.
    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            lanes +=
                UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var s = lanes.sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }
}

extension Embedding {
    /// Starts the rows of `tokenizer`'s words from pretrained `vectors` (word2vec, GloVe in the word2vec text format):
    /// a word's own vector, else its lowercased form's (cased vocabularies over lowercased vectors); special tokens and
    /// words without a vector keep their initialisation, the padding row stays zero (Kim's CNN-non-static).
    /// - Returns: how many words got their own vector, their lowercased form's, and the words that could.
    /// - Throws: when the widths differ.
    @discardableResult
    public func initialize(from vectors: WordVectors, tokenizer: Tokenizer) throws -> (
        exact: Int, lowercased: Int, words: Int
    ) {
        let (rows, dim) = (weight.shape[0], weight.shape[1])
        guard vectors.dimensions == dim else {
            throw WordVectorsError(
                "the word vectors are \(vectors.dimensions) wide and the embedding table \(dim): train them with --dimensions \(dim), or give the model that width"
            )
        }
        let specials = Set(tokenizer.specialTokens)
        var exact = 0, lowered = 0, words = 0
        weight.withUnsafeMutableFloats { w in
            vectors.vectors.withUnsafeBufferPointer { v in
                for id in 0..<rows where id != paddingIndex {
                    guard let token = tokenizer.token(of: id), !specials.contains(token) else { continue }
                    words += 1
                    let row: Int
                    if let r = vectors.index[token] {
                        row = r
                        exact += 1
                    } else if let r = vectors.index[token.lowercased()] {
                        row = r
                        lowered += 1
                    } else {
                        continue
                    }
                    for k in 0..<dim { w[id * dim + k] = v[row * dim + k] }
                }
            }
        }
        return (exact, lowered, words)
    }
}

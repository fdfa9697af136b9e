import ArgumentParser
import AttentionKit
import Foundation

/// `attn train word2vec`: skip-gram with negative sampling on text files → word vectors (word2vec text format).
struct TrainWord2Vec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "word2vec",
        abstract: "Train word vectors (word2vec skip-gram with negative sampling) on unlabelled text.",
        discussion: """
            Mikolov et al. (2013) as word2vec.c trains it: each word predicts the words around it (a window of 1 to \
            --window words on either side, drawn per position) against --negatives noise words drawn from the \
            unigram distribution to the power 3/4; frequent words are subsampled (--subsample); plain SGD whose rate \
            falls linearly from --lr to nearly 0. One thread: the same --seed gives the same vectors. Words are split \
            as `attn train classifier` splits them (--case, --pre-tokenizer), so the vectors fit its vocabulary: \
            `attn train classifier --init-embeddings VECTORS` starts its embeddings from them (transfer learning \
            for text). Input: text files, one sentence per line (UTF-8; invalid bytes are reported). The output is \
            the word2vec text format (a "WORDS DIMENSIONS" line, then "word v1 … vD" per word), which gensim's \
            KeyedVectors.load_word2vec_format reads. The last line is JSON: {"out", "sentences", "words", \
            "vocabulary", "dimensions", "epochs", "loss", "seconds"}.
            """
    )

    @Option(help: "A text file to train on, one sentence per line (repeat for several).")
    var data: [String] = []
    @Option(help: "The vectors file to write (word2vec text format).")
    var out = "vectors.txt"
    @Flag(help: "Replace --out if it exists.")
    var overwrite = false
    @Option(parsing: .unconditional, help: "Vector width (Kim's CNN: 300).")
    var dimensions = 300
    @Option(parsing: .unconditional, help: "Widest context window, words on either side.")
    var window = 5
    @Option(parsing: .unconditional, help: "Noise words per (word, context) pair.")
    var negatives = 5
    @Option(name: .customLong("min-count"), parsing: .unconditional, help: "Leave out words seen fewer times.")
    var minCount = 2
    @Option(parsing: .unconditional, help: "Frequent-word subsampling threshold (0: keep every word).")
    var subsample = 1e-3
    @Option(parsing: .unconditional, help: "Passes over the text.")
    var epochs = 5
    @Option(parsing: .unconditional, help: "Starting learning rate (decays linearly).")
    var lr: Float = 0.025
    @Option(parsing: .unconditional, help: "Random seed (vectors, subsampling, windows, noise words).")
    var seed: UInt64 = 0
    @Option(name: .customLong("case"), help: "lower or keep case (match the classifier's --case).")
    var letterCase: LetterCaseFlag = .lower
    @Option(
        name: .customLong("pre-tokenizer"),
        help: "whitespace (words and runs of punctuation) or kim (Kim's clean_str), as the classifier's.")
    var preTokenizer: WordSplitFlag = .whitespace
    @Flag(help: "Decode the inputs as Latin-1 instead of UTF-8.")
    var latin1 = false
    @Option(help: "After training, print the 5 nearest words of these (comma-separated) by cosine similarity.")
    var neighbors: String?

    var config: Word2VecConfig {
        var c = Word2VecConfig()
        (c.dimensions, c.window, c.negatives, c.minCount) = (dimensions, window, negatives, minCount)
        (c.subsample, c.epochs, c.lr, c.seed) = (subsample, epochs, lr, seed)
        return c
    }

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("give the text to train on with --data FILE") }
        do { try config.validate() } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let output = URL(fileURLWithPath: out)
        try? FileManager.default.createDirectory(
            at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = try AtomicFile.target(output)
        try AtomicFile.checkDistinct(output, from: data.map { URL(fileURLWithPath: $0) }, flag: "--out")
        if FileManager.default.fileExists(atPath: output.path) && !overwrite {
            throw RunSetupError("\(out) exists: pass --overwrite to replace it, or another --out")
        }
        let texts = try TokenizerRecipe.lines(of: data, latin1: latin1) { note($0) }
        guard !texts.isEmpty else { throw RunSetupError("\(data.joined(separator: ", ")): no non-empty lines") }
        let split = TokenizerRecipe.wordLevel(
            lowercase: letterCase == .lower, minFrequency: 1, kimCleanStr: preTokenizer == .kim)
        let sentences = split.pieces(ofEach: texts)
        say("data: \(texts.count) sentences, \(sentences.reduce(0) { $0 + $1.count }) words")
        var bar: ProgressBar? = nil
        let (vectors, report) = try Word2Vec.train(
            sentences, config: config,
            progress: { done, total, loss in
                if bar == nil { bar = ProgressBar(total: total, label: "word2vec", unit: "word") }
                bar?.update(done, suffix: String(format: "loss %.4f", loss))
            },
            epochEnd: { epoch, loss in
                bar?.finish()
                bar = nil
                say(String(format: "epoch %d/%d  loss %.4f", epoch, epochs, loss))
            })
        try vectors.write(to: output)
        if let neighbors {
            for w in neighbors.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let near = vectors.nearest(to: w, count: 5)
                say(
                    near.isEmpty
                        ? "\(w): not in the vocabulary"
                        : "\(w): "
                            + near.map { String(format: "%@ %.2f", $0.word, $0.similarity) }.joined(separator: ", ")
                )
            }
        }
        say(
            String(
                format:
                    "wrote %d vectors (the words seen at least %d times) of %d dimensions to %@ (%.1f s, %.0f words/s)",
                vectors.words.count, minCount, dimensions, out, report.seconds,
                Double(report.wordsPerEpoch * epochs) / max(report.seconds, 1e-9)))
        say(
            JSONLine.object([
                ("out", .string(out)), ("sentences", .integer(texts.count)),
                ("words", .integer(report.wordsPerEpoch)), ("vocabulary", .integer(vectors.words.count)),
                ("dimensions", .integer(dimensions)), ("epochs", .integer(epochs)),
                ("loss", .number(report.epochLosses.last ?? .nan)), ("seconds", .number(report.seconds))
            ]).text)
    }
}

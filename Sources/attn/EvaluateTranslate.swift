import ArgumentParser
import AttentionKit
import Foundation

/// Reads the lines of a UTF-8 file, failing with the file and byte offset of the first invalid byte.
func readLines(_ path: String, what: String) throws -> [String] {
    let lines: [TextLine]
    do { lines = try TextFile.lines(of: URL(fileURLWithPath: path)) } catch { throw CLIError("\(what) \(path): \(error)") }
    if let bad = lines.first(where: { !$0.replacedByteOffsets.isEmpty }) {
        throw CLIError("\(path):\(bad.number): invalid UTF-8 at byte offset \(bad.replacedByteOffsets[0])")
    }
    return lines.map(\.text)
}

/// The lines of standard input (UTF-8; an invalid byte is an error naming its offset).
func standardInputLines() throws -> [String] {
    let decoded = TextDecoding.decode(FileHandle.standardInput.readDataToEndOfFile())
    if let bad = decoded.replacedByteOffsets.first { throw CLIError("standard input: invalid UTF-8 at byte offset \(bad)") }
    var lines = decoded.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// `attn evaluate`.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a trained model on data in the format it was trained on.",
        discussion: """
        Classification: --data FILE in the format the model was trained on (text), or for an image model a CIFAR-10 \
        .bin file or a directory (its test_batch.bin, else its data_batch_*.bin). Prints per-class precision, recall, F1 \
        and the confusion matrix, then as the last line {"task": "classification", "metric": "accuracy", "value": X, \
        "n": N, "macro_f1": F, "per_class": {LABEL: {"precision": …, "recall": …, "f1": …, "support": …}}}.

        Translation: --source FILE --reference FILE [--beam N]. Prints a readable report and, as its last line, one \
        JSON object: {"task": "translation", "metric": "bleu", "value": X, "n": N, "bleu_lowercase_tokens": Y, \
        "chrf": Z, "beam": B}. `value` is corpus BLEU as sacreBLEU computes it by default (13a tokenization, \
        exponential smoothing, cased); `bleu_lowercase_tokens` is the same on lowercased text (sacreBLEU -lc), as \
        older Multi30k papers report; `chrf` is sacreBLEU's chrF2.
        """
    )
    @Option(help: "Run directory written by `attn train`.")
    var checkpoint: String
    @Option(help: "Translation: source sentences, one per line.")
    var source: String?
    @Option(help: "Translation: reference translations, line-aligned with --source.")
    var reference: String?
    @Option(help: "Classification: labelled data in the training format; images: a CIFAR-10 .bin file or directory.")
    var data: String?
    @Option(parsing: .unconditional, help: "Beam size (1: greedy).")
    var beam = 5
    @Option(name: .customLong("confusion-png"), help: "Classification: also draw the confusion matrix into this PNG file.")
    var confusionPNG: String?
    @Option(name: .customLong("length-penalty"), parsing: .unconditional, help: "GNMT length penalty α.")
    var lengthPenalty: Float = 0.6
    @Option(help: "Write the translations to this file.")
    var output: String?
    @Option(help: "Weights in the run directory: best, last, or a file name in it.")
    var weights = "best"

    func validate() throws { guard beam >= 1 else { throw ValidationError("--beam must be at least 1") } }

    func run() throws {
        let dir = URL(fileURLWithPath: checkpoint)
        do { try RunDirectoryError.check(dir, holds: ["config.json"], kind: "training") } catch { throw CLIError("\(error)") }
        switch try? RunDirectoryError.configEntry("task", as: String.self, in: dir, describing: "a task name") {
        case "classification": return try evaluateClassifier(dir)
        case "image-classification": return try evaluateImages(dir)
        default: break
        }
        guard let source, let reference else { throw ValidationError("a translation run needs --source and --reference") }
        let translator: Translator
        do { translator = try Translator.load(from: dir, weights: weightsFile(weights)) } catch { throw CLIError("\(error)") }
        var src = try readLines(source, what: "source"), refs = try readLines(reference, what: "reference")
        guard src.count == refs.count else { throw CLIError("\(source) has \(src.count) lines but \(reference) has \(refs.count)") }
        let blank = { (s: String) in s.trimmingCharacters(in: .whitespaces).isEmpty }
        let empty = zip(src, refs).enumerated().filter { blank($0.element.0) && blank($0.element.1) }.map(\.offset)
        if !empty.isEmpty {   // e.g. the blank last line of Multi30k's files: not a sentence pair
            FileHandle.standardError.write("note: skipped \(empty.count) line(s) empty in both files (first: line \(empty[0] + 1))\n".data(using: .utf8)!)
            let drop = Set(empty)
            src = src.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
            refs = refs.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
        }
        guard !src.isEmpty else { throw CLIError("\(source) is empty") }
        let t0 = Date()
        let hyps = translator.translate(src, beam: beam, lengthPenalty: lengthPenalty).map { $0.first?.text ?? "" }
        let seconds = Date().timeIntervalSince(t0)
        if let output { try AtomicFile.write(Data((hyps.joined(separator: "\n") + "\n").utf8), to: URL(fileURLWithPath: output)) }
        let bleu = corpusBLEU(hypotheses: hyps, references: refs), lower = corpusBLEU(hypotheses: hyps, references: refs, lowercase: true)
        let chrf = corpusChrF(hypotheses: hyps, references: refs)
        for i in 0..<min(3, src.count) { say("source:     \(src[i])\nreference:  \(refs[i])\ntranslation: \(hyps[i])\n") }
        say("sacreBLEU (13a, cased): \(bleu)")
        say("lowercased: \(lower)")
        say(String(format: "chrF2 %.2f; %d sentences, beam %d, %.1f s", chrf, src.count, beam, seconds))
        say(String(format: "{\"task\": \"translation\", \"metric\": \"bleu\", \"value\": %.4f, \"n\": %d, \"bleu_lowercase_tokens\": %.4f, \"chrf\": %.4f, \"beam\": %d}",
                   bleu.score, src.count, lower.score, chrf, beam))
    }
}

extension Evaluate {
    func evaluateClassifier(_ dir: URL) throws {
        guard let data else { throw ValidationError("a classification run needs --data FILE") }
        let fmt: TextFormat
        do { fmt = try RunDirectoryError.configEntry("format", as: TextFormat.self, in: dir, describing: "a text format") } catch { throw CLIError("\(error)") }
        let c: TextClassification
        do { c = try TextClassification.load(from: dir, weights: weightsFile(weights)) } catch { throw CLIError("\(error)") }
        let report: ClassificationReport
        do {
            let (examples, notes) = try fmt.read(data)
            for n in notes { FileHandle.standardError.write("note: \(n)\n".data(using: .utf8)!) }
            guard !examples.isEmpty else { throw CLIError("\(data): no labelled texts") }
            report = try c.evaluate(examples)
        } catch let e as CorpusError { throw CLIError(e.message.hasPrefix("line ") ? "\(data):\(e.message.dropFirst(5))" : e.message) }
        try printClassificationResult(report)
    }

    func evaluateImages(_ dir: URL) throws {
        guard let data else { throw ValidationError("an image classification run needs --data (a CIFAR-10 .bin file or directory)") }
        let c: ImageClassification
        do { c = try ImageClassification.load(from: dir, weights: weightsFile(weights)) } catch { throw CLIError("\(error)") }
        let images: CIFAR10
        do { images = try CIFAR10.read(path: data) { FileHandle.standardError.write("note: \($0)\n".data(using: .utf8)!) } } catch { throw CLIError("\(error)") }
        let report: ClassificationReport
        do { report = try c.evaluate(images) } catch { throw CLIError("\(data): \(error)") }
        try printClassificationResult(report)
    }

    /// The report table, then the JSON last line.
    func printClassificationResult(_ report: ClassificationReport) throws {
        say(report.table)
        if let confusionPNG {
            try report.confusionMatrixImage(title: data.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "evaluation")
                .writePNG(to: URL(fileURLWithPath: confusionPNG))
        }
        var perClass: [String: Any] = [:]
        for (k, l) in report.labels.enumerated() {
            let p = report.perClass(k)
            perClass[l] = ["precision": p.precision, "recall": p.recall, "f1": p.f1, "support": p.support]
        }
        let json: [String: Any] = ["task": "classification", "metric": "accuracy", "value": report.accuracy, "n": report.count,
                                   "macro_f1": report.macroF1, "per_class": perClass]
        say(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
    }
}

/// `attn translate`.
struct Translate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate sentences with a trained model (stdin or --text to stdout).",
        discussion: "One translation per input line; with --n-best K, K lines per input: `rank<TAB>score<TAB>translation`, then a blank line."
    )
    @Option(help: "Run directory written by `attn train translation`.")
    var checkpoint: String
    @Option(help: "A sentence to translate (repeatable); without it, lines are read from standard input.")
    var text: [String] = []
    @Option(parsing: .unconditional, help: "Beam size (1: greedy).")
    var beam = 5
    @Option(name: .customLong("n-best"), parsing: .unconditional, help: "Hypotheses to print per sentence, with their scores.")
    var nBest = 1
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Sentences translated together.")
    var batchSize = 64
    @Option(help: "Weights in the run directory: best, last, or a file name in it.")
    var weights = "best"
    @Option(name: .customLong("attention-out"), help: "Also write the first sentence's attention maps here: LAYER.npy per layer ([heads, queries, keys] float32) and maps.json (tokens, layers, shapes).")
    var attentionOut: String?

    func validate() throws {
        guard beam >= 1 else { throw ValidationError("--beam must be at least 1") }
        guard nBest >= 1 && nBest <= beam else { throw ValidationError("--n-best must be between 1 and --beam (\(beam))") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        let translator: Translator
        do { translator = try Translator.load(from: URL(fileURLWithPath: checkpoint), weights: weightsFile(weights)) } catch { throw CLIError("\(error)") }
        let inputs = try text.isEmpty ? standardInputLines() : text
        let results = translator.translate(inputs, beam: beam, nBest: nBest, batchSize: batchSize)
        if let attentionOut, let first = inputs.first {
            try translator.writeAttention(of: first, to: URL(fileURLWithPath: attentionOut))
            FileHandle.standardError.write("attention maps of \"\(first)\" in \(attentionOut)/maps.json\n".data(using: .utf8)!)
        }
        for (i, r) in results.enumerated() {
            if inputs[i].trimmingCharacters(in: .whitespaces).isEmpty { print(""); continue }
            if nBest == 1 { print(r.first?.text ?? "") } else {
                for (k, h) in r.enumerated() { print("\(k + 1)\t\(String(format: "%.4f", h.score))\t\(h.text)") }
                print("")
            }
        }
    }
}

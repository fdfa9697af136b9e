import ArgumentParser
import AttentionKit
import Foundation

/// `attn compare`: trained classification runs side by side (table, CSV, bar chart).
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare trained classification runs: validation accuracy, parameters, training time, inference speed.",
        discussion: """
        Each RUN is a directory written by `attn train cnn|vit|classifier`. From its metrics.jsonl: the best \
        validation accuracy and its epoch, and the training wall time (the sum of the epochs' seconds, validation \
        included). From its best.safetensors: the parameter count, and the inference throughput measured here \
        (evaluation mode, no autograd graph, batches of --batch-size: random images of the model's input size, or \
        sentences of --tokens random in-vocabulary tokens). Writes comparison.md (a Markdown table), comparison.csv \
        and comparison.png (bar charts; each task's bars scaled to that task's largest value) to --out and prints \
        the table; the last line is the JSON array of the rows. Example: Examples/compare-models.sh.
        """
    )

    @Argument(help: "Run directories (NAME=DIR to label a row; default label: the directory's name).")
    var runs: [String]
    @Option(help: "Directory for comparison.md, comparison.csv and comparison.png.")
    var out = "runs/comparison"
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Inference batch size.")
    var batchSize = 256
    @Option(parsing: .unconditional, help: "Tokens per sentence for text models' inference timing.")
    var tokens = 16
    @Option(help: "Chart title.")
    var title = "Models compared"

    func run() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run directory") }
        guard batchSize > 0 && batchSize <= 4096 else { throw ValidationError("--batch-size must be in 1...4096") }
        guard tokens > 0 && tokens <= 4096 else { throw ValidationError("--tokens must be in 1...4096") }
        var entries: [ModelComparison.Entry] = []
        for spec in runs {
            let (label, path) = spec.contains("=") ? (String(spec.prefix { $0 != "=" }), String(spec.drop { $0 != "=" }.dropFirst()))
                                                   : (URL(fileURLWithPath: spec).lastPathComponent, spec)
            entries.append(try entry(label: label, directory: URL(fileURLWithPath: path)))
            say("measured \(label)")
        }
        let comparison = ModelComparison(entries: entries)
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try AtomicFile.write(Data((comparison.markdown + "\n").utf8), to: dir.appendingPathComponent("comparison.md"))
        try AtomicFile.write(Data(comparison.csv.utf8), to: dir.appendingPathComponent("comparison.csv"))
        try comparison.chart(title: title).writePNG(to: dir.appendingPathComponent("comparison.png"))
        say(comparison.markdown)
        say("wrote \(dir.appendingPathComponent("comparison.md").path), comparison.csv, comparison.png")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        say(String(decoding: try encoder.encode(entries), as: UTF8.self))
    }

    func entry(label: String, directory: URL) throws -> ModelComparison.Entry {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path),
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIError("\(configURL.path): missing or not a JSON object (not a run directory of `attn train`)")
        }
        let task = config["task"] as? String ?? ""
        let summary: (accuracy: Double, bestEpoch: Int, epochs: Int, seconds: Double)
        do { summary = try ModelComparison.summarize(metricsJSONL: directory.appendingPathComponent("metrics.jsonl")) } catch { throw CLIError("\(error)") }
        let modelType = config["model_type"] as? String ?? (task == "classification" ? "TextClassifier" : "?")   // runs from before model_type was written
        let arch = (config["training"] as? [String: Any])?["arch"] as? String
        let model = arch.map { "\(modelType) (\($0))" } ?? modelType
        let kind: String, parameters: Int, batchesPerSecond: Double
        switch task {
        case "image-classification":
            let m = try ImageClassification.loadModel(from: directory.appendingPathComponent("best.safetensors"))
            m.eval()
            var g = RandomGenerator(seed: 0)
            let images = Tensor.normal([batchSize, 3, m.imageSize, m.imageSize], using: &g)
            (kind, parameters, batchesPerSecond) = ("image", m.parameterCount(), throughput { _ = m(images) })
        case "classification":
            let classifier = try TextClassification.load(from: directory)
            let vocabulary = max(2, classifier.tokenizer.vocabularySize), pad = classifier.model.padID
            let length = min(tokens, classifier.model.maxLength)
            let ids = (0..<batchSize).map { s in (0..<length).map { t -> Int in
                let id = (s * 7919 + t * 104_729) % vocabulary
                return id == pad ? (id + 1) % vocabulary : id
            } }
            classifier.model.eval()
            (kind, parameters, batchesPerSecond) = ("text", classifier.model.parameterCount(), throughput { _ = classifier.model(ids) })
        default:
            throw CLIError("\(configURL.path): task \"\(task)\" is not a classification run (attn train cnn|vit|classifier)")
        }
        return ModelComparison.Entry(name: label, task: kind, model: model, validationAccuracy: summary.accuracy, bestEpoch: summary.bestEpoch,
                                     epochs: summary.epochs, parameters: parameters, trainingSeconds: summary.seconds,
                                     inferencePerSecond: batchesPerSecond * Double(batchSize), inferenceBatch: batchSize)
    }

    /// Batches per second of `body` in evaluation mode without the graph: one warm-up call, then calls until a
    /// second has passed (at least 3).
    func throughput(_ body: () -> Void) -> Double {
        withNoGrad {
            body()
            let start = Date()
            var calls = 0
            repeat { body(); calls += 1 } while calls < 3 || Date().timeIntervalSince(start) < 1
            return Double(calls) / Date().timeIntervalSince(start)
        }
    }
}

import Foundation

/// What `evaluate` may be given; each task reads the fields it needs and names the ones it misses.
public struct EvaluationRequest {
    /// Labelled data in the run's format (text classification) or CIFAR-10 images (.bin file or directory).
    public var data: String?
    /// Translation: source sentences and their references, line-aligned.
    public var source: String?, reference: String?
    /// Translation: beam size (1: greedy) and GNMT length penalty α.
    public var beam = 5
    /// Translation: GNMT length penalty α.
    public var lengthPenalty: Float = 0.6
    /// Translation: write the hypotheses here too.
    public var output: URL?
    /// Classification: draw the confusion matrix into this PNG too.
    public var confusionPNG: URL?
    /// Notes about the data (skipped lines, encodings); stderr by default.
    public var note: (String) -> Void = { FileHandle.standardError.write(Data("note: \($0)\n".utf8)) }
    /// A request with every field at its default.
    public init() {}
}

/// What `evaluate` found: the readable report, then one JSON line (`{"task": …, "metric": …, "value": …}`).
public struct Evaluation {
    /// The readable report, line by line.
    public var report: [String]
    /// The machine-readable last line.
    public var json: String
    /// An evaluation with its report and JSON line.
    public init(report: [String], json: String) { (self.report, self.json) = (report, json) }
}

/// The input whose attention a report shows.
public struct AttentionRequest {
    /// Text tasks: the input text.
    public var text: String?
    /// Translation: a translation of `text` to show (teacher-forced); nil: the model's own (beam search of `beam`).
    public var target: String?
    /// Translation: the beam of the model's own translation.
    public var beam = 5
    /// Image tasks: a PNG/JPEG path or `FILE.bin:INDEX`.
    public var image: String?
    /// How the PNGs colour the weights: one 0–1 scale for every layer, or each layer's own.
    public var colourScale: AttentionColourScale = .absolute
    /// Also draw the PNGs and index.html (false: only the arrays and maps.json, what `attn serve` answers with).
    public var pictures = true
    /// A request with every field at its default.
    public init() {}
}

/// A trained run loaded for inference: one per task, each in its own file in `Tasks/`. `attn evaluate` and
/// `attn attention` load a run through `RunTasks.load`, which picks the type by config.json's `task`.
public protocol TrainedRun {
    /// The task name this type loads (config.json's `task`).
    static var taskName: String { get }
    /// What the run is called in messages ("translation", "text classification", …).
    static var displayName: String { get }
    /// Loads a run directory with the weights file `weights` (e.g. best.safetensors).
    static func load(from run: RunDirectory, weights: String) throws -> Self
    /// Scores the model on the request's data.
    func evaluate(_ request: EvaluationRequest) throws -> Evaluation
    /// Writes the attention report of one input into `directory`; returns the line to print (the prediction).
    func writeAttentionReport(_ request: AttentionRequest, to directory: URL) throws -> String
    /// The run's network (what `Quantization.quantize` turns to int8 for `--int8`).
    var network: any Module { get }
    /// How many words of these input texts the model's vocabulary lacks (`Tokenizer.unknownWordsNote`); nil for
    /// models that do not read text.
    func unknownWordsNote(_ texts: [String]) -> String?
}

extension TrainedRun {
    /// A note on the words of these texts the model's vocabulary lacks (nil: none, or no text input).
    public func unknownWordsNote(_ texts: [String]) -> String? { nil }
}

/// How `attn compare` measures a run here: inference batches of `batchSize` (text classifiers: sentences of `tokens`
/// random tokens), translation with a beam of `beam` over the run's validation sentences.
public struct ComparisonRequest {
    /// The run measured.
    public var run: RunDirectory
    public var batchSize = 256, tokens = 16, beam = 5
    /// A request for `run` with the default sizes.
    public init(run: RunDirectory) { self.run = run }
}

/// What a comparison measured of one run: its kind ("image", "text", "translation"), the model's type name, the
/// parameters, inference items per second (`unit`: "images/s", "sentences/s") over batches of `batch` (and a beam of
/// `beam` for translation), and validation scores computed here (translation: "bleu", "chrf"); empty: the best value
/// of `comparisonMetric` in metrics.jsonl is the score.
public struct ComparisonMeasurement {
    public var kind: String, model: String, parameters: Int, itemsPerSecond: Double, unit: String, batch: Int
    /// Translation: the beam of the measurement.
    public var beam: Int? = nil
    /// Validation scores computed here (translation: "bleu", "chrf"); empty for classifiers.
    public var scores: [String: Double] = [:]
    /// A measurement with every value.
    public init(
        kind: String, model: String, parameters: Int, itemsPerSecond: Double, unit: String, batch: Int,
        beam: Int? = nil,
        scores: [String: Double] = [:]
    ) {
        (self.kind, self.model, self.parameters, self.itemsPerSecond, self.unit) = (
            kind, model, parameters, itemsPerSecond, unit
        )
        (self.batch, self.beam, self.scores) = (batch, beam, scores)
    }
}

/// A run that `attn compare` can put beside others: classification runs (by validation accuracy) and translation
/// runs (by BLEU and chrF on their validation sentences, decoded here).
public protocol ComparableRun: TrainedRun {
    /// The metrics.jsonl key the run kept its best epoch by ("val_accuracy", "bleu").
    static var comparisonMetric: String { get }
    /// Parameters, the model's name, inference throughput and (translation) validation scores, measured on this CPU.
    func measure(_ request: ComparisonRequest) throws -> ComparisonMeasurement
}

extension ComparableRun {
    /// The metrics.jsonl key the run kept its best epoch by.
    public static var comparisonMetric: String { "val_accuracy" }
}

/// The tasks the library knows: translation, text and image classification, language modelling, and whatever a
/// library user registers.
public enum RunTasks {
    /// The registered types behind a lock (metatypes of a non-Sendable protocol cannot sit in a `Mutex`).
    private final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var types: [any TrainedRun.Type] = [
            Translator.self, TextClassification.self, ImageClassification.self, LanguageModel.self
        ]
    }
    private static let registry = Registry()

    /// The registered run types.
    public static var all: [any TrainedRun.Type] { registry.lock.withLock { registry.types } }

    /// Adds a task (a type whose `taskName` is already registered is not added again).
    public static func register(_ type: any TrainedRun.Type) {
        registry.lock.withLock {
            if !registry.types.contains(where: { $0.taskName == type.taskName }) { registry.types.append(type) }
        }
    }

    /// The run type of a directory, by its config.json's `task`.
    public static func runType(of run: RunDirectory) throws -> any TrainedRun.Type {
        try run.check(holds: ["config.json"], kind: "training")
        let task = try run.task()
        let known = all
        for t in known where t.taskName == task { return t }
        throw RunDirectoryError(
            message:
                "\(run.configURL.path): unknown task '\(task)' (known: \(known.map { $0.taskName }.joined(separator: ", ")))"
        )
    }

    /// Loads a run directory of task `T` for a verb that needs it (`attn predict` an image classifier, …); a run of
    /// another task is a usage error naming both tasks and the verb that fits the run.
    public static func load<T: TrainedRun>(
        _ run: RunDirectory, as type: T.Type, weights: String = "best.safetensors", verb: String, int8: Bool = false
    ) throws -> T {
        let found = try runType(of: run)
        guard found == T.self else {
            let fitting = [
                "translation": "attn translate", "classification": "attn classify",
                "image-classification": "attn predict", "language-model": "attn generate"
            ][found.taskName]
            throw TaskUsageError(
                "\(run.path) is \(RunDirectory.article(found.displayName)) run, not \(RunDirectory.article(T.displayName)) run: `\(verb)` needs one"
                    + (fitting.map { " (\($0) fits this run)" } ?? ""))
        }
        let loaded = try T.load(from: run, weights: weights)
        return int8 ? quantized(loaded) : packed(loaded)
    }

    /// Loads a run directory for inference, whichever task trained it; `int8`: its `Linear` layers quantized
    /// (`Quantization`), as `attn quantize` would write them.
    public static func load(_ run: RunDirectory, weights: String = "best.safetensors", int8: Bool = false) throws
        -> any TrainedRun
    {
        let loaded = try runType(of: run).load(from: run, weights: weights)
        return int8 ? quantized(loaded) : packed(loaded)
    }

    private static func quantized<T: TrainedRun>(_ run: T) -> T {
        if !Quantization.isQuantized(run.network) { Quantization.quantize(run.network) }
        return run
    }

    /// A float run's `Linear` weights packed for the inference GEMM (`WeightPacking`); an int8 checkpoint's layers
    /// compute in int8 and are left as they are.
    private static func packed(_ run: any TrainedRun) -> any TrainedRun {
        WeightPacking.pack(run.network)
        return run
    }

    private static func packed<T: TrainedRun>(_ run: T) -> T {
        WeightPacking.pack(run.network)
        return run
    }
}

/// Batches per second of `body` in evaluation mode without the graph: one warm-up call, then calls until a second
/// has passed (at least 3).
func measureThroughput(_ body: () -> Void) -> Double {
    withNoGrad {
        body()
        let start = Date()
        var calls = 0
        repeat { body(); calls += 1 } while calls < 3 || Date().timeIntervalSince(start) < 1
        return Double(calls) / Date().timeIntervalSince(start)
    }
}

/// The classification evaluation's JSON last line: accuracy, count, macro-F1 and per-class precision/recall/F1.
/// Keys in this order: task, metric, value, n, macro_f1, per_class (labels in the run's order, each with precision,
/// recall, f1, support).
func classificationJSON(_ report: ClassificationReport) throws -> String {
    let perClass: [(String, JSONLine)] = report.labels.enumerated().map { k, l in
        let p = report.perClass(k)
        return (
            l,
            .object([
                ("precision", .number(p.precision)), ("recall", .number(p.recall)), ("f1", .number(p.f1)),
                ("support", .integer(p.support))
            ])
        )
    }
    return JSONLine.object([
        ("task", "classification"), ("metric", "accuracy"), ("value", .number(report.accuracy)),
        ("n", .integer(report.count)),
        ("macro_f1", .number(report.macroF1)), ("per_class", .object(perClass))
    ]).text
}

/// The classification evaluation of `report`: its table, the optional confusion PNG, the JSON line.
func classificationEvaluation(_ report: ClassificationReport, request: EvaluationRequest, title: String) throws
    -> Evaluation
{
    if let png = request.confusionPNG { try report.confusionMatrixImage(title: title).write(to: png) }
    return Evaluation(report: [report.table], json: try classificationJSON(report))
}

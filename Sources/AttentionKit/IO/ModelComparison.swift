import Foundation

/// Trained models side by side, as a course shows them: validation accuracy, parameters, training wall time and
/// inference throughput of each, as a Markdown table, CSV and a bar chart (one panel per measure, models grouped
/// by task).
public struct ModelComparison {
    /// One compared run: its score, size, training time and inference speed.
    public struct Entry: Codable, Sendable {
        /// Row label (the run directory's name unless given).
        public var name: String
        /// "image", "text" or "translation": rows are grouped by task.
        public var task: String
        /// The model's architecture name from the run's config.
        public var model: String
        /// What `score` is: "val_accuracy" (a fraction, the best epoch's) or "bleu" (sacreBLEU, measured here).
        public var metric: String
        /// The score (see `metric`).
        public var score: Double
        /// Classification rows: the best validation accuracy (= score).
        public var validationAccuracy: Double?
        /// Translation rows: chrF2 of the same translations, and the beam they were decoded with.
        public var chrF: Double?
        /// Beam width of the BLEU measurement (translation rows).
        public var beam: Int?
        /// The epoch whose checkpoint was scored (1-based).
        public var bestEpoch: Int
        /// Epochs the run trained.
        public var epochs: Int
        /// Trainable parameters.
        public var parameters: Int
        /// Sum of the run's epoch times (training and validation; no process start-up).
        public var trainingSeconds: Double
        /// Items per second in evaluation mode (images or sentences: `inferenceUnit`), batches of `inferenceBatch`.
        public var inferencePerSecond: Double
        /// What `inferenceRate` counts per second ("images", "sentences", "texts").
        public var inferenceUnit: String
        /// Batch size of the inference measurement.
        public var inferenceBatch: Int

        /// A row with every measured value.
        public init(
            name: String, task: String, model: String, metric: String, score: Double, chrF: Double? = nil,
            beam: Int? = nil,
            bestEpoch: Int, epochs: Int, parameters: Int, trainingSeconds: Double, inferencePerSecond: Double,
            inferenceUnit: String,
            inferenceBatch: Int
        ) {
            self.name = name; self.task = task; self.model = model; self.metric = metric; self.score = score
            self.validationAccuracy = metric == "val_accuracy" ? score : nil
            self.chrF = chrF; self.beam = beam
            self.bestEpoch = bestEpoch; self.epochs = epochs; self.parameters = parameters;
            self.trainingSeconds = trainingSeconds
            self.inferencePerSecond = inferencePerSecond; self.inferenceUnit = inferenceUnit;
            self.inferenceBatch = inferenceBatch
        }

        enum CodingKeys: String, CodingKey {
            case name, task, model, metric, score, beam, epochs, parameters
            case validationAccuracy = "validation_accuracy", chrF = "chrf", bestEpoch = "best_epoch"
            case trainingSeconds = "training_seconds", inferencePerSecond = "inference_per_second"
            case inferenceUnit = "inference_unit", inferenceBatch = "inference_batch"
        }

        /// The row as one JSON line (`attn compare --json`), keys in the order of the fields above, snake_case.
        public var json: String {
            var pairs: [(String, JSONLine)] = [
                ("name", .string(name)), ("task", .string(task)), ("model", .string(model)),
                ("metric", .string(metric)), ("score", .number(score))
            ]
            if let validationAccuracy { pairs.append(("validation_accuracy", .number(validationAccuracy))) }
            if let chrF { pairs.append(("chrf", .number(chrF))) }
            if let beam { pairs.append(("beam", .integer(beam))) }
            pairs += [
                ("best_epoch", .integer(bestEpoch)), ("epochs", .integer(epochs)), ("parameters", .integer(parameters)),
                ("training_seconds", .number(trainingSeconds)), ("inference_per_second", .number(inferencePerSecond)),
                ("inference_unit", .string(inferenceUnit)), ("inference_batch", .integer(inferenceBatch))
            ]
            return JSONLine.object(pairs).text
        }

        /// The score as a reader wants it: "84.25%" or "40.21 BLEU · chrF 58.80".
        var scoreText: String {
            metric == "val_accuracy"
                ? String(format: "%.2f%%", score * 100)
                : String(format: "%.2f BLEU", score) + (chrF.map { String(format: " · chrF %.2f", $0) } ?? "")
        }
        /// The score on a 0–100 scale (accuracy in percent, BLEU as it is).
        var percentScale: Double { metric == "val_accuracy" ? score * 100 : score }
        var inferenceText: String {
            String(format: "%.0f ", inferencePerSecond) + inferenceUnit + (beam.map { " (beam \($0))" } ?? "")
        }
    }

    /// The rows, in the order given.
    public var entries: [Entry]
    /// A comparison of these rows.
    public init(entries: [Entry]) { self.entries = entries }

    /// What a run's metrics.jsonl says: the best value of `key` (higher is better) and its epoch, the epochs run and
    /// their summed seconds. Lines without `key` count for time only.
    /// - Throws: a message naming the file and line when a line is not a JSON object or no epoch has the metric.
    public static func summarize(metricsJSONL url: URL, key: String = "val_accuracy") throws -> (
        best: Double, bestEpoch: Int, epochs: Int, seconds: Double
    ) {
        let text: String
        do { text = try UserFile.text(url) } catch {
            throw ComparisonError("\(url.path): cannot be read as UTF-8 text (\(UserFile.reason(for: error)))")
        }
        var best = -Double.infinity, bestEpoch = 0, epochs = 0, seconds = 0.0
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw ComparisonError("\(url.path):\(n + 1): not a JSON object")
            }
            guard let epoch = object["epoch"] as? Int else { continue }
            epochs = max(epochs, epoch)
            if let s = object["epoch_seconds"] as? Double, s.isFinite, s >= 0 { seconds += s }
            if let a = object[key] as? Double, a.isFinite, a > best { best = a; bestEpoch = epoch }
        }
        guard best.isFinite else {
            throw ComparisonError(
                "\(url.path): no epoch with a finite \(key) (a run without validation cannot be compared)")
        }
        return (best, bestEpoch, epochs, seconds)
    }

    /// Markdown table, one row per entry in order.
    public var markdown: String {
        var lines = [
            "| model | task | architecture | validation | best epoch / epochs | parameters | training time | inference |",
            "|---|---|---|---:|---:|---:|---:|---:|"
        ]
        for e in entries {
            lines.append(
                "| \(e.name) | \(e.task) | \(e.model) | \(e.scoreText) | \(e.bestEpoch) / \(e.epochs) | "
                    + "\(Self.grouped(e.parameters)) | \(Self.duration(e.trainingSeconds)) | \(e.inferenceText) |")
        }
        return lines.joined(separator: "\n")
    }

    /// CSV with a header row.
    public var csv: String {
        var lines = [
            "name,task,model,metric,score,chrf,beam,best_epoch,epochs,parameters,training_seconds,inference_per_second,inference_unit,inference_batch"
        ]
        for e in entries {
            lines.append(
                [
                    e.name, e.task, e.model, e.metric, String(format: "%.6f", e.score),
                    e.chrF.map { String(format: "%.4f", $0) } ?? "",
                    e.beam.map(String.init) ?? "", String(e.bestEpoch), String(e.epochs),
                    String(e.parameters), String(format: "%.2f", e.trainingSeconds),
                    String(format: "%.2f", e.inferencePerSecond),
                    e.inferenceUnit, String(e.inferenceBatch)
                ].map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func grouped(_ n: Int) -> String {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.groupingSeparator = ","
        f.usesGroupingSeparator = true
        return f.string(from: NSNumber(value: n)) ?? String(n)
    }

    static func duration(_ s: Double) -> String {
        s < 90
            ? String(format: "%.0f s", s)
            : s < 5400 ? String(format: "%.1f min", s / 60) : String(format: "%.1f h", s / 3600)
    }

    /// One horizontal bar chart per quantity, each on its own labelled scale shared by every model in it: the
    /// validation score (one chart per metric: accuracy 0–100%, BLEU 0–100), parameters, training time, and
    /// inference throughput (one chart per unit: images/s and sentences/s are not comparable); bars coloured by
    /// task, with a legend. Writes comparison.md, comparison.csv, comparison.png and comparison.svg into
    /// `directory` (created if needed; it may hold run directories besides an earlier comparison, nothing else);
    /// returns the path of comparison.md.
    @discardableResult
    public func write(to directory: URL, title: String = "Models compared") throws -> URL {
        // run directories may sit beside it (Examples/compare-models.sh trains into OUT/MODEL and compares into OUT)
        try OutputDirectory.prepare(directory, marker: "comparison.csv", holding: "a comparison") { name in
            FileManager.default.fileExists(
                atPath: directory.appendingPathComponent(name).appendingPathComponent("config.json").path)
        }
        let md = directory.appendingPathComponent("comparison.md")
        try AtomicFile.write(Data((markdown + "\n").utf8), to: md)
        try AtomicFile.write(Data(csv.utf8), to: directory.appendingPathComponent("comparison.csv"))
        try chart(title: title).write(to: directory.appendingPathComponent("comparison.png"))
        try chart(title: title, format: .svg).write(to: directory.appendingPathComponent("comparison.svg"))
        return md
    }

    /// The entries' tasks in order of first appearance (one colour each).
    var tasks: [String] { entries.map(\.task).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } } }

    /// The charts `chart` draws: one per quantity and unit.
    public func barCharts() -> [BarChart] {
        let tasks = self.tasks
        let colour = { (e: Entry) in Colour.palette[(tasks.firstIndex(of: e.task) ?? 0) % Colour.palette.count] }
        let label = { (e: Entry) in tasks.count > 1 ? "\(e.name) (\(e.task))" : e.name }
        let ordered = tasks.flatMap { t in entries.filter { $0.task == t } }
        var charts: [BarChart] = []
        for metric in ordered.map(\.metric).reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
            let rows = ordered.filter { $0.metric == metric }
            let title =
                metric == "val_accuracy"
                ? "Validation accuracy (%)" : metric == "bleu" ? "Validation BLEU (0–100)" : metric
            charts.append(
                BarChart(
                    title: title,
                    bars: rows.map {
                        .init(label: label($0), value: $0.percentScale, text: $0.scoreText, colour: colour($0))
                    },
                    fullScale: 100))
        }
        charts.append(
            BarChart(
                title: "Parameters",
                bars: ordered.map {
                    .init(
                        label: label($0), value: Double($0.parameters), text: Self.grouped($0.parameters),
                        colour: colour($0))
                },
                tickLabel: { _, v in
                    v >= 1e6
                        ? String(format: "%gM", v / 1e6)
                        : v >= 1e3 ? String(format: "%gk", v / 1e3) : String(format: "%g", v)
                }))
        let longest = ordered.map(\.trainingSeconds).max() ?? 0
        let (unit, divisor) = longest >= 5400 ? ("hours", 3600.0) : longest >= 90 ? ("minutes", 60.0) : ("seconds", 1.0)
        charts.append(
            BarChart(
                title: "Training time (\(unit))",
                bars: ordered.map {
                    .init(
                        label: label($0), value: $0.trainingSeconds / divisor, text: Self.duration($0.trainingSeconds),
                        colour: colour($0))
                }))
        for unit in ordered.map(\.inferenceUnit).reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
            let rows = ordered.filter { $0.inferenceUnit == unit }
            charts.append(
                BarChart(
                    title: "Inference (\(unit))",
                    bars: rows.map {
                        .init(
                            label: label($0), value: $0.inferencePerSecond, text: $0.inferenceText, colour: colour($0))
                    }))
        }
        return charts
    }

    /// Bar charts of score, training time, inference rate and size, one panel each.
    public func chart(title: String = "Models compared", format: Canvas.Format = .png) throws -> Canvas {
        let charts = barCharts()
        let labelWidth = charts.map(\.labelWidth).max() ?? 100
        let columnWidth = labelWidth + 360, columns = charts.count > 2 ? 2 : 1
        var rowHeights: [Double] = []
        for start in stride(from: 0, to: charts.count, by: columns) {
            rowHeights.append(charts[start..<min(start + columns, charts.count)].map(\.height).max() ?? 0)
        }
        let header = 64.0
        let canvas = try Canvas(
            width: Int(Double(columns) * columnWidth + 20), height: Int(header + rowHeights.reduce(0, +) + 10),
            format: format)
        canvas.text(title, x: 14, y: 10, size: 17, bold: true, vertical: .top)
        var x = 14.0
        for (k, task) in tasks.enumerated() {
            canvas.fill(x: x, y: 42, width: 14, height: 12, Colour.palette[k % Colour.palette.count])
            x += 20 + canvas.text("task: " + task, x: x + 20, y: 48, size: 13, colour: .muted, vertical: .middle) + 26
        }
        var y = header
        for (i, chart) in charts.enumerated() {
            chart.draw(
                on: canvas, x: 10 + Double(i % columns) * columnWidth, y: y, width: columnWidth - 10,
                labelWidth: labelWidth)
            if i % columns == columns - 1 || i == charts.count - 1 { y += rowHeights[i / columns] }
        }
        return canvas
    }
}

/// A comparison input that cannot be used, with the file and the reason.
public struct ComparisonError: Error, CustomStringConvertible {
    /// What went wrong, naming the run.
    public let description: String
    /// An error with this message.
    public init(_ description: String) { self.description = description }
}

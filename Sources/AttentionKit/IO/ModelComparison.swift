import Foundation

/// Trained models side by side, as a course shows them: validation accuracy, parameters, training wall time and
/// inference throughput of each, as a Markdown table, CSV and a bar chart (one panel per measure, models grouped
/// by task).
public struct ModelComparison {
    public struct Entry: Codable, Sendable {
        /// Row label (the run directory's name unless given).
        public var name: String
        /// "image", "text" or "translation": rows are grouped by task.
        public var task: String
        public var model: String
        /// What `score` is: "val_accuracy" (a fraction, the best epoch's) or "bleu" (sacreBLEU, measured here).
        public var metric: String
        public var score: Double
        /// Classification rows: the best validation accuracy (= score).
        public var validationAccuracy: Double?
        /// Translation rows: chrF2 of the same translations, and the beam they were decoded with.
        public var chrF: Double?
        public var beam: Int?
        public var bestEpoch: Int
        public var epochs: Int
        public var parameters: Int
        /// Sum of the run's epoch times (training and validation; no process start-up).
        public var trainingSeconds: Double
        /// Items per second in evaluation mode (images or sentences: `inferenceUnit`), batches of `inferenceBatch`.
        public var inferencePerSecond: Double
        public var inferenceUnit: String
        public var inferenceBatch: Int

        public init(name: String, task: String, model: String, metric: String, score: Double, chrF: Double? = nil, beam: Int? = nil,
                    bestEpoch: Int, epochs: Int, parameters: Int, trainingSeconds: Double, inferencePerSecond: Double, inferenceUnit: String,
                    inferenceBatch: Int) {
            self.name = name; self.task = task; self.model = model; self.metric = metric; self.score = score
            self.validationAccuracy = metric == "val_accuracy" ? score : nil
            self.chrF = chrF; self.beam = beam
            self.bestEpoch = bestEpoch; self.epochs = epochs; self.parameters = parameters; self.trainingSeconds = trainingSeconds
            self.inferencePerSecond = inferencePerSecond; self.inferenceUnit = inferenceUnit; self.inferenceBatch = inferenceBatch
        }

        /// The score as a reader wants it: "84.25%" or "40.21 BLEU · chrF 58.80".
        var scoreText: String {
            metric == "val_accuracy" ? String(format: "%.2f%%", score * 100)
                : String(format: "%.2f BLEU", score) + (chrF.map { String(format: " · chrF %.2f", $0) } ?? "")
        }
        /// The score on a 0–100 scale (accuracy in percent, BLEU as it is).
        var percentScale: Double { metric == "val_accuracy" ? score * 100 : score }
        var inferenceText: String {
            String(format: "%.0f ", inferencePerSecond) + inferenceUnit + (beam.map { " (beam \($0))" } ?? "")
        }
    }

    public var entries: [Entry]
    public init(entries: [Entry]) { self.entries = entries }

    /// What a run's metrics.jsonl says: the best value of `key` (higher is better) and its epoch, the epochs run and
    /// their summed seconds. Lines without `key` count for time only.
    /// - Throws: a message naming the file and line when a line is not a JSON object or no epoch has the metric.
    public static func summarize(metricsJSONL url: URL, key: String = "val_accuracy") throws -> (best: Double, bestEpoch: Int, epochs: Int, seconds: Double) {
        let text: String
        do { text = try UserFile.text(url) } catch {
            throw ComparisonError("\(url.path): cannot be read as UTF-8 text (\(UserFile.reason(for: error)))")
        }
        var best = -Double.infinity, bestEpoch = 0, epochs = 0, seconds = 0.0
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw ComparisonError("\(url.path):\(n + 1): not a JSON object")
            }
            guard let epoch = object["epoch"] as? Int else { continue }
            epochs = max(epochs, epoch)
            if let s = object["epoch_seconds"] as? Double, s.isFinite, s >= 0 { seconds += s }
            if let a = object[key] as? Double, a.isFinite, a > best { best = a; bestEpoch = epoch }
        }
        guard best.isFinite else { throw ComparisonError("\(url.path): no epoch with a finite \(key) (a run without validation cannot be compared)") }
        return (best, bestEpoch, epochs, seconds)
    }

    /// Markdown table, one row per entry in order.
    public var markdown: String {
        var lines = ["| model | task | architecture | validation | best epoch / epochs | parameters | training time | inference |",
                     "|---|---|---|---:|---:|---:|---:|---:|"]
        for e in entries {
            lines.append("| \(e.name) | \(e.task) | \(e.model) | \(e.scoreText) | \(e.bestEpoch) / \(e.epochs) | "
                         + "\(Self.grouped(e.parameters)) | \(Self.duration(e.trainingSeconds)) | \(e.inferenceText) |")
        }
        return lines.joined(separator: "\n")
    }

    /// CSV with a header row.
    public var csv: String {
        var lines = ["name,task,model,metric,score,chrf,beam,best_epoch,epochs,parameters,training_seconds,inference_per_second,inference_unit,inference_batch"]
        for e in entries {
            lines.append([e.name, e.task, e.model, e.metric, String(format: "%.6f", e.score), e.chrF.map { String(format: "%.4f", $0) } ?? "",
                          e.beam.map(String.init) ?? "", String(e.bestEpoch), String(e.epochs),
                          String(e.parameters), String(format: "%.2f", e.trainingSeconds), String(format: "%.2f", e.inferencePerSecond),
                          e.inferenceUnit, String(e.inferenceBatch)].map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func grouped(_ n: Int) -> String {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.groupingSeparator = ","
        f.usesGroupingSeparator = true
        return f.string(from: NSNumber(value: n)) ?? String(n)
    }

    static func duration(_ s: Double) -> String {
        s < 90 ? String(format: "%.0f s", s) : s < 5400 ? String(format: "%.1f min", s / 60) : String(format: "%.1f h", s / 3600)
    }

    /// Four horizontal bar panels (validation accuracy, parameters, training time, inference throughput), each bar
    /// labelled with its value; models grouped by task, each task in its own colour. Text through FreeType.
    /// Writes comparison.md, comparison.csv and comparison.png into `directory` (created if needed); returns the
    /// path of comparison.md.
    @discardableResult
    public func write(to directory: URL, title: String = "Models compared") throws -> URL {
        try OutputDirectory.prepare(directory, marker: "comparison.csv", holding: "a comparison")
        let md = directory.appendingPathComponent("comparison.md")
        try AtomicFile.write(Data((markdown + "\n").utf8), to: md)
        try AtomicFile.write(Data(csv.utf8), to: directory.appendingPathComponent("comparison.csv"))
        try chart(title: title).writePNG(to: directory.appendingPathComponent("comparison.png"))
        return md
    }

    public func chart(title: String = "Models compared") throws -> RGBImage {
        let font = try TextRenderer.required()
        let nameWidth = (entries.map { font.width(of: "\($0.name) (\($0.task))") }.max() ?? 40) + 16
        let metrics = Set(entries.map(\.metric))
        let scoreTitle = metrics == ["val_accuracy"] ? "validation accuracy (bar: 0–100%)"
            : metrics == ["bleu"] ? "validation BLEU (bar: 0–100)" : "validation accuracy (%) or BLEU (bar: 0–100)"
        // (title, value, label, fixed full scale: accuracy and BLEU bars are drawn against 100)
        let panels: [(String, (Entry) -> Double, (Entry) -> String, Double?)] = [
            (scoreTitle, { $0.percentScale }, { $0.scoreText }, 100),
            ("parameters", { Double($0.parameters) }, { Self.grouped($0.parameters) }, nil),
            ("training time", { $0.trainingSeconds }, { Self.duration($0.trainingSeconds) }, nil),
            ("inference per second", { $0.inferencePerSecond }, { $0.inferenceText }, nil),
        ]
        let bar = font.lineHeight + 8, panelWidth = 300
        let valueRoom = (panels.flatMap { p in entries.map { font.width(of: p.2($0)) } }.max() ?? 80) + 20
        let tasks = entries.map(\.task).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let colours: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189)]
        let headerHeight = font.lineHeight * 2 + 20
        let panelHeight = font.lineHeight + 10 + entries.count * bar + 14
        let width = nameWidth + 2 * (panelWidth + valueRoom) + 20
        let height = headerHeight + 2 * panelHeight + 10
        var image = RGBImage(width: width, height: height)
        font.draw(title, into: &image, x: 10, baseline: font.ascent + 8)
        var legendX = 10
        for (k, task) in tasks.enumerated() {
            let c = colours[k % colours.count]
            for y in 0..<10 { for x in 0..<14 { image.set(legendX + x, font.lineHeight + 18 + y, c) } }
            legendX = font.draw(task, into: &image, x: legendX + 20, baseline: font.lineHeight + 18 + 10, color: (60, 60, 60)) + 24
        }
        // within a panel: the entries of each task in order, grouped
        let ordered = tasks.flatMap { t in entries.filter { $0.task == t } }
        for (p, panel) in panels.enumerated() {
            let px = (p % 2) * (panelWidth + valueRoom), py = headerHeight + (p / 2) * panelHeight
            font.draw(panel.0, into: &image, x: nameWidth + px, baseline: py + font.ascent, color: (30, 30, 30))
            // each task's bars are scaled to that task's largest value (images and sentences are not comparable),
            // accuracy to 100%
            for (i, e) in ordered.enumerated() {
                let top = py + font.lineHeight + 10 + i * bar
                if p % 2 == 0 {
                    font.draw("\(e.name) (\(e.task))", into: &image, x: nameWidth - 8, centerY: top + bar / 2, align: .right)
                }
                let peer = panel.3 ?? ordered.filter { $0.task == e.task }.map(panel.1).max() ?? 1
                let value = panel.1(e)
                let length = peer > 0 && value.isFinite ? Int(Double(panelWidth) * max(0, value) / peer) : 0
                let c = colours[(tasks.firstIndex(of: e.task) ?? 0) % colours.count]
                for y in (top + 3)..<(top + bar - 3) { for x in 0..<max(1, length) { image.set(nameWidth + px + x, y, c) } }
                font.draw(panel.2(e), into: &image, x: nameWidth + px + max(1, length) + 6, centerY: top + bar / 2, align: .left, color: (40, 40, 40))
            }
            for y in (py + font.lineHeight + 6)..<(py + font.lineHeight + 10 + entries.count * bar) { image.set(nameWidth + px, y, (90, 90, 90)) }
        }
        return image
    }
}

/// A comparison input that cannot be used, with the file and the reason.
public struct ComparisonError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

import Foundation

/// A terminal progress bar with ETA and throughput on stderr; plain periodic lines when stderr is not a terminal.
public struct ProgressBar {
    let total: Int
    let label: String
    let unit: String
    let start = Date()
    var lastDraw = Date.distantPast
    let isTTY = isatty(STDERR_FILENO) != 0
    /// Seconds between plain lines when stderr is piped.
    public var plainEvery: Double = 30

    /// A bar for `total` steps of `unit` (shown in the throughput), labelled `label`.
    public init(total: Int, label: String, unit: String = "it") {
        self.total = max(total, 1)
        self.label = label
        self.unit = unit
    }

    /// Redraws on a terminal (at most 10 times a second); when stderr is not a terminal, prints a plain line
    /// every `plainEvery` seconds instead with `done` items finished and an optional suffix (e.g. the loss).
    public mutating func update(_ done: Int, items: Int? = nil, suffix: String = "") {
        let now = Date()
        if !isTTY {
            guard now.timeIntervalSince(lastDraw) >= plainEvery || done == total else { return }
        } else {
            guard now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let rate = Double(items ?? done) / max(elapsed, 1e-9)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let width = 24, filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line =
            "\r\(label) \(bar) \(done)/\(total) [\(Self.clock(elapsed))<\(Self.clock(eta)), \(String(format: "%.1f", rate)) \(unit)/s] \(suffix)"
        if isTTY {
            FileHandle.standardError.write(
                line.padding(toLength: max(line.count, 100), withPad: " ", startingAt: 0).data(using: .utf8)!)
        } else {
            FileHandle.standardError.write((String(line.dropFirst()) + "\n").data(using: .utf8)!)
        }
    }

    /// Ends the bar's line.
    public func finish() { if isTTY { FileHandle.standardError.write("\n".data(using: .utf8)!) } }

    /// Seconds as `MM:SS` or `H:MM:SS`.
    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600
            ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
            : String(format: "%02d:%02d", s / 60, s % 60)
    }
}

/// Appends one JSON object per line to a metrics file (and mirrors a CSV beside it).
public struct MetricsLog {
    /// The JSON-lines file (`metrics.jsonl`).
    public let jsonl: URL
    /// The CSV file (`metrics.csv`).
    public let csv: URL
    /// The columns, in order.
    public let keys: [String]

    /// Rows dropped on opening because they were logged after the checkpoint being resumed (or were cut short).
    public private(set) var droppedRows = 0

    /// - Parameters:
    ///   - directory: where metrics.jsonl and metrics.csv are written.
    ///   - keys: the columns, in order (`epoch` first).
    ///   - append: continue the files (a resumed run); otherwise they start empty.
    ///   - keepingEpochs: when appending, keep only the complete rows of epochs up to this one: a run killed after
    ///     logging an epoch but before its checkpoint was written resumes from the earlier checkpoint, and must not
    ///     log that epoch twice. A line cut short by the kill is dropped too.
    public init(directory: URL, keys: [String], append: Bool, keepingEpochs: Int? = nil) throws {
        jsonl = directory.appendingPathComponent("metrics.jsonl")
        csv = directory.appendingPathComponent("metrics.csv")
        self.keys = keys
        let fm = FileManager.default
        guard append, fm.fileExists(atPath: csv.path), fm.fileExists(atPath: jsonl.path) else {
            try AtomicFile.write(Data(), to: jsonl)
            try AtomicFile.write(Data((keys.joined(separator: ",") + "\n").utf8), to: csv)
            return
        }
        guard let keep = keepingEpochs else { return }
        func read(_ url: URL) throws -> String {
            do { return try UserFile.text(url) } catch {
                throw CheckpointError.invalidState(
                    "\(url.path): cannot be read as UTF-8 text (\(UserFile.reason(for: error)))")
            }
        }
        func epoch(ofJSON line: Substring) -> Double? {
            guard line.hasSuffix("}"),
                let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { return nil }
            return o["epoch"] as? Double
        }
        let jsonText = try read(jsonl), csvText = try read(csv)
        let jsonLines = jsonText.split(separator: "\n", omittingEmptySubsequences: false)
        // complete lines only: the last piece (after the final newline) is empty unless a write was cut short
        let keptJSON = jsonLines.dropLast().filter { epoch(ofJSON: $0).map { $0 <= Double(keep) } ?? false }
        let csvLines = csvText.split(separator: "\n", omittingEmptySubsequences: false)
        let header = keys.joined(separator: ",")
        let keptCSV = csvLines.dropLast().dropFirst().filter { row in
            let cells = row.split(separator: ",", omittingEmptySubsequences: false)
            return cells.count == keys.count && (Double(cells[0]).map { $0 <= Double(keep) } ?? false)
        }
        let jsonRows = jsonLines.filter { !$0.isEmpty }.count,
            csvRows = csvLines.dropFirst().filter { !$0.isEmpty }.count
        droppedRows = max(jsonRows - keptJSON.count, csvRows - keptCSV.count, 0)
        let newJSON = keptJSON.map { $0 + "\n" }.joined(),
            newCSV = ([Substring(header)] + keptCSV).map { $0 + "\n" }.joined()
        if newJSON != jsonText { try AtomicFile.write(Data(newJSON.utf8), to: jsonl) }
        if newCSV != csvText { try AtomicFile.write(Data(newCSV.utf8), to: csv) }
    }

    /// Appends one row to both files (a missing key is written as empty / null).
    public func write(_ values: [String: Double]) throws {
        let json = "{" + keys.map { "\"\($0)\": \(Self.number(values[$0]))" }.joined(separator: ", ") + "}\n"
        let row = keys.map { Self.number(values[$0]) }.joined(separator: ",") + "\n"
        for (url, text) in [(jsonl, json), (csv, row)] {
            let h = try FileHandle(forWritingTo: url)
            h.seekToEndOfFile()
            h.write(text.data(using: .utf8)!)
            try h.close()
        }
    }

    static func number(_ v: Double?) -> String { v.map(JSONLine.plain) ?? "null" }
}

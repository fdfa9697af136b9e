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
        let line = "\r\(label) \(bar) \(done)/\(total) [\(Self.clock(elapsed))<\(Self.clock(eta)), \(String(format: "%.1f", rate)) \(unit)/s] \(suffix)"
        if isTTY {
            FileHandle.standardError.write(line.padding(toLength: max(line.count, 100), withPad: " ", startingAt: 0).data(using: .utf8)!)
        } else {
            FileHandle.standardError.write((String(line.dropFirst()) + "\n").data(using: .utf8)!)
        }
    }

    /// Ends the bar's line.
    public func finish() { if isTTY { FileHandle.standardError.write("\n".data(using: .utf8)!) } }

    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}

/// Appends one JSON object per line to a metrics file (and mirrors a CSV beside it).
public struct MetricsLog {
    public let jsonl: URL
    public let csv: URL
    public let keys: [String]

    public init(directory: URL, keys: [String], append: Bool) throws {
        jsonl = directory.appendingPathComponent("metrics.jsonl")
        csv = directory.appendingPathComponent("metrics.csv")
        self.keys = keys
        if !append || !FileManager.default.fileExists(atPath: csv.path) {
            try Data().write(to: jsonl)
            try (keys.joined(separator: ",") + "\n").data(using: .utf8)!.write(to: csv)
        }
    }

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

    static func number(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "null" }
        return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.6g", v)
    }
}


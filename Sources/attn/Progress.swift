import AttentionKit
import Foundation

/// A terminal progress bar with ETA and throughput on stderr; plain periodic lines when stderr is not a terminal.
struct ProgressBar {
    let total: Int
    let label: String
    let unit: String
    let start = Date()
    var lastDraw = Date.distantPast
    let isTTY = isatty(STDERR_FILENO) != 0

    init(total: Int, label: String, unit: String = "it") {
        self.total = max(total, 1)
        self.label = label
        self.unit = unit
    }

    /// Redraws (at most 10 times a second) with `done` items finished and an optional suffix (e.g. the loss).
    mutating func update(_ done: Int, items: Int? = nil, suffix: String = "") {
        let now = Date()
        guard isTTY, now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let rate = Double(items ?? done) / max(elapsed, 1e-9)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let width = 24, filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = "\r\(label) \(bar) \(done)/\(total) [\(Self.clock(elapsed))<\(Self.clock(eta)), \(String(format: "%.1f", rate)) \(unit)/s] \(suffix)"
        FileHandle.standardError.write(line.padding(toLength: max(line.count, 100), withPad: " ", startingAt: 0).data(using: .utf8)!)
    }

    /// Ends the bar's line.
    func finish() { if isTTY { FileHandle.standardError.write("\n".data(using: .utf8)!) } }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}

/// Appends one JSON object per line to a metrics file (and mirrors a CSV beside it).
struct MetricsLog {
    let jsonl: URL
    let csv: URL
    let keys: [String]

    init(directory: URL, keys: [String], append: Bool) throws {
        jsonl = directory.appendingPathComponent("metrics.jsonl")
        csv = directory.appendingPathComponent("metrics.csv")
        self.keys = keys
        if !append || !FileManager.default.fileExists(atPath: csv.path) {
            try Data().write(to: jsonl)
            try (keys.joined(separator: ",") + "\n").data(using: .utf8)!.write(to: csv)
        }
    }

    func write(_ values: [String: Double]) throws {
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

/// Prints a line to stdout immediately (stdout is block-buffered when redirected; progress lines must not wait).
func say(_ line: String) {
    FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
}


/// Renders loss and accuracy curves (train and validation) from a metrics CSV to a PNG with two panels.
func writeCurves(metricsCSV: URL, to png: URL) throws {
    let lines = try String(contentsOf: metricsCSV, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    guard let header = lines.first, lines.count > 1 else { return }
    func column(_ name: String) -> [Double] {
        guard let i = header.firstIndex(of: name) else { return [] }
        return lines.dropFirst().map { i < $0.count ? Double($0[i]) ?? .nan : .nan }
    }
    let epoch = column("epoch")
    var image = RGBImage(width: 960, height: 360)
    let p = LineChart.palette
    LineChart(title: "loss", xLabel: "epoch", series: [
        .init(name: "train", x: epoch, y: column("train_loss"), color: p[0]),
        .init(name: "val", x: epoch, y: column("val_loss"), color: p[1]),
    ]).draw(into: &image, x0: 0, y0: 0, width: 480, height: 360)
    LineChart(title: "accuracy %", xLabel: "epoch", series: [
        .init(name: "train", x: epoch, y: column("train_accuracy").map { $0 * 100 }, color: p[0]),
        .init(name: "val", x: epoch, y: column("val_accuracy").map { $0 * 100 }, color: p[1]),
    ], legendAtTop: false).draw(into: &image, x0: 480, y0: 0, width: 480, height: 360)
    try image.writePNG(to: png)
}

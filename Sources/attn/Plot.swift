import ArgumentParser
import AttentionKit
import Foundation

/// `attn plot`: loss and accuracy curves from a training run's metrics.csv.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw loss and accuracy curves from a run's metrics.csv as a PNG."
    )

    @Argument(help: "A metrics.csv written by `attn train` (or the run directory holding it).")
    var metrics: String
    @Option(help: "Output PNG (default: curves.png beside the metrics file).")
    var out: String?

    func run() throws {
        var url = URL(fileURLWithPath: metrics)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            url = url.appendingPathComponent("metrics.csv")
        }
        guard FileManager.default.fileExists(atPath: url.path) else { throw ValidationError("\(url.path): no such metrics file") }
        let png = out.map { URL(fileURLWithPath: $0) } ?? url.deletingLastPathComponent().appendingPathComponent("curves.png")
        let text: String
        do { text = try UserFile.text(url, maxBytes: 1 << 28) } catch { throw CLIError("\(error)") }
        let rows = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let header = rows.first.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        guard let epochColumn = header.firstIndex(of: "epoch") else {
            throw CLIError("\(url.path):1: no 'epoch' column in the header (a metrics.csv written by attn train)")
        }
        let usable = rows.dropFirst().filter { row in
            let cells = row.split(separator: ",", omittingEmptySubsequences: false)
            return cells.count == header.count && Double(cells[epochColumn]).map(LineChart.isPlottable) == true
                && cells.enumerated().contains { $0.offset != epochColumn && Double($0.element).map(LineChart.isPlottable) == true }
        }
        guard !usable.isEmpty else {
            throw CLIError("\(url.path): no row has an epoch and a plottable value (\(rows.count - 1) data row(s)): nothing to plot")
        }
        try? FileManager.default.removeItem(at: png)
        try TrainingCurves.write(metricsCSV: url, to: png, metric: ["bleu", "val_accuracy"].first { header.contains($0) })
        guard FileManager.default.fileExists(atPath: png.path) else { throw CLIError("\(png.path): the chart was not written") }
        // the chart leaves out values that are not plottable (non-finite or absurd): say which
        var skipped: [String] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().dropFirst() {
            for (field, name) in zip(line.split(separator: ",", omittingEmptySubsequences: false), header) {
                if let v = Double(field.trimmingCharacters(in: .whitespaces)), !LineChart.isPlottable(v) { skipped.append("line \(n + 1) \(name)=\(field)") }
            }
        }
        if !skipped.isEmpty {
            FileHandle.standardError.write(Data("note: \(url.path): left out \(skipped.count) non-finite or absurd value(s): \(skipped.prefix(5).joined(separator: ", "))\(skipped.count > 5 ? ", …" : "")\n".utf8))
        }
        say("wrote \(png.path)")
    }
}

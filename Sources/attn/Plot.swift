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
        let header = (try String(contentsOf: url, encoding: .utf8)).prefix { $0 != "\n" }.split(separator: ",").map(String.init)
        try TrainingCurves.write(metricsCSV: url, to: png, metric: ["bleu", "val_accuracy"].first { header.contains($0) })
        say("wrote \(png.path)")
    }
}

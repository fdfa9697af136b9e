import ArgumentParser
import AttentionKit
import Foundation

/// `attn plot`: loss and accuracy curves from a training run's metrics.csv.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw loss and metric curves from a run's metrics.csv as PNG and SVG."
    )

    @Argument(help: "A metrics.csv written by `attn train` (or the run directory holding it).")
    var metrics: String
    @Option(
        help:
            "Output PNG (default: curves.png beside the metrics file); for NAME.png the SVG is written beside it as NAME.svg."
    )
    var out: String?

    func run() throws {
        var url = URL(fileURLWithPath: metrics)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            url = url.appendingPathComponent("metrics.csv")
        }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ValidationError("\(url.path): no such metrics file")
        }
        let png =
            out.map { URL(fileURLWithPath: $0) } ?? url.deletingLastPathComponent().appendingPathComponent("curves.png")
        try AtomicFile.checkDistinct(png, from: [url], flag: "--out")
        let skipped = try TrainingCurves.plot(metricsCSV: url, to: png)
        if !skipped.isEmpty {
            note(
                "\(url.path): left out \(skipped.count) non-finite or absurd value(s): \(skipped.prefix(5).joined(separator: ", "))\(skipped.count > 5 ? ", …" : "")"
            )
        }
        say("wrote \(png.path)" + (TrainingCurves.svgBeside(png).map { " and \($0.lastPathComponent)" } ?? ""))
    }
}

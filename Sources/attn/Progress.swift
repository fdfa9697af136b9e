import AttentionKit
import Foundation

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

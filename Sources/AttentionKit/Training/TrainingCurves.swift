import Foundation

/// Training curves from a metrics CSV: loss (train and validation) and, optionally, one validation metric.
public enum TrainingCurves {
    public static func write(metricsCSV: URL, to png: URL, metric: String?) throws {
        let lines = try String(contentsOf: metricsCSV, encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first, lines.count > 1 else { return }
        func column(_ name: String) -> [Double] {
            guard let i = header.firstIndex(of: name) else { return [] }
            return lines.dropFirst().map { i < $0.count ? Double($0[i]) ?? .nan : .nan }
        }
        let epoch = column("epoch"), p = LineChart.palette
        let panels = metric.map { header.contains($0) } ?? false ? 2 : 1
        var image = RGBImage(width: 480 * panels, height: 360)
        LineChart(title: "loss", xLabel: "epoch", series: [
            .init(name: "train", x: epoch, y: column("train_loss"), color: p[0]),
            .init(name: "val", x: epoch, y: column("val_loss"), color: p[1]),
        ]).draw(into: &image, x0: 0, y0: 0, width: 480, height: 360)
        if panels == 2, let metric {
            LineChart(title: metric, xLabel: "epoch", series: [.init(name: "val", x: epoch, y: column(metric), color: p[1])],
                      legendAtTop: false).draw(into: &image, x0: 480, y0: 0, width: 480, height: 360)
        }
        try image.writePNG(to: png)
    }

    /// Draws a metrics CSV written by training (`attn plot`): the loss panel and, when the header has it, BLEU or
    /// validation accuracy; values that are not plottable (non-finite, absurd) are left out and returned as
    /// "line N name=value".
    /// - Throws: naming the file, when it has no `epoch` column or no row with an epoch and a plottable value.
    @discardableResult
    public static func plot(metricsCSV url: URL, to png: URL) throws -> [String] {
        let text = try UserFile.text(url, maxBytes: 1 << 28)
        let rows = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let header = rows.first.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        guard let epochColumn = header.firstIndex(of: "epoch") else {
            throw RunSetupError("\(url.path):1: no 'epoch' column in the header (a metrics.csv written by attn train)")
        }
        let usable = rows.dropFirst().filter { row in
            let cells = row.split(separator: ",", omittingEmptySubsequences: false)
            return cells.count == header.count && Double(cells[epochColumn]).map(LineChart.isPlottable) == true
                && cells.enumerated().contains { $0.offset != epochColumn && Double($0.element).map(LineChart.isPlottable) == true }
        }
        guard !usable.isEmpty else {
            throw RunSetupError("\(url.path): no row has an epoch and a plottable value (\(rows.count - 1) data row(s)): nothing to plot")
        }
        try write(metricsCSV: url, to: png, metric: ["bleu", "val_accuracy"].first { header.contains($0) })
        var skipped: [String] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().dropFirst() {
            for (field, name) in zip(line.split(separator: ",", omittingEmptySubsequences: false), header) {
                if let v = Double(field.trimmingCharacters(in: .whitespaces)), !LineChart.isPlottable(v) { skipped.append("line \(n + 1) \(name)=\(field)") }
            }
        }
        return skipped
    }
}

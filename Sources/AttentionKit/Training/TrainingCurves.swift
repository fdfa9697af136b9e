import Foundation

/// Training curves from a metrics CSV: loss (train and validation) and, optionally, one validation metric.
public enum TrainingCurves {
    /// Draws `curves.png` and, beside it, `curves.svg` (`svgBeside`) from a metrics CSV: the loss panel (train and validation)
    /// and, when `metric` names a column, a panel of that validation metric; one legend for both; the epoch kept as
    /// best (`selection`: the metric the trainer chose by and its direction; default: `metric`'s own) is marked.
    public static func write(
        metricsCSV: URL, to png: URL, metric: String?, selection: (metric: String, higherIsBetter: Bool)? = nil
    ) throws {
        let charts = try self.charts(metricsCSV: metricsCSV, metric: metric, selection: selection)
        guard !charts.isEmpty else { return }
        let train = Colour.palette[0], val = Colour.palette[1], marker = charts[0].marker
        let panelWidth = 520.0, panelHeight = 380.0, legendHeight = 30.0
        func render(_ format: Canvas.Format) throws -> Canvas {
            let canvas = try Canvas(
                width: Int(panelWidth) * charts.count, height: Int(panelHeight + legendHeight), format: format)
            for (i, chart) in charts.enumerated() {
                chart.draw(
                    on: canvas, x: Double(i) * panelWidth, y: legendHeight, width: panelWidth, height: panelHeight)
            }
            // one legend for every panel
            var x = 16.0
            let y = legendHeight / 2 + 4
            for (name, colour, dashed) in [("train", train, false), ("validation", val, false)]
                + (marker == nil ? [] : [("epoch kept as best", LineChart.markerColour, true)])
            {
                canvas.line([(x, y), (x + 24, y)], colour, width: dashed ? 1.5 : 2.2, dash: dashed ? [5, 4] : [])
                x += 30 + canvas.text(name, x: x + 30, y: y, size: 13, anchor: .left, vertical: .middle) + 22
            }
            return canvas
        }
        try render(.png).write(to: png)
        if let svg = svgBeside(png) { try render(.svg).write(to: svg) }
    }

    /// Where the SVG of a chart written to `png` goes: NAME.svg beside NAME.png (nil for any other name, such as
    /// /dev/stdout).
    public static func svgBeside(_ png: URL) -> URL? {
        png.pathExtension.lowercased() == "png" ? png.deletingPathExtension().appendingPathExtension("svg") : nil
    }

    /// The panels `write` draws (empty when the CSV has no data row): loss, then `metric` in its display units,
    /// each marked at the best epoch by `selection` (default: `metric`'s direction, else the lowest val_loss).
    public static func charts(
        metricsCSV: URL, metric: String?, selection: (metric: String, higherIsBetter: Bool)? = nil
    ) throws -> [LineChart] {
        let lines = try String(contentsOf: metricsCSV, encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first, lines.count > 1 else { return [] }
        func column(_ name: String) -> [Double] {
            guard let i = header.firstIndex(of: name) else { return [] }
            return lines.dropFirst().map { i < $0.count ? Double($0[i]) ?? .nan : .nan }
        }
        let epoch = column("epoch")
        let shown = metric.flatMap { header.contains($0) ? MetricDisplay.of($0) : nil }
        let select = selection ?? shown.map { ($0.key, $0.higherIsBetter) } ?? ("val_loss", false)
        var marker: (x: Double, label: String)? = nil
        let chosen = zip(epoch, column(select.metric)).filter {
            LineChart.isPlottable($0.0) && LineChart.isPlottable($0.1)
        }
        if let best = select.higherIsBetter ? chosen.max(by: { $0.1 < $1.1 }) : chosen.min(by: { $0.1 < $1.1 }) {
            let d = MetricDisplay.of(select.metric)
            let name =
                select.metric == "val_loss" ? "val loss" : d.title.replacingOccurrences(of: "Validation ", with: "val ")
            marker = (best.0, "best: epoch \(Int(best.0)), \(name) \(d.format(best.1))")
        }
        let train = Colour.palette[0], val = Colour.palette[1]
        let loss = MetricDisplay.of("val_loss")
        var charts = [
            LineChart(
                title: "Loss", xTitle: "epoch", yTitle: loss.axisTitle,
                series: [
                    .init(name: "train", x: epoch, y: column("train_loss"), colour: train),
                    .init(name: "validation", x: epoch, y: column("val_loss"), colour: val)
                ], domain: loss.domain, marker: marker)
        ]
        if let shown {
            charts.append(
                LineChart(
                    title: shown.title, xTitle: "epoch", yTitle: shown.axisTitle,
                    series: [
                        .init(name: "validation", x: epoch, y: column(shown.key).map { $0 * shown.factor }, colour: val)
                    ],
                    domain: shown.domain, marker: marker))
        }
        return charts
    }

    /// Draws a metrics CSV written by training (`attn plot`): the loss panel and, when the header has it, BLEU or
    /// validation accuracy; values that are not plottable (non-finite, absurd) are left out and returned as
    /// "line N name=value".
    /// - Throws: naming the file, when it has no `epoch` column or no row with an epoch and a plottable value.
    @discardableResult
    public static func plot(metricsCSV url: URL, to png: URL) throws -> [String] {
        let text = try UserFile.text(url, maxBytes: 1 << 28)
        let rows = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let header =
            rows.first.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        guard let epochColumn = header.firstIndex(of: "epoch") else {
            throw RunSetupError("\(url.path):1: no 'epoch' column in the header (a metrics.csv written by attn train)")
        }
        let usable = rows.dropFirst().filter { row in
            let cells = row.split(separator: ",", omittingEmptySubsequences: false)
            return cells.count == header.count && Double(cells[epochColumn]).map(LineChart.isPlottable) == true
                && cells.enumerated().contains {
                    $0.offset != epochColumn && Double($0.element).map(LineChart.isPlottable) == true
                }
        }
        guard !usable.isEmpty else {
            throw RunSetupError(
                "\(url.path): no row has an epoch and a plottable value (\(rows.count - 1) data row(s)): nothing to plot"
            )
        }
        try write(metricsCSV: url, to: png, metric: ["bleu", "val_accuracy"].first { header.contains($0) })
        var skipped: [String] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().dropFirst() {
            for (field, name) in zip(line.split(separator: ",", omittingEmptySubsequences: false), header) {
                if let v = Double(field.trimmingCharacters(in: .whitespaces)), !LineChart.isPlottable(v) {
                    skipped.append("line \(n + 1) \(name)=\(field)")
                }
            }
        }
        return skipped
    }
}

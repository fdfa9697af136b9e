import Foundation

/// An axis with "nice" ticks: steps of 1, 2 or 5 × 10ⁿ, ends on ticks, never beyond the quantity's domain.
public struct NiceAxis: Equatable, Sendable {
    public var lower: Double, upper: Double, step: Double
    /// The tick values, lower…upper by step.
    public var ticks: [Double]

    /// An axis covering lower…upper with about `count` ticks, inside `domain` (e.g. 0…100 for a percentage, 0…∞
    /// for a loss); `integer` steps are whole (epochs).
    public init(
        covering lower: Double, _ upper: Double, count: Int = 6, domain: ClosedRange<Double> = -.infinity...(.infinity),
        integer: Bool = false
    ) {
        var lo = max(domain.lowerBound, min(lower, upper)), hi = min(domain.upperBound, max(lower, upper))
        if !lo.isFinite || !hi.isFinite { lo = 0; hi = 1 }
        if hi - lo < 1e-12 * max(1, abs(hi)) {  // one value: a unit around it, kept in the domain
            let half = max(abs(lo) * 0.05, integer ? 1 : 0.5)
            lo = max(domain.lowerBound, lo - half); hi = min(domain.upperBound, hi + half)
        }
        var step = NiceAxis.niceStep((hi - lo) / Double(max(1, count - 1)))
        if integer { step = max(1, step.rounded()) }
        let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
        self.step = step
        self.lower = max(domain.lowerBound, first * step)
        self.upper = min(domain.upperBound, last * step)
        let k0 = (self.lower / step - 1e-9).rounded(.up), k1 = (self.upper / step + 1e-9).rounded(.down)
        ticks =
            k0 <= k1 ? (Int(k0)...Int(k1)).map { NiceAxis.clean(Double($0) * step, step) } : [self.lower, self.upper]
    }

    /// The smallest 1, 2 or 5 × 10ⁿ at least `raw`.
    public static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * magnitude >= raw * (1 - 1e-9) { return m * magnitude }
        return 10 * magnitude
    }

    /// `v` rounded to the decimals of `step` (0.30000000000000004 → 0.3).
    static func clean(_ v: Double, _ step: Double) -> Double {
        let d = pow(10, Double(NiceAxis.decimals(step)))
        return (v * d).rounded() / d
    }

    /// Decimals a label needs at this step (0 for steps ≥ 1).
    public static func decimals(_ step: Double) -> Int { max(0, Int((-log10(step)).rounded(.up) + 1e-9)) }

    /// A tick's label: plain digits with the step's decimals, thousands grouped by a thin space.
    public func label(_ v: Double) -> String {
        let s = String(format: "%.\(NiceAxis.decimals(step))f", v == 0 ? 0 : v)
        guard abs(v) >= 10_000, let dot = s.firstIndex(of: ".") ?? Optional(s.endIndex) else { return s }
        var int = String(s[s.startIndex..<dot]), grouped = ""
        let sign = int.hasPrefix("-") ? "-" : ""
        if !sign.isEmpty { int.removeFirst() }
        for (i, c) in int.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { grouped.append("\u{2009}") }; grouped.append(c)
        }
        return sign + String(grouped.reversed()) + s[dot...]
    }
}

/// How a metric from `metrics.csv` is shown: its title, unit, the factor its stored values are multiplied by (an
/// accuracy stored as 0.87 is shown as 87%), the range it can take, and which direction is better.
public struct MetricDisplay: Sendable {
    public var key: String, title: String, unit: String, factor: Double
    /// The range the displayed value can take (0…100 for percentages).
    public var domain: ClosedRange<Double>
    /// Whether a larger value is better (accuracy, BLEU) or worse (loss, perplexity).
    public var higherIsBetter: Bool

    /// How the metric `key` is shown (a plain display for keys it does not know).
    public static func of(_ key: String) -> MetricDisplay {
        switch key {
        case "val_accuracy", "accuracy":
            MetricDisplay(
                key: key, title: "Validation accuracy", unit: "%", factor: 100, domain: 0...100, higherIsBetter: true)
        case "macro_f1":
            MetricDisplay(
                key: key, title: "Validation macro-F1", unit: "", factor: 1, domain: 0...1, higherIsBetter: true)
        case "bleu":
            MetricDisplay(
                key: key, title: "Validation BLEU", unit: "", factor: 1, domain: 0...100, higherIsBetter: true)
        case "bleu_lowercase_tokens":
            MetricDisplay(
                key: key, title: "Validation BLEU (lowercased tokens)", unit: "", factor: 1, domain: 0...100,
                higherIsBetter: true)
        case "chrf":
            MetricDisplay(
                key: key, title: "Validation chrF", unit: "", factor: 1, domain: 0...100, higherIsBetter: true)
        case "val_ppl":
            MetricDisplay(
                key: key, title: "Validation perplexity", unit: "", factor: 1, domain: 1...(.infinity),
                higherIsBetter: false)
        case "bits_per_char":
            MetricDisplay(
                key: key, title: "Validation bits per character", unit: "bits", factor: 1, domain: 0...(.infinity),
                higherIsBetter: false)
        case "train_loss", "val_loss", "loss":
            MetricDisplay(
                key: key, title: "Loss", unit: "cross-entropy, nats", factor: 1, domain: 0...(.infinity),
                higherIsBetter: false)
        default:
            MetricDisplay(
                key: key, title: key.replacingOccurrences(of: "_", with: " ").capitalizedFirst, unit: "", factor: 1,
                domain: -.infinity...(.infinity), higherIsBetter: !key.contains("loss"))
        }
    }

    /// The axis title: the title and its unit.
    public var axisTitle: String { unit.isEmpty ? title : "\(title) (\(unit))" }

    /// A value as shown: scaled, with its unit ("87.2%", "39.99").
    public func format(_ stored: Double) -> String {
        let v = stored * factor
        let digits = unit == "%" ? 1 : abs(v) >= 100 ? 1 : abs(v) >= 10 ? 2 : 3
        return String(format: "%.\(digits)f", v) + (unit == "%" ? "%" : "")
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

/// A line chart drawn on a `Canvas`: a title, axes with nice ticks and titles, a light grid, one line (with point
/// markers) per series, an optional marked x position (the best epoch) and the legend inside the plot area.
public struct LineChart {
    /// One line of the chart.
    public struct Series {
        /// The legend entry.
        public var name: String
        public var x: [Double], y: [Double]
        /// The line's colour.
        public var colour: Colour
        /// Whether the line is dashed.
        public var dashed: Bool
        /// A line through the points (`x[i]`, `y[i]`).
        public init(name: String, x: [Double], y: [Double], colour: Colour, dashed: Bool = false) {
            self.name = name; self.x = x; self.y = y; self.colour = colour; self.dashed = dashed
        }
    }

    /// The chart's title.
    public var title: String
    /// The x axis title.
    public var xTitle: String
    /// The y axis title.
    public var yTitle: String
    /// The lines drawn.
    public var series: [Series]
    /// The y range values may take (the axis never leaves it).
    public var domain: ClosedRange<Double>
    /// A vertical marker: its x and a label (e.g. the epoch kept as best).
    public var marker: (x: Double, label: String)?
    /// Whether x ticks are whole numbers (epochs).
    public var integerX: Bool
    /// The colour of the best-epoch marker.
    public static let markerColour = Colour(hex: 0x2E7D32)

    /// A line chart; the y axis stays within `domain`.
    public init(
        title: String, xTitle: String, yTitle: String, series: [Series],
        domain: ClosedRange<Double> = -.infinity...(.infinity),
        marker: (x: Double, label: String)? = nil, integerX: Bool = true
    ) {
        self.title = title; self.xTitle = xTitle; self.yTitle = yTitle; self.series = series; self.domain = domain
        self.marker = marker; self.integerX = integerX
    }

    /// Whether a value is drawn: finite and not absurd (|v| < 1e12; a diverged loss would flatten every other point).
    public static func isPlottable(_ v: Double) -> Bool { v.isFinite && abs(v) < 1e12 }

    /// The axes the chart would draw (nil when no series has a plottable point).
    public func axes() -> (x: NiceAxis, y: NiceAxis)? {
        let points = series.flatMap { s in zip(s.x, s.y).filter { Self.isPlottable($0.0) && Self.isPlottable($0.1) } }
        guard let xmin = points.map(\.0).min(), let xmax = points.map(\.0).max(),
            let ymin = points.map(\.1).min(), let ymax = points.map(\.1).max()
        else { return nil }
        let pad = (ymax - ymin) * 0.05
        return (
            NiceAxis(
                covering: xmin, xmax, count: 8, domain: integerX ? 0...(.infinity) : -.infinity...(.infinity),
                integer: integerX),
            NiceAxis(covering: ymin - pad, ymax + pad, count: 6, domain: domain)
        )
    }

    /// Draws the chart into the rectangle (x0, y0, width, height) of `canvas`.
    public func draw(on canvas: Canvas, x x0: Double, y y0: Double, width: Double, height: Double) {
        canvas.text(title, x: x0 + width / 2, y: y0 + 8, size: 15, bold: true, anchor: .center, vertical: .top)
        guard let (xa, ya) = axes() else {
            canvas.text(
                "no values to plot", x: x0 + width / 2, y: y0 + height / 2, colour: .muted, anchor: .center,
                vertical: .middle)
            return
        }
        let tickWidth = ya.ticks.map { Canvas.textWidth(ya.label($0), size: 12) }.max() ?? 20
        let left = x0 + 28 + tickWidth + 8, right = x0 + width - 16, top = y0 + 36, bottom = y0 + height - 50
        func px(_ x: Double) -> Double { left + (x - xa.lower) / max(xa.upper - xa.lower, 1e-12) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (y - ya.lower) / max(ya.upper - ya.lower, 1e-12) * (bottom - top) }
        for t in ya.ticks {
            canvas.line([(left, py(t)), (right, py(t))], .grid)
            canvas.text(ya.label(t), x: left - 6, y: py(t), size: 12, colour: .muted, anchor: .right, vertical: .middle)
        }
        let every = max(1, Int((Double(xa.ticks.count) / 10).rounded(.up)))
        for (i, t) in xa.ticks.enumerated() where i % every == 0 {
            canvas.line([(px(t), top), (px(t), bottom)], .grid)
            canvas.text(xa.label(t), x: px(t), y: bottom + 5, size: 12, colour: .muted, anchor: .center, vertical: .top)
        }
        canvas.line([(left, top), (left, bottom), (right, bottom)], .axis)
        canvas.text(
            xTitle, x: (left + right) / 2, y: y0 + height - 6, size: 13, colour: .muted, anchor: .center,
            vertical: .bottom)
        canvas.text(
            yTitle, x: x0 + 6, y: (top + bottom) / 2, size: 13, colour: .muted, anchor: .center, vertical: .top,
            angle: 90)
        if let marker, Self.isPlottable(marker.x) {
            let mx = px(marker.x)
            canvas.line([(mx, top), (mx, bottom)], Self.markerColour, width: 1.5, dash: [5, 4])
            let w = Canvas.textWidth(marker.label, size: 12)
            let anchorRight = mx + 6 + w > right
            canvas.text(
                marker.label, x: anchorRight ? mx - 5 : mx + 5, y: top + 2, size: 12, colour: Self.markerColour,
                anchor: anchorRight ? .right : .left, vertical: .top)
        }
        for s in series {
            let pts = zip(s.x, s.y).filter { Self.isPlottable($0.0) && Self.isPlottable($0.1) }.map {
                (px($0.0), py(min(max($0.1, ya.lower), ya.upper)))
            }
            canvas.line(pts, s.colour, width: 2.2, dash: s.dashed ? [6, 4] : [])
            if pts.count <= 40 {
                for p in pts { canvas.circle(x: p.0, y: p.1, radius: 3, fill: s.colour, outline: .white) }
            }
        }
    }
}

/// Horizontal bars on one value axis with nice ticks (from 0): a title, a label left of each bar, its value text
/// at its end. Every bar of a chart is drawn against the same scale.
public struct BarChart {
    /// One bar: its label under it, its length, the text at its end and its colour.
    public struct Bar {
        public var label: String, value: Double, text: String, colour: Colour
        /// A bar.
        public init(label: String, value: Double, text: String, colour: Colour) {
            self.label = label; self.value = value; self.text = text; self.colour = colour
        }
    }
    /// The chart's title.
    public var title: String
    /// The bars, top to bottom.
    public var bars: [Bar]
    /// The axis's fixed upper end (100 for percentages and BLEU); nil: from the largest bar.
    public var fullScale: Double?
    /// How tick values are written (e.g. thousands grouped).
    public var tickLabel: ((NiceAxis, Double) -> String)?

    /// A horizontal bar chart; `tickLabel` formats the axis ticks.
    public init(title: String, bars: [Bar], fullScale: Double? = nil, tickLabel: ((NiceAxis, Double) -> String)? = nil)
    {
        self.title = title; self.bars = bars; self.fullScale = fullScale; self.tickLabel = tickLabel
    }

    static let barHeight = 24.0, labelSize = 13.0

    /// The value axis: 0…the full scale, or 0…the largest value.
    public var axis: NiceAxis {
        let top = fullScale ?? bars.map(\.value).filter { $0.isFinite }.max() ?? 1
        return NiceAxis(covering: 0, max(top, 1e-9), count: 6, domain: 0...(fullScale ?? .infinity))
    }

    /// The room the row labels take.
    public var labelWidth: Double { (bars.map { Canvas.textWidth($0.label, size: Self.labelSize) }.max() ?? 0) + 12 }
    /// The height the chart takes.
    public var height: Double { 30 + Double(bars.count) * Self.barHeight + 26 }

    /// Draws the chart at (x0, y0), `width` wide, its bars starting `labelWidth` from x0 (pass the largest of a
    /// column of charts to align them).
    public func draw(on canvas: Canvas, x x0: Double, y y0: Double, width: Double, labelWidth: Double? = nil) {
        let a = axis
        let left = x0 + (labelWidth ?? self.labelWidth)
        let valueRoom = (bars.map { Canvas.textWidth($0.text, size: 12) }.max() ?? 40) + 10
        let right = x0 + width - valueRoom
        let top = y0 + 30, bottom = top + Double(bars.count) * Self.barHeight
        canvas.text(title, x: left, y: y0 + 6, size: 14, bold: true, vertical: .top)
        func px(_ v: Double) -> Double { left + max(0, min(v, a.upper)) / max(a.upper, 1e-12) * (right - left) }
        for t in a.ticks {
            canvas.line([(px(t), top), (px(t), bottom)], .grid)
            canvas.text(
                tickLabel?(a, t) ?? a.label(t), x: px(t), y: bottom + 4, size: 11, colour: .muted, anchor: .center,
                vertical: .top)
        }
        for (i, bar) in bars.enumerated() {
            let y = top + Double(i) * Self.barHeight
            canvas.text(
                bar.label, x: left - 8, y: y + Self.barHeight / 2, size: Self.labelSize, anchor: .right,
                vertical: .middle)
            let end = bar.value.isFinite ? px(bar.value) : left
            canvas.fill(x: left, y: y + 4, width: max(1, end - left), height: Self.barHeight - 8, bar.colour)
            canvas.text(bar.text, x: end + 6, y: y + Self.barHeight / 2, size: 12, colour: .ink, vertical: .middle)
        }
        canvas.line([(left, top), (left, bottom)], .axis)
    }
}

import Foundation

extension ClassificationReport {
    /// The confusion matrix as a picture: rows are the true classes, columns the predictions; each cell shows its
    /// count and is shaded by its share of the row (white 0 → dark blue 1, so the diagonal is per-class recall);
    /// class names along both axes, the title with accuracy, macro-F1 and the number of examples, and a colour bar.
    public func confusionMatrixImage(title: String = "confusion matrix", format: Canvas.Format = .png) throws -> Canvas
    {
        let k = labels.count
        let heading = String(
            format: "%@ — accuracy %.2f%%, macro-F1 %.3f, n = %d", title, accuracy * 100, macroF1, count)
        let cell = max(34, Canvas.textWidth(String(confusion.joined().max() ?? 0), size: 12) + 12)
        let nameWidth = labels.map { Canvas.textWidth($0, size: 13) }.max() ?? 0
        let left = nameWidth + 44, top = 56 + nameWidth + 12
        let grid = Double(k) * cell
        let width = max(left + grid + 110, Canvas.textWidth(heading, size: 15, bold: true) + 28)
        let canvas = try Canvas(width: Int(width.rounded(.up)), height: Int(top + grid + 44), format: format)
        canvas.text(heading, x: 14, y: 10, size: 15, bold: true, vertical: .top)
        canvas.text("predicted class →", x: left, y: 36, size: 12, colour: .muted, vertical: .top)
        canvas.text(
            "true class →", x: 16, y: top + grid, size: 12, colour: .muted, anchor: .left, vertical: .middle, angle: 90)
        for r in 0..<k {
            let rowTotal = max(1, confusion[r].reduce(0, +))
            canvas.text(
                labels[r], x: left - 8, y: top + (Double(r) + 0.5) * cell, size: 13, anchor: .right, vertical: .middle)
            for c in 0..<k {
                let fill = Colour.blues(Double(confusion[r][c]) / Double(rowTotal))
                canvas.fill(x: left + Double(c) * cell, y: top + Double(r) * cell, width: cell, height: cell, fill)
                canvas.text(
                    String(confusion[r][c]), x: left + (Double(c) + 0.5) * cell, y: top + (Double(r) + 0.5) * cell,
                    size: 12,
                    colour: fill.luminance < 0.5 ? .white : .ink, anchor: .center, vertical: .middle)
            }
        }
        for c in 0..<k {
            canvas.text(
                labels[c], x: left + (Double(c) + 0.5) * cell, y: top - 6, size: 13, anchor: .left, vertical: .middle,
                angle: 90)
        }
        for i in 0...k {
            let o = Double(i) * cell
            canvas.line([(left, top + o), (left + grid, top + o)], Colour(hex: 0xC8C8C8))
            canvas.line([(left + o, top), (left + o, top + grid)], Colour(hex: 0xC8C8C8))
        }
        ColourBar.draw(
            on: canvas, x: left + grid + 26, y: top, height: max(grid, 80),
            ticks: [(1, "1.0"), (0.5, "0.5"), (0, "0.0")], colours: Colour.blues)
        canvas.text(
            "cell shade: share of the true class's examples (row-normalised)", x: left, y: top + grid + 12, size: 12,
            colour: .muted, vertical: .top)
        return canvas
    }
}

/// A vertical colour bar: `colours` from 1 (top) to 0 (bottom), tick labels at fractions of its height.
enum ColourBar {
    static func draw(
        on canvas: Canvas, x: Double, y: Double, height: Double, width: Double = 14, ticks: [(Double, String)],
        colours: (Double) -> Colour
    ) {
        let steps = max(2, Int(height))
        for i in 0..<steps {
            let t = 1 - Double(i) / Double(steps - 1)
            canvas.fill(
                x: x, y: y + height * Double(i) / Double(steps), width: width, height: height / Double(steps) + 0.6,
                colours(t))
        }
        canvas.strokeRect(x: x, y: y, width: width, height: height, Colour(hex: 0x999999))
        for (t, label) in ticks {
            let ty = y + height * (1 - t)
            canvas.line([(x + width, ty), (x + width + 4, ty)], .axis)
            canvas.text(label, x: x + width + 7, y: ty, size: 11, colour: .muted, vertical: .middle)
        }
    }
}

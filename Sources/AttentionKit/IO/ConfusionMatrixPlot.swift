import Foundation

extension ClassificationReport {
    /// The confusion matrix as a picture: rows are the true classes, columns the predictions; each cell shows its
    /// count and is shaded by its share of the row (white 0 → dark blue 1, so the diagonal is per-class recall);
    /// class names along both axes, a title with accuracy and macro-F1, and a colour bar. Text through FreeType.
    public func confusionMatrixImage(title: String = "confusion matrix") throws -> RGBImage {
        let font = try TextRenderer.required()
        let k = labels.count
        let cell = max(30, font.width(of: String(confusion.joined().max() ?? 0)) + 10)
        let nameWidth = labels.map { font.width(of: $0) }.max() ?? 0
        let left = nameWidth + 44, top = font.lineHeight * 3 + nameWidth + 16
        let barWidth = 16, width = left + k * cell + 30 + barWidth + 50, height = top + k * cell + font.lineHeight + 24
        var image = RGBImage(width: width, height: height)
        let colour = { (v: Double) -> (UInt8, UInt8, UInt8) in
            let t = max(0, min(1, v))
            // white → #08306b (the "Blues" end)
            return (UInt8(255 - t * (255 - 8)), UInt8(255 - t * (255 - 48)), UInt8(255 - t * (255 - 107)))
        }
        font.draw(String(format: "%@ — accuracy %.2f%%, macro-F1 %.3f, n = %d", title, accuracy * 100, macroF1, count), into: &image,
                  x: 10, baseline: font.ascent + 6)
        font.draw("predicted →", into: &image, x: left, baseline: font.ascent * 2 + 14, color: (80, 80, 80))
        font.drawVertical("true →", into: &image, centerX: 12, bottom: top + k * cell, color: (80, 80, 80))
        for r in 0..<k {
            let rowTotal = max(1, confusion[r].reduce(0, +))
            font.draw(labels[r], into: &image, x: left - 8, centerY: top + r * cell + cell / 2, align: .right)
            for c in 0..<k {
                let v = Double(confusion[r][c]) / Double(rowTotal)
                let fill = colour(v)
                for y in (top + r * cell)..<(top + (r + 1) * cell) { for x in (left + c * cell)..<(left + (c + 1) * cell) { image.set(x, y, fill) } }
                let ink: (UInt8, UInt8, UInt8) = v > 0.5 ? (255, 255, 255) : (20, 20, 20)
                font.draw(String(confusion[r][c]), into: &image, x: left + c * cell + cell / 2, centerY: top + r * cell + cell / 2, align: .center, color: ink)
            }
        }
        for c in 0..<k { font.drawVertical(labels[c], into: &image, centerX: left + c * cell + cell / 2, bottom: top - 6) }
        // grid lines
        for i in 0...k {
            for x in left...(left + k * cell) { image.set(x, top + i * cell, (200, 200, 200)) }
            for y in top...(top + k * cell) { image.set(left + i * cell, y, (200, 200, 200)) }
        }
        // colour bar: share of the true class's examples
        let bx = left + k * cell + 30, bh = k * cell
        for y in 0..<bh {
            let fill = colour(1 - Double(y) / Double(max(1, bh - 1)))
            for x in bx..<(bx + barWidth) { image.set(x, top + y, fill) }
        }
        font.draw("1.0", into: &image, x: bx + barWidth + 4, centerY: top, align: .left)
        font.draw("0.5", into: &image, x: bx + barWidth + 4, centerY: top + bh / 2, align: .left)
        font.draw("0.0", into: &image, x: bx + barWidth + 4, centerY: top + bh, align: .left)
        font.draw("cell shade: share of the true class (row)", into: &image, x: left, baseline: top + k * cell + font.ascent + 10, color: (80, 80, 80))
        return image
    }
}

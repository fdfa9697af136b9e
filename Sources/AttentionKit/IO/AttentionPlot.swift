import Foundation

/// Pictures of attention maps: per-layer grids of per-head heatmaps with token labels (FreeType text), and image
/// overlays for vision transformers.
public enum AttentionPlot {
    /// Viridis (matplotlib's default colour map), 9 stops, interpolated.
    static let viridis: [(Double, Double, Double)] = [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ]

    /// The colour of `t` in [0, 1] on viridis.
    public static func colour(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let x = max(0, min(1, t.isFinite ? t : 0)) * Double(viridis.count - 1)
        let i = min(Int(x), viridis.count - 2), f = x - Double(i)
        let a = viridis[i], b = viridis[i + 1]
        return (UInt8(a.0 + (b.0 - a.0) * f), UInt8(a.1 + (b.1 - a.1) * f), UInt8(a.2 + (b.2 - a.2) * f))
    }

    /// A grid with one heatmap per head and (for several heads) their average: `maps` [H, Tq, Tk]; rows are queries,
    /// columns keys.
    /// Token labels on both axes when cells are large enough to hold them (else every k-th index), one colour scale
    /// 0…max for the whole layer with its colour bar, and the title on top.
    public static func layerGrid(_ maps: Tensor, queries: [String], keys: [String], title: String) throws -> RGBImage {
        let font = try TextRenderer.required()
        precondition(maps.rank == 3, "AttentionPlot.layerGrid: maps must be [H, Tq, Tk]")
        let (h, tq, tk) = (maps.shape[0], maps.shape[1], maps.shape[2])
        let v = maps.scalars.map(Double.init)
        var mean = [Double](repeating: 0, count: tq * tk)
        for head in 0..<h { for i in 0..<(tq * tk) { mean[i] += v[head * tq * tk + i] / Double(h) } }
        let size = tq * tk
        var panels: [(String, [Double])] = []
        for head in 0..<h { panels.append(("head \(head)", Array(v[(head * size)..<((head + 1) * size)]))) }
        if h > 1 { panels.append(("mean of \(h) heads", mean)) }   // one head: the mean would repeat it
        let top = max(v.max() ?? 1, 1e-9)
        let cell = max(4, min(26, 420 / max(tq, tk)))
        let labelled = cell >= 12
        let qLabels = labelled ? queries.prefix(tq).map { shorten($0) } : []
        let kLabels = labelled ? keys.prefix(tk).map { shorten($0) } : []
        let rowLabelWidth = labelled ? (qLabels.map { font.width(of: $0) }.max() ?? 0) + 8 : font.width(of: String(tq)) + 8
        let colLabelHeight = labelled ? (kLabels.map { font.width(of: $0) }.max() ?? 0) + 8 : font.lineHeight + 4
        let panelW = rowLabelWidth + tk * cell + 16, panelH = font.lineHeight + 6 + colLabelHeight + tq * cell + 16
        let columns = min(4, panels.count), rows = (panels.count + columns - 1) / columns
        let header = font.lineHeight * 2 + 12, barW = 90
        let subtitle = "rows: queries (\(tq)), columns: keys (\(tk)); each row sums to 1"
        let width = max(columns * panelW + barW + 10, max(font.width(of: title), font.width(of: subtitle)) + 20)   // the header is never cut
        var image = RGBImage(width: width, height: header + rows * panelH + 8)
        font.draw(title, into: &image, x: 10, baseline: font.ascent + 6)
        font.draw(subtitle, into: &image, x: 10, baseline: font.ascent * 2 + 12 + font.descent, color: (90, 90, 90))
        for (p, (name, values)) in panels.enumerated() {
            let x0 = (p % columns) * panelW + 8, y0 = header + (p / columns) * panelH
            font.draw(name, into: &image, x: x0 + rowLabelWidth, baseline: y0 + font.ascent)
            let gx = x0 + rowLabelWidth, gy = y0 + font.lineHeight + 6 + colLabelHeight
            for r in 0..<tq { for c in 0..<tk {
                let col = colour(values[r * tk + c] / top)
                for y in (gy + r * cell)..<(gy + (r + 1) * cell) { for x in (gx + c * cell)..<(gx + (c + 1) * cell) { image.set(x, y, col) } }
            } }
            if labelled {
                for r in 0..<tq { font.draw(qLabels[r], into: &image, x: gx - 4, centerY: gy + r * cell + cell / 2, align: .right) }
                for c in 0..<tk { font.drawVertical(kLabels[c], into: &image, centerX: gx + c * cell + cell / 2, bottom: gy - 4) }
            } else {
                let every = max(1, Int((Double(max(tq, tk)) / 8).rounded(.up)))
                for r in stride(from: 0, to: tq, by: every) { font.draw(String(r), into: &image, x: gx - 4, centerY: gy + r * cell + cell / 2, align: .right, color: (90, 90, 90)) }
                for c in stride(from: 0, to: tk, by: every) { font.draw(String(c), into: &image, x: gx + c * cell + cell / 2, centerY: gy - font.lineHeight / 2 - 2, align: .center, color: (90, 90, 90)) }
            }
        }
        // colour bar
        let bx = columns * panelW + 8, by = header + font.lineHeight + 6, bh = max(60, min(rows * panelH - 40, 300))
        for y in 0..<bh {
            let col = colour(1 - Double(y) / Double(bh - 1))
            for x in bx..<(bx + 14) { image.set(x, by + y, col) }
        }
        for (frac, label) in [(0.0, String(format: "%.2f", top)), (0.5, String(format: "%.2f", top / 2)), (1.0, "0")] {
            font.draw(label, into: &image, x: bx + 18, centerY: by + Int(Double(bh - 1) * frac), align: .left)
        }
        return image
    }

    /// Long tokens are cut to 14 characters with an ellipsis; byte-level BPE's space marker is shown as "▁".
    static func shorten(_ s: String) -> String {
        let t = s.replacingOccurrences(of: "Ġ", with: "▁")
        return t.count > 14 ? String(t.prefix(13)) + "…" : t
    }

    /// `image` upscaled to `size`, with `heat` ([side·side] patch weights) over it as a semi-transparent heatmap
    /// (weights scaled to their maximum), nearest-patch blocks smoothed bilinearly.
    public static func overlay(_ image: RGBImage, heat: [Float], side: Int, size: Int, alpha: Double = 0.55) -> RGBImage {
        let base = image.resized(width: size, height: size)
        var out = base
        let top = Double(heat.max() ?? 1) > 0 ? Double(heat.max()!) : 1
        for y in 0..<size { for x in 0..<size {
            // bilinear over patch centres
            let fx = (Double(x) + 0.5) / Double(size) * Double(side) - 0.5, fy = (Double(y) + 0.5) / Double(size) * Double(side) - 0.5
            let x0 = max(0, min(side - 1, Int(fx.rounded(.down)))), y0 = max(0, min(side - 1, Int(fy.rounded(.down))))
            let x1 = min(side - 1, x0 + 1), y1 = min(side - 1, y0 + 1)
            let ax = max(0, min(1, fx - Double(x0))), ay = max(0, min(1, fy - Double(y0)))
            let v = (Double(heat[y0 * side + x0]) * (1 - ax) + Double(heat[y0 * side + x1]) * ax) * (1 - ay)
                + (Double(heat[y1 * side + x0]) * (1 - ax) + Double(heat[y1 * side + x1]) * ax) * ay
            let c = colour(v / top), p = (y * size + x) * 3
            let src = [base.pixels[p], base.pixels[p + 1], base.pixels[p + 2]], col = [c.0, c.1, c.2]
            for k in 0..<3 { out.pixels[p + k] = UInt8(Double(src[k]) * (1 - alpha) + Double(col[k]) * alpha) }
        } }
        return out
    }

    /// One strip: the image, then each layer's attention over patches, then the rollout, each labelled.
    public static func overlayStrip(_ image: RGBImage, layers: [(title: String, heat: [Float])], side: Int, size: Int = 160) throws -> RGBImage {
        let font = try TextRenderer.required()
        let n = layers.count + 1, gap = 8, label = font.lineHeight + 8
        var strip = RGBImage(width: n * (size + gap) + gap, height: size + label + gap)
        let panels = [("input", image.resized(width: size, height: size))] + layers.map { ($0.title, overlay(image, heat: $0.heat, side: side, size: size)) }
        for (i, (title, pic)) in panels.enumerated() {
            let x0 = gap + i * (size + gap)
            for y in 0..<size { for x in 0..<size {
                let p = (y * size + x) * 3
                strip.set(x0 + x, label + y, (pic.pixels[p], pic.pixels[p + 1], pic.pixels[p + 2]))
            } }
            font.draw(title, into: &strip, x: x0 + size / 2, centerY: label / 2, align: .center)
        }
        return strip
    }
}

import Foundation

/// How attention weights map to colours in the pictures.
public enum AttentionColourScale: String, Sendable, CaseIterable {
    /// 0…1 for every layer and head: the same colour is the same weight everywhere, so layers compare.
    case absolute
    /// 0…the layer's largest weight: detail in layers whose weights are all small, not comparable across layers.
    case layer
}

/// Pictures of attention maps (drawn on `Canvas`): per-layer grids of per-head heatmaps with token labels, and
/// image overlays for vision transformers.
public enum AttentionPlot {
    /// The colour of `t` in [0, 1] on viridis, as bytes.
    public static func colour(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let c = Colour.viridis(t)
        return (UInt8((c.r * 255).rounded()), UInt8((c.g * 255).rounded()), UInt8((c.b * 255).rounded()))
    }

    /// A grid with one heatmap per head and (for several heads) their average: `maps` [H, Tq, Tk]; rows are queries,
    /// columns keys. Token labels on both axes when cells are large enough to hold them (else every k-th index),
    /// one colour scale for the whole picture (`scale`) with its colour bar, and the title on top.
    public static func layerGrid(
        _ maps: Tensor, queries: [String], keys: [String], title: String,
        scale: AttentionColourScale = .absolute, format: Canvas.Format = .png
    ) throws -> Canvas {
        precondition(maps.rank == 3, "AttentionPlot.layerGrid: maps must be [H, Tq, Tk]")
        let (h, tq, tk) = (maps.shape[0], maps.shape[1], maps.shape[2])
        let v = maps.scalars.map(Double.init)
        let size = tq * tk
        var panels: [(String, ArraySlice<Double>)] = (0..<h).map { ("head \($0)", v[($0 * size)..<(($0 + 1) * size)]) }
        if h > 1 {  // one head: the mean would repeat it
            var mean = [Double](repeating: 0, count: size)
            for head in 0..<h { for i in 0..<size { mean[i] += v[head * size + i] / Double(h) } }
            panels.append(("mean of \(h) heads", mean[...]))
        }
        let top = scale == .absolute ? 1 : max(v.max() ?? 1, 1e-9)
        let cell = Double(max(4, min(26, 420 / max(tq, tk))))
        let labelled = cell >= 12, labelSize = min(13, cell - 1)
        let qLabels = labelled ? queries.prefix(tq).map { shorten($0) } : []
        let kLabels = labelled ? keys.prefix(tk).map { shorten($0) } : []
        let rowLabelWidth =
            (labelled
                ? qLabels.map { Canvas.textWidth($0, size: labelSize) }.max() ?? 0
                : Canvas.textWidth(String(tq), size: 11)) + 10
        let colLabelHeight = (labelled ? kLabels.map { Canvas.textWidth($0, size: labelSize) }.max() ?? 0 : 14) + 10
        let panelW = rowLabelWidth + Double(tk) * cell + 18, panelH = 22 + colLabelHeight + Double(tq) * cell + 16
        let columns = min(4, panels.count), rows = (panels.count + columns - 1) / columns
        let header = 54.0, barRoom = 110.0
        let scaleText =
            scale == .absolute
            ? "colour: weight on a fixed 0–1 scale"
            : String(format: "colour: 0 to this layer's largest weight (%.2f)", top)
        let subtitle = "rows: queries (\(tq)), columns: keys (\(tk)); each row sums to 1; \(scaleText)"
        let width = max(
            Double(columns) * panelW + barRoom,
            max(Canvas.textWidth(title, size: 15, bold: true), Canvas.textWidth(subtitle, size: 12)) + 24)
        let canvas = try Canvas(
            width: Int(width.rounded(.up)), height: Int(header + Double(rows) * panelH + 8), format: format)
        canvas.text(title, x: 10, y: 8, size: 15, bold: true, vertical: .top)
        canvas.text(subtitle, x: 10, y: 32, size: 12, colour: .muted, vertical: .top)
        for (p, (name, values)) in panels.enumerated() {
            let x0 = Double(p % columns) * panelW + 8, y0 = header + Double(p / columns) * panelH
            let gx = x0 + rowLabelWidth, gy = y0 + 22 + colLabelHeight
            canvas.text(name, x: gx, y: y0 + 2, size: 13, bold: true, vertical: .top)
            var cells = RGBImage(width: tk, height: tq)
            for r in 0..<tq {
                for c in 0..<tk { cells.set(c, r, colour(values[values.startIndex + r * tk + c] / top)) }
            }
            canvas.image(cells, x: gx, y: gy, width: Double(tk) * cell, height: Double(tq) * cell, smooth: false)
            if labelled {
                for r in 0..<tq {
                    canvas.text(
                        qLabels[r], x: gx - 5, y: gy + (Double(r) + 0.5) * cell, size: labelSize, anchor: .right,
                        vertical: .middle)
                }
                for c in 0..<tk {
                    canvas.text(
                        kLabels[c], x: gx + (Double(c) + 0.5) * cell, y: gy - 5, size: labelSize, anchor: .left,
                        vertical: .middle, angle: 90)
                }
            } else {
                let every = max(1, Int((Double(max(tq, tk)) / 8).rounded(.up)))
                for r in stride(from: 0, to: tq, by: every) {
                    canvas.text(
                        String(r), x: gx - 5, y: gy + (Double(r) + 0.5) * cell, size: 11, colour: .muted,
                        anchor: .right, vertical: .middle)
                }
                for c in stride(from: 0, to: tk, by: every) {
                    canvas.text(
                        String(c), x: gx + (Double(c) + 0.5) * cell, y: gy - 4, size: 11, colour: .muted,
                        anchor: .center, vertical: .bottom)
                }
            }
        }
        let bh = max(60, min(Double(rows) * panelH - 40, 300))
        ColourBar.draw(
            on: canvas, x: Double(columns) * panelW + 14, y: header + 22, height: bh,
            ticks: [(1, String(format: "%.2f", top)), (0.5, String(format: "%.2f", top / 2)), (0, "0")],
            colours: Colour.viridis)
        return canvas
    }

    /// Long tokens are cut to 14 characters with an ellipsis; byte-level BPE's space marker is shown as "▁".
    static func shorten(_ s: String) -> String {
        let t = s.replacingOccurrences(of: "Ġ", with: "▁")
        return t.count > 14 ? String(t.prefix(13)) + "…" : t
    }

    /// The heat ([side·side] patch weights, scaled to their maximum) as a side × side image of viridis colours.
    static func heatImage(_ heat: [Float], side: Int) -> RGBImage {
        let top = Double(heat.max() ?? 1) > 0 ? Double(heat.max()!) : 1
        var cells = RGBImage(width: side, height: side)
        for y in 0..<side { for x in 0..<side { cells.set(x, y, colour(Double(heat[y * side + x]) / top)) } }
        return cells
    }

    /// `image` scaled into (x, y, size, size) with `heat` over it as a semi-transparent heatmap, smoothed
    /// bilinearly between patch centres by cairo.
    static func overlay(
        _ image: RGBImage, heat: [Float], side: Int, on canvas: Canvas, x: Double, y: Double, size: Double,
        alpha: Double = 0.55
    ) {
        canvas.image(image, x: x, y: y, width: size, height: size)
        canvas.image(heatImage(heat, side: side), x: x, y: y, width: size, height: size, smooth: true, alpha: alpha)
    }

    /// One strip: the image, then each layer's attention over patches, then the rollout, each labelled (each heatmap
    /// scaled to its own largest weight).
    public static func overlayStrip(
        _ image: RGBImage, layers: [(title: String, heat: [Float])], side: Int, size: Int = 160
    ) throws -> Canvas {
        let n = layers.count + 1, gap = 8.0, label = 24.0, s = Double(size)
        let canvas = try Canvas(width: Int(Double(n) * (s + gap) + gap), height: Int(s + label + gap))
        canvas.image(image, x: gap, y: label, width: s, height: s)
        canvas.text("input", x: gap + s / 2, y: label / 2, size: 13, anchor: .center, vertical: .middle)
        for (i, layer) in layers.enumerated() {
            let x0 = gap + Double(i + 1) * (s + gap)
            overlay(image, heat: layer.heat, side: side, on: canvas, x: x0, y: label, size: s)
            canvas.text(layer.title, x: x0 + s / 2, y: label / 2, size: 13, anchor: .center, vertical: .middle)
        }
        return canvas
    }
}

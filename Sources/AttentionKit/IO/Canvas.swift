import CCairo
import Foundation

/// A colour with components in 0…1.
public struct Colour: Sendable, Equatable {
    public var r: Double, g: Double, b: Double
    /// A colour from red, green and blue components in 0…1.
    public init(_ r: Double, _ g: Double, _ b: Double) { self.r = r; self.g = g; self.b = b }
    /// From 8-bit components.
    public init(bytes r: UInt8, _ g: UInt8, _ b: UInt8) { self.init(Double(r) / 255, Double(g) / 255, Double(b) / 255) }
    /// From `0xRRGGBB`.
    public init(hex: UInt32) {
        self.init(bytes: UInt8((hex >> 16) & 0xFF), UInt8((hex >> 8) & 0xFF), UInt8(hex & 0xFF))
    }

    public static let black = Colour(0, 0, 0), white = Colour(1, 1, 1)
    public static let ink = Colour(hex: 0x1D1D1F), muted = Colour(hex: 0x5A5A5A), grid = Colour(hex: 0xE3E3E3),
        axis = Colour(hex: 0x444444)
    /// matplotlib's "tab10" colours, for successive series.
    public static let palette: [Colour] = [
        0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD, 0x8C564B, 0xE377C2, 0x7F7F7F
    ].map { Colour(hex: $0) }

    /// Viridis (matplotlib's default colour map) at `t` in 0…1 (clamped; non-finite is 0).
    public static func viridis(_ t: Double) -> Colour {
        let stops: [(Double, Double, Double)] = [
            (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
            (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)
        ]
        let x = max(0, min(1, t.isFinite ? t : 0)) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), f = x - Double(i)
        let a = stops[i], b = stops[i + 1]
        return Colour((a.0 + (b.0 - a.0) * f) / 255, (a.1 + (b.1 - a.1) * f) / 255, (a.2 + (b.2 - a.2) * f) / 255)
    }

    /// White → dark blue (the end of matplotlib's "Blues") at `t` in 0…1.
    public static func blues(_ t: Double) -> Colour {
        let u = max(0, min(1, t.isFinite ? t : 0))
        return Colour(1 - u * (1 - 8 / 255), 1 - u * (1 - 48 / 255), 1 - u * (1 - 107 / 255))
    }

    /// Perceived lightness (0 dark … 1 light): which text colour reads on this background.
    public var luminance: Double { 0.2126 * r + 0.7152 * g + 0.0722 * b }
}

/// Why a picture could not be drawn or written.
public struct CanvasError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A drawing surface on cairo, with text laid out by Pango (fontconfig picks the font for each character, HarfBuzz
/// shapes it): antialiased lines and shapes, text in any script, images scaled with bilinear filtering, written as
/// PNG or SVG. Coordinates are pixels from the top-left corner. Every picture AttentionKit writes is drawn here.
public final class Canvas {
    /// What the canvas is written as.
    public enum Format: Sendable { case png, svg }
    /// Where a text's x coordinate lies on it.
    public enum HorizontalAnchor: Sendable { case left, center, right }
    /// Where a text's y coordinate lies on it.
    public enum VerticalAnchor: Sendable { case top, middle, baseline, bottom }

    public let width: Int, height: Int, format: Format
    let surface: OpaquePointer
    let cr: OpaquePointer
    let sink: ByteSink

    /// The font family Pango asks fontconfig for (sans-serif: DejaVu Sans on Debian); `ATTN_FONT_FAMILY` overrides it.
    public static let fontFamily =
        ProcessInfo.processInfo.environment["ATTN_FONT_FAMILY"].flatMap { $0.isEmpty ? nil : $0 }
        ?? "DejaVu Sans, sans-serif"

    /// A white canvas of `width` × `height` pixels.
    public init(width: Int, height: Int, format: Format = .png, background: Colour? = .white) throws {
        guard width > 0, height > 0, width <= 32_767, height <= 32_767 else {
            throw CanvasError("a picture of \(width) × \(height) pixels cannot be drawn (each side must be 1…32,767)")
        }
        self.width = width; self.height = height; self.format = format
        sink = ByteSink()
        switch format {
        case .png: surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))
        case .svg:
            surface = cairo_svg_surface_create_for_stream(
                ByteSink.write, Unmanaged.passUnretained(sink).toOpaque(), Double(width), Double(height))
        }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            let message = String(cString: cairo_status_to_string(cairo_surface_status(surface)))
            cairo_surface_destroy(surface)
            throw CanvasError("cairo cannot create a \(width) × \(height) surface: \(message)")
        }
        cr = cairo_create(surface)
        if let background { fill(x: 0, y: 0, width: Double(width), height: Double(height), background) }
    }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    func setColour(_ c: Colour, alpha: Double = 1) { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha) }

    // MARK: shapes

    /// A filled rectangle.
    public func fill(x: Double, y: Double, width: Double, height: Double, _ colour: Colour, alpha: Double = 1) {
        setColour(colour, alpha: alpha)
        cairo_rectangle(cr, x, y, width, height)
        cairo_fill(cr)
    }

    /// A rectangle's outline, `lineWidth` wide, on the pixel grid (crisp for odd widths).
    public func strokeRect(x: Double, y: Double, width: Double, height: Double, _ colour: Colour, lineWidth: Double = 1)
    {
        setColour(colour)
        cairo_set_line_width(cr, lineWidth)
        cairo_rectangle(cr, x + 0.5, y + 0.5, width - 1, height - 1)
        cairo_stroke(cr)
    }

    /// A polyline through `points`; `dash` lengths alternate on/off (empty: solid).
    public func line(
        _ points: [(Double, Double)], _ colour: Colour, width: Double = 1, dash: [Double] = [], alpha: Double = 1
    ) {
        guard let first = points.first else { return }
        setColour(colour, alpha: alpha)
        cairo_set_line_width(cr, width)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND)
        dash.withUnsafeBufferPointer { cairo_set_dash(cr, $0.baseAddress, Int32($0.count), 0) }
        cairo_move_to(cr, first.0, first.1)
        for p in points.dropFirst() { cairo_line_to(cr, p.0, p.1) }
        cairo_stroke(cr)
        cairo_set_dash(cr, nil, 0, 0)
    }

    /// A filled circle with an optional outline.
    public func circle(x: Double, y: Double, radius: Double, fill colour: Colour, outline: Colour? = nil) {
        cairo_new_sub_path(cr)
        cairo_arc(cr, x, y, radius, 0, 2 * Double.pi)
        setColour(colour)
        if let outline {
            cairo_fill_preserve(cr)
            setColour(outline)
            cairo_set_line_width(cr, 1.5)
            cairo_stroke(cr)
        } else {
            cairo_fill(cr)
        }
    }

    // MARK: text

    /// A Pango layout of `text` at `size` pixels on `context`; the caller releases it with `g_object_unref`.
    static func layout(_ text: String, size: Double, bold: Bool, on context: OpaquePointer) -> OpaquePointer {
        let layout = pango_cairo_create_layout(context)!
        let font = pango_font_description_new()!
        pango_font_description_set_family(font, fontFamily)
        pango_font_description_set_absolute_size(font, size * Double(PANGO_SCALE))
        pango_font_description_set_weight(font, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL)
        pango_layout_set_font_description(layout, font)
        pango_font_description_free(font)
        pango_layout_set_text(layout, text, -1)
        return layout
    }

    /// A 1×1 surface for measuring text before a canvas's size is known.
    nonisolated(unsafe) static let measuring: (surface: OpaquePointer, cr: OpaquePointer) = {
        let s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1)!
        return (s, cairo_create(s)!)
    }()
    static let measuringLock = NSLock()

    /// The size in pixels (width, height of the line box) that `text` takes at `size` pixels.
    public static func measure(_ text: String, size: Double = 13, bold: Bool = false) -> (width: Double, height: Double)
    {
        measuringLock.lock(); defer { measuringLock.unlock() }
        let l = layout(text, size: size, bold: bold, on: measuring.cr)
        defer { g_object_unref(UnsafeMutableRawPointer(l)) }
        var w: Int32 = 0, h: Int32 = 0
        pango_layout_get_pixel_size(l, &w, &h)
        return (Double(w), Double(h))
    }

    /// The width of `text` at `size` pixels.
    public static func textWidth(_ text: String, size: Double = 13, bold: Bool = false) -> Double {
        measure(text, size: size, bold: bold).width
    }

    /// Draws `text` (one line) anchored at (x, y); `angle` in degrees turns it counter-clockwise around the anchor
    /// (90: reading upwards, for axis titles and column labels).
    /// - Returns: the text's width.
    @discardableResult
    public func text(
        _ text: String, x: Double, y: Double, size: Double = 13, bold: Bool = false, colour: Colour = .ink,
        anchor: HorizontalAnchor = .left, vertical: VerticalAnchor = .baseline, angle: Double = 0
    ) -> Double {
        let l = Self.layout(text, size: size, bold: bold, on: cr)
        defer { g_object_unref(UnsafeMutableRawPointer(l)) }
        var w: Int32 = 0, h: Int32 = 0
        pango_layout_get_pixel_size(l, &w, &h)
        let baseline = Double(pango_layout_get_baseline(l)) / Double(PANGO_SCALE)
        let dx: Double = anchor == .left ? 0 : anchor == .center ? -Double(w) / 2 : -Double(w)
        let dy: Double =
            switch vertical {
            case .top: 0
            case .middle: -Double(h) / 2
            case .baseline: -baseline
            case .bottom: -Double(h)
            }
        cairo_save(cr)
        cairo_translate(cr, x, y)
        if angle != 0 { cairo_rotate(cr, -angle * Double.pi / 180) }
        cairo_move_to(cr, dx, dy)
        setColour(colour)
        pango_cairo_update_layout(cr, l)
        pango_cairo_show_layout(cr, l)
        cairo_restore(cr)
        return Double(w)
    }

    // MARK: images

    /// Paints `image` into the rectangle (x, y, width, height), scaled with bilinear filtering (`smooth`) or as
    /// blocks (nearest neighbour, for heatmap cells), at `alpha`.
    public func image(
        _ image: RGBImage, x: Double, y: Double, width: Double, height: Double, smooth: Bool = true, alpha: Double = 1
    ) {
        let stride = Int(cairo_format_stride_for_width(CAIRO_FORMAT_RGB24, Int32(image.width)))
        var bytes = [UInt8](repeating: 0, count: stride * image.height)
        image.pixels.withUnsafeBufferPointer { src in
            for row in 0..<image.height {
                for col in 0..<image.width {
                    // native-endian xRGB: B, G, R, x in memory
                    let s = 3 * (row * image.width + col), d = row * stride + 4 * col
                    bytes[d] = src[s + 2]; bytes[d + 1] = src[s + 1]; bytes[d + 2] = src[s]; bytes[d + 3] = 255
                }
            }
        }
        bytes.withUnsafeMutableBufferPointer { buf in
            let source = cairo_image_surface_create_for_data(
                buf.baseAddress, CAIRO_FORMAT_RGB24, Int32(image.width), Int32(image.height), Int32(stride))!
            defer { cairo_surface_destroy(source) }
            cairo_save(cr)
            cairo_rectangle(cr, x, y, width, height)
            cairo_clip(cr)
            cairo_translate(cr, x, y)
            cairo_scale(cr, width / Double(image.width), height / Double(image.height))
            cairo_set_source_surface(cr, source, 0, 0)
            let pattern = cairo_get_source(cr)
            cairo_pattern_set_filter(pattern, smooth ? CAIRO_FILTER_BILINEAR : CAIRO_FILTER_NEAREST)
            cairo_pattern_set_extend(pattern, CAIRO_EXTEND_PAD)
            cairo_paint_with_alpha(cr, alpha)
            cairo_restore(cr)
            cairo_surface_flush(surface)  // `bytes` goes away after this block: nothing may still refer to it
        }
    }

    // MARK: output

    /// The picture's file bytes (PNG or SVG, as the canvas was made). An SVG canvas is finished by this call.
    public func data() throws -> Data {
        switch format {
        case .png:
            cairo_surface_flush(surface)
            let status = cairo_surface_write_to_png_stream(
                surface, ByteSink.write, Unmanaged.passUnretained(sink).toOpaque())
            guard status == CAIRO_STATUS_SUCCESS else {
                throw CanvasError("cairo cannot encode the PNG: \(String(cString: cairo_status_to_string(status)))")
            }
            defer { sink.bytes.removeAll() }
            return sink.bytes
        case .svg:
            cairo_surface_finish(surface)
            guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
                throw CanvasError(
                    "cairo cannot write the SVG: \(String(cString: cairo_status_to_string(cairo_surface_status(surface))))"
                )
            }
            return sink.bytes
        }
    }

    /// Writes the picture to `url` atomically.
    public func write(to url: URL) throws { try AtomicFile.write(try data(), to: url) }

    /// The pixels of a PNG canvas as an `RGBImage` (for tests and for composing pictures).
    public func rgbImage() -> RGBImage {
        precondition(format == .png, "Canvas.rgbImage: only a PNG canvas has pixels")
        cairo_surface_flush(surface)
        var out = RGBImage(width: width, height: height)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let base = cairo_image_surface_get_data(surface)!
        for row in 0..<height {
            for col in 0..<width {
                let p = base + row * stride + 4 * col  // premultiplied ARGB, native-endian (B, G, R, A in memory)
                let a = Double(p[3]) / 255
                let un = { (v: UInt8) -> UInt8 in a > 0 ? UInt8(min(255, (Double(v) / a).rounded())) : 0 }
                out.set(col, row, (un(p[2]), un(p[1]), un(p[0])))
            }
        }
        return out
    }
}

/// Collects the bytes cairo writes to a stream (PNG or SVG).
final class ByteSink {
    var bytes = Data()
    static let write: cairo_write_func_t = { closure, data, length in
        guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
        Unmanaged<ByteSink>.fromOpaque(closure).takeUnretainedValue().bytes.append(data, count: Int(length))
        return CAIRO_STATUS_SUCCESS
    }
}

import CFreeType
import Foundation

/// Text in pictures through FreeType, with fontconfig choosing the fonts: the default sans-serif face (DejaVu Sans
/// on Debian) and, for each character it lacks (CJK, emoji, …), the font fontconfig matches for that character.
/// Glyphs are anti-aliased coverage masks blended onto the image; colour (emoji) bitmaps are scaled to the text size.
/// Left-to-right placement without shaping (enough for labels and tokens; complex scripts need HarfBuzz).
public final class TextRenderer: @unchecked Sendable {
    public let pixelSize: Int
    var library: FT_Library?
    var primary: FT_Face
    var faces: [String: FT_Face] = [:]           // by file path
    var fallback: [UInt32: FT_Face?] = [:]       // by scalar
    let lock = NSLock()

    /// Why no text can be drawn.
    public struct FontError: Error, CustomStringConvertible {
        public let description: String
    }

    /// - Parameters: pixelSize: the em size in pixels; family: a fontconfig pattern (default sans-serif; the
    ///   environment variable `ATTN_FONT` may name a font file instead).
    public init(pixelSize: Int = 13, family: String = "sans-serif") throws {
        self.pixelSize = pixelSize
        var lib: FT_Library?
        guard FT_Init_FreeType(&lib) == 0, let lib else { throw FontError(description: "cannot initialise FreeType") }
        library = lib
        let path: String
        if let env = ProcessInfo.processInfo.environment["ATTN_FONT"], !env.isEmpty { path = env }
        else if let p = Self.match(family: family, scalar: nil) { path = p }
        else {
            FT_Done_FreeType(lib)
            throw FontError(description: "no font found by fontconfig for '\(family)' (install fonts-dejavu-core; scripts/install-deps.sh does)")
        }
        var face: FT_Face?
        guard FT_New_Face(lib, path, 0, &face) == 0, let face else {
            FT_Done_FreeType(lib)
            throw FontError(description: "\(path): FreeType cannot open this font")
        }
        primary = face
        faces[path] = face
        Self.setSize(face, pixelSize)
    }

    deinit {
        for f in faces.values { FT_Done_Face(f) }
        FT_Done_FreeType(library)
    }

    /// A shared renderer at the default size (nil if no font is installed).
    public static let standard: TextRenderer? = try? TextRenderer()

    /// `standard`, or an error saying what to install.
    public static func required() throws -> TextRenderer {
        guard let standard else { throw FontError(description: "no font installed for text in pictures (fonts-dejavu-core)") }
        return standard
    }

    static func setSize(_ face: FT_Face, _ px: Int) {
        if FT_Set_Pixel_Sizes(face, 0, FT_UInt(px)) != 0, face.pointee.num_fixed_sizes > 0 {
            FT_Select_Size(face, 0)   // bitmap-only fonts (colour emoji) have fixed strikes; scaled when drawn
        }
    }

    /// The file fontconfig matches for a family, or for the first font that has `scalar`.
    static func match(family: String, scalar: UInt32?) -> String? {
        guard let config = FcInitLoadConfigAndFonts() else { return nil }
        defer { FcConfigDestroy(config) }
        guard let pattern = FcNameParse(family) else { return nil }
        defer { FcPatternDestroy(pattern) }
        if let scalar {
            let set = FcCharSetCreate()
            FcCharSetAddChar(set, FcChar32(scalar))
            FcPatternAddCharSet(pattern, FC_CHARSET, set)
            FcCharSetDestroy(set)
        }
        FcConfigSubstitute(config, pattern, FcMatchPattern)
        FcDefaultSubstitute(pattern)
        var result = FcResultNoMatch
        guard let font = FcFontMatch(config, pattern, &result) else { return nil }
        defer { FcPatternDestroy(font) }
        var file: UnsafeMutablePointer<FcChar8>?
        guard FcPatternGetString(font, FC_FILE, 0, &file) == FcResultMatch, let file else { return nil }
        return String(cString: file)
    }

    /// The face that draws `scalar` (nil: none has it; the primary face's missing-glyph box is drawn).
    func face(for scalar: UInt32) -> FT_Face? {
        if FT_Get_Char_Index(primary, FT_ULong(scalar)) != 0 { return primary }
        if let cached = fallback[scalar] { return cached }
        var found: FT_Face? = nil
        if let path = Self.match(family: "sans-serif", scalar: scalar) {
            if let f = faces[path] { found = f } else {
                var f: FT_Face?
                if FT_New_Face(library, path, 0, &f) == 0, let f {
                    Self.setSize(f, pixelSize)
                    faces[path] = f
                    found = f
                }
            }
        }
        if let f = found, FT_Get_Char_Index(f, FT_ULong(scalar)) == 0 { found = nil }
        fallback[scalar] = found
        return found
    }

    /// One rendered glyph: an 8-bit coverage (or RGBA) bitmap, its offset from the pen and the advance.
    struct Glyph {
        var width = 0, height = 0, left = 0, top = 0, advance = 0
        var coverage: [UInt8] = []
        var rgba: [UInt8]? = nil
    }

    var cache: [UInt32: Glyph] = [:]

    func glyph(_ scalar: UInt32) -> Glyph {
        if let g = cache[scalar] { return g }
        var out = Glyph()
        let face = self.face(for: scalar) ?? primary
        let index = FT_Get_Char_Index(face, FT_ULong(scalar))
        let color = face.pointee.num_fixed_sizes > 0 && (face.pointee.face_flags & FT_Long(FT_FACE_FLAG_SCALABLE)) == 0
        let flags = FT_Int32(FT_LOAD_RENDER) | (color ? FT_Int32(FT_LOAD_COLOR) : 0)
        if FT_Load_Glyph(face, index, flags) == 0, let slot = face.pointee.glyph {
            let bm = slot.pointee.bitmap
            let w = Int(bm.width), h = Int(bm.rows), pitch = Int(bm.pitch)
            out.left = Int(slot.pointee.bitmap_left)
            out.top = Int(slot.pointee.bitmap_top)
            out.advance = Int(slot.pointee.advance.x) >> 6
            out.width = w
            out.height = h
            if let buf = bm.buffer, w > 0, h > 0 {
                if bm.pixel_mode == UInt8(FT_PIXEL_MODE_BGRA.rawValue) {
                    var rgba = [UInt8](repeating: 0, count: w * h * 4)
                    for y in 0..<h { for x in 0..<w {
                        let s = buf + y * pitch + x * 4
                        rgba[(y * w + x) * 4] = s[2]; rgba[(y * w + x) * 4 + 1] = s[1]; rgba[(y * w + x) * 4 + 2] = s[0]; rgba[(y * w + x) * 4 + 3] = s[3]
                    } }
                    out.rgba = rgba
                } else if bm.pixel_mode == UInt8(FT_PIXEL_MODE_MONO.rawValue) {
                    out.coverage = (0..<(w * h)).map { i in (buf[(i / w) * pitch + (i % w) / 8] >> (7 - UInt8(i % w % 8))) & 1 == 1 ? 255 : 0 }
                } else {
                    out.coverage = (0..<(w * h)).map { buf[($0 / w) * pitch + $0 % w] }
                }
            }
            // A fixed-size colour strike (e.g. 109 px emoji) is scaled to this renderer's size.
            if color, let rgba = out.rgba, h > 0 {
                let scale = Double(pixelSize) * 1.15 / Double(h)
                let nw = max(1, Int(Double(w) * scale)), nh = max(1, Int(Double(h) * scale))
                var small = [UInt8](repeating: 0, count: nw * nh * 4)
                for y in 0..<nh { for x in 0..<nw {
                    let y0 = y * h / nh, y1 = max(y0 + 1, (y + 1) * h / nh), x0 = x * w / nw, x1 = max(x0 + 1, (x + 1) * w / nw)
                    var acc = [Int](repeating: 0, count: 4)
                    for sy in y0..<y1 { for sx in x0..<x1 { for c in 0..<4 { acc[c] += Int(rgba[(sy * w + sx) * 4 + c]) } } }
                    let n = (y1 - y0) * (x1 - x0)
                    for c in 0..<4 { small[(y * nw + x) * 4 + c] = UInt8(acc[c] / n) }
                } }
                out.rgba = small
                out.width = nw; out.height = nh
                out.left = Int(Double(out.left) * scale); out.top = Int(Double(out.top) * scale)
                out.advance = Int((Double(out.advance) * scale).rounded())
            }
        }
        cache[scalar] = out
        return out
    }

    /// The line's ascent and descent in pixels (of the primary face).
    public var ascent: Int { Int(primary.pointee.size.pointee.metrics.ascender) >> 6 }
    public var descent: Int { -(Int(primary.pointee.size.pointee.metrics.descender) >> 6) }
    public var lineHeight: Int { ascent + descent }

    /// The advance width of `text` in pixels.
    public func width(of text: String) -> Int {
        lock.lock(); defer { lock.unlock() }
        return text.unicodeScalars.map { glyph($0.value).advance }.reduce(0, +)
    }

    /// Draws `text` with its baseline at `y`, starting at `x`; returns the pen position after it.
    @discardableResult
    public func draw(_ text: String, into image: inout RGBImage, x: Int, baseline y: Int, color: (UInt8, UInt8, UInt8) = (0, 0, 0)) -> Int {
        lock.lock(); defer { lock.unlock() }
        var pen = x
        for s in text.unicodeScalars {
            let g = glyph(s.value)
            blit(g, into: &image, x: pen + g.left, y: y - g.top, color: color)
            pen += g.advance
        }
        return pen
    }

    func blit(_ g: Glyph, into image: inout RGBImage, x: Int, y: Int, color: (UInt8, UInt8, UInt8)) {
        let (W, H) = (image.width, image.height)
        image.pixels.withUnsafeMutableBufferPointer { px in
            for gy in 0..<g.height {
                let iy = y + gy
                guard iy >= 0 && iy < H else { continue }
                for gx in 0..<g.width {
                    let ix = x + gx
                    guard ix >= 0 && ix < W else { continue }
                    let p = (iy * W + ix) * 3
                    if let rgba = g.rgba {
                        let q = (gy * g.width + gx) * 4, a = Int(rgba[q + 3])
                        for c in 0..<3 { px[p + c] = UInt8((Int(rgba[q + c]) * a + Int(px[p + c]) * (255 - a)) / 255) }
                    } else {
                        let a = Int(g.coverage[gy * g.width + gx])
                        guard a > 0 else { continue }
                        let col = [color.0, color.1, color.2]
                        for c in 0..<3 { px[p + c] = UInt8((Int(col[c]) * a + Int(px[p + c]) * (255 - a)) / 255) }
                    }
                }
            }
        }
    }

    public enum Alignment: Sendable { case left, center, right }

    /// Draws `text` aligned on `x`, vertically centred on `centerY`.
    public func draw(_ text: String, into image: inout RGBImage, x: Int, centerY: Int, align: Alignment,
                     color: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        let w = width(of: text)
        let x0 = align == .left ? x : align == .center ? x - w / 2 : x - w
        draw(text, into: &image, x: x0, baseline: centerY + (ascent - descent) / 2, color: color)
    }

    /// Draws `text` rotated 90° counter-clockwise (reading bottom to top), its end at `top` and centred on `centerX`.
    public func drawVertical(_ text: String, into image: inout RGBImage, centerX: Int, bottom: Int, color: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        let w = max(1, width(of: text)), h = max(1, lineHeight)
        var strip = RGBImage(width: w, height: h)
        draw(text, into: &strip, x: 0, baseline: ascent, color: color)
        // (sx, sy) in the strip → (x0 + sy, bottom − sx) in the image; white stays transparent.
        let x0 = centerX - h / 2
        for sy in 0..<h { for sx in 0..<w {
            let q = (sy * w + sx) * 3
            let (r, g, b) = (strip.pixels[q], strip.pixels[q + 1], strip.pixels[q + 2])
            if r == 255 && g == 255 && b == 255 { continue }
            let ix = x0 + sy, iy = bottom - sx
            guard ix >= 0, iy >= 0, ix < image.width, iy < image.height else { continue }
            let p = (iy * image.width + ix) * 3
            // Darken-blend keeps anti-aliased edges over a light background.
            image.pixels[p] = min(image.pixels[p], r); image.pixels[p + 1] = min(image.pixels[p + 1], g); image.pixels[p + 2] = min(image.pixels[p + 2], b)
        } }
    }
}

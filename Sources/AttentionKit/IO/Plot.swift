import Foundation

/// A minimal line chart rendered to an `RGBImage`: axes, grid, labelled ticks, one coloured line per series and a
/// legend, in a built-in 3×5 pixel font (digits, capital letters, `.`, `-`, `%`, `:`), scaled ×2.
public struct LineChart {
    public struct Series {
        public var name: String
        public var x: [Double], y: [Double]
        public var color: (UInt8, UInt8, UInt8)
        public init(name: String, x: [Double], y: [Double], color: (UInt8, UInt8, UInt8)) {
            self.name = name; self.x = x; self.y = y; self.color = color
        }
    }

    public var title: String
    public var xLabel: String
    public var series: [Series]
    /// Legend in the top-right corner (true) or the bottom-right one (false): put it where the lines are not.
    public var legendAtTop: Bool
    public init(title: String, xLabel: String, series: [Series], legendAtTop: Bool = true) {
        self.title = title; self.xLabel = xLabel; self.series = series; self.legendAtTop = legendAtTop
    }

    /// Whether a value is drawn: finite and not absurd (|v| < 1e12; a diverged loss would flatten every other point).
    public static func isPlottable(_ v: Double) -> Bool { v.isFinite && abs(v) < 1e12 }

    /// Palette for successive series.
    public static let palette: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]

    /// Draws the chart into `image` inside the rectangle (x0, y0, width, height).
    public func draw(into image: inout RGBImage, x0: Int, y0: Int, width: Int, height: Int) {
        let left = x0 + 56, right = x0 + width - 12, top = y0 + 28, bottom = y0 + height - 36
        let usable = Self.isPlottable
        let xs = series.flatMap(\.x).filter(usable), ys = series.flatMap(\.y).filter(usable)
        guard let xmin = xs.min(), let xmax = xs.max(), var ymin = ys.min(), var ymax = ys.max() else { return }
        if ymax - ymin < 1e-12 { ymin -= 0.5; ymax += 0.5 }
        let pad = (ymax - ymin) * 0.05
        ymin -= pad; ymax += pad
        let xspan = max(xmax - xmin, 1e-12)
        func px(_ x: Double) -> Int { left + Int(max(-1, min(2, (x - xmin) / xspan)) * Double(right - left)) }
        func py(_ y: Double) -> Int { bottom - Int(max(-1, min(2, (y - ymin) / (ymax - ymin))) * Double(bottom - top)) }
        Glyphs.text(title.uppercased(), &image, x: left, y: y0 + 6, color: (30, 30, 30))
        // grid and ticks
        for k in 0...4 {
            let v = ymin + (ymax - ymin) * Double(k) / 4, y = py(v)
            for x in left...right where x % 4 == 0 { image.set(x, y, (225, 225, 225)) }
            Glyphs.text(Glyphs.number(v), &image, x: x0 + 4, y: y - 5, color: (80, 80, 80))
        }
        let integralX = xs.allSatisfy { $0 == $0.rounded() }
        for k in 0...4 {
            var v = xmin + xspan * Double(k) / 4
            if integralX { v = v.rounded() }   // epochs and steps: integer ticks
            let x = px(v)
            for y in top...bottom where y % 4 == 0 { image.set(x, y, (225, 225, 225)) }
            Glyphs.text(Glyphs.number(v), &image, x: x - 8, y: bottom + 6, color: (80, 80, 80))
        }
        Glyphs.text(xLabel.uppercased(), &image, x: (left + right) / 2 - 20, y: bottom + 22, color: (80, 80, 80))
        for x in left...right { image.set(x, bottom, (60, 60, 60)) }
        for y in top...bottom { image.set(left, y, (60, 60, 60)) }
        // lines (2 px wide) and legend
        for (k, s) in series.enumerated() {
            let pts = zip(s.x, s.y).filter { usable($0.0) && usable($0.1) }.map { (px($0.0), py($0.1)) }
            for (a, b) in zip(pts, pts.dropFirst()) { line(&image, a, b, s.color) }
            if pts.count == 1 { for d in -2...2 { image.set(pts[0].0 + d, pts[0].1, s.color) } }
            let lx = right - 110, ly = legendAtTop ? top + 6 + 14 * k : bottom - 14 * (series.count - k) - 4
            for d in 0..<14 { image.set(lx + d, ly + 4, s.color); image.set(lx + d, ly + 5, s.color) }
            Glyphs.text(s.name.uppercased(), &image, x: lx + 18, y: ly, color: (30, 30, 30))
        }
    }

    private func line(_ img: inout RGBImage, _ a: (Int, Int), _ b: (Int, Int), _ c: (UInt8, UInt8, UInt8)) {
        let steps = max(abs(b.0 - a.0), abs(b.1 - a.1), 1)
        for i in 0...steps {
            let x = a.0 + (b.0 - a.0) * i / steps, y = a.1 + (b.1 - a.1) * i / steps
            img.set(x, y, c); img.set(x, y + 1, c)
        }
    }
}

/// A 3×5 bitmap font drawn at scale 2.
enum Glyphs {
    static let font: [Character: String] = [
        "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
        "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
        "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
        "%": "101001010100101", ":": "000010000010000", " ": "000000000000000", "_": "000000000000111",
        "A": "010101111101101", "B": "110101110101110", "C": "111100100100111", "D": "110101101101110",
        "E": "111100111100111", "F": "111100111100100", "G": "111100101101111", "H": "101101111101101",
        "I": "111010010010111", "J": "001001001101111", "K": "101101110101101", "L": "100100100100111",
        "M": "101111111101101", "N": "111101101101101", "O": "111101101101111", "P": "111101111100100",
        "Q": "111101101111001", "R": "111101110101101", "S": "111100111001111", "T": "111010010010010",
        "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
        "Y": "101101111010010", "Z": "111001010100111",
    ]

    static func text(_ s: String, _ img: inout RGBImage, x: Int, y: Int, color: (UInt8, UInt8, UInt8)) {
        var cx = x
        for ch in s {
            if let bits = font[ch] {
                for (i, b) in bits.enumerated() where b == "1" {
                    let gx = cx + (i % 3) * 2, gy = y + (i / 3) * 2
                    img.set(gx, gy, color); img.set(gx + 1, gy, color); img.set(gx, gy + 1, color); img.set(gx + 1, gy + 1, color)
                }
            }
            cx += 8
        }
    }

    /// A compact tick label: integers plain, otherwise 2–3 significant decimals.
    static func number(_ v: Double) -> String {
        if abs(v - v.rounded()) < 1e-9 && abs(v) < 1e6 { return String(Int(v.rounded())) }
        return abs(v) >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }
}

import Foundation

/// NumPy's `.npy` format, version 1.0: the magic `\x93NUMPY`, version bytes 1 0, a little-endian UInt16 header
/// length, an ASCII header dict `{'descr': '<f4', 'fortran_order': False, 'shape': (…), }` padded with spaces and
/// ended by a newline so that the data starts at a multiple of 64 bytes, then the elements in C order.
public enum NPY {
    /// The file bytes of a float32 tensor (float64 tensors are converted).
    public static func encode(_ t: Tensor) -> Data {
        let shape =
            t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        d.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        d.append(contentsOf: Array(header.utf8))
        let values = t.to(.float32).detach()
        values.withUnsafeFloats { b in
            for v in b { var le = v.bitPattern.littleEndian; withUnsafeBytes(of: &le) { d.append(contentsOf: $0) } }
        }
        return d
    }

    /// A float32 tensor from `.npy` bytes (version 1 or 2, little-endian `<f4`, C order), as `encode` writes them.
    /// - Throws: `NPYError` naming what does not fit: the magic, the dtype, the shape, a truncated body.
    public static func decode(_ d: Data) throws -> Tensor {
        let bytes = [UInt8](d)
        guard bytes.count > 10, bytes[0..<6] == [0x93] + Array("NUMPY".utf8)[...] else {
            throw NPYError(message: "not a .npy file")
        }
        let major = bytes[6]
        let start = major == 1 ? 10 : 12
        var headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        if major != 1 { headerLength |= Int(bytes[10]) << 16 | Int(bytes[11]) << 24 }
        guard bytes.count >= start + headerLength else { throw NPYError(message: "truncated header") }
        let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        guard header.contains("'<f4'"), !header.contains("'fortran_order': True"),
            let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw NPYError(message: "expected a little-endian float32 array in C order") }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let count = shape.reduce(1, *), body = start + headerLength
        guard bytes.count - body == count * 4 else {
            throw NPYError(message: "\(bytes.count - body) data bytes for \(count) float32 values")
        }
        var values = [Float](repeating: 0, count: count)  // x86-64/arm64: the host is little-endian too
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[body...])) }
        }
        return Tensor(values, shape: shape)
    }

    /// Writes `t` to `url` atomically.
    public static func write(_ t: Tensor, to url: URL) throws { try AtomicFile.write(encode(t), to: url) }
}

/// A `.npy` file that `NPY.decode` cannot read, and why.
public struct NPYError: Error, CustomStringConvertible {
    /// What does not fit.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// Attention maps of one input written as data: `LAYER.npy` per attention layer ([H, Tq, Tk] float32, the first
/// batch row) and `maps.json`, the index: model kind, tokens (with their UTF-8 byte ranges in the original text where
/// known), and per layer its module path, heads, shape and file name.
public enum AttentionExport {
    /// A token as shown on an axis: its text and, for input tokens, the UTF-8 byte range of the input it covers
    /// (`bytes`: [start, end), the tokenizer's offsets).
    public struct Token: Encodable, Sendable {
        /// The token as the tokenizer has it (e.g. "[UNK]", "Ġworld").
        public var text: String
        /// The UTF-8 byte range [start, end) of the input it covers.
        public var bytes: [Int]?
        /// The input text at `bytes` (filled in by `write`): what pictures and the page show.
        public var original: String?
        /// True when the vocabulary did not know the input here and the model saw its unknown token (`text`, e.g.
        /// "[UNK]"); `original` is then the word it replaced.
        public var unknown: Bool?
        /// A token with its text, the input bytes it covers, and whether it stands for an unknown word.
        public init(text: String, bytes: Range<Int>? = nil, unknown: Bool = false) {
            self.text = text; self.bytes = bytes.map { [$0.lowerBound, $0.upperBound] };
            self.unknown = unknown ? true : nil
        }
        /// The label to draw: the original text where known, else the token; an unknown word is drawn as the token
        /// the model saw ("[UNK]").
        public var label: String { unknown == true ? text : original.flatMap { $0.isEmpty ? nil : $0 } ?? text }
    }

    struct Layer: Encodable {
        let path: String; let file: String; let png: String?; let pngSize: [Int]?; let heads: Int; let shape: [Int];
        let queries: String; let keys: String
    }
    struct ImageInfo: Encodable {
        let file: String; let overlays: String; let patchSide: Int; let classToken: Bool; let size: Int;
        let overlayTitles: [String]
    }
    struct Index: Encodable {
        let kind: String
        let input: String
        let output: String?
        let prediction: String?
        let tokens: [String: [Token]]
        let layers: [Layer]
        let image: ImageInfo?
        /// How the PNGs colour weights ("absolute": 0–1 everywhere; "layer": 0 to each layer's largest).
        let colourScale: String
    }

    /// An image model's input for the pictures: the picture, its patch grid side, whether token 0 is a class token,
    /// and the heatmaps over patches to overlay (e.g. each layer's class-token attention and the rollout).
    public struct ImageInput {
        /// The image the model saw.
        public var picture: RGBImage
        /// Patches per side of the grid.
        public var patchSide: Int
        /// Whether token 0 is a class token (patch tokens follow it).
        public var classToken: Bool
        /// Heatmaps over the patches (row-major, `patchSide`²) to draw over the picture, with their titles.
        public var overlays: [(title: String, heat: [Float])]
        /// An image input for the attention pictures.
        public init(picture: RGBImage, patchSide: Int, classToken: Bool, overlays: [(title: String, heat: [Float])]) {
            self.picture = picture; self.patchSide = patchSide; self.classToken = classToken; self.overlays = overlays
        }
    }

    /// Writes the maps into `directory`: `LAYER.npy` and `maps.json`; with `pictures`, also `LAYER.png` (per-head
    /// heatmaps with token labels), for images `input.png` and `attention-overlay.png`, and `index.html`, one page
    /// that shows everything (no network).
    /// - Parameters:
    ///   - maps: the captured maps (`withAttentionCapture`).
    ///   - kind: what the model is ("translation", "classification", "image classification"), shown on the page.
    ///   - input: the input as a person reads it (the sentence, or the image's name).
    ///   - output: the model's output text (a translation), if any.
    ///   - prediction: what the model answered (a label and probability), shown on top of the page.
    ///   - tokens: the token lists by name ("source", "target", "patches"), each token with its text.
    ///   - axes: for a module path, which token lists its queries and keys run over (e.g. ("target", "source") for
    ///     cross-attention); the lists are in `tokens`.
    ///   - image: for an image model, the picture, its patch grid and the overlays to draw on it.
    ///   - pictures: also write the PNGs and index.html (otherwise only the arrays and maps.json).
    ///   - colourScale: one 0–1 scale for every layer, or each layer's own.
    ///   - directory: the report's directory (made if missing; an existing report is replaced).
    /// - Returns: the files written.
    @discardableResult
    public static func write(
        _ maps: AttentionMaps, kind: String, input: String, output: String?, prediction: String? = nil,
        tokens: [String: [Token]], axes: (String) -> (queries: String, keys: String), image: ImageInput? = nil,
        pictures: Bool = true, colourScale: AttentionColourScale = .absolute, to directory: URL
    ) throws -> [URL] {
        try OutputDirectory.prepare(directory, marker: "maps.json", holding: "an attention report")
        var tokens = tokens
        let inputBytes = Array(input.utf8)
        for (axis, list) in tokens {
            tokens[axis] = list.map { t in
                var t = t
                if let b = t.bytes, b.count == 2, b[0] >= 0, b[0] <= b[1], b[1] <= inputBytes.count {
                    t.original = String(decoding: inputBytes[b[0]..<b[1]], as: UTF8.self).trimmingCharacters(
                        in: .whitespaces)
                }
                return t
            }
        }
        var layers: [Layer] = [], files: [URL] = [], arrays: [Tensor] = []
        for (path, w) in maps.entries {
            let (q, k) = axes(path)
            let tq = tokens[q]?.count ?? w.shape[2], tk = tokens[k]?.count ?? w.shape[3]
            // first batch row, cut to the token counts (decoding pads keys of early steps with zeros)
            let m = w.select(axis: 0, index: 0).slice(axis: 1, end: min(tq, w.shape[2])).slice(
                axis: 2, end: min(tk, w.shape[3])
            ).copy().to(.float32)
            let stem = path.isEmpty ? "attention" : path
            let url = directory.appendingPathComponent(stem + ".npy")
            try NPY.write(m, to: url)
            files.append(url)
            var png: String? = nil, pngSize: [Int]? = nil
            if pictures {
                let labels = { (axis: String, n: Int) in
                    (0..<n).map { i in tokens[axis].flatMap { i < $0.count ? $0[i].label : nil } ?? String(i) }
                }
                let picture = try AttentionPlot.layerGrid(
                    m, queries: labels(q, m.shape[1]), keys: labels(k, m.shape[2]),
                    title: "\(stem) — \(m.shape[0]) head\(m.shape[0] == 1 ? "" : "s"), \(q) × \(k)", scale: colourScale)
                let pngURL = directory.appendingPathComponent(stem + ".png")
                try picture.write(to: pngURL)
                files.append(pngURL)
                png = stem + ".png"
                pngSize = [picture.width, picture.height]
            }
            arrays.append(m)
            layers.append(
                Layer(
                    path: path, file: stem + ".npy", png: png, pngSize: pngSize, heads: m.shape[0], shape: m.shape,
                    queries: q, keys: k))
        }
        var imageInfo: ImageInfo? = nil
        if let image, pictures {
            let size = 256
            let input = try Canvas(width: size, height: size)
            input.image(image.picture, x: 0, y: 0, width: Double(size), height: Double(size))  // bilinear, by cairo
            try input.write(to: directory.appendingPathComponent("input.png"))
            try AttentionPlot.overlayStrip(image.picture, layers: image.overlays, side: image.patchSide, size: 160)
                .write(to: directory.appendingPathComponent("attention-overlay.png"))
            files += [
                directory.appendingPathComponent("input.png"), directory.appendingPathComponent("attention-overlay.png")
            ]
            imageInfo = ImageInfo(
                file: "input.png", overlays: "attention-overlay.png", patchSide: image.patchSide,
                classToken: image.classToken, size: size,
                overlayTitles: image.overlays.map(\.title))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let index = Index(
            kind: kind, input: input, output: output, prediction: prediction, tokens: tokens, layers: layers,
            image: imageInfo, colourScale: colourScale.rawValue)
        let url = directory.appendingPathComponent("maps.json")
        try AtomicFile.write(try encoder.encode(index), to: url)
        files.append(url)
        if pictures {
            let html = directory.appendingPathComponent("index.html")
            try AtomicFile.write(
                Data(AttentionPage.html(index: try encoder.encode(index), maps: arrays).utf8), to: html)
            files.append(html)
        }
        return files
    }
}

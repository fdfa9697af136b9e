import Foundation

/// NumPy's `.npy` format, version 1.0: the magic `\x93NUMPY`, version bytes 1 0, a little-endian UInt16 header
/// length, an ASCII header dict `{'descr': '<f4', 'fortran_order': False, 'shape': (…), }` padded with spaces and
/// ended by a newline so that the data starts at a multiple of 64 bytes, then the elements in C order.
public enum NPY {
    /// The file bytes of a float32 tensor (float64 tensors are converted).
    public static func encode(_ t: Tensor) -> Data {
        let shape = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
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

    /// Writes `t` to `url` atomically.
    public static func write(_ t: Tensor, to url: URL) throws { try AtomicFile.write(encode(t), to: url) }
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
        public init(text: String, bytes: Range<Int>? = nil) { self.text = text; self.bytes = bytes.map { [$0.lowerBound, $0.upperBound] } }
        /// The label to draw: the original text where known, else the token.
        public var label: String { original.flatMap { $0.isEmpty ? nil : $0 } ?? text }
    }

    struct Layer: Encodable { let path: String; let file: String; let png: String?; let pngSize: [Int]?; let heads: Int; let shape: [Int]; let queries: String; let keys: String }
    struct ImageInfo: Encodable { let file: String; let overlays: String; let patchSide: Int; let classToken: Bool; let size: Int }
    struct Index: Encodable {
        let kind: String
        let input: String
        let output: String?
        let prediction: String?
        let tokens: [String: [Token]]
        let layers: [Layer]
        let image: ImageInfo?
    }

    /// An image model's input for the pictures: the picture, its patch grid side, whether token 0 is a class token,
    /// and the heatmaps over patches to overlay (e.g. each layer's class-token attention and the rollout).
    public struct ImageInput {
        public var picture: RGBImage
        public var patchSide: Int
        public var classToken: Bool
        public var overlays: [(title: String, heat: [Float])]
        public init(picture: RGBImage, patchSide: Int, classToken: Bool, overlays: [(title: String, heat: [Float])]) {
            self.picture = picture; self.patchSide = patchSide; self.classToken = classToken; self.overlays = overlays
        }
    }

    /// Writes the maps into `directory`: `LAYER.npy` and `maps.json`; with `pictures`, also `LAYER.png` (per-head
    /// heatmaps with token labels), for images `input.png` and `attention-overlay.png`, and `index.html`, one page
    /// that shows everything (no network).
    /// - Parameters:
    ///   - axes: for a module path, which token lists its queries and keys run over (e.g. ("target", "source") for
    ///     cross-attention); the lists are in `tokens`.
    ///   - prediction: what the model answered (a label and probability), shown on top of the page.
    /// - Returns: the files written.
    @discardableResult
    public static func write(_ maps: AttentionMaps, kind: String, input: String, output: String?, prediction: String? = nil,
                             tokens: [String: [Token]], axes: (String) -> (queries: String, keys: String), image: ImageInput? = nil,
                             pictures: Bool = true, to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var tokens = tokens
        let inputBytes = Array(input.utf8)
        for (axis, list) in tokens {
            tokens[axis] = list.map { t in
                var t = t
                if let b = t.bytes, b.count == 2, b[0] >= 0, b[0] <= b[1], b[1] <= inputBytes.count {
                    t.original = String(decoding: inputBytes[b[0]..<b[1]], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                }
                return t
            }
        }
        var layers: [Layer] = [], files: [URL] = [], arrays: [Tensor] = []
        for (path, w) in maps.entries {
            let (q, k) = axes(path)
            let tq = tokens[q]?.count ?? w.shape[2], tk = tokens[k]?.count ?? w.shape[3]
            // first batch row, cut to the token counts (decoding pads keys of early steps with zeros)
            let m = w.select(axis: 0, index: 0).slice(axis: 1, end: min(tq, w.shape[2])).slice(axis: 2, end: min(tk, w.shape[3])).copy().to(.float32)
            let stem = path.isEmpty ? "attention" : path
            let url = directory.appendingPathComponent(stem + ".npy")
            try NPY.write(m, to: url)
            files.append(url)
            var png: String? = nil, pngSize: [Int]? = nil
            if pictures {
                let labels = { (axis: String, n: Int) in (0..<n).map { i in tokens[axis].flatMap { i < $0.count ? $0[i].label : nil } ?? String(i) } }
                let picture = try AttentionPlot.layerGrid(m, queries: labels(q, m.shape[1]), keys: labels(k, m.shape[2]),
                                                          title: "\(stem) — \(m.shape[0]) heads, \(q) × \(k)")
                let pngURL = directory.appendingPathComponent(stem + ".png")
                try picture.writePNG(to: pngURL)
                files.append(pngURL)
                png = stem + ".png"
                pngSize = [picture.width, picture.height]
            }
            arrays.append(m)
            layers.append(Layer(path: path, file: stem + ".npy", png: png, pngSize: pngSize, heads: m.shape[0], shape: m.shape, queries: q, keys: k))
        }
        var imageInfo: ImageInfo? = nil
        if let image, pictures {
            let size = 256
            try image.picture.resized(width: size, height: size).writePNG(to: directory.appendingPathComponent("input.png"))
            try AttentionPlot.overlayStrip(image.picture, layers: image.overlays, side: image.patchSide, size: 160)
                .writePNG(to: directory.appendingPathComponent("attention-overlay.png"))
            files += [directory.appendingPathComponent("input.png"), directory.appendingPathComponent("attention-overlay.png")]
            imageInfo = ImageInfo(file: "input.png", overlays: "attention-overlay.png", patchSide: image.patchSide, classToken: image.classToken, size: size)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let index = Index(kind: kind, input: input, output: output, prediction: prediction, tokens: tokens, layers: layers, image: imageInfo)
        let url = directory.appendingPathComponent("maps.json")
        try AtomicFile.write(try encoder.encode(index), to: url)
        files.append(url)
        if pictures {
            let html = directory.appendingPathComponent("index.html")
            try AtomicFile.write(Data(AttentionPage.html(index: try encoder.encode(index), maps: arrays).utf8), to: html)
            files.append(html)
        }
        return files
    }
}

extension Translator {
    /// Translates `sentence` greedily with attention capture and writes its maps (`AttentionExport`): encoder
    /// self-attention over source tokens, decoder self-attention over output tokens, cross-attention output × source.
    /// - Returns: the translation.
    /// - Parameter target: a translation to show the attention of (teacher forcing: its tokens are the decoder's
    ///   input after BOS); nil translates greedily and shows the attention of the model's own output.
    @discardableResult
    /// - Parameter beam: without `target`: 1 decodes greedily with capture (rows are the output tokens); more runs
    ///   the beam search `translate` runs and shows the attention of its best translation (rows: [BOS] + its tokens).
    public func writeAttention(of sentence: String, target: String? = nil, beam: Int = 1, lengthPenalty: Float = 0.6,
                               to directory: URL, maxLength: Int = 64, pictures: Bool = true) throws -> String {
        let encoding = sourceTokenizer.encode(sentence, addSpecialTokens: false)
        let ids = Array(encoding.ids.prefix(model.config.maxLength - 1)) + [model.config.eosID]
        let source = zip(encoding.tokens, encoding.offsets).prefix(ids.count - 1).map { AttentionExport.Token(text: $0.0, bytes: $0.1) }
            + [AttentionExport.Token(text: "[EOS]")]
        let maps: AttentionMaps, output: [AttentionExport.Token], text: String
        if let target {
            let t = targetTokenizer.encode(target, addSpecialTokens: false)
            let tids = Array(t.ids.prefix(model.config.maxLength - 1))
            (_, maps) = withAttentionCapture(on: model) { withNoGrad { model(source: [ids], targetInput: [[model.config.bosID] + tids]) } }
            // query row i is the decoder input at i: BOS, then the target's tokens
            output = [AttentionExport.Token(text: "[BOS]")] + zip(t.tokens, t.offsets).prefix(tids.count).map { AttentionExport.Token(text: $0.0, bytes: $0.1) }
            text = target
        } else if beam > 1 {
            // The translation `translate` gives (beam search), then its attention by teacher forcing on its tokens:
            // row i is the decoder at step i, exactly the state that chose token i.
            model.eval()
            // [BOS] + tokens must fit the position table: at most maxLength − 1 tokens
            let hyp = model.beamSearch([ids], beamSize: beam, maxLength: min(model.config.maxLength - 1, ids.count * 3 / 2 + 10),
                                       lengthPenalty: lengthPenalty, nBest: 1)[0][0]
            let tokens = Array(hyp.tokens.prefix(model.config.maxLength - 1))
            (_, maps) = withAttentionCapture(on: model) { withNoGrad { model(source: [ids], targetInput: [[model.config.bosID] + tokens]) } }
            output = [AttentionExport.Token(text: "[BOS]")] + tokens.map { AttentionExport.Token(text: targetTokenizer.token(of: $0) ?? "?") }
            text = detokenize(targetTokenizer.decode(tokens))
        } else {
            let (hyps, m) = withAttentionCapture(on: model) { model.greedyDecode([ids], maxLength: min(maxLength, model.config.maxLength)) }
            maps = m
            let out = hyps[0].tokens + (hyps[0].finished ? [model.config.eosID] : [])   // one query row per decoding step
            output = out.map { AttentionExport.Token(text: targetTokenizer.token(of: $0) ?? "?") }
            text = detokenize(targetTokenizer.decode(hyps[0].tokens))
        }
        try AttentionExport.write(maps, kind: "translation", input: sentence, output: text, tokens: ["source": source, "target": output],
                                  axes: { $0.hasPrefix("encoder") ? ("source", "source") : $0.hasSuffix("crossAttention") ? ("target", "source") : ("target", "target") },
                                  pictures: pictures, to: directory)
        return text
    }
}

extension TextClassification {
    /// Classifies `text` with attention capture and writes its report (`AttentionExport`): every encoder layer's
    /// self-attention over the tokens (the class token first when the model pools by it).
    /// - Returns: the predicted label and its probability.
    @discardableResult
    public func writeAttention(of text: String, to directory: URL, pictures: Bool = true) throws -> (label: String, probability: Float) {
        guard let model = model as? TextClassifier else {
            throw RunDirectoryError(message: "this run's model (\(type(of: self.model))) has no attention layers; attention reports need the transformer classifier")
        }
        model.eval()
        let encoding = tokenizer.encode(text, addSpecialTokens: false)
        let ids = self.ids(text)
        let (logits, maps) = withAttentionCapture(on: model) { withNoGrad { model([ids]) } }
        let p = logits.softmax(axis: -1).scalars
        let best = argmaxRows([p])[0]
        var tokens = encoding.ids.isEmpty ? [AttentionExport.Token(text: "[UNK]")]
            : zip(encoding.tokens, encoding.offsets).prefix(ids.count).map { AttentionExport.Token(text: $0.0, bytes: $0.1) }
        if model.config.pooling == .cls { tokens.insert(AttentionExport.Token(text: "[CLS]"), at: 0) }
        let prediction = "\(labels[best]) (\(String(format: "%.1f", p[best] * 100))%)"
        try AttentionExport.write(maps, kind: "classification", input: text, output: nil, prediction: prediction, tokens: ["tokens": tokens],
                                  axes: { _ in ("tokens", "tokens") }, pictures: pictures, to: directory)
        return (labels[best], p[best])
    }
}

extension ImageClassification {
    /// Classifies `picture` with attention capture and writes its report: each layer's self-attention over the
    /// patches (and class token), the input, and one strip with each layer's attention over the image — the class
    /// token's row, or with mean pooling the attention each patch receives — and the rollout (Abnar & Zuidema).
    /// - Throws: when the model has no attention (the CNN).
    @discardableResult
    public func writeAttention(of picture: RGBImage, name: String, to directory: URL, pictures: Bool = true) throws -> (label: String, probability: Float) {
        guard let vit = model as? VisionTransformer else {
            throw RunDirectoryError(message: "this run's model (\(type(of: model))) has no attention layers; attention reports need a ViT (attn train vit)")
        }
        vit.eval()
        let x = input(picture)
        let (logits, maps) = withAttentionCapture(on: vit) { withNoGrad { vit(x) } }
        let p = logits.softmax(axis: -1).scalars
        let best = argmaxRows([p])[0]
        let cls = vit.config.pooling == .cls, side = vit.config.patchesPerSide, n = side * side, off = cls ? 1 : 0
        let tokens = (cls ? [AttentionExport.Token(text: "[CLS]")] : []) + (0..<n).map { AttentionExport.Token(text: "p\($0)") }
        // The heat over patches of a [T, T] map: the class token's row, or each patch's mean received attention.
        func heat(_ m: [Float], t: Int) -> [Float] {
            cls ? Array(m[off..<t]) : (0..<n).map { c in (0..<t).map { m[$0 * t + c] }.reduce(0, +) / Float(t) }
        }
        var overlays: [(title: String, heat: [Float])] = []
        let t = maps.entries.first?.weights.shape[2] ?? 0
        for (i, e) in maps.entries.enumerated() {
            overlays.append(("layer \(i)", heat(e.weights.mean(axis: 1).scalars, t: t)))
        }
        if !maps.entries.isEmpty { overlays.append(("rollout", heat(attentionRollout(maps.entries.map(\.weights)).scalars, t: t))) }
        let prediction = "\(labels[best]) (\(String(format: "%.1f", p[best] * 100))%)"
        try AttentionExport.write(maps, kind: "image-classification", input: name, output: nil, prediction: prediction, tokens: ["patches": tokens],
                                  axes: { _ in ("patches", "patches") },
                                  image: .init(picture: picture, patchSide: side, classToken: cls, overlays: overlays), pictures: pictures, to: directory)
        return (labels[best], p[best])
    }
}

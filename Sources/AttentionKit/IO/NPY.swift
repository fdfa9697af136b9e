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
        public var text: String
        public var bytes: [Int]?
        public init(text: String, bytes: Range<Int>? = nil) { self.text = text; self.bytes = bytes.map { [$0.lowerBound, $0.upperBound] } }
    }

    struct Layer: Encodable { let path: String; let file: String; let heads: Int; let shape: [Int]; let queries: String; let keys: String }
    struct Index: Encodable {
        let kind: String
        let input: String
        let output: String?
        let tokens: [String: [Token]]
        let layers: [Layer]
    }

    /// Writes the maps into `directory`.
    /// - Parameters:
    ///   - axes: for a module path, which token lists its queries and keys run over (e.g. ("target", "source") for
    ///     cross-attention); the lists are in `tokens`.
    /// - Returns: the files written.
    @discardableResult
    public static func write(_ maps: AttentionMaps, kind: String, input: String, output: String?, tokens: [String: [Token]],
                             axes: (String) -> (queries: String, keys: String), to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var layers: [Layer] = [], files: [URL] = []
        for (path, w) in maps.entries {
            let (q, k) = axes(path)
            let tq = tokens[q]?.count ?? w.shape[2], tk = tokens[k]?.count ?? w.shape[3]
            // first batch row, cut to the token counts (decoding pads keys of early steps with zeros)
            let m = w.select(axis: 0, index: 0).slice(axis: 1, end: min(tq, w.shape[2])).slice(axis: 2, end: min(tk, w.shape[3])).copy()
            let name = (path.isEmpty ? "attention" : path) + ".npy"
            let url = directory.appendingPathComponent(name)
            try NPY.write(m, to: url)
            files.append(url)
            layers.append(Layer(path: path, file: name, heads: m.shape[0], shape: m.shape, queries: q, keys: k))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let url = directory.appendingPathComponent("maps.json")
        try AtomicFile.write(try encoder.encode(Index(kind: kind, input: input, output: output, tokens: tokens, layers: layers)), to: url)
        return files + [url]
    }
}

extension Translator {
    /// Translates `sentence` greedily with attention capture and writes its maps (`AttentionExport`): encoder
    /// self-attention over source tokens, decoder self-attention over output tokens, cross-attention output × source.
    /// - Returns: the translation.
    @discardableResult
    public func writeAttention(of sentence: String, to directory: URL, maxLength: Int = 64) throws -> String {
        let encoding = sourceTokenizer.encode(sentence, addSpecialTokens: false)
        let ids = Array(encoding.ids.prefix(model.config.maxLength - 1)) + [model.config.eosID]
        let (hyps, maps) = withAttentionCapture(on: model) { model.greedyDecode([ids], maxLength: min(maxLength, model.config.maxLength)) }
        let out = hyps[0].tokens + (hyps[0].finished ? [model.config.eosID] : [])   // one query row per decoding step
        let source = zip(encoding.tokens, encoding.offsets).prefix(ids.count - 1).map { AttentionExport.Token(text: $0.0, bytes: $0.1) }
            + [AttentionExport.Token(text: "[EOS]")]
        let output = out.map { AttentionExport.Token(text: targetTokenizer.token(of: $0) ?? "?") }
        let text = detokenize(targetTokenizer.decode(hyps[0].tokens))
        try AttentionExport.write(maps, kind: "translation", input: sentence, output: text, tokens: ["source": source, "target": output],
                                  axes: { $0.hasPrefix("encoder") ? ("source", "source") : $0.hasSuffix("crossAttention") ? ("target", "source") : ("target", "target") },
                                  to: directory)
        return text
    }
}

import Foundation

/// Why a model cannot be quantized, or a quantized checkpoint cannot be used.
public struct QuantizationError: Error, CustomStringConvertible {
    /// What is wrong.
    public let message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// int8 dynamic quantization of a trained model, as CTranslate2's int8 and PyTorch's `quantize_dynamic`: every
/// `Linear` weight (attention projections, feed-forward, output projection, classifier head) and every `Embedding`
/// table as int8 with one symmetric scale per output row; activations quantized per row when they arrive
/// (`Int8GEMM`); convolutions, normalisation, biases and position tables stay float32.
///
/// A quantized checkpoint (`saveQuantized`) holds each quantized weight as an I8 tensor `NAME` beside its F32 scales
/// `NAME_scale`, with `attentionkit.quantization: int8` in the metadata; `ModelFile.load` reads it back into a model
/// whose `Linear` layers compute in int8 (the same int8 values: quantizing a dequantized row gives it back).
public enum Quantization {
    /// The metadata value of a quantized checkpoint's `attentionkit.quantization`.
    public static let method = "int8"

    /// The paths of the weights that quantization turns to int8: every `Linear.weight` and `Embedding.weight`.
    public static func quantizableWeights(of model: any Module) -> Set<String> {
        var out = Set<String>()
        for (path, module) in model.namedModules() where module is Linear || module is Embedding {
            out.insert(path.isEmpty ? "weight" : path + ".weight")
        }
        return out
    }

    /// Quantizes `model` in place as a quantized checkpoint stores it: every `Embedding` table rounded to its int8
    /// values (the lookup stays a float gather), then every `Linear` computing in int8 (a weight shared by two
    /// layers — a tied output projection — quantized once). The float weights of the Linear layers are kept (other
    /// code reads their `Tensor`), the GEMMs use int8. Returns the number of Linear layers. The model is the same
    /// one `ModelFile.load` makes of the checkpoint `saveQuantized` writes: the same outputs.
    @discardableResult
    public static func quantize(_ model: any Module) -> Int {
        var done: [ObjectIdentifier: Int8Matrix] = [:]
        var count = 0
        var rounded = Set<ObjectIdentifier>()
        for (_, module) in model.namedModules() {
            guard let embedding = module as? Embedding, embedding.weight.dtype == .float32,
                rounded.insert(ObjectIdentifier(embedding.weight)).inserted
            else { continue }
            embedding.weight.assign(Int8Matrix(quantizing: embedding.weight).dequantized())
        }
        for (_, module) in model.namedModules() {
            guard let linear = module as? Linear else { continue }
            let id = ObjectIdentifier(linear.weight)
            let q = done[id] ?? Int8Matrix(quantizing: linear.weight.to(.float32))
            done[id] = q
            linear.quantized = q
            count += 1
        }
        return count
    }

    /// True when some `Linear` of `model` computes in int8.
    public static func isQuantized(_ model: any Module) -> Bool {
        model.namedModules().contains { ($0.module as? Linear)?.quantized != nil }
    }

    /// Writes `model` as a quantized checkpoint: its configuration (as `ModelFile.save`), every quantizable weight as
    /// int8 + scales, everything else float32; atomically. Throws when the model has nothing to quantize.
    public static func saveQuantized<M: ConfigurableModel>(
        _ model: M, to url: URL, metadata: [String: String] = [:]
    ) throws {
        let names = quantizableWeights(of: model)
        guard !names.isEmpty else {
            throw QuantizationError("a \(M.self) has no Linear or Embedding layer to quantize")
        }
        var floats: [(name: String, tensor: Tensor)] = [], int8: [(name: String, matrix: Int8Matrix)] = []
        // the layers `quantize` already turned to int8 keep their matrices (the same values; not computed twice)
        var done: [ObjectIdentifier: Int8Matrix] = [:]
        for (_, module) in model.namedModules() {
            if let linear = module as? Linear, let q = linear.quantized { done[ObjectIdentifier(linear.weight)] = q }
        }
        for (name, t) in model.stateDict() {
            if names.contains(name) && t.rank == 2 {
                let id = ObjectIdentifier(t)
                let q = done[id] ?? Int8Matrix(quantizing: t.to(.float32))
                done[id] = q
                int8.append((name, q))
            } else {
                floats.append((name, t.to(.float32)))
            }
        }
        var meta = metadata
        meta["attentionkit.model"] = String(describing: M.self)
        meta["attentionkit.config"] = String(
            decoding: try SnakeCase.encoder(pretty: false).encode(model.config), as: UTF8.self)
        meta["attentionkit.quantization"] = method
        try Safetensors.write(floats, int8: int8, metadata: meta, to: url)
    }

    /// A quantized checkpoint's tensors as the float state dict they stand for: each I8 `NAME` with its `NAME_scale`
    /// dequantized row by row (the scale entries removed). Throws naming the tensor when a pair does not fit.
    static func dequantize(_ tensors: [String: Tensor], file: String) throws -> [String: Tensor] {
        var out = tensors
        for (name, scale) in tensors where name.hasSuffix("_scale") {
            let weightName = String(name.dropLast("_scale".count))
            guard let w = tensors[weightName], w.rank == 2, scale.shape == [w.shape[0]] else {
                throw CheckpointError.invalidFile(
                    "\(file): '\(name)' has no int8 matrix '\(weightName)' with one row per scale")
            }
            let rows = w.shape[0], columns = w.shape[1]
            let values: [Int8] = try w.withUnsafeFloats { p in
                try (0..<p.count).map { i in
                    let v = p[i]
                    guard v >= -127 && v <= 127 && v == v.rounded() else {
                        throw CheckpointError.invalidFile(
                            "\(file): '\(weightName)' holds \(v) at flat index \(i), not an int8 weight")
                    }
                    return Int8(v)
                }
            }
            let scales = scale.withUnsafeFloats { Array($0) }
            out[weightName] = Int8Matrix(rows: rows, columns: columns, values: values, scales: scales).dequantized()
            out[name] = nil
        }
        return out
    }
}

/// What `Quantization.quantizeRun` did.
public struct QuantizationReport: Sendable {
    /// The run directory written.
    public var output: String
    /// Linear layers that compute in int8, and the weight matrices stored as int8 (with the embeddings).
    public var layers: Int, matrices: Int
    /// Parameters stored as int8, and all parameters.
    public var quantizedParameters: Int, parameters: Int
    /// The weights file's bytes before and after.
    public var floatBytes: Int, int8Bytes: Int
}

extension Quantization {
    /// The files of a run directory that inference reads besides the weights, copied by `quantizeRun`.
    static let inferenceFiles = [
        "labels.json", "tokenizer.json", "source-tokenizer.json", "target-tokenizer.json", "split.json",
        "validation.source", "validation.target"
    ]

    /// Writes an int8 copy of the run `source` (its `weights`) as the run directory `output`: config.json with a
    /// `quantization` entry, the tokenizers and labels, and `best.safetensors` quantized (`saveQuantized`). Every
    /// inference verb loads it. The directory is built beside `output` under a temporary name and renamed into
    /// place when complete, so an interrupted run leaves nothing half-written at `output`.
    /// - Throws: when `source` is already int8 or not a run, when its model has nothing to quantize, or when
    ///   `output` exists (without `overwrite`) or is `source`.
    public static func quantizeRun(
        _ source: RunDirectory, weights: String = "best.safetensors", to output: RunDirectory, overwrite: Bool = false
    ) throws -> QuantizationReport {
        let config = try source.configJSON()
        if let q = config[path: "quantization"] {
            throw QuantizationError(
                "\(source.path) is already an int8 run (its config.json has \"quantization\": \(q.description)); quantize the float run it came from"
            )
        }
        let fm = FileManager.default
        let from = source.url.standardizedFileURL.resolvingSymlinksInPath()
        let to = output.url.standardizedFileURL.resolvingSymlinksInPath()
        guard from.path != to.path else {
            throw QuantizationError("--out \(output.path) is the run itself; choose another directory")
        }
        if fm.fileExists(atPath: to.path) {
            let contents = (try? fm.contentsOfDirectory(atPath: to.path)) ?? ["?"]
            guard overwrite || contents.isEmpty else {
                throw QuantizationError("\(output.path) exists; pass --overwrite to replace it, or another --out")
            }
        }
        let run = try RunTasks.load(source, weights: weights)
        guard let model = run.network as? any ConfigurableModel else {
            throw QuantizationError("\(source.path): its model cannot be rebuilt from a configuration")
        }
        let names = quantizableWeights(of: model)
        let linears = model.namedModules().filter { $0.module is Linear }.count
        guard linears > 0 else {
            throw QuantizationError(
                "\(source.path): its \(type(of: model)) has no Linear layer: int8 would change nothing it computes")
        }
        let sourceMeta = try Safetensors.read(from: source.file(weights)).metadata

        // build beside the destination, rename when complete
        let parent = to.deletingLastPathComponent()
        let prefix = "." + to.lastPathComponent + ".partial-"
        for stale in (try? fm.contentsOfDirectory(atPath: parent.path)) ?? [] where stale.hasPrefix(prefix) {
            try? fm.removeItem(at: parent.appendingPathComponent(stale))
        }
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let temporary = RunDirectory(
            parent.appendingPathComponent(prefix + String(ProcessInfo.processInfo.processIdentifier)))
        try temporary.create()
        do {
            guard case .object(var fields) = config else {
                throw QuantizationError("\(source.configURL.path): not an object")
            }
            fields["quantization"] = .object([
                "method": .string(method), "from": .string(source.path), "weights": .string(weights)
            ])
            try temporary.write(try RunDirectory.encoder.encode(JSONValue.object(fields)), to: "config.json")
            for name in inferenceFiles where fm.fileExists(atPath: source.file(name).path) {
                try temporary.write(try Data(contentsOf: source.file(name)), to: name)
            }
            if var g = try source.generationConfig() {  // the decoding defaults, for the one weights file it has
                g.weights = "best.safetensors"
                try temporary.writeGenerationConfig(g)
            }
            func save<M: ConfigurableModel>(_ m: M) throws {
                try saveQuantized(m, to: temporary.file("best.safetensors"), metadata: sourceMeta)
            }
            try save(model)
            _ = try RunTasks.load(temporary)  // it loads as every verb will load it
            if fm.fileExists(atPath: to.path) { try fm.removeItem(at: to) }
            try fm.moveItem(at: temporary.url, to: to)
        } catch {
            try? fm.removeItem(at: temporary.url)
            throw error
        }
        let stored = model.stateDict()
        var seen = Set<ObjectIdentifier>()
        let unique = stored.filter { seen.insert(ObjectIdentifier($0.tensor)).inserted }
        let quantizedCount = unique.filter { names.contains($0.name) && $0.tensor.rank == 2 }.reduce(0) {
            $0 + $1.tensor.count
        }
        func size(_ url: URL) -> Int { ((try? fm.attributesOfItem(atPath: url.path))?[.size] as? Int) ?? 0 }
        return QuantizationReport(
            output: output.path, layers: linears, matrices: names.count, quantizedParameters: quantizedCount,
            parameters: model.parameterCount(), floatBytes: size(source.file(weights)),
            int8Bytes: size(output.file("best.safetensors")))
    }
}

import Foundation

/// A model built from a value-type configuration, so that a checkpoint can rebuild it.
public protocol ConfigurableModel: Module {
    associatedtype Config: ModelConfiguration
    var config: Config { get }
    init(config: Config, using g: inout RandomGenerator)
}

/// Weights plus the configuration that rebuilds their model, in one safetensors file: the config is JSON in the
/// metadata (`attentionkit.config`, with `attentionkit.model` naming the type).
public enum ModelFile {
    /// Writes `model`'s configuration (as JSON metadata), weights and buffers to `url` as safetensors, atomically.
    public static func save<M: ConfigurableModel>(_ model: M, to url: URL, metadata: [String: String] = [:]) throws {
        var meta = metadata
        // snake_case keys, sorted: the same model gives the same bytes
        let json = try SnakeCase.encoder(pretty: false).encode(model.config)
        meta["attentionkit.model"] = String(describing: M.self)
        meta["attentionkit.config"] = String(decoding: json, as: UTF8.self)
        try Checkpoint.saveWeights(model, to: url, metadata: meta)
    }

    /// Throws naming the first tensor (in name order) that holds NaN or an infinity: a diverged or damaged checkpoint
    /// would otherwise give empty translations and `nan` probabilities without a word.
    public static func checkFinite(_ tensors: [String: Tensor], file: String) throws {
        for name in tensors.keys.sorted() {
            let t = tensors[name]!.to(.float32)
            let bad: Int? = t.withUnsafeFloats { p in
                var sum: Float = 0
                // NaN or ±inf make the sum NaN (vectorises; no branch per element)
                for i in 0..<p.count { sum += p[i] * 0 }
                return sum.isNaN ? (0..<p.count).first { !p[$0].isFinite } : nil
            }
            if let bad {
                throw CheckpointError.invalidFile(
                    "\(file): tensor '\(name)' holds \(t.withUnsafeFloats { $0[bad] }) at flat index \(bad) (a diverged or damaged checkpoint)"
                )
            }
        }
    }

    /// Rebuilds a model of type `M` from its saved configuration and loads its weights.
    /// - Throws: `CheckpointError.invalidFile` naming the file when the config is missing, for another model type
    ///   or malformed; the weight loader's errors for missing or mis-shaped tensors.
    public static func load<M: ConfigurableModel>(_ type: M.Type, from url: URL) throws -> M {
        let (tensors, _, meta) = try Safetensors.read(from: url)
        return try build(type, tensors: tensors, metadata: meta, file: url.path)
    }

    /// Rebuilds whichever of `types` the file names (its `attentionkit.model`), reading the file once; another name
    /// is an error listing the types (`kind` says what they are: "an image classifier").
    public static func load(from url: URL, oneOf types: [any ConfigurableModel.Type], kind: String) throws
        -> any ConfigurableModel
    {
        let (tensors, _, meta) = try Safetensors.read(from: url)
        guard let name = meta["attentionkit.model"] else {
            throw CheckpointError.invalidFile(
                "\(url.path): no model configuration in the metadata (not written by ModelFile.save)")
        }
        guard let type = types.first(where: { String(describing: $0) == name }) else {
            throw CheckpointError.invalidFile(
                "\(url.path): holds a \(name), not \(kind) (\(types.map { String(describing: $0) }.joined(separator: ", ")))"
            )
        }
        func open<M: ConfigurableModel>(_ t: M.Type) throws -> any ConfigurableModel {
            try build(t, tensors: tensors, metadata: meta, file: url.path)
        }
        return try open(type)
    }

    static func build<M: ConfigurableModel>(
        _ type: M.Type, tensors: [String: Tensor], metadata meta: [String: String], file: String
    ) throws -> M {
        guard let name = meta["attentionkit.model"], let text = meta["attentionkit.config"] else {
            throw CheckpointError.invalidFile(
                "\(file): no model configuration in the metadata (not written by ModelFile.save)")
        }
        guard name == String(describing: M.self) else {
            throw CheckpointError.invalidFile("\(file): holds a \(name), not a \(M.self)")
        }
        let config: M.Config
        do { config = try SnakeCase.decoder().decode(M.Config.self, from: Data(text.utf8)) } catch {
            throw CheckpointError.invalidFile(
                "\(file): metadata 'attentionkit.config' is not a valid \(M.self) configuration: \(error)")
        }
        var tensors = tensors
        if let method = meta["attentionkit.quantization"] {
            guard method == Quantization.method else {
                throw CheckpointError.invalidFile(
                    "\(file): quantized as '\(method)', which this version does not read (it reads '\(Quantization.method)')"
                )
            }
            tensors = try Quantization.dequantize(tensors, file: file)
        }
        // At most a few times the weights the file holds (and a small allowance): nothing absurd gets allocated.
        let held = tensors.values.reduce(0.0) { $0 + Double($1.count) }
        do { try config.validate(maxParameters: 4 * held + 1_000_000) } catch {
            throw CheckpointError.invalidFile(
                "\(file): metadata 'attentionkit.config': \((error as? ConfigurationError)?.fileDescription ?? "\(error)")"
            )
        }
        var g = RandomGenerator(seed: 0)
        // the strict load below overwrites every parameter: no random initial values are drawn for it
        let model = Init.skippingRandomValues { M(config: config, using: &g) }
        do { try model.loadStateDict(tensors) } catch let e as CheckpointError { throw CheckpointError.inFile(file, e) }
        try checkFinite(tensors, file: file)
        if meta["attentionkit.quantization"] != nil { Quantization.quantize(model) }  // the same int8 values again
        return model
    }
}

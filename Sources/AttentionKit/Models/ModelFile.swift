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
    public static func save<M: ConfigurableModel>(_ model: M, to url: URL, metadata: [String: String] = [:]) throws {
        var meta = metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys   // the same model gives the same bytes
        let json = try encoder.encode(model.config)
        meta["attentionkit.model"] = String(describing: M.self)
        meta["attentionkit.config"] = String(decoding: json, as: UTF8.self)
        try Checkpoint.saveWeights(model, to: url, metadata: meta)
    }

    /// The model type a checkpoint written by `save` holds (its `attentionkit.model` metadata).
    public static func modelName(in url: URL) throws -> String {
        let (_, _, meta) = try Safetensors.read(from: url)
        guard let name = meta["attentionkit.model"] else {
            throw CheckpointError.invalidState("\(url.path): no model configuration in the metadata (not written by ModelFile.save)")
        }
        return name
    }

    /// Rebuilds a model of type `M` from its saved configuration and loads its weights.
    /// - Throws: `CheckpointError.invalidState` naming the file when the config is missing, for another model type
    ///   or malformed; the weight loader's errors for missing or mis-shaped tensors.
    public static func load<M: ConfigurableModel>(_ type: M.Type, from url: URL) throws -> M {
        let (tensors, _, meta) = try Safetensors.read(from: url)
        guard let name = meta["attentionkit.model"], let text = meta["attentionkit.config"] else {
            throw CheckpointError.invalidState("\(url.path): no model configuration in the metadata (not written by ModelFile.save)")
        }
        guard name == String(describing: M.self) else {
            throw CheckpointError.invalidState("\(url.path): holds a \(name), not a \(M.self)")
        }
        let config: M.Config
        do { config = try JSONDecoder().decode(M.Config.self, from: Data(text.utf8)) } catch {
            throw CheckpointError.invalidState("\(url.path): metadata 'attentionkit.config' is not a valid \(M.self) configuration: \(error)")
        }
        // At most a few times the weights the file holds (and a small allowance): nothing absurd gets allocated.
        let held = tensors.values.reduce(0.0) { $0 + Double($1.count) }
        do { try config.validate(maxParameters: 4 * held + 1_000_000) } catch {
            throw CheckpointError.invalidState("\(url.path): metadata 'attentionkit.config': \(error)")
        }
        var g = RandomGenerator(seed: 0)
        let model = M(config: config, using: &g)
        do { try model.loadStateDict(tensors) } catch let e as CheckpointError { throw CheckpointError.inFile(url.path, e) }
        return model
    }
}

import Foundation

extension RandomGenerator {
    /// The state as 64 hex digits (for checkpoint metadata).
    public var serialized: String {
        [state.0, state.1, state.2, state.3].map { s in
            let h = String(s, radix: 16)
            return String(repeating: "0", count: 16 - h.count) + h
        }.joined()
    }

    /// Restores a generator from `serialized`; nil if the text is not 64 hex digits.
    public init?(serialized text: String) {
        guard text.count == 64, text.allSatisfy(\.isHexDigit) else { return nil }
        let chars = Array(text)
        var words: [UInt64] = []
        for i in 0..<4 {
            guard let w = UInt64(String(chars[(i * 16)..<(i * 16 + 16)]), radix: 16) else { return nil };
            words.append(w)
        }
        self.init(state: (words[0], words[1], words[2], words[3]))
    }
}

/// Model weights and resumable training state in safetensors files.
///
/// - `saveWeights`/`loadWeights`: the model's parameters and buffers under their dotted names (loadable by
///   PyTorch's `safetensors.torch.load_file` + `load_state_dict`).
/// - `saveTrainingState`/`loadTrainingState`: one file with the weights (`model.NAME`), the optimizer moments
///   (`optimizer.state.I.KEY`), and metadata: optimizer step, the generators of every `RandomModule` (Dropout, DropPath, attention dropout), and whatever the
///   caller adds (data RNG, epoch, position in the epoch, schedule step). Restoring it and continuing reproduces an
///   uninterrupted run bit for bit.
public enum Checkpoint {
    /// Writes the model's parameters and buffers (state-dict names) to `url` as safetensors, atomically.
    public static func saveWeights(_ model: some Module, to url: URL, metadata: [String: String] = [:]) throws {
        try Safetensors.write(model.stateDict(), metadata: metadata, to: url)
    }

    /// Loads parameters and buffers from `url`; `strict` refuses missing or unexpected names.
    public static func loadWeights(_ model: some Module, from url: URL, strict: Bool = true) throws {
        let tensors = try Safetensors.read(from: url).tensors
        do { try model.loadStateDict(tensors, strict: strict) } catch let e as CheckpointError {
            throw CheckpointError.inFile(url.path, e)
        }
    }

    /// Writes weights, optimizer state and `metadata` to `url` atomically, for resuming.
    public static func saveTrainingState(
        model: some Module, optimizer: Optimizer, metadata: [String: String] = [:], to url: URL
    ) throws {
        var tensors = model.stateDict().map { (name: "model." + $0.name, tensor: $0.tensor) }
        tensors += optimizer.stateTensors().sorted { $0.key < $1.key }.map {
            (name: "optimizer." + $0.key, tensor: $0.value)
        }
        var meta = metadata
        meta["optimizer.step"] = String(optimizer.stepCount)
        for (path, d) in model.randomModules() { meta["rng.module." + path] = d.generator.serialized }
        try Safetensors.write(tensors, metadata: meta, to: url)
    }

    /// Restores model, optimizer and module generators; returns the metadata (for the caller's own state). Nothing
    /// changes unless the whole file fits (see `prepareTrainingState`).
    @discardableResult
    public static func loadTrainingState(model: some Module, optimizer: Optimizer, from url: URL) throws -> [String:
        String]
    {
        let prepared = try prepareTrainingState(model: model, optimizer: optimizer, from: url)
        prepared.apply()
        return prepared.metadata
    }

    /// Reads a training state and checks all of it against the model and optimizer — every model and optimizer
    /// tensor's name and shape, the optimizer step, every random module's generator — without changing anything;
    /// `apply` then installs it. Errors name the file and the tensor or metadata entry.
    public static func prepareTrainingState(model: some Module, optimizer: Optimizer, from url: URL) throws -> (
        metadata: [String: String], apply: () -> Void
    ) {
        try prepareTrainingState(model: model, optimizer: optimizer, bytes: Safetensors.bytes(of: url), file: url)
    }

    /// `prepareTrainingState` on a file's bytes already in memory (`file` names it in errors).
    public static func prepareTrainingState(model: some Module, optimizer: Optimizer, bytes: Data, file url: URL) throws
        -> (metadata: [String: String], apply: () -> Void)
    {
        let (tensors, _, meta) = try Safetensors.decode(bytes, file: url.path)
        var modelTensors: [String: Tensor] = [:], optimizerTensors: [String: Tensor] = [:]
        for (name, t) in tensors {
            if name.hasPrefix("model.") {
                modelTensors[String(name.dropFirst(6))] = t
            } else if name.hasPrefix("optimizer.") {
                optimizerTensors[String(name.dropFirst(10))] = t
            } else {
                throw CheckpointError.inFile(url.path, .unexpectedTensor(name: name))
            }
        }
        do { try model.checkStateDict(modelTensors) } catch let e as CheckpointError {
            throw CheckpointError.inFile(url.path, e)
        }
        guard let stepText = meta["optimizer.step"], let step = Int(stepText), step >= 0 else {
            throw CheckpointError.invalidState("\(url.path): metadata 'optimizer.step' is missing or not a count")
        }
        let state: [[String: Tensor]]
        do { state = try optimizer.checkedState(optimizerTensors) } catch let e as CheckpointError {
            throw CheckpointError.inFile(url.path, e)
        }
        var generators: [(any RandomModule, RandomGenerator)] = []
        for (path, d) in model.randomModules() {
            guard let text = meta["rng.module." + path], let g = RandomGenerator(serialized: text) else {
                throw CheckpointError.invalidState("\(url.path): metadata 'rng.module.\(path)' is missing or malformed")
            }
            generators.append((d, g))
        }
        return (
            meta,
            {
                model.assignStateDict(modelTensors)
                optimizer.install(state, stepCount: step)
                for (d, g) in generators { d.generator = g }
            }
        )
    }
}

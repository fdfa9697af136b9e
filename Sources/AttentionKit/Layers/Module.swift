/// A neural-network building block with named parameters, named buffers and child modules.
///
/// Names come from explicit paths, never from reflection: each module lists its own parameters
/// (`localParameters`), its buffers (`localBuffers`, e.g. BatchNorm's running statistics) and its children
/// (`children`); the extension joins them into dotted paths such as `features.0.weight`, the same names PyTorch's
/// `state_dict()` uses. Train/eval mode is held per module (`isTraining`) and set recursively by `train()`/`eval()`.
public protocol Module: AnyObject {
    /// This module's own trainable tensors, by local name.
    var localParameters: [(name: String, tensor: Tensor)] { get }
    /// This module's own non-trainable state saved in checkpoints (running statistics), by local name.
    var localBuffers: [(name: String, tensor: Tensor)] { get }
    /// Direct sub-modules, by local name (the index for sequences).
    var children: [(name: String, module: any Module)] { get }
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    var isTraining: Bool { get set }
}

/// A module that maps one tensor to one tensor (what `Sequential` chains).
///
/// Modules with several inputs are ordinary `Module`s with their own `callAsFunction` signature:
/// `MultiHeadAttention` takes query, key, value and a mask; `TransformerDecoderLayer` takes x, memory and masks.
public protocol Layer: Module {
    func callAsFunction(_ input: Tensor) -> Tensor
}

/// A module that draws random numbers (Dropout, DropPath, attention dropout) from a generator of its own.
///
/// The generator is seeded from the caller's (`using: &g`) when the module is built, and checkpoints find every
/// such module through this protocol (`randomModules()`), saving and restoring its state: a resumed run draws the
/// same masks as an uninterrupted one.
public protocol RandomModule: Module {
    var generator: RandomGenerator { get set }
}

extension Module {
    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] { [] }
    /// This module's own non-trainable state saved in checkpoints (running statistics), by local name.
    public var localBuffers: [(name: String, tensor: Tensor)] { [] }
    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] { [] }

    /// Every parameter with its full dotted path, depth first in declaration order.
    ///
    /// A tensor held by two modules (tied input/output embeddings) is listed once, under the first path that
    /// reaches it, unless `removeDuplicates` is false (PyTorch's `named_parameters(remove_duplicate=...)`). So an
    /// optimizer built from `parameters` updates a tied weight once and keeps one state slot for it.
    public func namedParameters(prefix: String = "", removeDuplicates: Bool = true) -> [(name: String, tensor: Tensor)]
    {
        let all = allNamedParameters(prefix: prefix)
        guard removeDuplicates else { return all }
        var seen = Set<ObjectIdentifier>()
        return all.filter { seen.insert(ObjectIdentifier($0.tensor)).inserted }
    }

    private func allNamedParameters(prefix: String) -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = localParameters.map { (prefix + $0.name, $0.tensor) }
        for c in children { out += c.module.allNamedParameters(prefix: prefix + c.name + ".") }
        return out
    }

    /// Every module in the tree with its dotted path ("" for self), depth first.
    public func namedModules(prefix: String = "") -> [(path: String, module: any Module)] {
        var out: [(path: String, module: any Module)] = [(prefix, self)]
        for c in children { out += c.module.namedModules(prefix: prefix.isEmpty ? c.name : prefix + "." + c.name) }
        return out
    }

    /// Every generator-owning module (Dropout, DropPath, attention dropout) with its dotted path.
    public func randomModules() -> [(path: String, module: any RandomModule)] {
        namedModules().compactMap { entry in (entry.module as? any RandomModule).map { (entry.path, $0) } }
    }

    /// Every buffer with its full dotted path.
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = localBuffers.map { (prefix + $0.name, $0.tensor) }
        for c in children { out += c.module.namedBuffers(prefix: prefix + c.name + ".") }
        return out
    }

    /// Parameters and buffers together: what a weights checkpoint holds (PyTorch's `state_dict()`: a tied
    /// tensor appears under each of its names, so a checkpoint loads into a model built with or without tying).
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        namedParameters(removeDuplicates: false) + namedBuffers()
    }

    /// All parameters (including frozen ones), each tensor once.
    public var parameters: [Tensor] { namedParameters().map(\.tensor) }

    /// Parameters that currently require gradients (what an optimizer should update).
    public var trainableParameters: [Tensor] { parameters.filter(\.requiresGrad) }

    /// Number of scalar parameters (all, or only trainable ones).
    public func parameterCount(trainableOnly: Bool = false) -> Int {
        (trainableOnly ? trainableParameters : parameters).reduce(0) { $0 + $1.count }
    }

    /// Sets training mode on this module and all descendants.
    public func train(_ on: Bool = true) {
        isTraining = on
        for c in children { c.module.train(on) }
    }

    /// Sets evaluation mode on this module and all descendants.
    public func eval() { train(false) }

    /// Stops gradients to every parameter of this module (transfer learning: freeze a backbone).
    public func freeze() { for p in parameters { p.requiringGrad(false) } }

    /// Lets gradients flow to every parameter again.
    public func unfreeze() { for p in parameters { p.requiringGrad(true) } }

    /// Freezes the parameters whose path is one of `prefixes` or lies under one (`encoder` freezes
    /// `encoder.layers.0.…`; `patchEmbedding.projection.weight` names one tensor), as `requires_grad_(False)` on a
    /// submodule does in PyTorch; BatchNorm layers under them keep their running statistics (they normalise with
    /// them in training too), so a frozen backbone stays exactly as it was. Returns the frozen names.
    /// - Throws: `CheckpointError.invalidState` naming a prefix that matches no parameter (and the top-level names).
    @discardableResult
    public func freeze(prefixes: [String]) throws -> [String] {
        let named = namedParameters()
        var frozen: [String] = []
        for prefix in prefixes {
            let hits = named.filter { $0.name == prefix || $0.name.hasPrefix(prefix + ".") }
            guard !hits.isEmpty else {
                let tops = Array(Set(named.map { String($0.name.split(separator: ".").first ?? "") })).sorted()
                throw CheckpointError.invalidState(
                    "'\(prefix)' matches no parameter; the model's top-level modules are \(tops.joined(separator: ", "))"
                )
            }
            for (name, p) in hits { p.requiringGrad(false); frozen.append(name) }
            for (path, module) in namedModules() where path == prefix || path.hasPrefix(prefix + ".") {
                (module as? BatchNorm)?.frozenStatistics = true
            }
        }
        return frozen
    }

    /// Copies every tensor of `tensors` whose name and shape match one of this module's parameters or buffers
    /// (fine-tuning from a trained model: a classification head with another class count keeps its fresh
    /// initialisation). Returns what was loaded, what was kept because its shape differs, and the names found on
    /// one side only.
    public func initialize(from tensors: [String: Tensor]) -> TransferReport {
        var report = TransferReport()
        let own = stateDict()
        for (name, t) in own {
            guard let src = tensors[name] else { report.missing.append(name); continue }
            guard src.shape == t.shape else { report.reinitialised.append((name, src.shape, t.shape)); continue }
            t.assign(src.to(t.dtype))
            report.loaded.append(name)
        }
        let ownNames = Set(own.map(\.name))
        report.unused = tensors.keys.filter { !ownNames.contains($0) }.sorted()
        return report
    }

    /// Converts every parameter and buffer to `dtype` in place (PyTorch's `model.double()` / `model.float()`):
    /// the tensors keep their identity, so optimizers and tied weights still see them; gradients are cleared.
    /// Float64 models exist for finite-difference gradient checks.
    public func to(_ dtype: DType) {
        var seen = Set<ObjectIdentifier>()
        for (_, t) in stateDict() where t.dtype != dtype && seen.insert(ObjectIdentifier(t)).inserted {
            t.storage = withNoGrad { t.to(dtype) }.storage
            t.grad = nil
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// Copies values from a name → tensor map into this module's parameters and buffers, in place.
    /// - Parameters:
    ///   - tensors: values by dotted name, as `stateDict()` returns them (or a safetensors file holds them).
    ///   - strict: require every name to be present and no extra names (PyTorch's `strict=True`).
    /// - Throws: `CheckpointError.missingTensor`, `.unexpectedTensor` or `.shapeMismatch`.
    public func loadStateDict(_ tensors: [String: Tensor], strict: Bool = true) throws {
        try checkStateDict(tensors, strict: strict)
        assignStateDict(tensors)
    }

    /// Checks `tensors` against this module's state dict (every name and shape) without changing anything.
    public func checkStateDict(_ tensors: [String: Tensor], strict: Bool = true) throws {
        let own = stateDict()
        let ownNames = Set(own.map(\.name))
        if strict, let extra = tensors.keys.sorted().first(where: { !ownNames.contains($0) }) {
            throw CheckpointError.unexpectedTensor(name: extra)
        }
        for (name, t) in own {
            guard let src = tensors[name] else {
                if strict { throw CheckpointError.missingTensor(name: name) }
                continue
            }
            guard src.shape == t.shape else {
                throw CheckpointError.shapeMismatch(name: name, expected: t.shape, found: src.shape)
            }
        }
    }

    /// Copies the tensors `checkStateDict` accepted into the module.
    func assignStateDict(_ tensors: [String: Tensor]) {
        for (name, t) in stateDict() { if let src = tensors[name], src.shape == t.shape { t.assign(src.to(t.dtype)) } }
    }
}

/// What `Module.initialize(from:)` took from a trained model.
public struct TransferReport {
    /// Tensors copied (same name and shape).
    public var loaded: [String] = []
    /// Same name, other shape (e.g. a head for another number of classes): kept as initialised.
    public var reinitialised: [(name: String, source: [Int], target: [Int])] = []
    /// In this model only (left as initialised).
    public var missing: [String] = []
    /// In the source only (ignored).
    public var unused: [String] = []
    /// An empty report.
    public init() {}

    /// One paragraph for a log.
    public var summary: String {
        var s = "loaded \(loaded.count) tensors"
        if !reinitialised.isEmpty {
            s +=
                "; re-initialised \(reinitialised.count) whose shape differs ("
                + reinitialised.map { "\($0.name) \(fmt($0.source)) → \(fmt($0.target))" }.joined(separator: ", ") + ")"
        }
        if !missing.isEmpty {
            s +=
                "; \(missing.count) not in the source (" + missing.prefix(6).joined(separator: ", ")
                + (missing.count > 6 ? ", …" : "") + ")"
        }
        if !unused.isEmpty {
            s +=
                "; \(unused.count) of the source unused (" + unused.prefix(6).joined(separator: ", ")
                + (unused.count > 6 ? ", …" : "") + ")"
        }
        return s
    }
}

/// Errors loading weights or a training state into modules and optimizers.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case missingTensor(name: String)
    case unexpectedTensor(name: String)
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    case invalidState(String)
    /// A weights file that cannot be used (its own message names the file and the reason).
    case invalidFile(String)
    /// Any of the above, in a file.
    indirect case inFile(String, CheckpointError)

    /// The error as one line, naming the parameter.
    public var description: String {
        switch self {
        case .inFile(let file, let e): return "\(file): \(e)"
        case .missingTensor(let n): return "checkpoint has no tensor '\(n)'"
        case .unexpectedTensor(let n): return "checkpoint has an unexpected tensor '\(n)'"
        case .shapeMismatch(let n, let e, let f):
            return "tensor '\(n)' has shape \(fmt(f)) in the checkpoint, expected \(fmt(e))"
        case .invalidState(let m): return "invalid training state: \(m)"
        case .invalidFile(let m): return m
        }
    }
}

/// Parameter initialisers. `fanIn`/`fanOut` follow PyTorch: for a weight [out, in, k…], fanIn = in·Πk, fanOut = out·Πk.
public enum Init {
    /// Set inside `skippingRandomValues`: the random tensor constructors return zeros without drawing.
    @TaskLocal static var skipsRandomValues = false

    /// Builds modules inside `body` without drawing their random initial values (PyTorch's `skip_init`, Hugging
    /// Face's fast init): `Tensor.uniform` and `Tensor.normal` return zeros and leave the generator as it is. For
    /// a model whose every parameter a checkpoint then overwrites (a strict `loadStateDict`): loading the 6 M
    /// parameters of a translator no longer draws 4 M normal samples first, only for them to be replaced.
    public static func skippingRandomValues<R>(_ body: () throws -> R) rethrows -> R {
        try $skipsRandomValues.withValue(true, operation: body)
    }

    /// (fanIn, fanOut) of a weight shape.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "Init.fans: weight shape \(fmt(shape)) needs at least 2 dimensions")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Xavier/Glorot uniform: U(−a, a), a = gain·√(6/(fanIn+fanOut)).
    public static func xavierUniform(_ shape: [Int], gain: Float = 1, using g: inout RandomGenerator) -> Tensor {
        let (i, o) = fans(shape)
        let a = gain * (6 / Float(i + o)).squareRoot()
        return Tensor.uniform(shape, low: -a, high: a, using: &g)
    }

    /// Xavier/Glorot normal: N(0, σ²), σ = gain·√(2/(fanIn+fanOut)).
    public static func xavierNormal(_ shape: [Int], gain: Float = 1, using g: inout RandomGenerator) -> Tensor {
        let (i, o) = fans(shape)
        return Tensor.normal(shape, std: gain * (2 / Float(i + o)).squareRoot(), using: &g)
    }

    /// He/Kaiming normal for ReLU: N(0, 2/fanIn) (variance 2/fan_in keeps activations' variance across layers).
    public static func kaimingNormal(_ shape: [Int], using g: inout RandomGenerator) -> Tensor {
        Tensor.normal(shape, std: (2 / Float(fans(shape).fanIn)).squareRoot(), using: &g)
    }

    /// He/Kaiming normal for ReLU by fan-out, N(0, 2/fanOut) (PyTorch's `kaiming_normal_(mode="fan_out")`, as
    /// torchvision initialises its ResNets' convolutions).
    public static func kaimingNormalFanOut(_ shape: [Int], using g: inout RandomGenerator) -> Tensor {
        Tensor.normal(shape, std: (2 / Float(fans(shape).fanOut)).squareRoot(), using: &g)
    }

    /// He/Kaiming uniform for ReLU: U(−b, b), b = √(6/fanIn).
    public static func kaimingUniform(_ shape: [Int], using g: inout RandomGenerator) -> Tensor {
        let b = (6 / Float(fans(shape).fanIn)).squareRoot()
        return Tensor.uniform(shape, low: -b, high: b, using: &g)
    }

    /// PyTorch's default for Linear and Conv weights and biases: U(−1/√fanIn, 1/√fanIn)
    /// (kaiming_uniform with a = √5 reduces to exactly this bound).
    public static func torchDefault(_ shape: [Int], fanIn: Int, using g: inout RandomGenerator) -> Tensor {
        let b = fanIn > 0 ? 1 / Float(fanIn).squareRoot() : 0
        return Tensor.uniform(shape, low: -b, high: b, using: &g)
    }
}

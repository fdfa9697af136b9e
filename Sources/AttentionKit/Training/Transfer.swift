import Foundation

/// Transfer learning of a classification run: start from another run's weights (every tensor whose name and shape
/// match) and freeze parameters under module paths.
public struct TransferRecipe: Codable, Sendable, Equatable {
    /// A trained run directory whose best.safetensors the model starts from, or a state-dict .safetensors file
    /// (torchvision's ImageNet weights for `--arch resnet18|resnet50`).
    public var initFrom: String?
    /// Module paths (e.g. `encoder`, `patchEmbedding`; `backbone`: all but the head) whose parameters are not
    /// trained; BatchNorm layers under them keep their statistics.
    public var freeze: [String] = []
    /// The epoch (1-based) from which the frozen parameters train too, at `unfreezeLRFactor` × the learning rate
    /// (nil: they stay frozen): feature extraction first, then fine-tuning with a lower rate for the backbone.
    public var unfreezeEpoch: Int?
    /// The frozen parameters' learning rate relative to the rest's once unfrozen (nil: 0.1).
    public var unfreezeLRFactor: Float?
    /// ULMFiT's gradual unfreezing (Howard & Ruder 2018): the first epoch trains the top layer group (the head)
    /// alone, and each later epoch one more group down (`layerGroups`), until every group trains.
    public var gradualUnfreezing = false
    /// ULMFiT's discriminative fine-tuning: each layer group learns at the rate of the group above it divided by this
    /// (2.6 in the paper); the head at the recipe's rate. Nil: one rate for all.
    public var discriminativeLR: Float?

    /// A transfer recipe: initial weights, frozen module prefixes, when and how the backbone unfreezes, and
    /// ULMFiT's gradual unfreezing and per-layer rates.
    public init(
        initFrom: String? = nil, freeze: [String] = [], unfreezeEpoch: Int? = nil, unfreezeLRFactor: Float? = nil,
        gradualUnfreezing: Bool = false, discriminativeLR: Float? = nil
    ) {
        self.initFrom = initFrom
        self.freeze = freeze
        self.unfreezeEpoch = unfreezeEpoch
        self.unfreezeLRFactor = unfreezeLRFactor
        self.gradualUnfreezing = gradualUnfreezing
        self.discriminativeLR = discriminativeLR
    }

    enum CodingKeys: String, CodingKey {
        case initFrom, freeze, unfreezeEpoch, unfreezeLRFactor, gradualUnfreezing, discriminativeLR
    }

    /// Decodes a recipe; the two ULMFiT fields are absent from runs written before them.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
        freeze = try c.decodeIfPresent([String].self, forKey: .freeze) ?? []
        unfreezeEpoch = try c.decodeIfPresent(Int.self, forKey: .unfreezeEpoch)
        unfreezeLRFactor = try c.decodeIfPresent(Float.self, forKey: .unfreezeLRFactor)
        gradualUnfreezing = try c.decodeIfPresent(Bool.self, forKey: .gradualUnfreezing) ?? false
        discriminativeLR = try c.decodeIfPresent(Float.self, forKey: .discriminativeLR)
    }

    /// Throws a `RunSetupError` for flags that contradict each other.
    public func validate() throws {
        if gradualUnfreezing {
            guard initFrom != nil else {
                throw RunSetupError(
                    "gradual unfreezing fine-tunes a trained model: give --init-from (a run directory or weights file)")
            }
            guard freeze.isEmpty && unfreezeEpoch == nil else {
                throw RunSetupError(
                    "gradual unfreezing decides what is frozen in each epoch: leave out --freeze and --unfreeze-epoch")
            }
        }
        if let f = discriminativeLR {
            guard f >= 1 && f <= 100 && f.isFinite else {
                throw RunSetupError(
                    "the discriminative learning-rate factor must be in [1, 100] (ULMFiT: 2.6), not \(f)")
            }
            guard unfreezeLRFactor == nil else {
                throw RunSetupError(
                    "--discriminative-lr sets every layer group's rate; --unfreeze-lr-factor sets the backbone's: give one"
                )
            }
        }
    }

    /// The parameters of `model` in layer groups from the top (the head, the last module) down to the input (the
    /// embeddings): ULMFiT's unit of gradual unfreezing and discriminative rates. A group is a top-level module,
    /// except that a stack of layers gives one group per layer: `encoder.layers.3.…`, and a recurrent network's
    /// `…_l3` and `…_l3_reverse` tensors (PyTorch's names). Groups are ordered by where their first parameter comes.
    public static func layerGroups(_ model: some Module) -> [(name: String, parameters: [String])] {
        var order: [String] = [], members: [String: [String]] = [:]
        for (name, _) in model.namedParameters() {
            let key = layerGroup(of: name)
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(name)
        }
        return order.reversed().map { ($0, members[$0]!) }
    }

    /// The layer group a parameter belongs to (see `layerGroups`).
    static func layerGroup(of name: String) -> String {
        let parts = name.split(separator: ".").map(String.init)
        if let i = parts.firstIndex(of: "layers"), i + 1 < parts.count, Int(parts[i + 1]) != nil {
            return parts[...(i + 1)].joined(separator: ".")
        }
        if let last = parts.last, let range = last.range(of: "_l", options: .backwards),
            last.hasPrefix("weight_") || last.hasPrefix("bias_")
        {
            let layer = last[range.upperBound...].prefix { $0.isNumber }
            if !layer.isEmpty { return (parts.dropLast() + ["l" + layer]).joined(separator: ".") }
        }
        return parts[0]
    }

    /// The optimizer of `recipe` for `model`. With `unfreezeEpoch`, the frozen parameters are in it from the start in
    /// groups of their own at `unfreezeLRFactor` × the learning rate (schedules scale every group alike); they get no
    /// gradient, so no update and no state, until `unfreezing` lets gradients reach them. With gradual unfreezing or
    /// discriminative rates, every layer group is in it from the start (the ones still frozen get no gradient), at
    /// the recipe's rate divided by `discriminativeLR` once per group below the head.
    public func makeOptimizer(_ recipe: TrainingRecipe, for model: some Module) -> Optimizer {
        if gradualUnfreezing || discriminativeLR != nil {
            let named = Dictionary(
                model.namedParameters().map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
            let factor = discriminativeLR ?? 1
            let groups = Self.layerGroups(model).enumerated().flatMap { depth, group in
                ParameterGroup.split(
                    group.parameters.map { ($0, named[$0]!) }
                        .filter { $0.1.requiresGrad || gradualUnfreezing || unfreezeEpoch != nil },
                    weightDecay: recipe.weightDecay, learningRate: recipe.lr / Float.pow(factor, Float(depth)))
            }
            return recipe.makeOptimizer(groups: groups)
        }
        guard unfreezeEpoch != nil else { return recipe.makeOptimizer(for: model) }
        let trainable = ParameterGroup.weightDecayGroups(model, weightDecay: recipe.weightDecay)
        let frozen = ParameterGroup.weightDecayGroups(model, weightDecay: recipe.weightDecay, frozen: true).map {
            ParameterGroup(
                $0.parameters, learningRate: recipe.lr * (unfreezeLRFactor ?? 0.1), weightDecay: $0.weightDecay)
        }
        return recipe.makeOptimizer(groups: trainable + frozen)
    }

    /// What the trainer calls at the start of every epoch (0-based; a resumed run calls it for the epoch it resumes
    /// in): from `unfreezeEpoch` on, the parameters under `prefixes` train again and their BatchNorm layers update
    /// their statistics. Nil without `unfreezeEpoch`.
    public func unfreezing(_ model: some Module, prefixes: [String], log: @escaping (String) -> Void) -> (
        (Int) -> Void
    )? {
        if gradualUnfreezing { return gradualUnfreezing(model, log: log) }
        guard let unfreezeEpoch, !prefixes.isEmpty else { return nil }
        var done = false
        let factor = unfreezeLRFactor ?? 0.1
        return { epoch in
            guard !done, epoch + 1 >= unfreezeEpoch else { return }
            done = true
            var count = 0
            for (name, p) in model.namedParameters()
            where prefixes.contains(where: { name == $0 || name.hasPrefix($0 + ".") }) {
                p.requiringGrad(true)
                count += 1
            }
            for (path, module) in model.namedModules()
            where prefixes.contains(where: { path == $0 || path.hasPrefix($0 + ".") }) {
                (module as? BatchNorm)?.frozenStatistics = false
            }
            log(
                "epoch \(epoch + 1): unfrozen \(count) tensors under \(prefixes.joined(separator: ", ")); they train at "
                    + (discriminativeLR == nil ? "\(factor) × the learning rate" : "their layer groups' rates"))
        }
    }

    /// Gradual unfreezing's epoch hook: at epoch e (0-based) the top e + 1 layer groups train (the others were
    /// frozen by `apply`); BatchNorm layers of a group update their statistics once it trains.
    func gradualUnfreezing(_ model: some Module, log: @escaping (String) -> Void) -> (Int) -> Void {
        let groups = Self.layerGroups(model)
        var training = 1
        return { epoch in
            let want = min(groups.count, epoch + 1)
            guard want > training else { return }
            Self.setTraining(model, Set(groups[training..<want].flatMap(\.parameters)), true)
            log(
                "epoch \(epoch + 1): unfrozen \(groups[training..<want].map(\.name).joined(separator: ", ")); \(want) of \(groups.count) layer groups train"
            )
            training = want
        }
    }

    /// Lets gradients reach the parameters named in `names` (or stops them), and makes the BatchNorm layers they
    /// belong to update their statistics (or keep them), as `Module.freeze(prefixes:)` does for module paths.
    static func setTraining(_ model: some Module, _ names: Set<String>, _ training: Bool) {
        for (name, p) in model.namedParameters() where names.contains(name) { p.requiringGrad(training) }
        for (path, module) in model.namedModules() {
            if let bn = module as? BatchNorm, names.contains(path + ".weight") || names.contains(path + ".bias") {
                bn.frozenStatistics = !training
            }
        }
    }

    /// Loads matching weights (unless resuming: then resume.safetensors holds them) and freezes; logs both.
    /// - Parameters: head: the module path of the classification head; labels: the new run's classes. When the
    ///   source run's labels.json lists other classes, its head is not loaded even if the shapes agree.
    /// - Returns: the module paths frozen (for `unfreezing`).
    @discardableResult
    public func apply(to model: some Module, resuming: Bool, head: String, labels: [String], log: (String) -> Void)
        throws -> [String]
    {
        try validate()
        var isDirectory: ObjCBool = false
        if let initFrom, !resuming, FileManager.default.fileExists(atPath: initFrom, isDirectory: &isDirectory),
            !isDirectory.boolValue
        {
            try initialize(model, fromStateDict: URL(fileURLWithPath: initFrom), head: head, log: log)
        } else if let initFrom, !resuming {
            let source = RunDirectory(path: initFrom), url = source.file("best.safetensors")
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw RunSetupError(
                    "--init-from \(initFrom): no best.safetensors (not a run directory of `attn train`)")
            }
            let read = try Safetensors.read(from: url)
            try Self.refuseQuantized(read.metadata, url)
            var tensors = read.tensors
            let sourceLabels = try? source.labels()
            if sourceLabels != labels {
                let dropped = tensors.keys.filter { $0 == head || $0.hasPrefix(head + ".") }
                for k in dropped { tensors[k] = nil }
                // a run without classes (a language model) has an output layer there, not a classification head
                if let sourceLabels {
                    log(
                        "the labels differ from \(initFrom)'s (\(sourceLabels.joined(separator: ", "))): \(head) keeps its fresh initialisation"
                    )
                }
            }
            let report = model.initialize(from: tensors)
            guard !report.loaded.isEmpty else {
                throw RunSetupError("--init-from \(url.path): no tensor matches this model (\(report.summary))")
            }
            log("init from \(url.path): \(report.summary)")
        }
        let groups = gradualUnfreezing || discriminativeLR != nil ? Self.layerGroups(model) : []
        if !groups.isEmpty {
            let factor = discriminativeLR ?? 1
            log(
                "layer groups from the top: "
                    + groups.enumerated().map { d, g in
                        g.name
                            + (factor == 1 || d == 0
                                ? "" : String(format: " (lr × %.3g)", 1 / Double(Float.pow(factor, Float(d)))))
                    }.joined(separator: ", ")
                    + (gradualUnfreezing
                        ? "; gradual unfreezing: epoch 1 trains \(groups[0].name), each later epoch one more group"
                        : ""))
        }
        if gradualUnfreezing {
            Self.setTraining(model, Set(groups.dropFirst().flatMap(\.parameters)), false)
            return []
        }
        if !freeze.isEmpty {
            // "backbone": every top-level module but the head (feature extraction)
            let names = model.namedParameters().map(\.name)
            let backbone = model.children.map(\.name).filter { top in
                top != head && names.contains { $0.hasPrefix(top + ".") }
            }
            let prefixes = freeze.flatMap { $0 == "backbone" ? backbone : [$0] }
            let frozen: [String]
            do { frozen = try model.freeze(prefixes: prefixes) } catch { throw RunSetupError("--freeze: \(error)") }
            let n = model.namedParameters().filter { !$0.tensor.requiresGrad }.map { $0.tensor.count }.reduce(0, +)
            log(
                "frozen: \(frozen.count) tensors (\(n) of \(model.parameterCount()) parameters) under \(prefixes.joined(separator: ", "))"
                    + (unfreezeEpoch.map { " until epoch \($0)" } ?? ""))
            return prefixes
        }
        return []
    }

    /// An int8 checkpoint (`attn quantize`) is for inference: training starts from the float run it came from.
    static func refuseQuantized(_ metadata: [String: String], _ url: URL) throws {
        guard metadata["attentionkit.quantization"] == nil else {
            throw RunSetupError(
                "--init-from \(url.path): an int8 checkpoint (attn quantize) is for inference; start from the float run it was quantized from"
            )
        }
    }

    /// Starts `model` from a state-dict file (e.g. torchvision's `resnet18(weights=…).state_dict()` saved with
    /// `safetensors.torch.save_file`): every tensor but the head's must be there with its shape; the head (other
    /// classes) keeps its fresh initialisation.
    /// - Throws: one error listing every tensor that does not fit (missing, extra, or of another shape).
    func initialize(_ model: some Module, fromStateDict url: URL, head: String, log: (String) -> Void) throws {
        let isHead = { (name: String) in name == head || name.hasPrefix(head + ".") }
        let read = try Safetensors.read(from: url)
        try Self.refuseQuantized(read.metadata, url)
        let tensors = read.tensors.filter { !isHead($0.key) }
        let own = model.stateDict().filter { !isHead($0.name) }
        let ownNames = Set(own.map(\.name))
        var problems: [String] = []
        for (name, t) in own {
            guard let src = tensors[name] else { problems.append("\(name): missing from the file"); continue }
            if src.shape != t.shape {
                problems.append(
                    "\(name): [\(src.shape.map(String.init).joined(separator: ", "))] in the file, [\(t.shape.map(String.init).joined(separator: ", "))] in the model"
                )
            }
        }
        for name in tensors.keys.sorted() where !ownNames.contains(name) {
            problems.append("\(name): in the file, not in the model")
        }
        guard problems.isEmpty else {
            throw RunSetupError(
                "--init-from \(url.path): \(problems.count) tensor(s) do not fit this model (is it the state dict of the same architecture? torchvision's resnet18 for --arch resnet18):\n  "
                    + problems.prefix(40).joined(separator: "\n  ")
                    + (problems.count > 40 ? "\n  … and \(problems.count - 40) more" : ""))
        }
        let report = model.initialize(from: tensors)
        log(
            "init from \(url.path): \(report.loaded.count) tensors; \(head) (this run's classes) keeps its fresh initialisation"
        )
    }
}

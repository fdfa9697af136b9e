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

    /// A transfer recipe: initial weights, frozen module prefixes, and when and how the backbone unfreezes.
    public init(
        initFrom: String? = nil, freeze: [String] = [], unfreezeEpoch: Int? = nil, unfreezeLRFactor: Float? = nil
    ) {
        self.initFrom = initFrom
        self.freeze = freeze
        self.unfreezeEpoch = unfreezeEpoch
        self.unfreezeLRFactor = unfreezeLRFactor
    }

    enum CodingKeys: String, CodingKey {
        case initFrom, freeze, unfreezeEpoch, unfreezeLRFactor
    }

    /// The optimizer of `recipe` for `model`. With `unfreezeEpoch`, the frozen parameters are in it from the start in
    /// groups of their own at `unfreezeLRFactor` × the learning rate (schedules scale every group alike); they get no
    /// gradient, so no update and no state, until `unfreezing` lets gradients reach them.
    public func makeOptimizer(_ recipe: TrainingRecipe, for model: some Module) -> Optimizer {
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
                "epoch \(epoch + 1): unfrozen \(count) tensors under \(prefixes.joined(separator: ", ")); they train at \(factor) × the learning rate"
            )
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
                log(
                    "the labels differ from \(initFrom)'s (\((sourceLabels ?? []).joined(separator: ", "))): \(head) keeps its fresh initialisation"
                )
            }
            let report = model.initialize(from: tensors)
            guard !report.loaded.isEmpty else {
                throw RunSetupError("--init-from \(url.path): no tensor matches this model (\(report.summary))")
            }
            log("init from \(url.path): \(report.summary)")
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

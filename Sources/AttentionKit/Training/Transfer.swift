import Foundation

/// Transfer learning of a classification run: start from another run's weights (every tensor whose name and shape
/// match) and freeze parameters under module paths.
public struct TransferRecipe: Codable, Sendable, Equatable {
    /// A trained run directory whose best.safetensors the model starts from.
    public var initFrom: String?
    /// Module paths (e.g. `encoder`, `patchEmbedding`) whose parameters are not trained.
    public var freeze: [String] = []

    public init(initFrom: String? = nil, freeze: [String] = []) {
        self.initFrom = initFrom
        self.freeze = freeze
    }

    enum CodingKeys: String, CodingKey { case initFrom = "init_from", freeze }

    /// Loads matching weights (unless resuming: then resume.safetensors holds them) and freezes; logs both.
    /// - Parameters: head: the module path of the classification head; labels: the new run's classes. When the
    ///   source run's labels.json lists other classes, its head is not loaded even if the shapes agree.
    public func apply(to model: some Module, resuming: Bool, head: String, labels: [String], log: (String) -> Void) throws {
        if let initFrom, !resuming {
            let source = RunDirectory(path: initFrom), url = source.file("best.safetensors")
            guard FileManager.default.fileExists(atPath: url.path) else { throw RunSetupError("--init-from \(initFrom): no best.safetensors (not a run directory of `attn train`)") }
            var tensors = try Safetensors.read(from: url).tensors
            let sourceLabels = try? source.labels()
            if sourceLabels != labels {
                let dropped = tensors.keys.filter { $0 == head || $0.hasPrefix(head + ".") }
                for k in dropped { tensors[k] = nil }
                log("the labels differ from \(initFrom)'s (\((sourceLabels ?? []).joined(separator: ", "))): \(head) keeps its fresh initialisation")
            }
            let report = model.initialize(from: tensors)
            guard !report.loaded.isEmpty else { throw RunSetupError("--init-from \(url.path): no tensor matches this model (\(report.summary))") }
            log("init from \(url.path): \(report.summary)")
        }
        if !freeze.isEmpty {
            let frozen: [String]
            do { frozen = try model.freeze(prefixes: freeze) } catch { throw RunSetupError("--freeze: \(error)") }
            let n = model.namedParameters().filter { !$0.tensor.requiresGrad }.map { $0.tensor.count }.reduce(0, +)
            log("frozen: \(frozen.count) tensors (\(n) of \(model.parameterCount()) parameters) under \(freeze.joined(separator: ", "))")
        }
    }
}

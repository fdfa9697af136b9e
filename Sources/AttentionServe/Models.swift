import AttentionKit
import Foundation

/// One trained run loaded for serving: its name in requests (`"model": NAME`), the task, the loaded run and what
/// `GET /v1/models` says of it.
final class ServedModel: @unchecked Sendable {
    let name: String, path: String, task: String
    let run: any TrainedRun
    let parameters: Int
    let labels: [String]?
    let config: Any?
    /// The translation length penalty requests get by default: the run's generation_config.json's, else 0.6.
    let lengthPenalty: Float

    init(name: String, path: String, weights: String?) throws {
        let directory = RunDirectory(path: path)
        run = try RunTasks.load(directory, weights: try weights ?? directory.defaultWeightsFile())
        lengthPenalty = try directory.defaultLengthPenalty()
        (self.name, self.path) = (name, path)
        task = type(of: run).taskName
        switch run {
        case let t as Translator: (parameters, labels) = (t.model.parameterCount(), nil)
        case let c as TextClassification: (parameters, labels) = (c.model.parameterCount(), c.labels)
        case let c as ImageClassification: (parameters, labels) = (c.model.parameterCount(), c.labels)
        case let l as LanguageModel: (parameters, labels) = (l.model.parameterCount(), nil)
        default: (parameters, labels) = (0, nil)
        }
        config = (try? Data(contentsOf: directory.configURL)).flatMap { try? JSONSerialization.jsonObject(with: $0) }
    }

    /// `GET /v1/models`'s entry.
    var description: [String: Any] {
        var d: [String: Any] = ["name": name, "task": task, "path": path, "parameters": parameters]
        if let labels { d["labels"] = labels }
        if let config { d["config"] = config }
        return d
    }
}

/// The loaded models, by name, in the order given.
struct ModelSet: Sendable {
    let models: [ServedModel]

    /// `--checkpoint RUN` or `--checkpoint NAME=RUN`: the name is NAME, or the run directory's last path component.
    init(specs: [String], weights: String?) throws {
        var loaded: [ServedModel] = []
        for spec in specs {
            var name = URL(fileURLWithPath: spec).standardizedFileURL.lastPathComponent, path = spec
            if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
                name = String(spec[..<eq])
                path = String(spec[spec.index(after: eq)...])
            }
            guard !loaded.contains(where: { $0.name == name }) else {
                throw ServeSetupError("two checkpoints are named '\(name)': give them names with --checkpoint NAME=RUN")
            }
            loaded.append(try ServedModel(name: name, path: path, weights: weights))
        }
        models = loaded
    }

    /// The model a request names (`"model"`), or the first loaded model of the endpoint's task.
    func model(named name: String?, task: String, endpoint: String) throws -> ServedModel {
        try model(named: name, tasks: [task], endpoint: endpoint)
    }

    /// The model a request names, or the first loaded model of one of `tasks` (in the order of `tasks`).
    func model(named name: String?, tasks: [String], endpoint: String) throws -> ServedModel {
        let wanted = tasks.joined(separator: " or ")
        if let name {
            guard let m = models.first(where: { $0.name == name }) else {
                throw APIError(
                    .notFound, "unknown_model",
                    "model: no model named '\(name)' (loaded: \(models.map(\.name).joined(separator: ", ")))")
            }
            guard tasks.contains(m.task) else {
                throw APIError(
                    .badRequest, "wrong_task",
                    "model: '\(name)' is a \(m.task) model; \(endpoint) needs a \(wanted) model")
            }
            return m
        }
        guard let m = tasks.lazy.compactMap({ t in self.models.first { $0.task == t } }).first else {
            throw APIError(
                .notFound, "no_model",
                "\(endpoint) needs a \(wanted) model; loaded: "
                    + models.map { "\($0.name) (\($0.task))" }.joined(separator: ", "))
        }
        return m
    }
}

/// A problem with `attn serve`'s own flags or checkpoints (before the server starts).
public struct ServeSetupError: Error, CustomStringConvertible {
    /// What is wrong.
    public let description: String
    init(_ message: String) { description = message }
}

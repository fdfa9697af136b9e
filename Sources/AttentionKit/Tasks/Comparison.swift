import Foundation

extension ModelComparison {
    /// One row of a comparison: from the run's metrics.jsonl the best validation accuracy, its epoch and the training
    /// time; from its best.safetensors the parameters and the inference throughput measured here (batches of
    /// `batchSize`; text models on sentences of `tokens` tokens). Any task whose run type is a `ComparableRun` fits.
    public static func entry(label: String, run: RunDirectory, batchSize: Int, tokens: Int) throws -> Entry {
        let config: JSONValue
        do { config = try run.configJSON() } catch {
            throw RunDirectoryError(message: "\(run.configURL.path): missing or not a JSON object (not a run directory of `attn train`)")
        }
        let type = try RunTasks.runType(of: run)
        guard type is any ComparableRun.Type else {
            throw RunDirectoryError(message: "\(run.configURL.path): task \"\(type.taskName)\" is not a classification run (attn train cnn|vit|classifier)")
        }
        let summary = try summarize(metricsJSONL: run.file("metrics.jsonl"))
        guard let loaded = try RunTasks.load(run) as? any ComparableRun else {
            throw RunDirectoryError(message: "\(run.path): cannot be measured")
        }
        let measured = loaded.measure(batchSize: batchSize, tokens: tokens)
        // `arch` names the CNN verbs' architecture (runs written before format_version 2 kept it under "training").
        let arch: String?
        if case .string(let a)? = config[path: "arch"] ?? config[path: "training.arch"] { arch = a } else { arch = nil }
        return Entry(name: label, task: measured.kind, model: arch.map { "\(measured.model) (\($0))" } ?? measured.model,
                     validationAccuracy: summary.accuracy, bestEpoch: summary.bestEpoch, epochs: summary.epochs,
                     parameters: measured.parameters, trainingSeconds: summary.seconds,
                     inferencePerSecond: measured.itemsPerSecond, inferenceBatch: batchSize)
    }
}

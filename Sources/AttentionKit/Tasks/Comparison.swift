import Foundation

extension ModelComparison {
    /// One row of a comparison: from the run's metrics.jsonl the best validation accuracy (translation: BLEU), its
    /// epoch and the training time; from its best.safetensors the parameters and the inference throughput measured
    /// here as `request` says (batches of `batchSize`; text models on sentences of `tokens` tokens; translation: its
    /// validation sentences with a beam of `beam`, scored with BLEU and chrF). Any task whose run type is a
    /// `ComparableRun` fits.
    public static func entry(label: String, request: ComparisonRequest) throws -> Entry {
        let run = request.run
        let config: JSONValue
        do { config = try run.configJSON() } catch {
            throw RunDirectoryError(
                message: "\(run.configURL.path): missing or not a JSON object (not a run directory of `attn train`)")
        }
        let type = try RunTasks.runType(of: run)
        guard let comparable = type as? any ComparableRun.Type else {
            throw RunDirectoryError(
                message:
                    "\(run.configURL.path): task \"\(type.taskName)\" cannot be compared (attn compare takes runs of attn train cnn|vit|classifier|translation)"
            )
        }
        let summary = try summarize(metricsJSONL: run.file("metrics.jsonl"), key: comparable.comparisonMetric)
        guard let loaded = try RunTasks.load(run) as? any ComparableRun else {
            throw RunDirectoryError(message: "\(run.path): cannot be measured")
        }
        let measured = try loaded.measure(request)
        // `arch` names the CNN verbs' architecture (runs written before format_version 2 kept it under "training").
        let arch: String?
        if case .string(let a)? = config[path: "arch"] ?? config[path: "training.arch"] { arch = a } else { arch = nil }
        let metric = comparable.comparisonMetric
        return Entry(
            name: label, task: measured.kind, model: arch.map { "\(measured.model) (\($0))" } ?? measured.model,
            metric: metric, score: measured.scores[metric] ?? summary.best, chrF: measured.scores["chrf"],
            beam: measured.beam,
            bestEpoch: summary.bestEpoch, epochs: summary.epochs, parameters: measured.parameters,
            trainingSeconds: summary.seconds,
            inferencePerSecond: measured.itemsPerSecond, inferenceUnit: measured.unit, inferenceBatch: measured.batch)
    }
}

// classify-text: trains and evaluates a text classifier through the library's task API only — no CLI — as a
// program that imports AttentionKit would: a typed run configuration, a run directory, training, then the trained
// run loaded back for evaluation and prediction.
// Usage: swift run -c release classify-text [DATA] [RUN_DIR] [EPOCHS]
//   DATA defaults to corpora/trec-sample/train.label (TREC questions: `COARSE:fine question`).
import AttentionKit
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
let data = args.count > 0 ? args[0] : "corpora/trec-sample/train.label"
let runPath = args.count > 1 ? args[1] : "runs/classify-text"
let epochs = args.count > 2 ? Int(args[2]) ?? 8 : 8

do {
    // 1. The run configuration: model, data format, vocabulary, recipe (the same struct `attn train classifier` fills).
    var model = TextClassifierConfig(vocabulary: 0, classes: 0)  // vocabulary and classes come from the data
    (model.dModel, model.heads, model.layers, model.feedForward, model.pooling, model.dropout) = (
        64, 4, 2, 128, .mean, 0.1
    )
    var recipe = TrainingRecipe(
        epochs: epochs, lr: 1e-3, optimizer: .adamw(beta2: 0.999), weightDecay: 0.05, clipNorm: 1)
    (recipe.batchSize, recipe.labelSmoothing, recipe.defaultWarmupSteps, recipe.seed) = (32, 0.1, 50, 0)
    let config = TextClassificationConfig(
        model: .transformer(model), format: TextFormat(format: .trec),
        data: LabelledTextData(data: data, valFraction: 0.2),
        tokenizer: .wordLevel(lowercase: true, minFrequency: 1), training: recipe)

    // 2. Train in a run directory (config.json, tokenizer, labels, checkpoints, metrics, report.txt).
    let run = RunDirectory(path: runPath)
    let context = RunContext(directory: run, log: { print($0) })
    context.showProgress = false
    let outcome = try TextClassificationTask.run(config, in: context)
    print("trained: best epoch \(outcome.summary.bestEpoch) of \(outcome.summary.epochsCompleted)")

    // 3. Load the trained run back (RunTasks picks the type by config.json's task) and score the validation texts:
    //    the same seeded, stratified split the run held out.
    let trained = try RunTasks.load(run)
    print("loaded a \(type(of: trained).displayName) run")
    let classifier = try TextClassification.load(from: run.url)
    let (examples, _) = try config.format.read(data)
    let validation = LabelledCorpus.stratifiedSplit(
        examples, validationFraction: config.data.valFraction, seed: recipe.seed
    ).validation
    let report = try classifier.evaluate(validation)
    print(
        String(
            format: "validation accuracy %.1f%%, macro-F1 %.3f on %d texts (the epoch was picked on them too)",
            report.accuracy * 100, report.macroF1, report.count))
    let questions = ["How far is the moon from the earth ?", "Who wrote Hamlet ?"]
    for (text, top) in zip(questions, classifier.classify(questions, top: 2)) {
        print(text, "→", top.map { "\($0.label) \(String(format: "%.2f", $0.probability))" }.joined(separator: ", "))
    }
} catch {
    FileHandle.standardError.write(Data("classify-text: \(error)\n".utf8))
    exit(1)
}

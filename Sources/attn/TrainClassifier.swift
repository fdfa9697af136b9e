import ArgumentParser
import AttentionKit
import Foundation

/// How a labelled-text file is read; recorded in config.json so `attn evaluate` reads test data the same way.
struct TextFormat: Codable {
    var format: String            // "trec" or "tsv"
    var fine: Bool = false        // TREC: fine labels
    var labelColumn = 0, textColumn = 1

    func read(_ path: String) throws -> (examples: [LabelledText], notes: [String]) {
        let url = URL(fileURLWithPath: path)
        return format == "trec" ? try LabelledCorpus.readTREC(url, fine: fine)
                                : try LabelledCorpus.readTSV(url, labelColumn: labelColumn, textColumn: textColumn)
    }
}

/// `attn train classifier`.
struct TrainClassifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Train a transformer text classifier (TREC questions, SMS spam, any label<TAB>text file).",
        discussion: """
        Formats: --format trec (`COARSE:fine question`, --label coarse|fine; a line that is not UTF-8 is read as \
        Latin-1 and reported) or --format tsv (label and text columns by --columns, 1-based, default 1,2). \
        Validation: --valid-data, or a seeded, stratified --val-fraction (each label keeps its share).

        The default recipe: lowercased word-level vocabulary (words seen twice), a pre-norm encoder of 2 layers, \
        d 128, 4 heads, feed-forward 256, dropout 0.2, masked-mean pooling, label smoothing 0.1, AdamW (weight decay \
        0.05) at a peak 1e-3 after 100 warmup steps with cosine decay, batches of 32, 20 epochs; the epoch with the \
        best validation accuracy is kept. --model cnn is Kim's CNN-rand (2014): embeddings of width 300, convolutions \
        of widths 3, 4, 5 × 100 filters, ReLU, max over time, dropout 0.5, linear.

        Writes to --out (default runs/classifier): config.json, tokenizer.json, labels.json, best/last/resume \
        .safetensors, metrics.jsonl/csv, curves.png, report.txt (per-class precision/recall/F1 and the \
        confusion matrix of the best model on the validation data) and confusion.png (the same matrix drawn).
        """
    )

    @OptionGroup var common: CommonTrainingOptions
    @OptionGroup var transfer: TransferOptions
    @Option(name: .customLong("attention-example"), help: "After training, write the attention report (attn attention) of this text to RUN/attention.")
    var attentionExample: String?
    @Option(help: "Training data.")
    var data: String
    @Option(help: "trec or tsv.")
    var format = "tsv"
    @Option(help: "TREC: coarse (6 classes) or fine (50).")
    var label = "coarse"
    @Option(help: "TSV: the 1-based label and text columns.")
    var columns = "1,2"
    @Option(name: .customLong("valid-data"), help: "Validation data in the same format (default: a stratified --val-fraction of --data).")
    var validData: String?
    @Option(name: .customLong("val-fraction"), parsing: .unconditional, help: "Without --valid-data: the fraction of each label held out (seeded).")
    var valFraction = 0.1
    @Option(help: "Tokenizer trained on the training texts: word (lowercased words) or bpe (byte-level BPE, lowercased; subwords share what rare words have in common).")
    var tokenizer = "word"
    @Option(name: .customLong("vocab-size"), parsing: .unconditional, help: "BPE: vocabulary size.")
    var vocabSize = 4000
    @Option(name: .customLong("min-frequency"), parsing: .unconditional, help: "Word tokenizer: keep words seen at least this often in training.")
    var minFrequency = 2
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Texts per step.")
    var batchSize = 32
    @Option(help: "transformer (the TextClassifier encoder) or cnn (Kim's CNN-rand: parallel convolutions, max over time).")
    var model = "transformer"
    @Option(help: "CNN: window widths of the parallel convolutions.")
    var kernels = "3,4,5"
    @Option(parsing: .unconditional, help: "CNN: filters per width.")
    var filters = 100
    @Option(name: .customLong("d-model"), parsing: .unconditional, help: "Model width (default 128), or the CNN's embedding width (default 300, Kim's).")
    var dModelOption: Int?
    @Option(parsing: .unconditional, help: "Attention heads.")
    var heads = 4
    @Option(parsing: .unconditional, help: "Encoder layers.")
    var layers = 2
    @Option(name: .customLong("feed-forward"), parsing: .unconditional, help: "Feed-forward hidden width.")
    var feedForward = 256
    @Option(name: .customLong("dropout"), parsing: .unconditional, help: "Dropout (default 0.2; --model cnn: 0.5 before the linear layer, Kim's).")
    var dropoutOption: Float?
    @Option(help: "Pooling: cls, mean or max (max-over-time).")
    var pooling = "mean"
    @Option(name: .customLong("label-smoothing"), parsing: .unconditional, help: "Label smoothing of the cross-entropy.")
    var labelSmoothing: Float = 0.1
    @Option(name: .customLong("class-weights"), help: "Loss weight per class: none, or balanced (n / (classes · n_class), for skewed labels such as SMS spam).")
    var classWeights = "none"
    @Option(name: .customLong("max-length"), parsing: .unconditional, help: "Longest text in tokens (longer ones are cut).")
    var maxLength = 128

    func validate() throws {
        guard ["trec", "tsv"].contains(format) else { throw ValidationError("--format must be trec or tsv, not '\(format)'") }
        guard ["coarse", "fine"].contains(label) else { throw ValidationError("--label must be coarse or fine, not '\(label)'") }
        guard ["transformer", "cnn"].contains(model) else { throw ValidationError("--model must be transformer or cnn, not '\(model)'") }
        guard !kernelList.isEmpty, kernelList.allSatisfy({ $0 > 0 && $0 <= 16 }), filters > 0 else {
            throw ValidationError("--kernels must be widths from 1 to 16 (e.g. 3,4,5) and --filters positive")
        }
        guard ["word", "bpe"].contains(tokenizer) else { throw ValidationError("--tokenizer must be word or bpe, not '\(tokenizer)'") }
        guard vocabSize >= 300 else { throw ValidationError("--vocab-size must be at least 300 (256 bytes, special tokens and merges)") }
        guard ["none", "balanced"].contains(classWeights) else { throw ValidationError("--class-weights must be none or balanced, not '\(classWeights)'") }
        guard ["cls", "mean", "max"].contains(pooling) else { throw ValidationError("--pooling must be cls, mean or max, not '\(pooling)'") }
        guard valFraction > 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in (0, 1)") }
        guard batchSize > 0, dModel > 0, heads > 0, model == "cnn" || dModel % heads == 0, layers > 0, feedForward > 0, maxLength > 0, minFrequency >= 1 else {
            throw ValidationError("sizes must be positive and --d-model a multiple of --heads")
        }
        guard dropout >= 0 && dropout < 1, labelSmoothing >= 0 && labelSmoothing < 1 else { throw ValidationError("--dropout and --label-smoothing must be in [0, 1)") }
        _ = try textFormat()
    }

    var dModel: Int { dModelOption ?? (model == "cnn" ? 300 : 128) }
    var dropout: Float { dropoutOption ?? (model == "cnn" ? 0.5 : 0.2) }
    var kernelList: [Int] { kernels.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) ?? -1 } }

    func textFormat() throws -> TextFormat {
        let c = columns.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard c.count == 2, c.allSatisfy({ $0 >= 1 }), c[0] != c[1] else { throw ValidationError("--columns must be two different 1-based column numbers, e.g. 1,2") }
        return TextFormat(format: format, fine: label == "fine", labelColumn: c[0] - 1, textColumn: c[1] - 1)
    }

    func run() throws {
        do { try train() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch { throw CLIError("\(error)") }
    }

    func train() throws {
        let dir = URL(fileURLWithPath: common.out ?? "runs/classifier")
        let dp = try common.dataParallel()
        let epochs = common.epochs ?? 20, lr = common.lr ?? 1e-3, weightDecay = common.weightDecay ?? 0.05
        let fmt = try textFormat()
        if common.resume {
            try ResumeCheck.config(in: dir, [
                .init("data.data", data, "--data"), .init("data.valid_data", validData ?? NSNull(), "--valid-data"),
                .init("data.val_fraction", valFraction, "--val-fraction"),
                .init("format", try JSONSerialization.jsonObject(with: JSONEncoder().encode(fmt)), "--format/--label/--columns"),
                .init("training.batch_size", batchSize, "--batch-size"), .init("training.seed", common.seed, "--seed"),
            ])
        }
        var (examples, notes) = try fmt.read(data)
        var validation: [LabelledText]
        if let validData {
            let (v, vn) = try fmt.read(validData)
            validation = v
            notes += vn
        } else {
            (examples, validation) = LabelledCorpus.stratifiedSplit(examples, validationFraction: valFraction, seed: common.seed)
        }
        for n in notes { FileHandle.standardError.write("note: \(n)\n".data(using: .utf8)!) }
        guard !examples.isEmpty, !validation.isEmpty else { throw CLIError("no training or validation examples in \(data)") }
        let labels = Array(Set(examples.map(\.label))).sorted()
        say("data: \(examples.count) training and \(validation.count) validation texts, \(labels.count) labels: " +
            labels.map { l in "\(l) \(examples.filter { $0.label == l }.count)" }.joined(separator: ", "))

        let classification: TextClassification
        if common.resume {
            classification = try TextClassification.rebuild(from: dir)   // weights come from resume.safetensors
        } else {
            let tok: Tokenizer
            let model: any TextClassificationModel
            let modelConfig: Data
            var g = RandomGenerator(seed: common.seed)
            if let from = transfer.initFrom {
                // Fine-tuning keeps the trained model's vocabulary and architecture; only the head follows the new labels.
                let source: TextClassification
                // Its configuration and tokenizer only: `transfer.apply` below loads its weights.
                do { source = try TextClassification.rebuild(from: URL(fileURLWithPath: from)) } catch { throw CLIError("--init-from: \(error)") }
                tok = source.tokenizer
                if let cnn = source.model as? TextCNN {
                    var c = cnn.config
                    c.classes = labels.count; c.dropout = dropout
                    model = TextCNN(config: c, using: &g); modelConfig = try JSONEncoder().encode(c)
                } else {
                    var c = (source.model as! TextClassifier).config
                    c.classes = labels.count; c.dropout = dropout; c.pooling = Pooling(rawValue: pooling) ?? .mean
                    model = TextClassifier(config: c, using: &g); modelConfig = try JSONEncoder().encode(c)
                }
                say("fine-tuning from \(from): its tokenizer (\(tok.vocabularySize) tokens) and architecture; --model, --d-model, --heads, --layers, --feed-forward, --max-length and --min-frequency are not used")
            } else {
                tok = tokenizer == "bpe" ? Translator.trainByteLevelBPE(examples.map(\.text), vocabularySize: vocabSize, lowercase: true)
                                         : Translator.trainWordLevel(examples.map(\.text), lowercase: true, minFrequency: minFrequency)
                if self.model == "cnn" {
                    var c = TextCNNConfig(vocabulary: tok.vocabularySize, classes: labels.count)
                    c.embeddingDim = dModel; c.filters = filters; c.kernelSizes = kernelList; c.dropout = dropout
                    c.maxLength = maxLength; c.padID = tok.id(of: "[PAD]") ?? 0
                    model = TextCNN(config: c, using: &g); modelConfig = try JSONEncoder().encode(c)
                } else {
                    var c = TextClassifierConfig(vocabulary: tok.vocabularySize, classes: labels.count)
                    c.dModel = dModel; c.heads = heads; c.layers = layers; c.feedForward = feedForward
                    c.maxLength = maxLength; c.padID = tok.id(of: "[PAD]") ?? 0
                    c.dropout = dropout; c.pooling = Pooling(rawValue: pooling) ?? .mean
                    model = TextClassifier(config: c, using: &g); modelConfig = try JSONEncoder().encode(c)
                }
            }
            classification = TextClassification(model: model, tokenizer: tok, labels: labels)
            if isLeadProcess {
            try classification.saveVocabularies(to: dir)
            let config: [String: Any] = [
                "task": "classification", "model_type": String(describing: type(of: model)),
                "model": try JSONSerialization.jsonObject(with: modelConfig),
                "format": try JSONSerialization.jsonObject(with: JSONEncoder().encode(fmt)),
                "data": ["data": data, "valid_data": validData ?? NSNull(), "val_fraction": valFraction],
                "training": ["epochs": epochs, "lr": lr, "weight_decay": weightDecay, "batch_size": batchSize, "seed": common.seed,
                             "label_smoothing": labelSmoothing, "min_frequency": minFrequency, "class_weights": classWeights,
                             "tokenizer": tokenizer, "vocab_size": vocabSize,
                             "init_from": transfer.initFrom ?? NSNull(), "freeze": transfer.prefixes],
            ]
            try AtomicFile.write(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                                 to: dir.appendingPathComponent("config.json"))
            }
        }
        let model = classification.model
        try transfer.apply(to: model, resuming: common.resume, head: "head", labels: labels)
        say("model: \(type(of: model)), \(model.parameterCount()) parameters; vocabulary \(classification.tokenizer.vocabularySize)")
        var weights: [Float]? = nil
        if classWeights == "balanced" {
            let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
            let w = balancedClassWeights(examples.map { index[$0.label]! }, classes: labels.count)
            weights = w
            say("class weights: " + zip(labels, w).map { "\($0) \(String(format: "%.3f", $1))" }.joined(separator: ", "))
        }
        let task = try TextClassificationTask(classification: classification, train: examples, validation: validation, batchSize: batchSize,
                                              labelSmoothing: labelSmoothing, classWeights: weights, seed: common.seed &+ 1,
                                              shard: dp?.shard ?? .whole)
        let optimizer = AdamW(ParameterGroup.weightDecayGroups(model, weightDecay: weightDecay), learningRate: lr, weightDecay: weightDecay)
        let trainer = Trainer(task: task, optimizer: optimizer, schedule: try common.makeSchedule(stepsPerEpoch: task.batchesPerEpoch, epochs: epochs, defaultWarmup: 100),
                              options: common.options(epochs: epochs, clipNorm: 1, bestMetric: "val_accuracy", higherIsBetter: true), directory: dir)
        trainer.log = say
        trainer.dataParallel = dp
        let summary = try trainer.run(resume: common.resume)
        if summary.interrupted { throw ExitCode(130) }
        guard isLeadProcess else { return }
        let best = try TextClassification.load(from: dir)
        let report = try best.evaluate(validation)
        try AtomicFile.write(Data((report.table + "\n").utf8), to: dir.appendingPathComponent("report.txt"))
        try report.confusionMatrixImage(title: "validation").writePNG(to: dir.appendingPathComponent("confusion.png"))
        say(report.table)
        say(String(format: "best validation accuracy %.2f%% at epoch %d; %.0f s; run directory %@", summary.bestValue * 100, summary.bestEpoch, summary.seconds, dir.path))
        if let attentionExample {
            let out = dir.appendingPathComponent("attention")
            let (label, p) = try best.writeAttention(of: attentionExample, to: out)
            say(String(format: "attention report of \"%@\" (%@, %.3f): %@", attentionExample, label, p, out.appendingPathComponent("index.html").path))
        }
    }
}

/// `attn classify`.
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts with a trained classifier (stdin lines or --text) to stdout.",
        discussion: "One line per input: `label<TAB>probability`, or with --top K the K best as `label:probability` separated by tabs."
    )
    @Option(help: "Run directory written by `attn train classifier`.")
    var checkpoint: String
    @Option(help: "A text to classify (repeatable); without it, lines are read from standard input.")
    var text: [String] = []
    @Option(parsing: .unconditional, help: "Labels to print per text, best first.")
    var top = 1
    @Option(help: "Weights in the run directory: best, last, or a file name in it.")
    var weights = "best"

    func validate() throws { guard top >= 1 else { throw ValidationError("--top must be at least 1") } }

    func run() throws {
        let c: TextClassification
        do { c = try TextClassification.load(from: URL(fileURLWithPath: checkpoint), weights: weightsFile(weights)) } catch { throw CLIError("\(error)") }
        let inputs = try text.isEmpty ? standardInputLines() : text
        for r in c.classify(inputs, top: min(top, c.labels.count)) {
            if top == 1 { print("\(r[0].label)\t\(String(format: "%.4f", r[0].probability))") }
            else { print(r.map { "\($0.label):\(String(format: "%.4f", $0.probability))" }.joined(separator: "\t")) }
        }
    }
}

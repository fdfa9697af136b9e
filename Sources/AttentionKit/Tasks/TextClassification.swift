import Foundation

// The text classification task: its run configuration, its TrainingTask, training a run, and a trained run's
// classification, evaluation, comparison and attention report.

/// How a labelled-text file is read; recorded in config.json so that `attn evaluate` reads test data the same way.
public struct TextFormat: Codable, Sendable, Equatable {
    /// The file layouts a classifier reads.
    public enum Layout: String, Codable, CaseIterable, Sendable {
        /// TREC questions: `COARSE:fine question` (a line that is not UTF-8 is read as Latin-1 and reported).
        case trec
        /// Label and text columns separated by tabs.
        case tsv
    }
    /// How each line holds a label and a text.
    public var format: Layout
    /// TREC: the fine labels (50) instead of the coarse ones (6).
    public var fine = false
    /// TSV: the 0-based label and text columns.
    public var labelColumn = 0, textColumn = 1

    /// A format with its layout; TREC `fine` labels; the 0-based label and text columns of TSV.
    public init(format: Layout, fine: Bool = false, labelColumn: Int = 0, textColumn: Int = 1) {
        self.format = format
        self.fine = fine
        self.labelColumn = labelColumn
        self.textColumn = textColumn
    }

    /// The labelled texts of `path` and notes about lines read unusually (the readers' errors name the file and line).
    public func read(_ path: String) throws -> (examples: [LabelledText], notes: [String]) {
        let url = URL(fileURLWithPath: path)
        return format == .trec
            ? try LabelledCorpus.readTREC(url, fine: fine)
            : try LabelledCorpus.readTSV(url, labelColumn: labelColumn, textColumn: textColumn)
    }
}

/// The model of a text classification run: the transformer `TextClassifier`, Kim's `TextCNN` or the recurrent
/// `RecurrentTextClassifier` (a BiLSTM).
public enum TextModelConfig: Sendable, Equatable {
    case transformer(TextClassifierConfig)
    case cnn(TextCNNConfig)
    case recurrent(RecurrentTextClassifierConfig)

    /// config.json's `model_type`.
    public var typeName: String {
        switch self {
        case .transformer: return String(describing: TextClassifier.self)
        case .cnn: return String(describing: TextCNN.self)
        case .recurrent: return String(describing: RecurrentTextClassifier.self)
        }
    }

    /// The model's configuration.
    public var configuration: any ModelConfiguration {
        switch self {
        case .transformer(let c): return c
        case .cnn(let c): return c
        case .recurrent(let c): return c
        }
    }

    /// The untrained model.
    public func build(using g: inout RandomGenerator) -> any TextClassificationModel {
        switch self {
        case .transformer(let c): return TextClassifier(config: c, using: &g)
        case .cnn(let c): return TextCNN(config: c, using: &g)
        case .recurrent(let c): return RecurrentTextClassifier(config: c, using: &g)
        }
    }
}

/// Where a text classification run's examples come from.
public struct LabelledTextData: Codable, Sendable, Equatable {
    /// The training data file.
    public var data: String
    /// Validation data in the same format; without it a seeded, stratified `valFraction` of `data` is held out.
    public var validData: String?
    /// Fraction of `data` held out (stratified) for validation when no validation data is given.
    public var valFraction = 0.1

    /// Training data from `data`, validation from `validData` or a held-out `valFraction`.
    public init(data: String, validData: String? = nil, valFraction: Double = 0.1) {
        self.data = data
        self.validData = validData
        self.valFraction = valFraction
    }

    enum CodingKeys: String, CodingKey { case data, validData, valFraction }
}

/// Per-class loss weights of a classification run.
public enum ClassWeighting: String, Codable, CaseIterable, Sendable {
    case none
    /// n / (classes · n_class) (scikit-learn's "balanced"), for skewed labels.
    case balanced
}

/// A text classification run's configuration (config.json).
public struct TextClassificationConfig: RunConfiguration, Equatable {
    /// The task name written to config.json's `task`.
    public static let task = "classification"
    /// The model; vocabulary, classes and padding id are set from the data when the run starts.
    public var model: TextModelConfig
    /// How the data files are read.
    public var format: TextFormat
    /// The training and validation data.
    public var data: LabelledTextData
    /// How the vocabulary is trained on the training texts (unused when fine-tuning: the source run's tokenizer).
    public var tokenizer: TokenizerRecipe
    /// Optimizer, schedule, batch size, epochs and seed.
    public var training: TrainingRecipe
    /// Class weights of the loss (none, or inverse frequency).
    public var classWeights: ClassWeighting = .none
    /// Initialisation from another run and freezing.
    public var transfer = TransferRecipe()
    /// Pretrained word vectors (word2vec text format, e.g. from `attn train word2vec`) the embedding table starts
    /// from; nil: random initialisation.
    public var initEmbeddings: String? = nil

    /// A configuration from its parts, other fields at their defaults.
    public init(
        model: TextModelConfig, format: TextFormat, data: LabelledTextData, tokenizer: TokenizerRecipe,
        training: TrainingRecipe
    ) {
        self.model = model
        self.format = format
        self.data = data
        self.tokenizer = tokenizer
        self.training = training
    }

    enum CodingKeys: String, CodingKey {
        case modelType, model, format, data, tokenizer, training, classWeights,
            transfer, initEmbeddings
    }

    /// Decodes config.json's fields (snake_case keys).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .modelType) {
        case String(describing: TextCNN.self): model = .cnn(try c.decode(TextCNNConfig.self, forKey: .model))
        case String(describing: RecurrentTextClassifier.self):
            model = .recurrent(try c.decode(RecurrentTextClassifierConfig.self, forKey: .model))
        default: model = .transformer(try c.decode(TextClassifierConfig.self, forKey: .model))
        }
        format = try c.decode(TextFormat.self, forKey: .format)
        data = try c.decode(LabelledTextData.self, forKey: .data)
        tokenizer = try c.decode(TokenizerRecipe.self, forKey: .tokenizer)
        training = try c.decode(TrainingRecipe.self, forKey: .training)
        classWeights = try c.decode(ClassWeighting.self, forKey: .classWeights)
        transfer = try c.decode(TransferRecipe.self, forKey: .transfer)
        initEmbeddings = try c.decodeIfPresent(String.self, forKey: .initEmbeddings)
    }

    /// Encodes config.json's fields (snake_case keys).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model.typeName, forKey: .modelType)
        switch model {
        case .transformer(let m): try c.encode(m, forKey: .model)
        case .cnn(let m): try c.encode(m, forKey: .model)
        case .recurrent(let m): try c.encode(m, forKey: .model)
        }
        try c.encode(format, forKey: .format)
        try c.encode(data, forKey: .data)
        try c.encode(tokenizer, forKey: .tokenizer)
        try c.encode(training, forKey: .training)
        try c.encode(classWeights, forKey: .classWeights)
        try c.encode(transfer, forKey: .transfer)
        try c.encode(initEmbeddings, forKey: .initEmbeddings)
    }

    /// The settings a resume must not change, each with the flag that sets it.
    public func resumeSettings() throws -> [RunSetting] {
        [
            try RunSetting("data.data", data.data, flag: "--data"),
            try RunSetting("data.valid_data", data.validData, flag: "--valid-data"),
            try RunSetting("data.val_fraction", data.valFraction, flag: "--val-fraction"),
            try RunSetting("format", format, flag: "--format/--label/--columns")
        ] + (try training.resumeSettings())
    }
}

extension TextClassificationTask {
    /// Trains a text classification run as `config` says, in `context`'s directory: reads and splits the data,
    /// trains the vocabulary (or, fine-tuning, takes the source run's tokenizer and architecture), builds the model
    /// (resuming: rebuilds it from the run), trains keeping the best epoch by validation accuracy, writes the best
    /// model's report (report.txt, confusion.png) and the attention report of `attentionExample` when given.
    public static func run(_ config: TextClassificationConfig, in context: RunContext, attentionExample: String? = nil)
        throws -> RunOutcome
    {
        try context.execute(task: TextClassificationConfig.task) {
            try train(config, in: context, attentionExample: attentionExample)
        }
    }

    private static func train(
        _ config: TextClassificationConfig, in context: RunContext, attentionExample: String? = nil
    ) throws -> RunOutcome {
        let dir = context.directory, seed = config.training.seed
        if context.resume { try dir.checkResume(config) }
        var (examples, notes) = try config.format.read(config.data.data)
        var validation: [LabelledText]
        if let validData = config.data.validData {
            let (v, vn) = try config.format.read(validData)
            validation = v
            notes += vn
        } else {
            (examples, validation) = LabelledCorpus.stratifiedSplit(
                examples, validationFraction: config.data.valFraction, seed: seed)
        }
        for n in notes { context.note(n) }
        guard !examples.isEmpty else { throw RunSetupError("\(config.data.data): no training examples") }
        guard !validation.isEmpty else {
            throw RunSetupError(
                config.data.validData.map { "\($0): no validation examples" }
                    ?? "\(config.data.data): --val-fraction \(config.data.valFraction) holds out no example: use a larger fraction"
            )
        }
        let labels = Array(Set(examples.map(\.label))).sorted()
        guard labels.count >= 2 else {
            throw RunSetupError(
                "\(config.data.data): every training example has the label '\(labels[0])': a classifier needs at least two labels"
            )
        }
        context.log(
            "data: \(examples.count) training and \(validation.count) validation texts, \(labels.count) labels: "
                + labels.map { l in "\(l) \(examples.filter { $0.label == l }.count)" }.joined(separator: ", "))

        let classification: TextClassification
        if context.resume {
            classification = try TextClassification.rebuild(from: dir)  // weights come from resume.safetensors
        } else {
            var saved = config
            let tokenizer: Tokenizer
            if let from = config.transfer.initFrom {
                // Fine-tuning keeps the trained model's vocabulary and architecture; only the head follows the new labels.
                // Its configuration and tokenizer only: the transfer recipe below loads its weights.
                let fromRun = RunDirectory(path: from)
                if (try? fromRun.task()) == LanguageModelConfig.task {
                    // ULMFiT: a recurrent language model's embeddings and layers under a new head, its vocabulary
                    let lm: LanguageModel
                    do { lm = try LanguageModel.load(from: fromRun, weights: "best.safetensors") } catch {
                        throw RunSetupError("--init-from: \(error)")
                    }
                    guard let rlm = lm.model as? RecurrentLanguageModel else {
                        throw RunSetupError(
                            "--init-from \(from): a classifier starts from a recurrent language model (attn train lm --model lstm or gru), not from \(type(of: lm.model))"
                        )
                    }
                    tokenizer = lm.tokenizer
                    var c = RecurrentTextClassifierConfig(vocabulary: rlm.vocabulary, classes: labels.count)
                    (c.cell, c.embeddingDim, c.hidden, c.layers) = (
                        rlm.config.cell, rlm.config.embeddingDim, rlm.config.hidden, rlm.config.layers
                    )
                    c.bidirectional = false  // the language model reads in one direction
                    c.backward = lm.backward
                    c.padID = tokenizer.id(of: "[PAD]") ?? 0
                    c.dropout = rlm.config.dropout
                    if case .recurrent(let mine) = config.model {
                        (c.dropout, c.pooling, c.maxLength) = (mine.dropout, mine.pooling, mine.maxLength)
                    }
                    saved.model = .recurrent(c)
                    context.log(
                        "fine-tuning the \(lm.backward ? "backward " : "")language model \(from): its tokenizer (\(tokenizer.vocabularySize) tokens), embeddings and \(c.layers) \(c.cell.rawValue.uppercased()) layer(s) of \(c.hidden) units under a new head\(lm.backward ? ", reading each text last token first" : ""); --model, --d-model, --hidden, --layers, --max-length and --min-frequency are not used"
                    )
                } else {
                    let source: TextClassification
                    do { source = try TextClassification.rebuild(from: fromRun) } catch {
                        throw RunSetupError("--init-from: \(error)")
                    }
                    tokenizer = source.tokenizer
                    if let rnn = source.model as? RecurrentTextClassifier {
                        var c = rnn.config
                        c.classes = labels.count
                        if case .recurrent(let mine) = config.model {
                            c.dropout = mine.dropout; c.pooling = mine.pooling
                        }
                        saved.model = .recurrent(c)
                    } else if let cnn = source.model as? TextCNN {
                        var c = cnn.config
                        c.classes = labels.count
                        if case .cnn(let mine) = config.model { c.dropout = mine.dropout }
                        saved.model = .cnn(c)
                    } else {
                        var c = (source.model as! TextClassifier).config
                        c.classes = labels.count
                        switch config.model {
                        case .transformer(let mine): c.dropout = mine.dropout; c.pooling = mine.pooling
                        case .cnn(let mine): c.dropout = mine.dropout
                        case .recurrent(let mine): c.dropout = mine.dropout
                        }
                        saved.model = .transformer(c)
                    }
                    context.log(
                        "fine-tuning from \(from): its tokenizer (\(tokenizer.vocabularySize) tokens) and architecture; --model, --d-model, --heads, --layers, --feed-forward, --max-length and --min-frequency are not used"
                    )
                }
            } else {
                tokenizer = config.tokenizer.train(on: examples.map(\.text))
                let pad = tokenizer.id(of: "[PAD]") ?? 0
                switch config.model {
                case .transformer(var c):
                    c.vocabulary = tokenizer.vocabularySize; c.classes = labels.count; c.padID = pad;
                    saved.model = .transformer(c)
                case .cnn(var c):
                    c.vocabulary = tokenizer.vocabularySize; c.classes = labels.count; c.padID = pad;
                    saved.model = .cnn(c)
                case .recurrent(var c):
                    c.vocabulary = tokenizer.vocabularySize; c.classes = labels.count; c.padID = pad;
                    saved.model = .recurrent(c)
                }
            }
            try saved.model.configuration.checkTrainable()
            var g = RandomGenerator(seed: seed)
            classification = TextClassification(
                model: saved.model.build(using: &g), tokenizer: tokenizer, labels: labels)
            if let path = config.initEmbeddings {
                guard config.transfer.initFrom == nil else {
                    throw RunSetupError("--init-embeddings and --init-from both set the embeddings: give one")
                }
                guard let table = classification.model.namedModules().lazy.compactMap({ $0.module as? Embedding }).first
                else { throw RunSetupError("--init-embeddings: the model has no embedding table") }
                let vectors = try WordVectors.read(from: URL(fileURLWithPath: path))
                let n = try table.initialize(from: vectors, tokenizer: tokenizer)
                context.log(
                    "embeddings: \(n.exact + n.lowercased) of \(n.words) words start from \(path) (\(n.exact) as they are, \(n.lowercased) lowercased, \(String(format: "%.1f", Double(n.exact + n.lowercased) / Double(max(n.words, 1)) * 100))%); the rest keep their random initialisation"
                )
            }
            if context.isLead {  // config.json first (see `RunContext.prepareDirectory`)
                try dir.writeConfig(saved, labels: labels)
                try tokenizer.save(to: dir.file("tokenizer.json"))
                try dir.writeLabels(labels)
            }
        }
        let model = classification.model
        let frozen = try config.transfer.apply(
            to: model, resuming: context.resume, head: "head", labels: labels, log: context.log)
        context.log(
            "model: \(type(of: model)), \(model.parameterCount()) parameters; vocabulary \(classification.tokenizer.vocabularySize)"
        )
        var weights: [Float]? = nil
        if config.classWeights == .balanced {
            let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
            let w = balancedClassWeights(examples.map { index[$0.label]! }, classes: labels.count)
            weights = w
            context.log(
                "class weights: " + zip(labels, w).map { "\($0) \(String(format: "%.3f", $1))" }.joined(separator: ", ")
            )
        }
        let recipe = config.training
        let task = try TextClassificationTask(
            classification: classification, train: examples, validation: validation, batchSize: recipe.batchSize ?? 32,
            labelSmoothing: recipe.labelSmoothing, classWeights: weights, seed: seed &+ 1, shard: context.shard)
        let optimizer = config.transfer.makeOptimizer(recipe, for: model)
        if let cnn = model as? TextCNN, let norm = cnn.config.maxNorm {
            optimizer.maxNormConstraints = [(cnn.head.weight, norm)]
            context.log("max-norm: the output layer's rows are kept at L2 norm ≤ \(norm) after every step")
        }
        let summary = try context.train(
            task, optimizer: optimizer, recipe: recipe, bestMetric: "val_accuracy",
            onEpochStart: config.transfer.unfreezing(model, prefixes: frozen, log: context.log))
        guard !summary.interrupted, context.isLead else { return RunOutcome(summary: summary, message: "") }
        let best = try TextClassification.load(from: dir, weights: "best.safetensors")
        try context.writeReport(try best.evaluate(validation))
        let message = String(
            format: "best validation accuracy %.2f%% at epoch %d; %.0f s; run directory %@", summary.bestValue * 100,
            summary.bestEpoch, summary.seconds, dir.path)
        return try context.finish(summary, message: message, attentionExample: attentionExample) { example, out in
            let (label, p) = try best.writeAttention(of: example, to: out)
            return String(format: "\"%@\" (%@, %.3f)", example, label, p)
        }
    }
}

extension TextClassification: TrainedRun, ComparableRun {
    /// The run's network.
    public var network: any Module { model }
    /// A note on the words of these texts the model's vocabulary lacks (nil: none, or no text input).
    public func unknownWordsNote(_ texts: [String]) -> String? { tokenizer.unknownWordsNote(texts) }

    /// The task name this type loads (config.json's `task`).
    public static var taskName: String { TextClassificationConfig.task }
    /// What the run is called in messages.
    public static var displayName: String { "text classification" }

    /// Loads a run directory written by `attn train classifier`: `weights`, tokenizer.json, labels.json.
    public static func load(from run: RunDirectory, weights: String) throws -> TextClassification {
        try run.check(holds: [weights, "tokenizer.json", "labels.json"], kind: "classifier")
        let labels = try run.labels()
        let model =
            try run.loadModel(
                weights, oneOf: [TextClassifier.self, TextCNN.self, RecurrentTextClassifier.self],
                kind: "a text classifier") as! any TextClassificationModel
        guard model.classes == labels.count else {
            throw RunDirectoryError(
                message: "\(run.path): the model has \(model.classes) classes but labels.json lists \(labels.count)")
        }
        let tokenizer = try Tokenizer.load(from: run.file("tokenizer.json"))
        try run.checkVocabulary(of: tokenizer, file: "tokenizer.json", model: model.vocabulary)
        var loaded = TextClassification(model: model, tokenizer: tokenizer, labels: labels)
        loaded.run = run
        loaded.format = try? run.entry("format", as: TextFormat.self, describing: "a text format")
        return loaded
    }

    /// Loads a run directory written by `attn train classifier`.
    public static func load(from directory: URL, weights: String = "best.safetensors") throws -> TextClassification {
        try load(from: RunDirectory(directory), weights: weights)
    }

    /// Rebuilds the untrained model of a run directory from its `config.json` ("model_type", "model"), tokenizer and
    /// labels, for resuming a run or fine-tuning from it (the weights come from a checkpoint).
    public static func rebuild(from run: RunDirectory) throws -> TextClassification {
        let task = try run.task()
        guard task == TextClassificationConfig.task else {
            throw RunDirectoryError(
                message:
                    "\(run.path): config.json says it is \(RunDirectory.article(task)) run, not a text classification run"
            )
        }
        var g = RandomGenerator(seed: 0)
        let model: any TextClassificationModel
        let type = try? run.entry("model_type", as: String.self, describing: "a model type")
        if type == "TextCNN" {
            let c = try run.entry("model", as: TextCNNConfig.self, describing: "a TextCNN configuration")
            model = TextCNN(config: c, using: &g)
        } else if type == "RecurrentTextClassifier" {
            let c = try run.entry(
                "model", as: RecurrentTextClassifierConfig.self, describing: "a recurrent classifier configuration")
            model = RecurrentTextClassifier(config: c, using: &g)
        } else {
            let c = try run.entry("model", as: TextClassifierConfig.self, describing: "a classifier configuration")
            model = TextClassifier(config: c, using: &g)
        }
        let tokenizer = try Tokenizer.load(from: run.file("tokenizer.json"))
        try run.checkVocabulary(of: tokenizer, file: "tokenizer.json", model: model.vocabulary)
        let labels = try run.labels()
        guard model.classes == labels.count else {
            throw RunDirectoryError(
                message:
                    "\(run.file("labels.json").path): lists \(labels.count) labels but the model has \(model.classes) outputs"
            )
        }
        return TextClassification(model: model, tokenizer: tokenizer, labels: labels)
    }

    /// Scores the labelled texts of `request.data`, read in the run's format (config.json's "format"): the report
    /// table and the classification JSON line.
    public func evaluate(_ request: EvaluationRequest) throws -> Evaluation {
        guard let data = request.data else { throw TaskUsageError("a classification run needs --data FILE") }
        guard let format = try format ?? run?.entry("format", as: TextFormat.self, describing: "a text format") else {
            throw RunSetupError("this classifier was not loaded from a run directory: its data format is unknown")
        }
        let (examples, notes) = try format.read(data)
        for n in notes { request.note(n) }
        guard !examples.isEmpty else { throw RunSetupError("\(data): no labelled texts") }
        let report: ClassificationReport
        // "line N: unknown label" becomes "FILE:N: …"
        do { report = try evaluate(examples) } catch let e as CorpusError {
            throw RunSetupError(e.message.hasPrefix("line ") ? "\(data):\(e.message.dropFirst(5))" : e.message)
        }
        return try classificationEvaluation(
            report, request: request, title: URL(fileURLWithPath: data).lastPathComponent)
    }

    /// Writes the attention report of one input into `directory`; returns the line to print (the prediction).
    public func writeAttentionReport(_ request: AttentionRequest, to directory: URL) throws -> String {
        guard let text = request.text else { throw TaskUsageError("a text classification run needs --text") }
        let (label, p) = try writeAttention(
            of: text, to: directory, pictures: request.pictures, colourScale: request.colourScale)
        return String(format: "prediction: %@ (%.4f)", label, p)
    }

    /// Parameters, the model's name, inference throughput and validation scores, measured on this CPU.
    public func measure(_ request: ComparisonRequest) -> ComparisonMeasurement {
        let (batchSize, tokens) = (request.batchSize, request.tokens)
        let vocabulary = max(2, tokenizer.vocabularySize), pad = model.padID
        let length = min(tokens, model.maxLength)
        let ids = (0..<batchSize).map { s in
            (0..<length).map { t -> Int in
                let id = (s * 7919 + t * 104_729) % vocabulary
                return id == pad ? (id + 1) % vocabulary : id
            }
        }
        model.eval()
        return ComparisonMeasurement(
            kind: "text", model: String(describing: type(of: model)), parameters: model.parameterCount(),
            itemsPerSecond: measureThroughput { _ = model(ids) } * Double(batchSize), unit: "sentences/s",
            batch: batchSize)
    }
}

/// A trained text classifier with its tokenizer and label names: strings in, labels and probabilities out.
public struct TextClassification {
    /// The transformer `TextClassifier` or Kim's `TextCNN`.
    public let model: any TextClassificationModel
    /// The tokenizer the model's ids come from.
    public let tokenizer: Tokenizer
    /// The class names, by label index.
    public let labels: [String]
    /// How the run's data files are read (from config.json when loaded from a run directory).
    public var format: TextFormat?
    /// The run directory this classifier was loaded from.
    public var run: RunDirectory?
    /// Other classifiers of the same labels whose class probabilities `probabilities(_:)` averages with this one's
    /// (an ensemble, as ULMFiT averages its forward and backward models); each reads the texts with its own tokenizer.
    public private(set) var ensemble: [TextClassification] = []

    /// A classifier from a model, its tokenizer and the class names.
    public init(model: any TextClassificationModel, tokenizer: Tokenizer, labels: [String]) {
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
    }

    /// Token ids of a text, cut to the model's maxLength (at least one token: [UNK] for an empty text).
    public func ids(_ text: String) -> [Int] {
        let ids = Array(tokenizer.encode(text, addSpecialTokens: false).ids.prefix(model.maxLength))
        return ids.isEmpty ? [tokenizer.id(of: "[UNK]") ?? 0] : ids
    }

    /// Pads a batch of id rows with the model's padding id.
    func padded(_ rows: [[Int]]) -> [[Int]] {
        let t = rows.map(\.count).max() ?? 0
        return rows.map { $0 + Array(repeating: model.padID, count: t - $0.count) }
    }

    /// Adds a classifier to the ensemble; its labels must be this one's (in any order).
    public mutating func addToEnsemble(_ other: TextClassification) throws {
        guard Set(other.labels) == Set(labels) && other.labels.count == labels.count else {
            throw TaskUsageError(
                "an ensemble needs the same labels: \(labels.joined(separator: ", ")) against \(other.labels.joined(separator: ", "))"
            )
        }
        let member = TextClassification(model: other.model, tokenizer: other.tokenizer, labels: other.labels)
        ensemble.append(contentsOf: [member] + other.ensemble)
    }

    /// Class probabilities [N, C] of `texts` (in `labels`' order), `batchSize` at a time: the model's, or with an
    /// ensemble the mean of its members' and this one's.
    public func probabilities(_ texts: [String], batchSize: Int = 128) -> [[Float]] {
        var sum = ownProbabilities(texts, batchSize: batchSize)
        guard !ensemble.isEmpty else { return sum }
        for member in ensemble {
            let column = labels.map { l in member.labels.firstIndex(of: l)! }  // this run's label order
            for (r, p) in member.ownProbabilities(texts, batchSize: batchSize).enumerated() {
                for (k, j) in column.enumerated() { sum[r][k] += p[j] }
            }
        }
        let scale = 1 / Float(ensemble.count + 1)
        return sum.map { row in row.map { $0 * scale } }
    }

    /// This model's own class probabilities [N, C].
    func ownProbabilities(_ texts: [String], batchSize: Int) -> [[Float]] {
        model.eval()
        var out: [[Float]] = []
        withNoGrad {
            for start in stride(from: 0, to: texts.count, by: batchSize) {
                let chunk = texts[start..<min(start + batchSize, texts.count)].map(ids)
                let p = model(padded(chunk)).softmax(axis: -1).scalars
                let c = labels.count
                for r in 0..<chunk.count { out.append(Array(p[(r * c)..<(r * c + c)])) }
            }
        }
        return out
    }

    /// The top `k` labels of each text with their probabilities.
    public func classify(_ texts: [String], top k: Int = 1) -> [[(label: String, probability: Float)]] {
        probabilities(texts).map { p in
            topLabels(p, labels: labels, k: k)
        }
    }

    /// Writes the weights with the configuration that rebuilds the model (`ModelFile`).
    public func saveModel(to url: URL) throws {
        guard let m = model as? any ConfigurableModel else {
            throw CheckpointError.invalidState(
                "cannot save a \(type(of: model)): its configuration is unknown (not a ConfigurableModel)")
        }
        try ModelFile.save(m, to: url)
    }

    /// The report on labelled examples (labels must be among the model's).
    public func evaluate(_ examples: [LabelledText]) throws -> ClassificationReport {
        try evaluateWithLoss(examples).report
    }

    /// The report and the mean negative log-likelihood of the true labels, from one pass over the examples.
    public func evaluateWithLoss(_ examples: [LabelledText]) throws -> (report: ClassificationReport, loss: Double) {
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        let truth = try examples.map { e -> Int in
            guard let k = index[e.label] else {
                throw CorpusError(
                    "line \(e.line): label '\(e.label)' is not one the model knows (\(labels.joined(separator: ", ")))")
            }
            return k
        }
        let p = probabilities(examples.map(\.text))
        let predicted = argmaxRows(p)
        let nll = zip(p, truth).map { -Double(Foundation.log(max($0.0[$0.1], 1e-12))) }.reduce(0, +)
        return (
            ClassificationReport(labels: labels, truth: truth, predicted: predicted),
            nll / Double(max(examples.count, 1))
        )
    }
}

/// Training a `TextClassifier`: label-smoothed cross-entropy; validation loss, accuracy and macro-F1 every epoch.
public final class TextClassificationTask: TrainingTask {
    /// The model, tokenizer and labels being trained.
    public let classification: TextClassification
    let train: [(ids: [Int], label: Int)]
    let validation: [LabelledText]
    var batches: ShuffledBatches
    /// Label smoothing of the cross-entropy (0: none).
    public let labelSmoothing: Float

    /// Per-class weights of the training loss (nil: all 1).
    public let classWeights: [Float]?

    /// - Parameters:
    ///   - classification: the model with its tokenizer and labels.
    ///   - train: the training texts with their labels.
    ///   - validation: the validation texts with their labels.
    ///   - batchSize: texts per step.
    ///   - labelSmoothing: ε of the cross-entropy's label smoothing.
    ///   - classWeights: per-class loss weights, e.g. `balancedClassWeights` for skewed labels.
    ///   - seed: the batch order's seed.
    ///   - shard: this process's part of each global batch in data-parallel training.
    public init(
        classification: TextClassification, train: [LabelledText], validation: [LabelledText], batchSize: Int,
        labelSmoothing: Float, classWeights: [Float]? = nil, seed: UInt64, shard: Shard = .whole
    ) throws {
        self.classWeights = classWeights
        self.classification = classification
        let index = Dictionary(uniqueKeysWithValues: classification.labels.enumerated().map { ($1, $0) })
        self.train = try train.map { e in
            guard let k = index[e.label] else { throw CorpusError("line \(e.line): unknown label '\(e.label)'") }
            return (classification.ids(e.text), k)
        }
        self.validation = validation
        batches = ShuffledBatches(count: train.count, batchSize: batchSize, seed: seed, shard: shard)
        self.labelSmoothing = labelSmoothing
    }

    /// The model being trained.
    public var model: any Module { classification.model }
    /// What throughput counts in the progress bar.
    public var itemName: String { "ex" }
    /// Batches in one epoch (for the progress bar and schedules).
    public var batchesPerEpoch: Int { batches.batchesPerEpoch }
    /// Names of the metrics `evaluate` returns, in the order the logs list them.
    public var metricNames: [String] { ["val_loss", "val_accuracy", "macro_f1"] }
    /// The next batch of the current epoch, or nil when the epoch is over.
    public func nextBatch() -> [Int]? { batches.next() }
    /// Reshuffles the data for the next epoch.
    public func startNextEpoch() { batches.startNextEpoch() }
    /// Position in the data (generator state, epoch order, batch index) as text, for resume.
    public var dataState: String { batches.savedState }
    /// Restores a position saved by `dataState`; throws when it does not fit this data.
    public func restoreDataState(_ text: String) throws { try batches.restore(text) }
    /// Writes the model (weights and whatever rebuilds it) to `url`.
    public func saveModel(to url: URL) throws { try classification.saveModel(to: url) }

    /// The batch's mean loss and its number of items.
    public func loss(_ batch: [Int]) -> (loss: Tensor, items: Int) {
        let logits = classification.model(classification.padded(batch.map { train[$0].ids }))
        return (
            Loss.crossEntropy(
                logits, batch.map { train[$0].label }, labelSmoothing: labelSmoothing, weight: classWeights),
            batch.count
        )
    }

    /// Validation metrics by name, computed in evaluation mode without a graph.
    public func evaluate() throws -> [String: Double] {
        let (report, loss) = try classification.evaluateWithLoss(validation)
        return ["val_loss": loss, "val_accuracy": report.accuracy, "macro_f1": report.macroF1]
    }
}

/// Weights that make every class count as much in the loss (scikit-learn's "balanced"): n / (classes · n_c) for a
/// class with n_c of the n examples; a class absent from `labels` gets weight 1.
public func balancedClassWeights(_ labels: [Int], classes: Int) -> [Float] {
    var counts = [Int](repeating: 0, count: classes)
    for l in labels where l >= 0 && l < classes { counts[l] += 1 }
    return counts.map { $0 == 0 ? 1 : Float(labels.count) / Float(classes * $0) }
}
extension TextClassification {
    /// Classifies `text` with attention capture and writes its report (`AttentionExport`): every encoder layer's
    /// self-attention over the tokens (the class token first when the model pools by it).
    /// - Returns: the predicted label and its probability.
    @discardableResult
    public func writeAttention(
        of text: String, to directory: URL, pictures: Bool = true, colourScale: AttentionColourScale = .absolute
    ) throws -> (label: String, probability: Float) {
        guard let model = model as? TextClassifier else {
            throw RunDirectoryError(
                message:
                    "this run's model (\(type(of: self.model))) has no attention layers; attention reports need the transformer classifier"
            )
        }
        model.eval()
        let encoding = tokenizer.encode(text, addSpecialTokens: false)
        let ids = self.ids(text)
        let (logits, maps) = withAttentionCapture(on: model) { withNoGrad { model([ids]) } }
        let p = logits.softmax(axis: -1).scalars
        let best = argmaxRows([p])[0]
        var tokens =
            encoding.ids.isEmpty
            ? [AttentionExport.Token(text: "[UNK]")]
            : zip(zip(encoding.tokens, encoding.offsets), encoding.ids).prefix(ids.count)
                .map { AttentionExport.Token(text: $0.0.0, bytes: $0.0.1, unknown: $0.1 == tokenizer.unknownID) }
        if model.config.pooling == .cls { tokens.insert(AttentionExport.Token(text: "[CLS]"), at: 0) }
        let prediction = "\(labels[best]) (\(String(format: "%.1f", p[best] * 100))%)"
        try AttentionExport.write(
            maps, kind: "classification", input: text, output: nil, prediction: prediction, tokens: ["tokens": tokens],
            axes: { _ in ("tokens", "tokens") }, pictures: pictures, colourScale: colourScale, to: directory)
        return (labels[best], p[best])
    }
}

import ArgumentParser
import AttentionKit

/// `attn train classifier`: flags → `TextClassificationConfig` → `TextClassificationTask.run`.
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
            of widths 3, 4, 5 × 100 filters, ReLU, max over time, dropout 0.5, linear. --recipe kim trains it as Kim did: \
            cased words seen once and split by his clean_str (--pre-tokenizer kim), embeddings U(±0.25), Adadelta (ρ 0.95, lr 1, constant, no warmup), batches of 50, \
            max-norm 3 on the output rows, no label smoothing, 25 epochs (each flag given still overrides).

            Writes to --out (default runs/classifier): config.json, tokenizer.json, labels.json, best/last/resume \
            .safetensors, metrics.jsonl/csv, curves.png, report.txt (per-class precision/recall/F1 and the \
            confusion matrix of the best model on the validation data) and confusion.png (the same matrix drawn).
            """
    )

    @OptionGroup var common: CommonTrainingOptions
    @OptionGroup var transfer: TransferOptions
    @Option(
        name: .customLong("attention-example"),
        help: "After training, write the attention report (attn attention) of this text to RUN/attention.")
    var attentionExample: String?
    @Option(help: "Training data (required unless --config replays a run).")
    var data: String?
    @Option(help: "trec or tsv.")
    var format: TextFormat.Layout = .tsv
    @Option(help: "TREC: coarse (6 classes) or fine (50).")
    var label: TRECLabel = .coarse
    @Option(help: "TSV: the 1-based label and text columns.")
    var columns = "1,2"
    @Option(
        name: .customLong("valid-data"),
        help: "Validation data in the same format (default: a stratified --val-fraction of --data).")
    var validData: String?
    @Option(
        name: .customLong("val-fraction"), parsing: .unconditional,
        help: "Without --valid-data: the fraction of each label held out (seeded).")
    var valFraction = 0.1
    @Option(
        help:
            "Tokenizer trained on the training texts: word (lowercased words) or bpe (byte-level BPE, lowercased; subwords share what rare words have in common)."
    )
    var tokenizer: TokenizerKind = .word
    @Option(name: .customLong("vocab-size"), parsing: .unconditional, help: "BPE: vocabulary size.")
    var vocabSize = 4000
    @Option(
        name: .customLong("min-frequency"), parsing: .unconditional,
        help: "Word tokenizer: keep words seen at least this often in training (default 2; --recipe kim: 1).")
    var minFrequencyOption: Int?
    @Option(
        name: .customLong("batch-size"), parsing: .unconditional, help: "Texts per step (default 32; --recipe kim: 50)."
    )
    var batchSizeOption: Int?
    @Option(
        name: .customLong("model"),
        help:
            "transformer (the TextClassifier encoder, the default), cnn (Kim's CNN-rand: parallel convolutions, max over time), lstm or gru (a bidirectional recurrent network, max or mean over time); with --init-from a language model, its cell (the default there)."
    )
    var modelOption: TextModelKind?
    @Option(help: "kim: Kim's (2014) CNN-rand training recipe for --model cnn (see above).")
    var recipe: TextRecipeFlag?
    @Option(
        name: .customLong("case"),
        help: "Word tokenizer: lower (the default) or keep (--recipe kim keeps case, as Kim did for TREC).")
    var caseOption: LetterCaseFlag?
    @Option(
        name: .customLong("pre-tokenizer"),
        help:
            "Word tokenizer: whitespace (Hugging Face Whitespace: words and runs of punctuation; the default) or kim (Kim's clean_str: contractions and ( ) , ! ? split off, other symbols dropped; --recipe kim's)."
    )
    var preTokenizerOption: WordSplitFlag?
    @Option(
        name: .customLong("embedding-init"), parsing: .unconditional,
        help: "CNN: draw the embeddings from U(±this) instead of N(0, 1) (--recipe kim: 0.25, Kim's).")
    var embeddingInit: Float?
    @Option(
        name: .customLong("init-embeddings"),
        help:
            "Start the embedding table from pretrained word vectors (word2vec text format, e.g. from `attn train word2vec` with the same --case and --pre-tokenizer; a word without its own vector takes its lowercased form's, the rest keep the random initialisation). Their width must be the model's (--d-model; the CNN's embeddings: 300). With --freeze embedding they stay fixed (Kim's CNN-static)."
    )
    var initEmbeddings: String?
    @Option(name: .customLong("kernels"), help: "CNN: window widths of the parallel convolutions (default 3,4,5).")
    var kernelsOption: String?
    @Option(name: .customLong("filters"), parsing: .unconditional, help: "CNN: filters per width (default 100).")
    var filtersOption: Int?
    @Option(
        name: .customLong("max-norm"), parsing: .unconditional,
        help:
            "CNN: keep each row of the output layer's weight at L2 norm ≤ this after every step (Kim used 3; default: none)."
    )
    var maxNorm: Float?
    @Option(
        name: .customLong("optimizer"),
        help:
            "adamw (default: 1e-3, weight decay 0.05, clipping 1) or adadelta (Kim's: ρ 0.95 at lr 1, no weight decay, no clipping; --schedule constant keeps lr 1)."
    )
    var optimizerOption: TextOptimizerFlag?
    @Option(
        name: .customLong("d-model"), parsing: .unconditional,
        help: "Model width (default 128), or the CNN's embedding width (default 300, Kim's).")
    var dModelOption: Int?
    @Option(name: .customLong("heads"), parsing: .unconditional, help: "Transformer: attention heads (default 4).")
    var headsOption: Int?
    @Option(
        name: .customLong("layers"), parsing: .unconditional,
        help: "Encoder layers (default 2), or recurrent layers (default 1).")
    var layersOption: Int?
    @Option(
        name: .customLong("hidden"), parsing: .unconditional,
        help: "LSTM/GRU: hidden units per direction (default 150).")
    var hiddenOption: Int?
    @Flag(help: "LSTM/GRU: one direction instead of both.")
    var unidirectional = false
    @Option(
        name: .customLong("feed-forward"), parsing: .unconditional,
        help: "Transformer: feed-forward hidden width (default 256).")
    var feedForwardOption: Int?
    @Option(
        name: .customLong("dropout"), parsing: .unconditional,
        help: "Dropout (default 0.2; --model cnn: 0.5 before the linear layer, Kim's).")
    var dropoutOption: Float?
    @Option(
        name: .customLong("pooling"),
        help:
            "Pooling: cls, mean, max (max-over-time), attention (sequence pooling, CCT) or, for lstm and gru, concat (ULMFiT: the last state, max and mean side by side); default mean, max for lstm and gru."
    )
    var poolingOption: Pooling?
    @Option(
        name: .customLong("label-smoothing"), parsing: .unconditional,
        help: "Label smoothing of the cross-entropy (default 0.1; --recipe kim: 0).")
    var labelSmoothingOption: Float?
    @Option(
        name: .customLong("class-weights"),
        help: "Loss weight per class: none, or balanced (n / (classes · n_class), for skewed labels such as SMS spam).")
    var classWeights: ClassWeighting = .none
    @Option(
        name: .customLong("max-length"), parsing: .unconditional, help: "Longest text in tokens (longer ones are cut).")
    var maxLength = 128

    var kim: Bool { recipe == .kim }
    /// The default is the transformer, Kim's CNN with --recipe kim, and a recurrent network when --init-from names
    /// a (recurrent) language model, which gives the classifier its cell.
    var model: TextModelKind { modelOption ?? (kim ? .cnn : transfer.initFromLanguageModel ? .lstm : .transformer) }
    var minFrequency: Int { minFrequencyOption ?? (kim ? 1 : 2) }
    var batchSize: Int { batchSizeOption ?? (kim ? 50 : 32) }
    var labelSmoothing: Float { labelSmoothingOption ?? (kim ? 0 : 0.1) }
    var optimizer: TextOptimizerFlag { optimizerOption ?? (kim ? .adadelta : .adamw) }
    var recurrent: Bool { model == .lstm || model == .gru }
    var dModel: Int { dModelOption ?? (model == .transformer ? 128 : 300) }
    var dropout: Float { dropoutOption ?? (model == .transformer ? 0.2 : 0.5) }
    var layers: Int { layersOption ?? (recurrent ? 1 : 2) }
    var pooling: Pooling { poolingOption ?? (recurrent ? .max : .mean) }
    var kernels: String { kernelsOption ?? "3,4,5" }
    var filters: Int { filtersOption ?? 100 }
    var heads: Int { headsOption ?? 4 }
    var hidden: Int { hiddenOption ?? 150 }
    var feedForward: Int { feedForwardOption ?? 256 }

    func validate() throws {
        try require(
            data != nil || common.configFile != nil,
            "give --data FILE (the training texts), or --config RUN/config.json")
        try require(
            !kim || model == .cnn, "--recipe kim trains --model cnn (Kim's CNN-rand), not --model \(model.rawValue)")
        let transformerOnly = [("--heads", headsOption != nil), ("--feed-forward", feedForwardOption != nil)]
        let cnnOnly = [
            ("--kernels", kernelsOption != nil), ("--filters", filtersOption != nil), ("--max-norm", maxNorm != nil),
            ("--embedding-init", embeddingInit != nil)
        ]
        // finiteness: FlagBounds
        try require((embeddingInit ?? 1) > 0, "--embedding-init must be a positive number (got \(embeddingInit ?? 0))")
        try require((maxNorm ?? 1) > 0, "--max-norm must be a positive number (got \(maxNorm ?? 0))")
        let recurrentOnly = [("--hidden", hiddenOption != nil), ("--unidirectional", unidirectional)]
        switch model {
        case .transformer:
            try requireOnly(cnnOnly, for: "cnn", model: "transformer");
            try requireOnly(recurrentOnly, for: "lstm|gru", model: "transformer")
        case .cnn:
            try requireOnly(transformerOnly, for: "transformer", model: "cnn");
            try requireOnly(recurrentOnly, for: "lstm|gru", model: "cnn")
        case .lstm, .gru:
            try requireOnly(transformerOnly, for: "transformer", model: model.rawValue);
            try requireOnly(cnnOnly, for: "cnn", model: model.rawValue)
        }
        let kernelList = integerList(kernels)
        try require(
            !kernelList.isEmpty && kernelList.count <= 16 && kernelList.allSatisfy({ $0 > 0 && $0 <= 16 }),
            "--kernels must be 1 to 16 widths from 1 to 16 (e.g. 3,4,5), got '\(kernels)'")
        try require((1...65536).contains(filters), "--filters must be in 1…65536 (got \(filters))")
        try require(
            (300...4_194_304).contains(vocabSize),
            "--vocab-size must be in 300…4194304 (256 bytes, special tokens and merges; got \(vocabSize))")
        try require(valFraction > 0 && valFraction < 1, "--val-fraction must be in (0, 1) (got \(valFraction))")
        try require(batchSize > 0, "--batch-size must be positive (got \(batchSize))")
        try require(dModel > 0, "--d-model must be positive (got \(dModel))")
        try require(heads > 0, "--heads must be positive (got \(heads))")
        try require(
            model != .transformer || dModel % heads == 0, "--d-model \(dModel) must be a multiple of --heads \(heads)")
        try require(
            !recurrent || RecurrentTextClassifierConfig.poolings.contains(pooling),
            "--pooling \(pooling.rawValue) is for the transformer: a recurrent classifier pools with max, mean or concat"
        )
        try require(
            recurrent || pooling != .concat,
            "--pooling concat is for --model lstm or gru (the last state of a sequence)")
        try require(hidden > 0, "--hidden must be positive (got \(hidden))")
        try require(layers > 0, "--layers must be positive (got \(layers))")
        try require(feedForward > 0, "--feed-forward must be positive (got \(feedForward))")
        try require(maxLength > 0, "--max-length must be positive (got \(maxLength))")
        try require(minFrequency >= 1, "--min-frequency must be at least 1 (got \(minFrequency))")
        try require(dropout >= 0 && dropout < 1, "--dropout must be in [0, 1) (got \(dropout))")
        try require(
            labelSmoothing >= 0 && labelSmoothing < 1, "--label-smoothing must be in [0, 1) (got \(labelSmoothing))")
        _ = try columnPair(columns)
    }

    /// The run configuration these flags describe (vocabulary, classes and padding id come from the data).
    func config() throws -> TextClassificationConfig {
        let (labelColumn, textColumn) = try columnPair(columns)
        let textModel: TextModelConfig
        switch model {
        case .cnn:
            var c = TextCNNConfig(vocabulary: 0, classes: 0)
            (c.embeddingDim, c.filters, c.kernelSizes, c.dropout, c.maxLength) = (
                dModel, filters, integerList(kernels), dropout, maxLength
            )
            c.maxNorm = maxNorm ?? (kim ? 3 : nil)
            c.embeddingInitRange = embeddingInit ?? (kim ? 0.25 : nil)
            textModel = .cnn(c)
        case .lstm, .gru:
            var c = RecurrentTextClassifierConfig(vocabulary: 0, classes: 0)
            (c.cell, c.embeddingDim, c.hidden, c.layers, c.bidirectional) = (
                model == .lstm ? .lstm : .gru, dModel, hidden, layers, !unidirectional
            )
            (c.pooling, c.dropout, c.maxLength) = (pooling, dropout, maxLength)
            textModel = .recurrent(c)
        case .transformer:
            var c = TextClassifierConfig(vocabulary: 0, classes: 0)
            (c.dModel, c.heads, c.layers, c.feedForward, c.maxLength, c.dropout, c.pooling) = (
                dModel, heads, layers, feedForward, maxLength, dropout, pooling
            )
            textModel = .transformer(c)
        }
        let vocabulary: TokenizerRecipe =
            tokenizer == .bpe
            ? .byteLevelBPE(vocabularySize: vocabSize, lowercase: true)
            : .wordLevel(
                lowercase: (caseOption ?? (kim ? .keep : .lower)) == .lower, minFrequency: minFrequency,
                kimCleanStr: (preTokenizerOption ?? (kim ? .kim : .whitespace)) == .kim)
        var defaults =
            optimizer == .adadelta
            // Kim's (2014)
            ? TrainingRecipe(epochs: 20, lr: 1, optimizer: .adadelta(rho: 0.95), weightDecay: 0, clipNorm: 0)
            : TrainingRecipe(epochs: 20, lr: 1e-3, optimizer: .adamw(beta2: 0.999), weightDecay: 0.05, clipNorm: 1)
        defaults.defaultWarmupSteps = 100
        if kim { (defaults.epochs, defaults.schedule, defaults.defaultWarmupSteps) = (25, .constant, 0) }
        var training = common.applied(to: defaults)
        (training.labelSmoothing, training.batchSize) = (labelSmoothing, batchSize)
        var c = TextClassificationConfig(
            model: textModel,
            format: TextFormat(format: format, fine: label == .fine, labelColumn: labelColumn, textColumn: textColumn),
            data: LabelledTextData(data: data ?? "", validData: validData, valFraction: valFraction),
            tokenizer: vocabulary, training: training)
        (c.classWeights, c.transfer, c.initEmbeddings) = (classWeights, transfer.recipe, initEmbeddings)
        return c
    }

    func run() throws {
        let c = try common.resolve(try config()) { try Self.parse(["--config", $0]).config() }
        try finish(
            try TextClassificationTask.run(
                c, in: try common.context(task: "classifier"), attentionExample: attentionExample))
    }
}

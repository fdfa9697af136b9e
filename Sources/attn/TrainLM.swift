import ArgumentParser
import AttentionKit

/// `attn train lm`: a decoder-only transformer (or an LSTM/GRU) on text → `LanguageModelTask.run`.
struct TrainLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "Train a GPT-style (or LSTM) language model (next-token prediction) on text files.",
        discussion: """
            Reads --data (UTF-8 text, repeatable), holds out its last --val-fraction for validation (or reads \
            --valid-data) and trains a \
            tokenizer on the rest (characters by default; --tokenizer word|bpe, or --tokenizer-file). Training batches \
            are random windows of --block-size tokens (nanoGPT's get_batch); an epoch is as many windows as the \
            training text holds blocks; --max-steps caps the run in optimizer steps (rounded up to whole epochs of \
            equal length). The default recipe is nanoGPT's CPU one: block 64, batch 12, 4 layers, 4 heads, width 128, \
            dropout 0, AdamW (β₂ 0.99, weight decay 0.1) at 1e-3, 100 warmup steps, cosine decay to 1e-4, clipping at 1, \
            2,000 steps. After every epoch: validation loss, perplexity and bits per character over the whole held-out \
            text, and a sample from --sample-prompt. --model lstm (or gru) trains a recurrent language model with the \
            same data and optimizer recipe: embeddings → 2 recurrent layers of --hidden 256 units → the output layer \
            tied to the embeddings (--no-tie to keep it apart), dropout 0.2 (PyTorch's word_language_model --tied); \
            it learns from windows of --block-size steps and, generating, carries its state over any length. Writes config.json, tokenizer.json, best/last/resume.safetensors, \
            metrics.jsonl/csv and curves.png to --out (default runs/lm); `attn generate` continues a prompt with it.             --backward trains on the text read from its last token to its first (ULMFiT's backward model): it predicts             the token before, `attn generate` writes what comes before the prompt, and a classifier fine-tuned from it             with `attn train classifier --init-from` reads its texts backwards too (ensemble it with the forward one:             `attn evaluate --ensemble`).
            """
    )

    @OptionGroup var common: CommonTrainingOptions
    @Option(help: "Training text: a UTF-8 file (repeatable; read as one stream).")
    var data: [String] = []
    @Option(
        name: .customLong("val-fraction"), parsing: .unconditional,
        help: "Without --valid-data: the fraction of the text (its end) held out for validation.")
    var valFraction = 0.1
    @Option(
        name: .customLong("valid-data"),
        help: "Validation text in a file of its own (repeatable; then all of --data trains).")
    var validData: [String] = []
    @Option(help: "Tokenizer trained on the training text: char (characters), word or bpe (byte-level BPE).")
    var tokenizer: TokenizerKind = .char
    @Option(
        name: .customLong("vocab-size"), parsing: .unconditional,
        help: "BPE: vocabulary size; word: the most words kept.")
    var vocabSize = 2000
    @Option(name: .customLong("tokenizer-file"), help: "Use this tokenizer.json instead of training one.")
    var tokenizerFile: String?
    @Option(name: .customLong("block-size"), parsing: .unconditional, help: "Context length in tokens.")
    var blockSize = 64
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Windows per step.")
    var batchSize = 12
    @Option(help: "transformer (GPT: causal self-attention blocks), lstm or gru (a recurrent network).")
    var model: LanguageModelKind = .transformer
    @Option(
        name: .customLong("layers"), parsing: .unconditional,
        help: "Transformer blocks (default 4), or recurrent layers (default 2).")
    var layersOption: Int?
    @Option(name: .customLong("heads"), parsing: .unconditional, help: "Transformer: attention heads (default 4).")
    var headsOption: Int?
    @Option(
        name: .customLong("d-model"), parsing: .unconditional,
        help: "Model width (default 128); lstm/gru: the embedding width (default --hidden).")
    var dModelOption: Int?
    @Option(
        name: .customLong("hidden"), parsing: .unconditional, help: "LSTM/GRU: hidden units per layer (default 256).")
    var hiddenOption: Int?
    @Flag(name: .customLong("no-tie"), help: "LSTM/GRU: an output layer of its own instead of the embedding's matrix.")
    var noTie = false
    @Option(name: .customLong("dropout"), parsing: .unconditional, help: "Dropout (default 0; lstm/gru: 0.2).")
    var dropoutOption: Float?
    @Option(name: .customLong("positions"), help: "Transformer: positions, learned (default) or sincos.")
    var positionsOption: PositionsFlag?
    @Option(
        name: .customLong("max-steps"), parsing: .unconditional,
        help: "Optimizer steps in all (default 2000 unless --epochs is given).")
    var maxSteps: Int?
    @Option(name: .customLong("sample-prompt"), help: "Prompt of the sample logged after every epoch.")
    var samplePrompt = "\n"
    @Option(
        name: .customLong("sample-tokens"), parsing: .unconditional, help: "Length of that sample in tokens (0: none).")
    var sampleTokens = 200
    @Flag(
        help:
            "Read the text backwards, last token first: the model predicts the token before (ULMFiT's backward model).")
    var backward = false

    var recurrent: Bool { model != .transformer }
    var layers: Int { layersOption ?? (recurrent ? 2 : 4) }
    var heads: Int { headsOption ?? 4 }
    var hidden: Int { hiddenOption ?? 256 }
    var dModel: Int { dModelOption ?? (recurrent ? hidden : 128) }
    var dropout: Float { dropoutOption ?? (recurrent ? 0.2 : 0) }
    var positions: PositionsFlag { positionsOption ?? .learned }

    func validate() throws {
        if recurrent {
            try requireOnly(
                [("--heads", headsOption != nil), ("--positions", positionsOption != nil)], for: "transformer",
                model: model.rawValue)
            try require(hidden > 0 && hidden <= 8192, "--hidden must be in 1...8192 (got \(hidden))")
            try require(
                noTie || dModel == hidden,
                "--d-model \(dModel) differs from --hidden \(hidden): the output layer shares the embedding matrix only when they are equal (or give --no-tie)"
            )
        } else {
            try requireOnly(
                [("--hidden", hiddenOption != nil), ("--no-tie", noTie)], for: "lstm|gru", model: model.rawValue)
        }
        guard !data.isEmpty || common.configFile != nil else {
            throw ValidationError("give at least one --data file (or --config RUN/config.json)")
        }
        guard valFraction > 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in (0, 1)") }
        guard blockSize >= 2 && blockSize <= 8192 else { throw ValidationError("--block-size must be in 2...8192") }
        guard batchSize > 0 && batchSize <= 4096 else { throw ValidationError("--batch-size must be in 1...4096") }
        guard layers > 0 && layers <= 64, heads > 0, dModel > 0 && dModel <= 8192, recurrent || dModel % heads == 0
        else {
            throw ValidationError("--layers must be in 1...64, --d-model in 1...8192 and a multiple of --heads")
        }
        guard positions == .learned || dModel % 2 == 0 else {
            throw ValidationError("--positions sincos needs an even --d-model")
        }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard (maxSteps ?? 1) > 0 else { throw ValidationError("--max-steps must be positive") }
        guard sampleTokens >= 0 && sampleTokens <= 100_000 else {
            throw ValidationError("--sample-tokens must be in 0...100000")
        }
        guard tokenizer != .bpe || vocabSize >= 260 else {
            throw ValidationError("--vocab-size must be at least 260 with --tokenizer bpe")
        }
    }

    /// The run configuration these flags describe (the vocabulary size comes from the tokenizer).
    var config: LanguageModelConfig {
        var c = LanguageModelConfig.recipe(files: data, recurrent: recurrent)
        c.data.valFraction = valFraction
        c.data.validFiles = validData.isEmpty ? nil : validData
        switch tokenizer {
        case .char: c.tokenizer = .characters()
        case .word: c.tokenizer = .wordLevel(lowercase: false, minFrequency: 1, maxSize: vocabSize)
        case .bpe: c.tokenizer = .byteLevelBPE(vocabularySize: vocabSize)
        }
        c.tokenizerFile = tokenizerFile
        switch c.model {
        case .gpt(var m):
            (m.blockSize, m.layers, m.heads, m.dModel, m.dropout) = (blockSize, layers, heads, dModel, dropout)
            m.positions = positions.kind
            c.model = .gpt(m)
        case .recurrent(var m):
            (m.cell, m.blockSize, m.layers, m.embeddingDim, m.hidden, m.dropout, m.tieWeights) = (
                model == .gru ? .gru : .lstm, blockSize, layers, dModel, hidden, dropout, !noTie
            )
            c.model = .recurrent(m)
        }
        c.training = common.applied(to: c.training)
        c.training.batchSize = batchSize
        c.maxSteps = maxSteps ?? (common.epochs == nil ? 2000 : nil)
        (c.samplePrompt, c.sampleTokens) = (samplePrompt, sampleTokens)
        c.backward = backward
        return c
    }

    func run() throws {
        let c = try common.resolve(config) { try Self.parse(["--config", $0]).config }
        try finish(try LanguageModelTask.run(c, in: try common.context(task: "lm")))
    }
}

import Foundation

// The language-model task: a decoder-only transformer (`GPT`) or a recurrent network trained to predict the next token of a text, its run
// configuration and TrainingTask, and a trained run's generation, evaluation (perplexity, bits per character) and
// attention report. Dimension key: B batch, T block (context) length, V vocabulary.

/// The text a language model learns: one or more UTF-8 files, read as one stream; its last `valFraction` (by
/// characters) is held out for validation — or `validFiles` are — and the tokenizer is trained on the rest.
public struct LanguageModelData: Codable, Sendable, Equatable {
    /// The training text files.
    public var files: [String]
    /// Fraction of the text held out at its end for validation when no validation files are given.
    public var valFraction = 0.1
    /// Validation text in files of its own (then nothing of `files` is held out).
    public var validFiles: [String]? = nil
    /// Training text from `files`, validation from `validFiles` or the last `valFraction` of the text.
    public init(files: [String], valFraction: Double = 0.1, validFiles: [String]? = nil) {
        self.files = files
        self.valFraction = valFraction
        self.validFiles = validFiles
    }
    enum CodingKeys: String, CodingKey { case files, valFraction, validFiles }

    /// The training text and the validation text.
    func trainingAndValidation() throws -> (train: String, validation: String) {
        if let validFiles { return (try text(), try LanguageModelData(files: validFiles).text()) }
        return split(try text())
    }

    /// The text of every file, joined; an unreadable or non-UTF-8 file is an error naming it (and the byte offset).
    public func text() throws -> String {
        var parts: [String] = []
        for f in files {
            let t = try UserFile.text(URL(fileURLWithPath: f), maxBytes: 1 << 30)
            if t.contains("\0") { throw RunSetupError("\(f): holds NUL bytes (a binary file, not text)") }
            parts.append(t)
        }
        let all = parts.joined(separator: parts.allSatisfy { $0.hasSuffix("\n") } ? "" : "\n")
        guard !all.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RunSetupError("\(files.joined(separator: ", ")): no text")
        }
        return all
    }

    /// The training text and the held-out tail.
    func split(_ text: String) -> (train: String, validation: String) {
        let scalars = Array(text.unicodeScalars)
        let cut = scalars.count - Int((Double(scalars.count) * valFraction).rounded())
        var a = String.UnicodeScalarView(), b = String.UnicodeScalarView()
        a.append(contentsOf: scalars[..<cut])
        b.append(contentsOf: scalars[cut...])
        return (String(a), String(b))
    }
}

/// What the language-model task reads of a network's configuration: its training window and the activations a
/// training step keeps (for the memory check before a run).
public protocol LanguageModelConfiguration: ModelConfiguration {
    var blockSize: Int { get }
    func activationElements(batch: Int) -> Double
}

extension GPTConfig: LanguageModelConfiguration {}
extension RecurrentLanguageModelConfig: LanguageModelConfiguration {}

/// The network of a language-model run: the transformer (`GPT`) or the recurrent model, in config.json as
/// `"model_type"` and `"model"`.
public enum LanguageModelNetworkConfig: Sendable, Equatable {
    case gpt(GPTConfig)
    case recurrent(RecurrentLanguageModelConfig)

    /// The model's type name as config.json records it.
    public var typeName: String {
        switch self {
        case .gpt: return "GPT"
        case .recurrent: return "RecurrentLanguageModel"
        }
    }

    /// The configuration, for validation.
    public var configuration: any LanguageModelConfiguration {
        switch self {
        case .gpt(let c): return c
        case .recurrent(let c): return c
        }
    }

    /// Sets the vocabulary the tokenizer gives.
    public mutating func setVocabulary(_ size: Int) {
        switch self {
        case .gpt(var c): c.vocabulary = size; self = .gpt(c)
        case .recurrent(var c): c.vocabulary = size; self = .recurrent(c)
        }
    }

    /// The untrained network.
    public func build(using g: inout RandomGenerator) -> any CausalLanguageModel {
        switch self {
        case .gpt(let c): return GPT(config: c, using: &g)
        case .recurrent(let c): return RecurrentLanguageModel(config: c, using: &g)
        }
    }
}

/// A language-model run's configuration (config.json).
public struct LanguageModelConfig: RunConfiguration, Equatable {
    /// The task name written to config.json's `task`.
    public static let task = "language-model"
    /// The model; its vocabulary comes from the tokenizer when the run starts.
    public var model: LanguageModelNetworkConfig
    /// The training and validation text.
    public var data: LanguageModelData
    /// How the vocabulary is trained on the training text (character, word or byte-level BPE).
    public var tokenizer: TokenizerRecipe
    /// A tokenizer.json to use instead of training one.
    public var tokenizerFile: String?
    /// Optimizer, schedule, batch size, epochs and seed.
    public var training: TrainingRecipe
    /// Stop after this many optimizer steps (nanoGPT's `max_iters`; rounded up to whole epochs of equal length).
    public var maxSteps: Int?
    /// The prompt of the sample printed after every epoch, and its length in tokens.
    public var samplePrompt = "\n"
    /// Tokens of the sample generated after each epoch (0: none).
    public var sampleTokens = 200
    /// A backward language model (ULMFiT's second direction): it reads every text from its last token to its first
    /// and predicts the token before. A classifier fine-tuned from it (`--init-from`) reads its texts backwards too.
    public var backward = false

    /// A configuration from its parts, other fields at their defaults.
    public init(
        model: LanguageModelNetworkConfig, data: LanguageModelData, tokenizer: TokenizerRecipe, training: TrainingRecipe
    ) {
        self.model = model
        self.data = data
        self.tokenizer = tokenizer
        self.training = training
    }

    enum CodingKeys: String, CodingKey {
        case modelType, model, data, tokenizer, training
        case tokenizerFile, maxSteps, samplePrompt, sampleTokens, backward
    }

    /// `model_type` picks the network ("RecurrentLanguageModel"; absent or "GPT": the transformer).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decodeIfPresent(String.self, forKey: .modelType) {
        case "RecurrentLanguageModel":
            model = .recurrent(try c.decode(RecurrentLanguageModelConfig.self, forKey: .model))
        case nil, "GPT": model = .gpt(try c.decode(GPTConfig.self, forKey: .model))
        case let other?:
            throw DecodingError.dataCorruptedError(
                forKey: .modelType, in: c, debugDescription: "'\(other)' is not GPT or RecurrentLanguageModel")
        }
        data = try c.decode(LanguageModelData.self, forKey: .data)
        tokenizer = try c.decode(TokenizerRecipe.self, forKey: .tokenizer)
        tokenizerFile = try c.decodeIfPresent(String.self, forKey: .tokenizerFile)
        training = try c.decode(TrainingRecipe.self, forKey: .training)
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        samplePrompt = try c.decodeIfPresent(String.self, forKey: .samplePrompt) ?? "\n"
        sampleTokens = try c.decodeIfPresent(Int.self, forKey: .sampleTokens) ?? 200
        backward = try c.decodeIfPresent(Bool.self, forKey: .backward) ?? false
    }

    /// Encodes config.json's fields (snake_case keys).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model.typeName, forKey: .modelType)
        switch model {
        case .gpt(let m): try c.encode(m, forKey: .model)
        case .recurrent(let m): try c.encode(m, forKey: .model)
        }
        try c.encode(data, forKey: .data)
        try c.encode(tokenizer, forKey: .tokenizer)
        try c.encodeIfPresent(tokenizerFile, forKey: .tokenizerFile)
        try c.encode(training, forKey: .training)
        try c.encodeIfPresent(maxSteps, forKey: .maxSteps)
        try c.encode(samplePrompt, forKey: .samplePrompt)
        try c.encode(sampleTokens, forKey: .sampleTokens)
        if backward { try c.encode(backward, forKey: .backward) }
    }

    /// nanoGPT's CPU recipe for characters: block 64, batch 12, 4 layers, 4 heads, width 128, no dropout, AdamW
    /// (β₂ 0.99, weight decay 0.1) at 1e-3 with 100 warmup steps and cosine decay to 1e-4, clipping at 1.
    /// `recurrent`: the same data and optimizer recipe for a 2-layer LSTM of 256 units with tied 256-wide embeddings
    /// and dropout 0.2 (PyTorch's word_language_model with --tied) in place of the transformer.
    public static func recipe(files: [String], recurrent: Bool = false) -> LanguageModelConfig {
        var t = TrainingRecipe(epochs: 1, lr: 1e-3, optimizer: .adamw(beta2: 0.99), weightDecay: 0.1, clipNorm: 1)
        (t.batchSize, t.defaultWarmupSteps, t.minLRFactor) = (12, 100, 0.1)
        let model: LanguageModelNetworkConfig
        if recurrent {
            model = .recurrent(RecurrentLanguageModelConfig(vocabulary: 0))
        } else {
            var m = GPTConfig(vocabulary: 0)
            (m.blockSize, m.layers, m.heads, m.dModel, m.dropout) = (64, 4, 4, 128, 0)
            model = .gpt(m)
        }
        return LanguageModelConfig(
            model: model, data: LanguageModelData(files: files), tokenizer: .characters(), training: t)
    }

    /// The settings a resume must not change, each with the flag that sets it.
    public func resumeSettings() throws -> [RunSetting] {
        [
            try RunSetting("data.files", data.files, flag: "--data"),
            try RunSetting("data.val_fraction", data.valFraction, flag: "--val-fraction"),
            try RunSetting("data.valid_files", data.validFiles, flag: "--valid-data"),
            try RunSetting("model.block_size", model.configuration.blockSize, flag: "--block-size"),
            try RunSetting("backward", backward ? true : nil, flag: "--backward")  // written only when set
        ] + (try training.resumeSettings())
    }
}

/// A trained language model with its tokenizer: text in, continuations and scores out.
public final class LanguageModel {
    /// The model.
    public let model: any CausalLanguageModel
    /// The tokenizer the model's ids come from.
    public let tokenizer: Tokenizer
    /// Whether the model reads texts backwards (`LanguageModelConfig.backward`): it sees `sequence(_:)`'s ids, the
    /// text's tokens last to first, and generating, it writes what comes before the prompt.
    public let backward: Bool

    /// A language model with its tokenizer; `backward`: the model was trained on texts read last token first.
    public init(model: any CausalLanguageModel, tokenizer: Tokenizer, backward: Bool = false) {
        self.model = model
        self.tokenizer = tokenizer
        self.backward = backward
    }

    /// The ids the model reads for `text`: its tokens in order, or last to first for a backward model.
    public func sequence(_ text: String) -> [Int] {
        let ids = encode(text).ids
        return backward ? ids.reversed() : ids
    }

    /// The ids of `text` (characters outside the vocabulary become [UNK]) and those characters, for a note.
    public func encode(_ text: String) -> (ids: [Int], unknown: [String]) {
        let e = tokenizer.encode(text, addSpecialTokens: false)
        let unk = tokenizer.id(of: "[UNK]")
        var unknown: [String] = []
        if let unk {
            let bytes = Array(text.utf8)
            for (id, r) in zip(e.ids, e.offsets) where id == unk && r.upperBound <= bytes.count {
                let s = String(decoding: bytes[r], as: UTF8.self)
                if !unknown.contains(s) { unknown.append(s) }
            }
        }
        return (e.ids, unknown)
    }

    /// The token that ends a text, if the tokenizer has one ([EOS]).
    public var stopToken: Int? { tokenizer.eosToken.flatMap { tokenizer.id(of: $0) } ?? tokenizer.id(of: "[EOS]") }

    /// `samples` continuations of `prompt`, `maxNewTokens` tokens each at most, drawn with `sampling` from a generator
    /// seeded by `seed` (the same seed gives the same text). `onText(sample, piece)` receives each piece of text as it
    /// is produced (streaming); `onSlide` is told when the context window slides. A backward model writes the text
    /// that comes before the prompt, and `onText` receives it whole when it is done (its tokens arrive last first).
    public func generate(
        _ prompt: String, maxNewTokens: Int, sampling: Sampling = Sampling(), samples: Int = 1, seed: UInt64 = 0,
        onSlide: () -> Void = {}, onText: (Int, String) -> Void = { _, _ in }
    ) throws -> [String] {
        var ids = sequence(prompt)
        if ids.isEmpty { ids = [tokenizer.id(of: "\n") ?? 0] }
        var g = RandomGenerator(seed: seed)
        if backward {
            let rows = model.generate(
                Array(repeating: ids, count: samples), maxNewTokens: maxNewTokens, sampling: sampling,
                stopToken: stopToken, using: &g, onSlide: onSlide
            ) { _, _ in }
            // decoded with the prompt after it, then cut off, so that the text ends as it joins the prompt (the space
            // a word-level tokenizer puts between them)
            let original = Array(ids.reversed()), promptText = tokenizer.decode(original)
            let texts = rows.map { row -> String in
                let whole = tokenizer.decode(row.reversed() + original)
                return whole.hasSuffix(promptText)
                    ? String(whole.dropLast(promptText.count)) : tokenizer.decode(row.reversed())
            }
            for (r, t) in texts.enumerated() { onText(r, t) }
            return texts
        }
        // Each sample's new text is decoded from its pending tokens after a few tokens already shown (as context:
        // word-level decoding puts a space between tokens, byte-level may need several tokens for one character;
        // special tokens decode to nothing and are left out of the context), so streaming costs the same per token
        // however long the text grows. What is still pending at the end is shown as it decodes.
        let specials = Set(tokenizer.specialTokens.compactMap { tokenizer.id(of: $0) })
        var context = [[Int]](repeating: [], count: samples), pending = [[Int]](repeating: [], count: samples)
        func show(_ r: Int, final: Bool) {
            let before = tokenizer.decode(context[r])
            let text = tokenizer.decode(context[r] + pending[r])
            // a byte-level token may end inside a character: show the text once it decodes cleanly
            guard final || !text.hasSuffix("\u{FFFD}"), text.hasPrefix(before) else { return }
            onText(r, String(text.dropFirst(before.count)))
            context[r] = Array((context[r] + pending[r].filter { !specials.contains($0) }).suffix(8))
            pending[r] = []
        }
        let rows = model.generate(
            Array(repeating: ids, count: samples), maxNewTokens: maxNewTokens, sampling: sampling,
            stopToken: stopToken, using: &g, onSlide: onSlide
        ) { r, id in
            pending[r].append(id)
            show(r, final: false)
        }
        for r in 0..<samples where !pending[r].isEmpty { show(r, final: true) }
        return rows.map { tokenizer.decode($0) }
    }

    /// The summed next-token loss (nats) and the token count over `ids`, in non-overlapping blocks (each block's first
    /// token is predicted from nothing before it within the block, as nanoGPT's estimate_loss does with its windows).
    public func summedLoss(_ ids: [Int], batchSize: Int = 16) -> (nats: Double, tokens: Int) {
        let t = model.contextLength
        var starts = Array(stride(from: 0, to: max(ids.count - 1, 0), by: t))
        var nats = 0.0, tokens = 0
        model.eval()
        withNoGrad {
            while !starts.isEmpty {
                let chunk = Array(starts.prefix(batchSize))
                starts.removeFirst(chunk.count)
                // rows of one length: group by length (only the last block may be shorter)
                for length in Set(chunk.map { min(t, ids.count - 1 - $0) }) where length > 0 {
                    let rows = chunk.filter { min(t, ids.count - 1 - $0) == length }
                    let x = rows.map { Array(ids[$0..<($0 + length)]) },
                        y = rows.map { Array(ids[($0 + 1)...($0 + length)]) }
                    nats += Double(model.loss(x, targets: y).item()) * Double(rows.count * length)
                    tokens += rows.count * length
                }
            }
        }
        return (nats, tokens)
    }

    /// Perplexity and bits per character of `text` (the loss in bits over its characters).
    public func score(_ text: String) -> (
        loss: Double, perplexity: Double, bitsPerChar: Double, tokens: Int, characters: Int
    ) {
        let ids = sequence(text)
        let (nats, n) = summedLoss(ids)
        let chars = max(1, text.unicodeScalars.count - 1)
        let loss = nats / Double(max(n, 1))
        return (loss, Foundation.exp(loss), nats / Foundation.log(2.0) / Double(chars), n, chars)
    }
}

/// Training a next-token model (`GPT` or `RecurrentLanguageModel`) on a token stream: random windows of blockSize + 1 tokens (nanoGPT's `get_batch`), an epoch as
/// many windows as the stream holds blocks; validation loss, perplexity and bits per character over the whole
/// held-out stream, and a sample from a fixed prompt after every epoch.
public final class LanguageModelTask: TrainingTask {
    /// The model and tokenizer being trained.
    public let language: LanguageModel
    let train: [Int], validationIDs: [Int], validationCharacters: Int
    var batches: EpochBatches
    /// Batches in one epoch (for the progress bar and schedules).
    public let batchesPerEpoch: Int
    let sample: (prompt: String, tokens: Int)?
    let log: (String) -> Void

    /// - Parameters: batchesPerEpoch: nil: ⌈(training tokens / blockSize) / batchSize⌉; sample: the prompt and length
    ///   of the sample logged after each validation (nil: none).
    public init(
        language: LanguageModel, train: [Int], validation: [Int], validationCharacters: Int, batchSize: Int,
        seed: UInt64,
        batchesPerEpoch: Int? = nil, sample: (prompt: String, tokens: Int)? = nil, shard: Shard = .whole,
        log: @escaping (String) -> Void = { _ in }
    ) {
        self.language = language
        self.train = train
        validationIDs = validation
        self.validationCharacters = validationCharacters
        let t = language.model.contextLength
        let perEpoch = batchesPerEpoch ?? Self.naturalBatches(tokens: train.count, blockSize: t, batchSize: batchSize)
        self.batchesPerEpoch = perEpoch
        let maxStart = max(0, train.count - t - 1), global = batchSize * shard.count
        batches = EpochBatches(seed: seed, shard: shard) { g in
            (0..<perEpoch).map { _ in (0..<global).map { _ in Int(g.next() % UInt64(maxStart + 1)) } }
        }
        self.sample = sample
        self.log = log
    }

    /// Batches in an epoch of as many windows as `tokens` hold blocks: ⌈(tokens / blockSize) / batchSize⌉, at least 1.
    public static func naturalBatches(tokens: Int, blockSize: Int, batchSize: Int) -> Int {
        max(1, (tokens / blockSize + batchSize - 1) / batchSize)
    }

    /// The model being trained.
    public var model: any Module { language.model }
    /// What throughput counts in the progress bar.
    public var itemName: String { "tok" }
    /// Names of the metrics `evaluate` returns, in the order the logs list them.
    public var metricNames: [String] { ["val_loss", "val_ppl", "bits_per_char"] }
    /// The next batch of the current epoch, or nil when the epoch is over.
    public func nextBatch() -> [Int]? { batches.next() }
    /// Reshuffles the data for the next epoch.
    public func startNextEpoch() { batches.startNextEpoch() }
    /// Position in the data (generator state, epoch order, batch index) as text, for resume.
    public var dataState: String { batches.savedState }
    /// Restores a position saved by `dataState`; throws when it does not fit this data.
    public func restoreDataState(_ text: String) throws { try batches.restore(text) }
    /// Writes the model (weights and whatever rebuilds it) to `url`.
    public func saveModel(to url: URL) throws { try language.model.save(to: url) }

    /// The batch's mean loss and its number of items.
    public func loss(_ starts: [Int]) -> (loss: Tensor, items: Int) {
        let t = language.model.contextLength
        // [B, T]
        let x = starts.map { Array(train[$0..<($0 + t)]) }, y = starts.map { Array(train[($0 + 1)...($0 + t)]) }
        return (language.model.loss(x, targets: y), starts.count * t)
    }

    /// Validation metrics by name, computed in evaluation mode without a graph.
    public func evaluate() throws -> [String: Double] {
        let (nats, n) = language.summedLoss(validationIDs)
        let loss = nats / Double(max(n, 1))
        if let sample {
            let text = try language.generate(
                sample.prompt, maxNewTokens: sample.tokens, sampling: Sampling(temperature: 0.8, topK: 40), seed: 0)[0]
            // a backward model writes what comes before the prompt
            let shown = language.backward ? text + sample.prompt : sample.prompt + text
            log("sample: " + shown.replacingOccurrences(of: "\n", with: "⏎ "))
        }
        return [
            "val_loss": loss, "val_ppl": Foundation.exp(loss),
            "bits_per_char": nats / Foundation.log(2.0) / Double(max(validationCharacters, 1))
        ]
    }

    /// Trains a language model as `config` says, in `context`'s directory: reads the text, holds out its tail, trains
    /// (or loads) the tokenizer on the rest, builds the network (resuming: from the run), trains with the recipe keeping
    /// the best epoch by validation loss, logging a sample after every epoch.
    public static func run(_ config: LanguageModelConfig, in context: RunContext) throws -> RunOutcome {
        try context.execute(task: LanguageModelConfig.task) { try train(config, in: context) }
    }

    private static func train(_ config: LanguageModelConfig, in context: RunContext) throws -> RunOutcome {
        let dir = context.directory, recipe = config.training
        if context.resume { try dir.checkResume(config) }
        let (trainText, validText) = try config.data.trainingAndValidation()
        guard !validText.isEmpty else {
            throw RunSetupError("--val-fraction \(config.data.valFraction) holds out no text: use a larger fraction")
        }
        let tokenizer: Tokenizer
        if context.resume {
            tokenizer = try Tokenizer.load(from: dir.file("tokenizer.json"))
        } else if let file = config.tokenizerFile {
            tokenizer = try Tokenizer.load(from: URL(fileURLWithPath: file))
        } else {
            tokenizer = config.tokenizer.train(on: [trainText])
        }
        var modelConfig = config.model
        modelConfig.setVocabulary(tokenizer.vocabularySize)
        if !context.resume {
            let c = modelConfig.configuration
            try c.checkTrainable(
                activations: c.activationElements(batch: recipe.batchSize ?? 12), shrink: "--batch-size or --block-size"
            )
        }
        var network = modelConfig
        if context.resume {  // the saved network, checked before it is built; its weights come from resume.safetensors
            network = try dir.readConfig(LanguageModelConfig.self).model
            do { try network.configuration.validate(maxParameters: 2e9) } catch {
                throw RunDirectoryError(message: "\(dir.configURL.path): model.\(error)")
            }
        }
        var g = RandomGenerator(seed: recipe.seed)
        let model = network.build(using: &g)
        if context.resume { try dir.checkVocabulary(of: tokenizer, file: "tokenizer.json", model: model.vocabulary) }
        let language = LanguageModel(model: model, tokenizer: tokenizer, backward: config.backward)
        let train = language.sequence(trainText), validation = language.sequence(validText)
        let t = model.contextLength
        guard train.count > t + 1 else {
            throw RunSetupError(
                "\(config.data.files.joined(separator: ", ")): the training text is \(train.count) tokens, shorter than one block of --block-size \(t) + 1: lower --block-size or give more text"
            )
        }
        guard validation.count > 1 else {
            throw RunSetupError("the validation text holds \(validation.count) token(s): raise --val-fraction")
        }
        if !context.resume && context.isLead {  // config.json first (see `RunContext.prepareDirectory`)
            var saved = config
            saved.model = modelConfig
            try dir.writeConfig(saved)
            try tokenizer.save(to: dir.file("tokenizer.json"))
        }
        context.log(
            "data: \(train.count) training and \(validation.count) validation tokens (\(tokenizer.vocabularySize)-token "
                + (config.tokenizerFile.map { "vocabulary of \($0)" } ?? "\(config.tokenizer.model.rawValue) vocabulary")
                + ")"
        )
        let batchSize = recipe.batchSize ?? 12
        let natural = naturalBatches(tokens: train.count, blockSize: t, batchSize: batchSize)
        var run = recipe, perEpoch: Int? = nil
        if let maxSteps = config.maxSteps {  // whole epochs of equal length, about maxSteps steps in all
            run.epochs = max(1, (maxSteps + natural - 1) / natural)
            perEpoch = (maxSteps + run.epochs - 1) / run.epochs
        }
        let task = LanguageModelTask(
            language: language, train: train, validation: validation,
            validationCharacters: max(1, validText.unicodeScalars.count - 1),
            batchSize: batchSize, seed: recipe.seed &+ 1, batchesPerEpoch: perEpoch,
            sample: config.sampleTokens > 0 ? (config.samplePrompt, config.sampleTokens) : nil, shard: context.shard,
            log: context.log)
        context.log(
            "model: \(network.typeName), \(model.parameterCount()) parameters; \(run.epochs) epochs × \(task.batchesPerEpoch) steps of \(batchSize) × \(t) tokens"
        )
        let summary = try context.train(
            task, optimizer: run.makeOptimizer(for: model), recipe: run, bestMetric: "val_loss", higherIsBetter: false)
        let message = String(
            format: "best validation loss %.4f (%.3f bits per character) at epoch %d; %.0f s; run directory %@",
            summary.bestValue, summary.lastMetrics["bits_per_char"] ?? .nan, summary.bestEpoch, summary.seconds,
            dir.path)
        return try context.finish(summary, message: message, attentionExample: nil) { _, _ in "" }
    }
}

extension LanguageModel: TrainedRun {
    /// The run's network.
    public var network: any Module { model }
    /// A note on the words of these texts the model's vocabulary lacks (nil: none, or no text input).
    public func unknownWordsNote(_ texts: [String]) -> String? { tokenizer.unknownWordsNote(texts) }

    /// The task name this type loads (config.json's `task`).
    public static var taskName: String { LanguageModelConfig.task }
    /// What the run is called in messages.
    public static var displayName: String { "language model" }

    /// Loads a run directory written by `attn train lm`: `weights` and tokenizer.json.
    public static func load(from run: RunDirectory, weights: String) throws -> LanguageModel {
        try run.check(holds: [weights, "tokenizer.json"], kind: "language model")
        let model =
            try run.loadModel(weights, oneOf: [GPT.self, RecurrentLanguageModel.self], kind: "a language model")
            as! any CausalLanguageModel
        let tokenizer = try Tokenizer.load(from: run.file("tokenizer.json"))
        try run.checkVocabulary(of: tokenizer, file: "tokenizer.json", model: model.vocabulary)
        let backward = try run.configJSON()[path: "backward"] == .bool(true)
        return LanguageModel(model: model, tokenizer: tokenizer, backward: backward)
    }

    /// Scores the text of `request.data`: `{"task": "language-model", "metric": "perplexity", "value": …,
    /// "bits_per_char": …, "loss": …, "n_tokens": …}`.
    public func evaluate(_ request: EvaluationRequest) throws -> Evaluation {
        guard let data = request.data else {
            throw TaskUsageError("a language-model run needs --data FILE (UTF-8 text)")
        }
        let text = try LanguageModelData(files: [data]).text()
        let s = score(text)
        guard s.tokens > 0 else { throw RunSetupError("\(data): too short to score (one token)") }
        let report = [
            String(
                format: "%@: %d tokens, %d characters; loss %.4f, perplexity %.3f, %.4f bits per character", data,
                s.tokens, s.characters, s.loss, s.perplexity, s.bitsPerChar)
        ]
        let json = JSONLine.object([
            ("task", "language-model"), ("metric", "perplexity"), ("value", .number(s.perplexity)),
            ("bits_per_char", .number(s.bitsPerChar)), ("loss", .number(s.loss)), ("n_tokens", .integer(s.tokens))
        ]).text
        return Evaluation(report: report, json: json)
    }

    /// The causal self-attention of every layer and head over the tokens of `request.text` (its last blockSize).
    public func writeAttentionReport(_ request: AttentionRequest, to directory: URL) throws -> String {
        guard let text = request.text else { throw TaskUsageError("a language-model run needs --text") }
        var e = tokenizer.encode(text, addSpecialTokens: false)
        guard !e.ids.isEmpty else { throw TaskUsageError("--text has no tokens") }
        // a backward model reads the tokens last first: the maps' rows and columns are in that order
        if backward { (e.ids, e.tokens, e.offsets) = (e.ids.reversed(), e.tokens.reversed(), e.offsets.reversed()) }
        let keep = min(e.ids.count, model.contextLength), from = e.ids.count - keep
        let ids = Array(e.ids[from...])
        model.eval()
        let (logits, maps) = withAttentionCapture(on: model) { withNoGrad { model([ids]) } }
        guard !maps.entries.isEmpty else {
            throw TaskUsageError(
                "this run's \(type(of: model)) has no attention layers to report (a recurrent language model reads its context through its state): train `attn train lm` with the transformer for attention maps"
            )
        }
        let v = model.vocabulary
        let last = logits.reshape([-1, v]).slice(axis: 0, start: keep - 1, end: keep).softmax(axis: -1).scalars
        let next = last.indices.max { last[$0] < last[$1] } ?? 0
        let tokens = zip(zip(e.tokens, e.offsets), e.ids).dropFirst(from).map {
            AttentionExport.Token(text: $0.0.0, bytes: $0.0.1, unknown: $0.1 == tokenizer.unknownID)
        }
        // whitespace made visible: a space or newline alone would print as nothing
        let shown = (tokenizer.token(of: next) ?? "?").replacingOccurrences(of: " ", with: "␣").replacingOccurrences(
            of: "\n", with: "⏎")
        let prediction = "\(backward ? "previous" : "next"): \(shown) (\(String(format: "%.1f", last[next] * 100))%)"
        try AttentionExport.write(
            maps, kind: "language-model", input: text, output: nil, prediction: prediction, tokens: ["tokens": tokens],
            axes: { _ in ("tokens", "tokens") }, pictures: request.pictures, colourScale: request.colourScale,
            to: directory)
        return "prediction: " + prediction
    }
}

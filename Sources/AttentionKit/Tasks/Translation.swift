import Foundation

// The translation task: its run configuration, its TrainingTask, training a run, and a trained run's evaluation
// (sacreBLEU-exact BLEU and chrF) and attention report.

/// Where a translation run's pairs come from: two line-aligned files or a TSV, and its validation pairs.
public struct TranslationData: Codable, Sendable, Equatable {
    /// Source and target training files, line-aligned (or `tsv`).
    public var source: String?, target: String?
    /// A tab-separated file of pairs and the 1-based columns of source and target ("1,2").
    public var tsv: String?
    /// The 1-based source and target columns of `tsv` ("1,2").
    public var columns = "1,2"
    /// Validation pairs; without them a seeded `valFraction` of the training pairs is held out.
    public var validSource: String?, validTarget: String?
    /// Fraction of the training pairs held out for validation when no validation pairs are given.
    public var valFraction = 0.1
    /// Lines with an empty side, invalid UTF-8 or over 1,000 characters: skipped (and counted) or an error.
    public var badLines: BadLinePolicy = .skip
    /// Validation sentences decoded for the per-epoch BLEU (0: all).
    public var bleuSentences = 0

    /// No data selected yet (set the files).
    public init() {}

    enum CodingKeys: String, CodingKey {
        case source, target, tsv, columns
        case validSource, validTarget, valFraction
        case badLines, bleuSentences
    }

    /// The 0-based (source, target) columns of `columns`.
    public func parsedColumns() throws -> (Int, Int) {
        let parts = columns.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, parts.allSatisfy({ $0 >= 1 }), parts[0] != parts[1] else {
            throw TaskUsageError("--columns must be two different 1-based column numbers, e.g. 1,2")
        }
        return (parts[0] - 1, parts[1] - 1)
    }

    /// The training and validation pairs and the lines skipped (validation split off when no files are given).
    func read(seed: UInt64) throws -> (
        train: [SentencePair], validation: [SentencePair], skipped: [String], split: Bool
    ) {
        var pairs: [SentencePair], skipped: [String]
        if let tsv {
            (pairs, skipped) = try ParallelCorpus.readTSV(
                URL(fileURLWithPath: tsv), columns: try parsedColumns(), policy: badLines)
        } else if let source, let target {
            (pairs, skipped) = try ParallelCorpus.read(
                source: URL(fileURLWithPath: source), target: URL(fileURLWithPath: target), policy: badLines)
        } else {
            throw TaskUsageError("give either --source/--target or --tsv (see attn train translation --help)")
        }
        var validation: [SentencePair]
        if let validSource, let validTarget {
            let (v, vs) = try ParallelCorpus.read(
                source: URL(fileURLWithPath: validSource), target: URL(fileURLWithPath: validTarget), policy: badLines)
            validation = v
            skipped += vs
        } else {
            (pairs, validation) = ParallelCorpus.split(pairs, validationFraction: valFraction, seed: seed)
        }
        guard !pairs.isEmpty, !validation.isEmpty else {
            let files = tsv.map { [$0] } ?? [source, target, validSource, validTarget].compactMap { $0 }
            throw RunSetupError(
                "\(files.joined(separator: ", ")): no usable \(pairs.isEmpty ? "training" : "validation") pairs (\(skipped.count) lines skipped\(skipped.first.map { "; first: \($0)" } ?? ""))"
            )
        }
        return (pairs, validation, skipped, validSource == nil)
    }
}

/// The vocabularies of a translation run: trained on the training side (word level or byte-level BPE, one joint
/// vocabulary or two) or given as tokenizer.json files.
public struct TranslationVocabulary: Codable, Sendable, Equatable {
    /// Word-level or BPE vocabularies.
    public var kind: TokenizerKind = .word
    /// BPE: tokens per vocabulary (or in the joint one).
    public var vocabSize = 8000
    /// BPE: one vocabulary for both languages and shared embeddings.
    public var joint = false
    /// Word level: keep words seen at least this often.
    public var minFrequency = 2
    /// Word level: lowercase (the default recipe).
    public var lowercase = true
    /// Given tokenizer.json files (they need [PAD], [BOS] and [EOS]).
    public var sourceTokenizer: String?, targetTokenizer: String?

    /// The default vocabulary recipe (word level).
    public init() {}

    enum CodingKeys: String, CodingKey {
        case kind, joint, lowercase
        case vocabSize, minFrequency
        case sourceTokenizer, targetTokenizer
    }

    /// The source and target tokenizers for `pairs`, and the ids of [PAD], [BOS], [EOS].
    func make(for pairs: [SentencePair]) throws -> (
        source: Tokenizer, target: Tokenizer, special: (pad: Int, bos: Int, eos: Int)
    ) {
        if let sourceTokenizer, let targetTokenizer {
            let src = try Tokenizer.load(from: URL(fileURLWithPath: sourceTokenizer))
            let tgt = try Tokenizer.load(from: URL(fileURLWithPath: targetTokenizer))
            let s = try Translator.specialIDs(of: src, file: sourceTokenizer),
                t = try Translator.specialIDs(of: tgt, file: targetTokenizer)
            guard s == t else {
                throw RunSetupError("\(sourceTokenizer) and \(targetTokenizer) give [PAD], [BOS], [EOS] different ids")
            }
            return (src, tgt, t)
        }
        let recipe: TokenizerRecipe =
            kind == .bpe
            ? .byteLevelBPE(vocabularySize: vocabSize)
            : .wordLevel(lowercase: lowercase, minFrequency: minFrequency)
        if kind == .bpe && joint {
            let tok = recipe.train(on: pairs.map(\.source) + pairs.map(\.target))
            return (tok, tok, (0, 1, 2))
        }
        return (recipe.train(on: pairs.map(\.source)), recipe.train(on: pairs.map(\.target)), (0, 1, 2))
    }
}

/// A translation run's configuration (config.json): the model, the data, the vocabularies and the recipe.
public struct TranslationConfig: RunConfiguration, Equatable {
    /// The task name written to config.json's `task`.
    public static let task = "translation"
    /// The model; its vocabulary sizes and special ids are set from the tokenizers when the run starts.
    public var model: TranslationModelConfig
    /// The training and validation pairs.
    public var data: TranslationData
    /// How the vocabularies are trained.
    public var vocabulary: TranslationVocabulary
    /// Optimizer, schedule, batch size, epochs and seed.
    public var training: TrainingRecipe

    /// A configuration from its parts.
    public init(
        model: TranslationModelConfig, data: TranslationData, vocabulary: TranslationVocabulary,
        training: TrainingRecipe
    ) {
        self.model = model
        self.data = data
        self.vocabulary = vocabulary
        self.training = training
    }

    enum CodingKeys: String, CodingKey { case modelType, model, data, vocabulary, training }

    /// `model_type` picks the model ("RecurrentTranslator"; absent or "Seq2SeqTransformer": the transformer).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decodeIfPresent(String.self, forKey: .modelType) {
        case "RecurrentTranslator": model = .recurrent(try c.decode(RecurrentTranslatorConfig.self, forKey: .model))
        case nil, "Seq2SeqTransformer": model = .transformer(try c.decode(Seq2SeqConfig.self, forKey: .model))
        case let other?:
            throw DecodingError.dataCorruptedError(
                forKey: .modelType, in: c,
                debugDescription: "'\(other)' is not Seq2SeqTransformer or RecurrentTranslator")
        }
        data = try c.decode(TranslationData.self, forKey: .data)
        vocabulary = try c.decode(TranslationVocabulary.self, forKey: .vocabulary)
        training = try c.decode(TrainingRecipe.self, forKey: .training)
    }

    /// Encodes config.json's fields (snake_case keys).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model.typeName, forKey: .modelType)
        switch model {
        case .transformer(let m): try c.encode(m, forKey: .model)
        case .recurrent(let m): try c.encode(m, forKey: .model)
        }
        try c.encode(data, forKey: .data)
        try c.encode(vocabulary, forKey: .vocabulary)
        try c.encode(training, forKey: .training)
    }

    /// The default recipe: pre-norm 3+3 layers, d 256, 8 heads, feed-forward 512, dropout 0.1, tied output, label
    /// smoothing 0.1, AdamW (β₂ 0.98, weight decay 0.01) at 1e-3, warmup min(400, a fifth of the run), cosine,
    /// clipping at 1, batches of about 2,000 padded tokens, 12 epochs.
    public static var recipe: TranslationConfig {
        var m = Seq2SeqConfig(sourceVocabulary: 0, targetVocabulary: 0)
        m.dModel = 256; m.heads = 8; m.encoderLayers = 3; m.decoderLayers = 3; m.feedForward = 512
        m.dropout = 0.1; m.maxLength = 128; m.tieOutput = true; m.normFirst = true
        var t = TrainingRecipe(epochs: 12, lr: 1e-3, optimizer: .adamw(beta2: 0.98), weightDecay: 0.01, clipNorm: 1)
        t.labelSmoothing = 0.1
        t.maxTokens = 2000
        return TranslationConfig(
            model: .transformer(m), data: TranslationData(), vocabulary: TranslationVocabulary(), training: t)
    }

    /// The settings a resume must not change, each with the flag that sets it.
    public func resumeSettings() throws -> [RunSetting] {
        [
            try RunSetting("data.source", data.source, flag: "--source"),
            try RunSetting("data.target", data.target, flag: "--target"),
            try RunSetting("data.tsv", data.tsv, flag: "--tsv"),
            try RunSetting("data.columns", data.columns, flag: "--columns"),
            try RunSetting("data.valid_source", data.validSource, flag: "--valid-source"),
            try RunSetting("data.valid_target", data.validTarget, flag: "--valid-target"),
            try RunSetting("data.val_fraction", data.valFraction, flag: "--val-fraction")
        ] + (try training.resumeSettings())
    }
}

extension TranslationTask {
    /// Trains a translation run as `config` says, in `context`'s directory: reads and splits the data (writing the
    /// held-out pairs as validation.source/target), trains or loads the vocabularies, builds the model (or, resuming,
    /// rebuilds it from the run), trains with the recipe keeping the best epoch by validation BLEU, and writes the
    /// attention report of `attentionExample` when given.
    public static func run(_ config: TranslationConfig, in context: RunContext, attentionExample: String? = nil) throws
        -> RunOutcome
    {
        try context.execute(task: TranslationConfig.task) {
            try train(config, in: context, attentionExample: attentionExample)
        }
    }

    private static func train(_ config: TranslationConfig, in context: RunContext, attentionExample: String? = nil)
        throws -> RunOutcome
    {
        let dir = context.directory
        if context.resume { try dir.checkResume(config) }
        let seed = config.training.seed
        let (pairs, validation, skipped, split) = try config.data.read(seed: seed)
        context.log(
            "data: \(pairs.count) training pairs, \(validation.count) validation pairs"
                + (skipped.isEmpty ? "" : "; skipped \(skipped.count) lines, first: \(skipped[0])"))

        let translator: Translator
        if context.resume {
            // weights, optimizer and data position come from resume.safetensors
            translator = try Translator.rebuild(from: dir)
        } else {
            let (srcTok, tgtTok, special) = try config.vocabulary.make(for: pairs)
            var saved = config
            saved.model.setVocabularies(
                source: srcTok.vocabularySize, target: tgtTok.vocabularySize, special: special,
                sharedEmbeddings: config.vocabulary.kind == .bpe && config.vocabulary.joint)
            try saved.model.configuration.checkTrainable()
            var g = RandomGenerator(seed: seed)
            translator = Translator(
                model: saved.model.build(using: &g), sourceTokenizer: srcTok, targetTokenizer: tgtTok)
            // config.json first: a run killed before it wrote the rest is one that a restart recognises and redoes
            if context.isLead {
                try dir.writeConfig(saved)
                try srcTok.save(to: dir.file("source-tokenizer.json"))
                try tgtTok.save(to: dir.file("target-tokenizer.json"))
                // the held-out pairs as files, so `attn evaluate` can score them
                if split {
                    try dir.write(
                        text: validation.map(\.source).joined(separator: "\n") + "\n", to: "validation.source")
                    try dir.write(
                        text: validation.map(\.target).joined(separator: "\n") + "\n", to: "validation.target")
                }
            }
        }
        let model = translator.model
        context.log(
            "model: \(type(of: model)), \(model.parameterCount()) parameters; vocabularies \(model.spec.sourceVocabulary) → \(model.spec.targetVocabulary)"
        )
        let recipe = config.training
        let bleuSentences = config.data.bleuSentences > 0 ? config.data.bleuSentences : nil
        let task = TranslationTask(
            translator: translator, train: pairs, validation: validation, maxTokens: recipe.maxTokens ?? 2000,
            labelSmoothing: recipe.labelSmoothing, seed: seed &+ 1, bleuSentences: bleuSentences, shard: context.shard)
        let summary = try context.train(
            task, optimizer: recipe.makeOptimizer(for: model), recipe: recipe, bestMetric: "bleu")
        var message = String(
            format: "best validation BLEU %.2f at epoch %d; %.0f s; run directory %@", summary.bestValue,
            summary.bestEpoch, summary.seconds, dir.path)
        // the decoding defaults (weights, length penalty) chosen on the validation pairs, for translate and evaluate
        if context.isLead && !summary.interrupted,
            let g = try Translator.tuneDecoding(dir, limit: bleuSentences, log: { context.log($0) })
        {
            message += String(
                format: "; decoding with %@ and length penalty %.1f (BLEU %.2f at beam %d, %@)", g.weights,
                g.lengthPenalty, g.chosenScore ?? 0, g.numBeams, GenerationConfig.fileName)
        }
        return try context.finish(summary, message: message, attentionExample: attentionExample) { example, out in
            let text = try Translator.load(from: dir.url).writeAttention(of: example, beam: 5, to: out)
            return "\"\(example)\" → \"\(text)\""
        }
    }
}

extension Translator: TrainedRun, ComparableRun {
    /// The run's network.
    public var network: any Module { model }
    /// A note on the words of these texts the model's vocabulary lacks (nil: none, or no text input).
    public func unknownWordsNote(_ texts: [String]) -> String? { sourceTokenizer.unknownWordsNote(texts) }

    /// The metrics.jsonl key the run kept its best epoch by.
    public static var comparisonMetric: String { "bleu" }

    /// Translates the run's validation sentences (config.json's `valid_source`/`valid_target`, or the held-out
    /// `validation.source/target` the run wrote) with a beam of `request.beam`: sacreBLEU's BLEU (cased) and chrF2,
    /// and sentences per second of that decoding (`translate`'s batches of 64 sentences).
    public func measure(_ request: ComparisonRequest) throws -> ComparisonMeasurement {
        let files =
            try Self.validationFiles(of: request.run)
            ?? (request.run.file("validation.source").path, request.run.file("validation.target").path)
        let batch = 64
        let s = try score(source: files.0, reference: files.1, beam: request.beam, batchSize: batch)
        return ComparisonMeasurement(
            kind: "translation", model: String(describing: type(of: model)), parameters: model.parameterCount(),
            itemsPerSecond: Double(s.sources.count) / max(s.seconds, 1e-9), unit: "sentences/s",
            batch: batch, beam: request.beam,
            scores: ["bleu": s.bleu.score, "chrf": s.chrF, "bleu_lowercase_tokens": s.lowercased.score])
    }

    /// The run's validation pairs as files: config.json's `valid_source`/`valid_target`, else the held-out
    /// validation.source/target the run wrote; nil when it has neither.
    public static func validationFiles(of run: RunDirectory) throws -> (source: String, reference: String)? {
        let data = try run.readConfig(TranslationConfig.self).data
        if let s = data.validSource, let t = data.validTarget { return (s, t) }
        let (s, t) = (run.file("validation.source"), run.file("validation.target"))
        let fm = FileManager.default
        return fm.fileExists(atPath: s.path) && fm.fileExists(atPath: t.path) ? (s.path, t.path) : nil
    }

    /// The length penalties `tuneDecoding` tries.
    public static let tunedLengthPenalties: [Float] = [0.6, 1.0, 1.4, 1.7, 2.0]

    /// Chooses `run`'s decoding defaults on its validation pairs and writes them as generation_config.json:
    /// translates the pairs with a beam of `beam` for each weights file the run has (best.safetensors, then
    /// averaged.safetensors) × each length penalty, and keeps the pair with the highest cased BLEU (the metric
    /// training keeps its best epoch by); `limit`: on the first that many pairs only (training passes
    /// `--bleu-sentences`). `attn translate` and `attn evaluate` then use them by default. On the
    /// validation pairs the best epoch was picked on, so the chosen score flatters them: report held-out data.
    /// - Returns: the configuration written, nil (nothing written) when the run has no validation pairs.
    @discardableResult
    public static func tuneDecoding(
        _ run: RunDirectory, beam: Int = 5, lengthPenalties: [Float] = tunedLengthPenalties, limit: Int? = nil,
        log: (String) -> Void = { _ in }
    ) throws -> GenerationConfig? {
        guard let files = try validationFiles(of: run) else { return nil }
        let fm = FileManager.default
        var candidates: [GenerationConfig.Candidate] = [], pairs = 0
        for weights in ["best.safetensors", "averaged.safetensors"] where fm.fileExists(atPath: run.file(weights).path)
        {
            let translator = try load(from: run, weights: weights)
            for alpha in lengthPenalties {
                let s = try translator.score(
                    source: files.source, reference: files.reference, beam: beam, lengthPenalty: alpha, limit: limit)
                pairs = s.sources.count
                candidates.append(.init(weights: weights, lengthPenalty: alpha, score: s.bleu.score))
                log(
                    String(
                        format: "decoding %@, beam %d, length penalty %.1f: BLEU %.2f", weights, beam, alpha,
                        s.bleu.score))
            }
        }
        let name = { (path: String) in
            path.hasPrefix(run.path + "/") ? URL(fileURLWithPath: path).lastPathComponent : path
        }
        guard
            let config = GenerationConfig.choosing(
                from: candidates, numBeams: beam,
                chosenOn: "\(name(files.source)), \(name(files.reference))", pairs: pairs)
        else { return nil }
        try run.writeGenerationConfig(config)
        return config
    }

    /// The task name this type loads (config.json's `task`).
    public static var taskName: String { TranslationConfig.task }
    /// What the run is called in messages.
    public static var displayName: String { "translation" }

    /// Loads a run directory for inference: `weights`, `source-tokenizer.json`, `target-tokenizer.json`.
    public static func load(from run: RunDirectory, weights: String) throws -> Translator {
        try run.check(holds: [weights, "source-tokenizer.json", "target-tokenizer.json"], kind: "translation")
        let model =
            try run.loadModel(
                weights, oneOf: [Seq2SeqTransformer.self, RecurrentTranslator.self], kind: "a translation model")
            as! any TranslationModel
        let (source, target) = try tokenizers(of: run, for: model.spec)
        return Translator(model: model, sourceTokenizer: source, targetTokenizer: target)
    }

    /// Loads a run directory: `best.safetensors` (or `weights`), `source-tokenizer.json`, `target-tokenizer.json`.
    /// - Throws: an error naming the directory and the missing or unreadable file.
    public static func load(from directory: URL, weights: String = "best.safetensors") throws -> Translator {
        try load(from: RunDirectory(directory), weights: weights)
    }

    /// Rebuilds the untrained model of a run directory from its `config.json` (key "model") and tokenizers, for
    /// resuming a run (its weights come from resume.safetensors).
    public static func rebuild(from directory: RunDirectory) throws -> Translator {
        let config = try directory.readConfig(TranslationConfig.self).model
        do { try config.configuration.validate(maxParameters: 2e9) } catch {
            throw RunDirectoryError(message: "\(directory.configURL.path): model.\(error)")
        }
        let (source, target) = try tokenizers(of: directory, for: config.spec)  // checked before the model is built
        var g = RandomGenerator(seed: 0)
        let model = config.build(using: &g)
        return Translator(model: model, sourceTokenizer: source, targetTokenizer: target)
    }

    /// The run's source and target tokenizers, checked against the model they serve: each vocabulary's size, and the
    /// target's [PAD], [BOS], [EOS] ids.
    static func tokenizers(of run: RunDirectory, for spec: TranslationSpec) throws -> (
        source: Tokenizer, target: Tokenizer
    ) {
        let source = try Tokenizer.load(from: run.file("source-tokenizer.json")),
            target = try Tokenizer.load(from: run.file("target-tokenizer.json"))
        try run.checkVocabulary(of: source, file: "source-tokenizer.json", model: spec.sourceVocabulary)
        try run.checkVocabulary(of: target, file: "target-tokenizer.json", model: spec.targetVocabulary)
        let (pad, bos, eos) = try specialIDs(of: target, file: run.file("target-tokenizer.json").path)
        guard (pad, bos, eos) == (spec.padID, spec.bosID, spec.eosID) else {
            throw RunDirectoryError(
                message:
                    "\(run.file("target-tokenizer.json").path): [PAD], [BOS], [EOS] are ids \(pad), \(bos), \(eos) but the model uses \(spec.padID), \(spec.bosID), \(spec.eosID): the tokenizer belongs to another run"
            )
        }
        return (source, target)
    }

    /// The ids of [PAD], [BOS] and [EOS] in a tokenizer brought by the user, or an error naming what is missing.
    public static func specialIDs(of t: Tokenizer, file: String) throws -> (pad: Int, bos: Int, eos: Int) {
        var ids: [Int] = []
        for name in ["[PAD]", "[BOS]", "[EOS]"] {
            guard let id = t.id(of: name) else {
                throw RunDirectoryError(
                    message: "\(file): the tokenizer has no \(name) token (translation needs [PAD], [BOS] and [EOS])")
            }
            ids.append(id)
        }
        return (ids[0], ids[1], ids[2])
    }

    /// Translates `request.source` (a blank line in both files is not a pair) and scores it against
    /// `request.reference`: the first three translations beside their references, sacreBLEU's BLEU (13a, cased),
    /// lowercased BLEU and chrF2; the JSON line `{"task": "translation", "metric": "bleu", "value": …}`.
    public func evaluate(_ request: EvaluationRequest) throws -> Evaluation {
        guard let source = request.source, let reference = request.reference else {
            throw TaskUsageError("a translation run needs --source and --reference")
        }
        let s = try score(
            source: source, reference: reference, beam: request.beam, lengthPenalty: request.lengthPenalty,
            note: request.note)
        if let output = request.output {
            try AtomicFile.write(Data((s.hypotheses.joined(separator: "\n") + "\n").utf8), to: output)
        }
        var report = (0..<min(3, s.sources.count)).map {
            "source:     \(s.sources[$0])\nreference:  \(s.references[$0])\ntranslation: \(s.hypotheses[$0])\n"
        }
        report += [
            "sacreBLEU (13a, cased): \(s.bleu)", "lowercased: \(s.lowercased)",
            String(
                format: "chrF2 %.2f; %d sentences, beam %d, %.1f s", s.chrF, s.sources.count, request.beam, s.seconds)
        ]
        let json = JSONLine.object([
            ("task", "translation"), ("metric", "bleu"), ("value", .number(s.bleu.score)),
            ("n", .integer(s.sources.count)),
            ("bleu_lowercase_tokens", .number(s.lowercased.score)), ("chrf", .number(s.chrF)),
            ("beam", .integer(request.beam))
        ]).text
        return Evaluation(report: report, json: json)
    }

    /// Translates the lines of `source` and scores them against the lines of `reference` (sacreBLEU's BLEU, cased
    /// and lowercased, and chrF2); pairs empty on both sides are skipped with a note; `limit`: only the first that
    /// many pairs; `seconds` is the decoding time.
    public func score(
        source: String, reference: String, beam: Int, lengthPenalty: Float = 0.6, batchSize: Int = 64,
        limit: Int? = nil, note: (String) -> Void = { _ in }
    )
        throws -> (
            bleu: BLEUScore, lowercased: BLEUScore, chrF: Double, sources: [String], references: [String],
            hypotheses: [String], seconds: Double
        )
    {
        var src = try TextFile.strictLines(source, what: "source"),
            refs = try TextFile.strictLines(reference, what: "reference")
        guard src.count == refs.count else {
            throw RunSetupError("\(source) has \(src.count) lines but \(reference) has \(refs.count)")
        }
        let blank = { (s: String) in s.trimmingCharacters(in: .whitespaces).isEmpty }
        let empty = zip(src, refs).enumerated().filter { blank($0.element.0) && blank($0.element.1) }.map(\.offset)
        if !empty.isEmpty {  // e.g. the blank last line of Multi30k's files: not a sentence pair
            note("skipped \(empty.count) line(s) empty in both files (first: line \(empty[0] + 1))")
            let drop = Set(empty)
            src = src.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
            refs = refs.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
        }
        guard !src.isEmpty else { throw RunSetupError("\(source) is empty") }
        if let limit, limit < src.count { (src, refs) = (Array(src.prefix(limit)), Array(refs.prefix(limit))) }
        let t0 = Date()
        let hyps = translate(src, beam: beam, lengthPenalty: lengthPenalty, batchSize: batchSize).map {
            $0.first?.text ?? ""
        }
        let seconds = Date().timeIntervalSince(t0)
        return (
            corpusBLEU(hypotheses: hyps, references: refs),
            corpusBLEU(hypotheses: hyps, references: refs, lowercase: true),
            corpusChrF(hypotheses: hyps, references: refs), src, refs, hyps, seconds
        )
    }

    /// Writes the attention report of one input into `directory`; returns the line to print (the prediction).
    public func writeAttentionReport(_ request: AttentionRequest, to directory: URL) throws -> String {
        guard let text = request.text else { throw TaskUsageError("a translation run needs --text") }
        return "translation: "
            + (try writeAttention(
                of: text, target: request.target, beam: request.beam, to: directory, pictures: request.pictures,
                colourScale: request.colourScale))
    }
}

/// Training a `Seq2SeqTransformer` on parallel text: teacher-forced, label-smoothed cross-entropy over target tokens;
/// validation loss and BLEU (greedy decoding) every epoch.
public final class TranslationTask: TrainingTask {
    /// The model and tokenizers being trained.
    public let translator: Translator
    var batches: TokenBudgetBatches
    let validation: [TokenPair], validationReferences: [String], validationSources: [String]
    /// Label smoothing of the cross-entropy (0: none).
    public let labelSmoothing: Float
    /// Decode at most this many validation sentences for the per-epoch BLEU (nil: all).
    public let bleuSentences: Int?

    /// A training task on `train` in batches of about `maxTokens` tokens, validated (loss and BLEU) on `validation`.
    public init(
        translator: Translator, train: [SentencePair], validation: [SentencePair], maxTokens: Int,
        labelSmoothing: Float,
        seed: UInt64, bleuSentences: Int? = nil, shard: Shard = .whole
    ) {
        self.translator = translator
        let pad = translator.model.spec.padID
        batches = TokenBudgetBatches(
            train.map { TokenPair(source: translator.sourceIDs($0.source), target: translator.targetIDs($0.target)) },
            maxTokens: maxTokens, padID: pad, seed: seed, shard: shard)
        self.validation = validation.map {
            TokenPair(source: translator.sourceIDs($0.source), target: translator.targetIDs($0.target))
        }
        validationReferences = validation.map(\.target)
        validationSources = validation.map(\.source)
        self.labelSmoothing = labelSmoothing
        self.bleuSentences = bleuSentences
    }

    /// The model being trained.
    public var model: any Module { translator.model }
    /// What throughput counts in the progress bar.
    public var itemName: String { "tok" }
    /// Batches in one epoch (for the progress bar and schedules).
    public var batchesPerEpoch: Int { batches.batchesPerEpoch }
    /// Names of the metrics `evaluate` returns, in the order the logs list them.
    public var metricNames: [String] { ["val_loss", "val_ppl", "bleu", "bleu_lowercase_tokens"] }
    /// The next batch of the current epoch, or nil when the epoch is over.
    public func nextBatch() -> TranslationBatch? { batches.next() }
    /// Reshuffles the data for the next epoch.
    public func startNextEpoch() { batches.startNextEpoch() }
    /// Position in the data (generator state, epoch order, batch index) as text, for resume.
    public var dataState: String { batches.savedState }
    /// Restores a position saved by `dataState`; throws when it does not fit this data.
    public func restoreDataState(_ text: String) throws { try batches.restore(text) }
    /// Writes the model (weights and whatever rebuilds it) to `url`.
    public func saveModel(to url: URL) throws { try translator.model.save(to: url) }

    /// The batch's mean loss and its number of items.
    public func loss(_ b: TranslationBatch) -> (loss: Tensor, items: Int) {
        let v = translator.model.spec.targetVocabulary
        let logits = translator.model(source: b.source, targetInput: b.targetInput)  // [B, T, V]
        return (
            Loss.crossEntropy(
                logits.reshape([-1, v]), b.targetOutput, ignoreIndex: translator.model.spec.padID,
                labelSmoothing: labelSmoothing), b.tokens
        )
    }

    /// Validation metrics by name, computed in evaluation mode without a graph.
    public func evaluate() throws -> [String: Double] {
        let v = translator.model.spec.targetVocabulary, pad = translator.model.spec.padID
        var sum = 0.0, tokens = 0
        for start in stride(from: 0, to: validation.count, by: 64) {
            let b = TokenBudgetBatches.batch(Array(validation[start..<min(start + 64, validation.count)]), padID: pad)
            let logits = translator.model(source: b.source, targetInput: b.targetInput)
            sum += Double(
                Loss.crossEntropy(logits.reshape([-1, v]), b.targetOutput, ignoreIndex: pad, reduction: .sum).item())
            tokens += b.tokens
        }
        let n = min(bleuSentences ?? validationSources.count, validationSources.count)
        let hyps = translator.translate(Array(validationSources.prefix(n)), beam: 1).map { $0.first?.text ?? "" }
        let refs = Array(validationReferences.prefix(n))
        let loss = sum / Double(max(tokens, 1))
        return [
            "val_loss": loss, "val_ppl": Foundation.exp(loss),
            "bleu": corpusBLEU(hypotheses: hyps, references: refs).score,
            "bleu_lowercase_tokens": corpusBLEU(hypotheses: hyps, references: refs, lowercase: true).score
        ]
    }
}
extension Translator {
    /// Translates `sentence` greedily with attention capture and writes its maps (`AttentionExport`): encoder
    /// self-attention over source tokens, decoder self-attention over output tokens, cross-attention output × source.
    /// - Returns: the translation.
    /// - Parameters:
    ///   - sentence: the source sentence.
    ///   - target: a translation to show the attention of (teacher forcing: its tokens are the decoder's
    ///     input after BOS); nil translates and shows the attention of the model's own output.
    ///   - beam: without `target`: 1 decodes greedily with capture (rows are the output tokens); more runs
    ///     the beam search `translate` runs and shows the attention of its best translation (rows: [BOS] + its tokens).
    ///   - lengthPenalty: the beam search's GNMT length penalty α.
    ///   - directory: the report's directory.
    ///   - maxLength: output tokens at most.
    ///   - pictures: also write the PNGs and index.html.
    ///   - colourScale: one 0–1 scale for every layer, or each layer's own.
    @discardableResult
    public func writeAttention(
        of sentence: String, target: String? = nil, beam: Int = 1, lengthPenalty: Float = 0.6,
        to directory: URL, maxLength: Int = 64, pictures: Bool = true, colourScale: AttentionColourScale = .absolute
    ) throws -> String {
        let encoding = sourceTokenizer.encode(sentence, addSpecialTokens: false)
        let ids = Array(encoding.ids.prefix(model.spec.maxLength - 1)) + [model.spec.eosID]
        let unknown = sourceTokenizer.unknownID
        let source =
            zip(zip(encoding.tokens, encoding.offsets), encoding.ids).prefix(ids.count - 1)
            .map { AttentionExport.Token(text: $0.0.0, bytes: $0.0.1, unknown: $0.1 == unknown) } + [
                AttentionExport.Token(text: "[EOS]")
            ]
        // Decoder rows are labelled by the token each step produces ("target"); the decoder's own keys are its
        // inputs ("decoder_input": [BOS] and the tokens before).
        let maps: AttentionMaps, produced: [AttentionExport.Token], inputs: [AttentionExport.Token], text: String
        let token = { (id: Int) in AttentionExport.Token(text: self.targetTokenizer.token(of: id) ?? "?") }
        if let target {
            let t = targetTokenizer.encode(target, addSpecialTokens: false)
            let tids = Array(t.ids.prefix(model.spec.maxLength - 1))
            (_, maps) = withAttentionCapture(on: model) {
                withNoGrad { model(source: [ids], targetInput: [[model.spec.bosID] + tids]) }
            }
            // teacher forcing: the decoder reads [BOS] + the target; row i is made to produce target token i, the
            // last row the end of the sentence
            let targetTokens = zip(zip(t.tokens, t.offsets), t.ids).prefix(tids.count).map {
                AttentionExport.Token(text: $0.0.0, bytes: $0.0.1, unknown: $0.1 == targetTokenizer.unknownID)
            }
            produced = targetTokens + [AttentionExport.Token(text: "[EOS]")]
            inputs = [AttentionExport.Token(text: "[BOS]")] + targetTokens
            text = target
        } else if beam > 1 {
            // The translation `translate` gives (beam search), then its attention by teacher forcing on its tokens:
            // row i is the decoder at step i, exactly the state that chose token i.
            model.eval()
            // [BOS] + tokens must fit the position table: at most maxLength − 1 tokens
            let hyp = model.beamSearch(
                [ids], beamSize: beam, maxLength: min(model.spec.maxLength - 1, ids.count * 3 / 2 + 10),
                lengthPenalty: lengthPenalty, nBest: 1)[0][0]
            let tokens = Array(hyp.tokens.prefix(model.spec.maxLength - 1))
            (_, maps) = withAttentionCapture(on: model) {
                withNoGrad { model(source: [ids], targetInput: [[model.spec.bosID] + tokens]) }
            }
            produced = tokens.map(token) + [AttentionExport.Token(text: hyp.finished ? "[EOS]" : "…")]
            inputs = [AttentionExport.Token(text: "[BOS]")] + tokens.map(token)
            text = detokenize(targetTokenizer.decode(tokens))
        } else {
            let (hyps, m) = withAttentionCapture(on: model) {
                model.greedyDecode([ids], maxLength: min(maxLength, model.spec.maxLength))
            }
            maps = m
            let out = hyps[0].tokens + (hyps[0].finished ? [model.spec.eosID] : [])  // one query row per decoding step
            produced = out.map(token)
            inputs = [AttentionExport.Token(text: "[BOS]")] + out.dropLast().map(token)
            text = detokenize(targetTokenizer.decode(hyps[0].tokens))
        }
        try AttentionExport.write(
            maps, kind: "translation", input: sentence, output: text,
            tokens: ["source": source, "target": produced, "decoder_input": inputs],
            axes: {
                $0.hasPrefix("encoder")
                    ? ("source", "source")
                    : ($0.hasSuffix("crossAttention") || $0 == "attention")
                        ? ("target", "source") : ("target", "decoder_input")
            },
            pictures: pictures, colourScale: colourScale, to: directory)
        return text
    }
}

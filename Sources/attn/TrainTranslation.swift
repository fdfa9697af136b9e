import ArgumentParser
import AttentionKit
import Foundation

/// Flags every training verb shares.
struct CommonTrainingOptions: ParsableArguments {
    @Option(help: "Run directory: metrics, curves, checkpoints, config and tokenizers (default: runs/TASK).")
    var out: String?
    @Option(parsing: .unconditional, help: "Number of epochs (default: the verb's recipe).")
    var epochs: Int?
    @Option(parsing: .unconditional, help: "Peak learning rate (default: the verb's recipe).")
    var lr: Float?
    @Option(name: .customLong("warmup-steps"), parsing: .unconditional, help: "Optimizer steps of linear warmup before the decay (default: the verb's recipe).")
    var warmupSteps: Int?
    @Option(help: "Learning-rate decay after warmup: cosine (to 0 at the last step) or inverse-sqrt (Vaswani et al.).")
    var schedule = "cosine"
    @Option(name: .customLong("weight-decay"), parsing: .unconditional, help: "Weight decay, not applied to biases, norms and position tables (default: the verb's recipe).")
    var weightDecay: Float?
    @Option(name: .customLong("clip-norm"), parsing: .unconditional, help: "Clip the global gradient norm to this value, 0: no clipping (default: the verb's recipe).")
    var clipNorm: Float?
    @Option(name: .customLong("accumulate"), parsing: .unconditional, help: "Batches whose gradients are summed before one optimizer step.")
    var accumulate = 1
    @Option(parsing: .unconditional, help: "Stop after this many epochs without improvement of the validation metric (0: never).")
    var patience = 0
    @Option(parsing: .unconditional, help: "Random seed (weights, dropout, batch order).")
    var seed: UInt64 = 0
    @Flag(help: "Continue the run in --out from resume.safetensors, bit for bit.")
    var resume = false
    @Flag(help: """
        Data-parallel training under an MPI launcher (`mpirun -np N attn train … --distributed`): each process takes \
        its slice of every global batch (--batch-size or the token budget is per process), gradients are averaged \
        before each step, process 0 prints, validates and writes the run directory. Needs a build with `--traits MPI`.
        """)
    var distributed = false

    func validate() throws {
        guard (epochs ?? 1) > 0 else { throw ValidationError("--epochs must be positive") }
        guard (lr ?? 1) > 0 else { throw ValidationError("--lr must be positive") }
        guard (warmupSteps ?? 0) >= 0 else { throw ValidationError("--warmup-steps must be non-negative") }
        guard ["cosine", "inverse-sqrt"].contains(schedule) else { throw ValidationError("--schedule must be cosine or inverse-sqrt, not '\(schedule)'") }
        guard accumulate > 0 else { throw ValidationError("--accumulate must be positive") }
        guard patience >= 0 else { throw ValidationError("--patience must be non-negative") }
        guard (clipNorm ?? 0) >= 0 else { throw ValidationError("--clip-norm must be non-negative") }
        guard (weightDecay ?? 0) >= 0 else { throw ValidationError("--weight-decay must be non-negative") }
    }

    /// The data-parallel context of this run (nil without --distributed); starts MPI once. A run started by an MPI
    /// launcher as several processes without --distributed is refused: each would train alone and write the same files.
    func dataParallel() throws -> DataParallel? {
        guard distributed else {
            let n = DistributedRuntime.launchedProcesses
            if n > 1 { throw CLIError("started by an MPI launcher as \(n) processes but without --distributed: add --distributed, or run a single process") }
            return nil
        }
        let dp: DataParallel
        do { dp = DataParallel(try DistributedRuntime.start()) } catch { throw CLIError("--distributed: \(error)") }
        isLeadProcess = dp.isLead
        return dp
    }

    /// The warmup + decay schedule; checks against the data that an epoch has a batch and --warmup-steps is shorter
    /// than the run.
    /// - Parameter defaultWarmup: the verb's warmup without --warmup-steps (cut to the run's length); nil: 400 steps or a fifth of the run.
    func makeSchedule(stepsPerEpoch: Int, epochs: Int, defaultWarmup: Int? = nil) throws -> any LRSchedule {
        guard stepsPerEpoch > 0 else {
            throw CLIError("the training data gives no batch per epoch" + (distributed ? " (fewer examples than processes?)" : ""))
        }
        let total = max(1, epochs * ((stepsPerEpoch + accumulate - 1) / accumulate))
        if let warmupSteps, warmupSteps >= total, schedule == "cosine" {
            throw CLIError("--warmup-steps \(warmupSteps) is not shorter than the run's \(total) optimizer steps (\(epochs) epochs × \(stepsPerEpoch) batches\(accumulate > 1 ? " / --accumulate \(accumulate)" : "")): lower it or train longer")
        }
        let warmup = warmupSteps ?? defaultWarmup.map { min($0, total - 1) } ?? min(400, total / 5)   // short runs reach their peak rate too
        if schedule == "inverse-sqrt" { return WarmupInverseSqrt(warmupSteps: max(1, warmup)) }
        return WarmupCosine(warmupSteps: min(warmup, total - 1), totalSteps: total)
    }

    func options(epochs: Int, clipNorm defaultClip: Float, bestMetric: String, higherIsBetter: Bool) -> TrainerOptions {
        var o = TrainerOptions(epochs: epochs)
        o.accumulationSteps = accumulate
        let clip = clipNorm ?? defaultClip
        o.clipNorm = clip > 0 ? clip : nil
        o.bestMetric = bestMetric
        o.higherIsBetter = higherIsBetter
        o.patience = patience > 0 ? patience : nil
        return o
    }
}

/// `attn train translation`.
struct TrainTranslation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "translation",
        abstract: "Train a transformer translator on parallel text.",
        discussion: """
        Data: two line-aligned files (--source, --target) or a TSV (--tsv with --columns). Validation: --valid-source \
        and --valid-target, or a seeded --val-fraction of the training pairs. Word-level vocabularies (lowercased, \
        words seen at least --min-frequency times) are trained on the training side only and saved as Hugging Face \
        tokenizer.json files in the run directory.

        The default recipe: a pre-norm encoder-decoder, 3+3 layers, d 256, 8 heads, feed-forward 512, dropout 0.1, \
        tied target embedding and output projection, label smoothing 0.1, AdamW (β 0.9/0.98, weight decay 0.01) at \
        a peak 1e-3 after 400 warmup steps (a fifth of the run if shorter) with cosine decay, gradient clipping at 1, length-bucketed batches of \
        about 2,000 padded tokens, 12 epochs; the best epoch by validation BLEU (greedy) is kept.

        Writes to --out: config.json, validation.source and validation.target (when split from training), source-tokenizer.json, target-tokenizer.json, best.safetensors, \
        last.safetensors, resume.safetensors, metrics.jsonl, metrics.csv, curves.png. Ctrl-C saves a resumable \
        checkpoint and exits 130; --resume continues.
        """
    )

    @OptionGroup var common: CommonTrainingOptions
    @Option(name: .customLong("attention-example"), help: "After training, write the attention report (attn attention) of this sentence to RUN/attention.")
    var attentionExample: String?
    @Option(help: "Source-language training file (one sentence per line).")
    var source: String?
    @Option(help: "Target-language training file, line-aligned with --source.")
    var target: String?
    @Option(help: "A tab-separated file of pairs instead of --source/--target.")
    var tsv: String?
    @Option(help: "With --tsv: the 1-based columns of source and target, e.g. 1,2 (Tatoeba: 1,2 is English→French).")
    var columns = "1,2"
    @Option(name: .customLong("valid-source"), help: "Source side of the validation pairs.")
    var validSource: String?
    @Option(name: .customLong("valid-target"), help: "Target side of the validation pairs.")
    var validTarget: String?
    @Option(name: .customLong("val-fraction"), parsing: .unconditional, help: "Without --valid-*: the fraction of training pairs held out (seeded).")
    var valFraction = 0.1
    @Option(name: .customLong("bad-lines"), help: "Lines with an empty side, invalid UTF-8 or over 1,000 characters: skip (and count) or stop.")
    var badLines = "skip"
    @Option(help: "Vocabulary: word (word level, HF Whitespace splitting) or bpe (byte-level BPE, exact round trip of case and spacing).")
    var tokenizer = "word"
    @Option(name: .customLong("vocab-size"), parsing: .unconditional, help: "With --tokenizer bpe: tokens per vocabulary (or in the joint one).")
    var vocabSize = 8000
    @Flag(name: .customLong("joint-vocabulary"), help: "With --tokenizer bpe: one vocabulary for both languages, shared source/target embeddings.")
    var jointVocabulary = false
    @Option(name: .customLong("source-tokenizer"), help: "Use this tokenizer.json for the source side instead of training one (needs [PAD], [BOS], [EOS]).")
    var sourceTokenizer: String?
    @Option(name: .customLong("target-tokenizer"), help: "Use this tokenizer.json for the target side instead of training one.")
    var targetTokenizer: String?
    @Option(name: .customLong("min-frequency"), parsing: .unconditional, help: "With --tokenizer word: keep words seen at least this often in training (others become [UNK]).")
    var minFrequency = 2
    @Flag(name: .customLong("cased"), help: "Keep case in the vocabularies (default: lowercase).")
    var cased = false
    @Option(name: .customLong("max-tokens"), parsing: .unconditional, help: "Padded tokens per batch (rows × longest sentence).")
    var maxTokens = 2000
    @Option(name: .customLong("d-model"), parsing: .unconditional, help: "Model width.")
    var dModel = 256
    @Option(parsing: .unconditional, help: "Attention heads.")
    var heads = 8
    @Option(parsing: .unconditional, help: "Encoder and decoder layers (each).")
    var layers = 3
    @Option(name: .customLong("feed-forward"), parsing: .unconditional, help: "Feed-forward hidden width.")
    var feedForward = 512
    @Option(parsing: .unconditional, help: "Dropout.")
    var dropout: Float = 0.1
    @Option(name: .customLong("label-smoothing"), parsing: .unconditional, help: "Label smoothing of the cross-entropy.")
    var labelSmoothing: Float = 0.1
    @Option(name: .customLong("max-length"), parsing: .unconditional, help: "Longest sentence in tokens (longer ones are cut).")
    var maxLength = 128
    @Option(name: .customLong("bleu-sentences"), parsing: .unconditional, help: "Validation sentences decoded for the per-epoch BLEU (0: all).")
    var bleuSentences = 0

    static let defaultEpochs = 12, defaultLR: Float = 1e-3

    func validate() throws {
        guard (source == nil) == (target == nil) else { throw ValidationError("--source and --target go together") }
        guard (validSource == nil) == (validTarget == nil) else { throw ValidationError("--valid-source and --valid-target go together") }
        guard valFraction > 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in (0, 1)") }
        guard BadLinePolicy(rawValue: badLines) != nil else { throw ValidationError("--bad-lines must be skip or stop, not '\(badLines)'") }
        guard dModel > 0, heads > 0, dModel % heads == 0 else { throw ValidationError("--d-model must be a positive multiple of --heads") }
        guard layers > 0, feedForward > 0, maxLength > 2, maxTokens >= maxLength else {
            throw ValidationError("--layers, --feed-forward must be positive, --max-length > 2 and --max-tokens ≥ --max-length")
        }
        guard dropout >= 0 && dropout < 1, labelSmoothing >= 0 && labelSmoothing < 1 else { throw ValidationError("--dropout and --label-smoothing must be in [0, 1)") }
        guard minFrequency >= 1 else { throw ValidationError("--min-frequency must be at least 1") }
        guard ["word", "bpe"].contains(tokenizer) else { throw ValidationError("--tokenizer must be word or bpe, not '\(tokenizer)'") }
        guard vocabSize >= 300 else { throw ValidationError("--vocab-size must be at least 300 (the byte alphabet and specials)") }
        guard !jointVocabulary || tokenizer == "bpe" else { throw ValidationError("--joint-vocabulary needs --tokenizer bpe") }
        guard (sourceTokenizer == nil) == (targetTokenizer == nil) else { throw ValidationError("--source-tokenizer and --target-tokenizer go together") }
        _ = try parsedColumns()
    }

    func parsedColumns() throws -> (Int, Int) {
        let parts = columns.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, parts.allSatisfy({ $0 >= 1 }), parts[0] != parts[1] else { throw ValidationError("--columns must be two different 1-based column numbers, e.g. 1,2") }
        return (parts[0] - 1, parts[1] - 1)
    }

    func run() throws {
        do { try train() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch {
            throw CLIError("\(error)")
        }
    }

    func train() throws {
        let dir = URL(fileURLWithPath: common.out ?? "runs/translation")
        let dp = try common.dataParallel()
        guard (source != nil) != (tsv != nil) else { throw ValidationError("give either --source/--target or --tsv (see attn train translation --help)") }
        if common.resume {
            try ResumeCheck.config(in: dir, [
                .init("data.source", source ?? NSNull(), "--source"), .init("data.target", target ?? NSNull(), "--target"),
                .init("data.tsv", tsv ?? NSNull(), "--tsv"), .init("data.columns", columns, "--columns"),
                .init("data.valid_source", validSource ?? NSNull(), "--valid-source"), .init("data.valid_target", validTarget ?? NSNull(), "--valid-target"),
                .init("data.val_fraction", valFraction, "--val-fraction"),
                .init("training.seed", common.seed, "--seed"), .init("training.max_tokens", maxTokens, "--max-tokens"),
            ])
        }
        let epochs = common.epochs ?? Self.defaultEpochs, lr = common.lr ?? Self.defaultLR, weightDecay = common.weightDecay ?? 0.01
        let policy = BadLinePolicy(rawValue: badLines)!
        var pairs: [SentencePair], skipped: [String]
        if let tsv {
            (pairs, skipped) = try ParallelCorpus.readTSV(URL(fileURLWithPath: tsv), columns: try parsedColumns(), policy: policy)
        } else {
            (pairs, skipped) = try ParallelCorpus.read(source: URL(fileURLWithPath: source!), target: URL(fileURLWithPath: target!), policy: policy)
        }
        var validation: [SentencePair]
        if let validSource, let validTarget {
            let (v, vs) = try ParallelCorpus.read(source: URL(fileURLWithPath: validSource), target: URL(fileURLWithPath: validTarget), policy: policy)
            validation = v
            skipped += vs
        } else {
            (pairs, validation) = ParallelCorpus.split(pairs, validationFraction: valFraction, seed: common.seed)
            if !common.resume && isLeadProcess {   // the held-out pairs as files, so `attn evaluate` can score them
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try AtomicFile.write(Data((validation.map(\.source).joined(separator: "\n") + "\n").utf8), to: dir.appendingPathComponent("validation.source"))
                try AtomicFile.write(Data((validation.map(\.target).joined(separator: "\n") + "\n").utf8), to: dir.appendingPathComponent("validation.target"))
            }
        }
        guard !pairs.isEmpty, !validation.isEmpty else {
            let files = tsv.map { [$0] } ?? [source, target, validSource, validTarget].compactMap { $0 }
            throw CLIError("\(files.joined(separator: ", ")): no usable \(pairs.isEmpty ? "training" : "validation") pairs (\(skipped.count) lines skipped\(skipped.first.map { "; first: \($0)" } ?? ""))")
        }
        say("data: \(pairs.count) training pairs, \(validation.count) validation pairs" + (skipped.isEmpty ? "" : "; skipped \(skipped.count) lines, first: \(skipped[0])"))

        let translator: Translator
        if common.resume {
            translator = try Translator.rebuild(from: dir)   // weights, optimizer and data position come from resume.safetensors
        } else {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let srcTok: Tokenizer, tgtTok: Tokenizer
            var special = (pad: 0, bos: 1, eos: 2)
            if let sourceTokenizer, let targetTokenizer {
                do {
                    srcTok = try Tokenizer.load(from: URL(fileURLWithPath: sourceTokenizer))
                    tgtTok = try Tokenizer.load(from: URL(fileURLWithPath: targetTokenizer))
                } catch { throw CLIError("\(error)") }
                let s = try Translator.specialIDs(of: srcTok, file: sourceTokenizer), t = try Translator.specialIDs(of: tgtTok, file: targetTokenizer)
                guard s == t else { throw CLIError("\(sourceTokenizer) and \(targetTokenizer) give [PAD], [BOS], [EOS] different ids") }
                special = t
            } else if tokenizer == "bpe" && jointVocabulary {
                srcTok = Translator.trainByteLevelBPE(pairs.map(\.source) + pairs.map(\.target), vocabularySize: vocabSize, lowercase: false)
                tgtTok = srcTok
            } else if tokenizer == "bpe" {
                srcTok = Translator.trainByteLevelBPE(pairs.map(\.source), vocabularySize: vocabSize, lowercase: false)
                tgtTok = Translator.trainByteLevelBPE(pairs.map(\.target), vocabularySize: vocabSize, lowercase: false)
            } else {
                srcTok = Translator.trainWordLevel(pairs.map(\.source), lowercase: !cased, minFrequency: minFrequency)
                tgtTok = Translator.trainWordLevel(pairs.map(\.target), lowercase: !cased, minFrequency: minFrequency)
            }
            var c = Seq2SeqConfig(sourceVocabulary: srcTok.vocabularySize, targetVocabulary: tgtTok.vocabularySize)
            (c.padID, c.bosID, c.eosID) = special
            c.sharedEmbeddings = jointVocabulary
            c.dModel = dModel; c.heads = heads; c.encoderLayers = layers; c.decoderLayers = layers; c.feedForward = feedForward
            c.dropout = dropout; c.maxLength = maxLength; c.tieOutput = true; c.normFirst = true
            var g = RandomGenerator(seed: common.seed)
            translator = Translator(model: Seq2SeqTransformer(c, using: &g), sourceTokenizer: srcTok, targetTokenizer: tgtTok)
            if isLeadProcess {
            try srcTok.save(to: dir.appendingPathComponent("source-tokenizer.json"))
            try tgtTok.save(to: dir.appendingPathComponent("target-tokenizer.json"))
            let config: [String: Any] = [
                "task": "translation", "model": try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)),
                "data": ["source": source ?? NSNull(), "target": target ?? NSNull(), "tsv": tsv ?? NSNull(), "columns": columns,
                         "valid_source": validSource ?? NSNull(), "valid_target": validTarget ?? NSNull(), "val_fraction": valFraction],
                "training": ["epochs": epochs, "lr": lr, "warmup_steps": common.warmupSteps.map { $0 as Any } ?? "min(400, total steps / 5)", "schedule": common.schedule,
                             "weight_decay": weightDecay, "clip_norm": common.clipNorm ?? 1, "accumulate": common.accumulate,
                             "seed": common.seed, "max_tokens": maxTokens, "label_smoothing": labelSmoothing, "min_frequency": minFrequency,
                             "lowercase": !cased && tokenizer == "word", "tokenizer": sourceTokenizer == nil ? tokenizer : "given", "vocab_size": vocabSize, "joint_vocabulary": jointVocabulary],
            ]
            try AtomicFile.write(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                                 to: dir.appendingPathComponent("config.json"))
            }
        }
        let model = translator.model
        say("model: \(model.parameterCount()) parameters; vocabularies \(model.config.sourceVocabulary) → \(model.config.targetVocabulary)")
        let task = TranslationTask(translator: translator, train: pairs, validation: validation, maxTokens: maxTokens,
                                   labelSmoothing: labelSmoothing, seed: common.seed &+ 1, bleuSentences: bleuSentences > 0 ? bleuSentences : nil, shard: dp?.shard ?? .whole)
        let optimizer = AdamW(ParameterGroup.weightDecayGroups(model, weightDecay: weightDecay), learningRate: lr,
                              beta2: 0.98, weightDecay: weightDecay)
        let trainer = Trainer(task: task, optimizer: optimizer, schedule: try common.makeSchedule(stepsPerEpoch: task.batchesPerEpoch, epochs: epochs),
                              options: common.options(epochs: epochs, clipNorm: 1, bestMetric: "bleu", higherIsBetter: true), directory: dir)
        trainer.log = say
        trainer.dataParallel = dp
        let summary = try trainer.run(resume: common.resume)
        if summary.interrupted { throw ExitCode(130) }
        guard isLeadProcess else { return }
        say(String(format: "best validation BLEU %.2f at epoch %d; %.0f s; run directory %@", summary.bestValue, summary.bestEpoch, summary.seconds, dir.path))
        if let attentionExample {
            let out = dir.appendingPathComponent("attention")
            let text = try Translator.load(from: dir).writeAttention(of: attentionExample, beam: 5, to: out)
            say("attention report of \"\(attentionExample)\" → \"\(text)\": \(out.appendingPathComponent("index.html").path)")
        }
    }
}

/// A user-facing error: printed as `attn: MESSAGE`, exit 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

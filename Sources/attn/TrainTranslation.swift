import ArgumentParser
import AttentionKit

/// `attn train translation`: flags → `TranslationConfig` → `TranslationTask.run`.
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

            --recipe bpe: a joint byte-level BPE vocabulary of 8,000 tokens (--tokenizer bpe --joint-vocabulary: no \
            [UNK], case kept, shared embeddings), dropout 0.2, 18 epochs, the cosine ending at a tenth of the peak \
            (--min-lr-factor 0.1), and the last 3 epochs' weights averaged into averaged.safetensors (--average-last 3; \
            generation_config.json names it when it decodes better); the rest as above. About 45 minutes on 2 cores \
            for Multi30k with --val-fraction 0.02: 41.5–42.3 lowercased BLEU on its val (3 seeds, mean 42.0), about 2 \
            above the default. Each part is overridden by its flag.

            After the last epoch the run chooses its decoding defaults on the validation pairs — weights (best, or \
            averaged with --average-last) and length penalty (0.6–2.0) at beam 5, by BLEU — and writes them as \
            generation_config.json; translate and evaluate use them unless --weights or --length-penalty say otherwise \
            (attn tune-decoding chooses again).

            Writes to --out: config.json, validation.source and validation.target (when split from training), source-tokenizer.json, target-tokenizer.json, best.safetensors, \
            last.safetensors, resume.safetensors, metrics.jsonl, metrics.csv, curves.png, generation_config.json. Ctrl-C saves a resumable \
            checkpoint and exits 130; --resume continues.
            """
    )

    @OptionGroup var common: CommonTrainingOptions
    @Option(
        name: .customLong("attention-example"),
        help: "After training, write the attention report (attn attention) of this sentence to RUN/attention.")
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
    @Option(
        name: .customLong("val-fraction"), parsing: .unconditional,
        help: "Without --valid-*: the fraction of training pairs held out (seeded).")
    var valFraction = 0.1
    @Option(
        name: .customLong("bad-lines"),
        help: "Lines with an empty side, invalid UTF-8 or over 1,000 characters: skip (and count) or stop.")
    var badLines: BadLinePolicy = .skip
    @Option(help: "word (the default: word-level vocabularies, dropout 0.1, 12 epochs) or bpe (see above).")
    var recipe: TranslationRecipe = .word
    @Option(
        name: .customLong("tokenizer"),
        help:
            "Vocabulary: word (word level, HF Whitespace splitting) or bpe (byte-level BPE, exact round trip of case and spacing). Default: word; --recipe bpe: bpe."
    )
    var tokenizerOption: TokenizerKind?
    @Option(
        name: .customLong("vocab-size"), parsing: .unconditional,
        help: "With --tokenizer bpe: tokens per vocabulary (or in the joint one).")
    var vocabSize = 8000
    @Flag(
        name: .customLong("joint-vocabulary"), inversion: .prefixedNo,
        help:
            "With --tokenizer bpe: one vocabulary for both languages, shared source/target embeddings. Default: off; --recipe bpe: on."
    )
    var jointVocabularyOption: Bool?
    @Option(
        name: .customLong("source-tokenizer"),
        help: "Use this tokenizer.json for the source side instead of training one (needs [PAD], [BOS], [EOS]).")
    var sourceTokenizer: String?
    @Option(
        name: .customLong("target-tokenizer"),
        help: "Use this tokenizer.json for the target side instead of training one.")
    var targetTokenizer: String?
    @Option(
        name: .customLong("min-frequency"), parsing: .unconditional,
        help: "With --tokenizer word: keep words seen at least this often in training (others become [UNK]).")
    var minFrequency = 2
    @Flag(name: .customLong("cased"), help: "Keep case in the vocabularies (default: lowercase).")
    var cased = false
    @Option(
        name: .customLong("max-tokens"), parsing: .unconditional,
        help: "Padded tokens per batch (rows × longest sentence).")
    var maxTokens = 2000
    @Option(name: .customLong("d-model"), parsing: .unconditional, help: "Model width.")
    var dModel = 256
    @Option(name: .customLong("heads"), parsing: .unconditional, help: "Transformer: attention heads (default 8).")
    var headsOption: Int?
    @Option(
        help:
            "transformer (Vaswani et al.) or rnn (a bidirectional recurrent encoder and an attention decoder: Bahdanau et al., Luong et al.)."
    )
    var model: TranslationModelKind = .transformer
    @Option(
        name: .customLong("layers"), parsing: .unconditional,
        help: "Encoder and decoder layers, each (default 3); rnn: encoder layers (default 1).")
    var layersOption: Int?
    @Option(name: .customLong("cell"), help: "rnn: the recurrent cell (default gru).")
    var cellOption: RecurrentCellFlag?
    @Option(
        name: .customLong("hidden"), parsing: .unconditional,
        help: "rnn: hidden units of the decoder and of each encoder direction (default 256).")
    var hiddenOption: Int?
    @Option(
        name: .customLong("attention"),
        help: "rnn: the alignment score (additive, the default: Bahdanau's vᵀtanh(Wq + Uk); general: Luong's qᵀWk).")
    var attentionOption: TranslatorAttentionFlag?
    @Flag(
        name: .customLong("no-input-feeding"),
        help:
            "rnn: do not feed the previous attentional vector to the decoder (Luong's input feeding is on by default).")
    var noInputFeeding = false
    @Option(
        name: .customLong("feed-forward"), parsing: .unconditional,
        help: "Transformer: feed-forward hidden width (default 512).")
    var feedForwardOption: Int?
    @Option(
        name: .customLong("dropout"), parsing: .unconditional, help: "Dropout (default 0.1; rnn and --recipe bpe: 0.2)."
    )
    var dropoutOption: Float?
    @Option(
        name: .customLong("label-smoothing"), parsing: .unconditional, help: "Label smoothing of the cross-entropy.")
    var labelSmoothing: Float = 0.1
    @Option(
        name: .customLong("max-length"), parsing: .unconditional,
        help: "Longest sentence in tokens (longer ones are cut).")
    var maxLength = 128
    @Option(
        name: .customLong("bleu-sentences"), parsing: .unconditional,
        help: "Validation sentences decoded for the per-epoch BLEU and for the decoding choice after training (0: all)."
    )
    var bleuSentences = 0

    var tokenizer: TokenizerKind { tokenizerOption ?? (recipe == .bpe ? .bpe : .word) }
    var jointVocabulary: Bool { jointVocabularyOption ?? (recipe == .bpe && tokenizer == .bpe) }
    var layers: Int { layersOption ?? (model == .rnn ? 1 : 3) }
    var dropout: Float { dropoutOption ?? (model == .rnn || recipe == .bpe ? 0.2 : 0.1) }
    var heads: Int { headsOption ?? 8 }
    var feedForward: Int { feedForwardOption ?? 512 }
    var cell: RecurrentCellFlag { cellOption ?? .gru }
    var hidden: Int { hiddenOption ?? 256 }
    var attention: TranslatorAttentionFlag { attentionOption ?? .additive }

    func validate() throws {
        if model == .rnn {
            try requireOnly(
                [("--heads", headsOption != nil), ("--feed-forward", feedForwardOption != nil)], for: "transformer",
                model: "rnn")
        } else {
            try requireOnly(
                [
                    ("--cell", cellOption != nil), ("--hidden", hiddenOption != nil),
                    ("--attention", attentionOption != nil),
                    ("--no-input-feeding", noInputFeeding)
                ], for: "rnn", model: "transformer")
        }
        try require(hidden > 0, "--hidden must be positive (got \(hidden))")
        guard (source == nil) == (target == nil) else { throw ValidationError("--source and --target go together") }
        guard (validSource == nil) == (validTarget == nil) else {
            throw ValidationError("--valid-source and --valid-target go together")
        }
        guard valFraction > 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in (0, 1)") }
        guard dModel > 0, heads > 0, model == .rnn || dModel % heads == 0 else {
            throw ValidationError("--d-model must be a positive multiple of --heads")
        }
        guard layers > 0, feedForward > 0, maxLength > 2, maxTokens >= maxLength else {
            throw ValidationError(
                "--layers, --feed-forward must be positive, --max-length > 2 and --max-tokens ≥ --max-length")
        }
        guard dropout >= 0 && dropout < 1, labelSmoothing >= 0 && labelSmoothing < 1 else {
            throw ValidationError("--dropout and --label-smoothing must be in [0, 1)")
        }
        guard minFrequency >= 1 else { throw ValidationError("--min-frequency must be at least 1") }
        guard vocabSize >= 300 else {
            throw ValidationError("--vocab-size must be at least 300 (the byte alphabet and specials)")
        }
        guard !jointVocabulary || tokenizer == .bpe else {
            throw ValidationError("--joint-vocabulary needs --tokenizer bpe")
        }
        guard (sourceTokenizer == nil) == (targetTokenizer == nil) else {
            throw ValidationError("--source-tokenizer and --target-tokenizer go together")
        }
        _ = try columnPair(columns)
    }

    /// The run configuration these flags describe (the model's vocabulary sizes come from the tokenizers).
    var config: TranslationConfig {
        var c = TranslationConfig.recipe
        (c.data.source, c.data.target, c.data.tsv, c.data.columns) = (source, target, tsv, columns)
        (c.data.validSource, c.data.validTarget, c.data.valFraction) = (validSource, validTarget, valFraction)
        (c.data.badLines, c.data.bleuSentences) = (badLines, bleuSentences)
        (c.vocabulary.kind, c.vocabulary.vocabSize, c.vocabulary.joint) = (tokenizer, vocabSize, jointVocabulary)
        (c.vocabulary.minFrequency, c.vocabulary.lowercase) = (minFrequency, !cased && tokenizer == .word)
        (c.vocabulary.sourceTokenizer, c.vocabulary.targetTokenizer) = (sourceTokenizer, targetTokenizer)
        switch (model, c.model) {
        case (.transformer, .transformer(var m)):
            (m.dModel, m.heads, m.encoderLayers, m.decoderLayers) = (dModel, heads, layers, layers)
            (m.feedForward, m.dropout, m.maxLength) = (feedForward, dropout, maxLength)
            c.model = .transformer(m)
        default:
            var m = RecurrentTranslatorConfig(sourceVocabulary: 0, targetVocabulary: 0)
            (m.cell, m.embeddingDim, m.hidden, m.encoderLayers) = (cell == .lstm ? .lstm : .gru, dModel, hidden, layers)
            (m.attention, m.inputFeeding, m.dropout, m.maxLength) = (
                attention == .general ? .general : .additive, !noInputFeeding, dropout, maxLength
            )
            c.model = .recurrent(m)
        }
        if recipe == .bpe { (c.training.epochs, c.training.minLRFactor) = (18, 0.1) }
        c.training = common.applied(to: c.training)
        (c.training.labelSmoothing, c.training.maxTokens) = (labelSmoothing, maxTokens)
        return c
    }

    func run() throws {
        guard (source != nil) != (tsv != nil) || (source == nil && common.configFile != nil) else {
            throw ValidationError(
                "give either --source/--target or --tsv (see attn train translation --help), or --config RUN/config.json"
            )
        }
        let c = try common.resolve(config) { try Self.parse(["--config", $0]).config }
        try finish(
            try TranslationTask.run(
                c, in: try common.context(task: "translation", averageLast: recipe == .bpe ? 3 : 0),
                attentionExample: attentionExample))
    }
}

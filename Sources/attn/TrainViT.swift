import ArgumentParser
import AttentionKit

/// `attn train vit`: a Vision Transformer on CIFAR-10 → `ImageClassificationTask.run`.
struct TrainViT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vit",
        abstract: "Train a Vision Transformer on CIFAR-10 (official binary format).",
        discussion: """
            The default recipe is built for a few thousand images and about 25 minutes on 2 cores: 4×4 patches (64 \
            tokens), width 128, depth 6, 4 heads, MLP ratio 2, fixed 2-D sin-cos positions, global average pooling, \
            drop-path 0.1, random crop (pad 4) and horizontal flips, label smoothing 0.1, AdamW (weight decay 0.05) at a \
            peak 1e-3 after 5 warmup epochs with cosine decay, batches of 128, 60 epochs, gradient clipping at 1; \
            --mixup/--cutmix are off by default. --recipe cct makes it a compact convolutional transformer (Hassani et \
            al. 2021): a convolutional tokenizer (2 × conv 3×3 → ReLU → max-pool 3×3/2: 64 overlapping tokens) and \
            sequence pooling (--tokenizer conv --pooling attention; the rest as above). --recipe cct-small is the CCT for a \
            few thousand images: 3 tokenizer stages (16 tokens of 4×4 pixels' reach), Mixup 0.8 + CutMix 1 on every \
            batch, 130 epochs (≈ 25 minutes on 2 cores; ≥ 70% on the 5,085-image CIFAR subset's validation split at \
            the last epoch). Each default can still be overridden by its flag. Holds out --val-fraction (seeded) or reads --valid-data, keeps the epoch \
            with the best validation accuracy and writes the same run directory as `attn train cnn` (config.json, \
            labels.json, checkpoints, metrics, curves.png, report.txt, confusion.png).
            """
    )

    @OptionGroup var common: CommonTrainingOptions
    @OptionGroup var images: ImageDataOptions
    @OptionGroup var transfer: TransferOptions
    @Option(
        name: .customLong("attention-example"),
        help:
            "After training, write the attention report (attn attention) of this image (PNG, JPEG or FILE.bin:INDEX) to RUN/attention."
    )
    var attentionExample: String?
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Images per training step.")
    var batchSize = 128
    @Option(
        name: .customLong("warmup-epochs"), parsing: .unconditional,
        help: "Epochs of linear learning-rate warmup (instead of --warmup-steps).")
    var warmupEpochs = 5
    @Option(name: .customLong("patch-size"), parsing: .unconditional, help: "Patch side in pixels.")
    var patchSize = 4
    @Option(name: .customLong("d-model"), parsing: .unconditional, help: "Model width.")
    var dModel = 128
    @Option(parsing: .unconditional, help: "Encoder blocks.")
    var depth = 6
    @Option(parsing: .unconditional, help: "Attention heads.")
    var heads = 4
    @Option(
        name: .customLong("mlp-ratio"), parsing: .unconditional, help: "Feed-forward width as a multiple of --d-model.")
    var mlpRatio: Float = 2
    @Option(
        name: .customLong("drop-path"), parsing: .unconditional,
        help: "Stochastic depth of the last block (rising linearly from 0).")
    var dropPath: Float = 0.1
    @Option(parsing: .unconditional, help: "Dropout after attention and MLP.")
    var dropout: Float = 0
    @Option(help: "Positions: sincos (fixed 2-D) or learned.")
    var positions: PositionsFlag = .sincos
    @Option(
        help:
            "vit (patches, mean pooling: the plain ViT), cct (convolutional tokenizer, sequence pooling) or cct-small (cct with 3 tokenizer stages, Mixup/CutMix, 130 epochs)."
    )
    var recipe: ViTRecipe = .vit
    @Option(
        name: .customLong("pooling"),
        help:
            "Pooling: mean (global average), cls, or attention (sequence pooling). Default: mean; --recipe cct, cct-small: attention."
    )
    var poolingOption: Pooling?
    @Option(
        name: .customLong("tokenizer"),
        help:
            "patches (a linear projection of --patch-size patches) or conv (CCT's convolutional tokenizer). Default: patches; --recipe cct, cct-small: conv."
    )
    var tokenizerOption: ImageTokenizerFlag?
    @Option(
        name: .customLong("conv-layers"), parsing: .unconditional,
        help:
            "--tokenizer conv: convolution + max-pool stages (each halves the side: 2 → 8×8 tokens). Default 2; --recipe cct-small: 3."
    )
    var convLayersOption: Int?
    @Option(
        name: .customLong("conv-channels"), parsing: .unconditional,
        help: "--tokenizer conv: feature maps of the inner stages.")
    var convChannels = 64

    var pooling: Pooling { poolingOption ?? (recipe.isCCT ? .attention : .mean) }
    var tokenizer: ImageTokenizerFlag { tokenizerOption ?? (recipe.isCCT ? .conv : .patches) }
    var convLayers: Int { convLayersOption ?? (recipe == .cctSmall ? 3 : 2) }
    @Option(
        name: .customLong("label-smoothing"), parsing: .unconditional, help: "Label smoothing of the cross-entropy.")
    var labelSmoothing: Float = 0.1

    func validate() throws {
        try require(batchSize > 0, "--batch-size must be positive (got \(batchSize))")
        try require(
            patchSize > 0 && 32 % patchSize == 0,
            "--patch-size must divide the 32-pixel image: 1, 2, 4, 8, 16 or 32 (got \(patchSize))")
        try require(dModel > 0, "--d-model must be positive (got \(dModel))")
        try require(heads > 0, "--heads must be positive (got \(heads))")
        try require(dModel % heads == 0, "--d-model \(dModel) must be a multiple of --heads \(heads)")
        try require(depth > 0, "--depth must be positive (got \(depth))")
        try require(mlpRatio > 0, "--mlp-ratio must be positive (got \(mlpRatio))")
        guard positions == .learned || dModel % 4 == 0 else {
            throw ValidationError("--positions must be learned, or sincos with --d-model a multiple of 4")
        }
        guard pooling != .max && pooling != .concat else {
            throw ValidationError("--pooling must be mean, cls or attention")
        }
        try require(
            convLayers >= 1 && convLayers <= 4,
            "--conv-layers must be 1…4 (each halves the 32-pixel side; got \(convLayers))")
        try require(convChannels > 0, "--conv-channels must be positive (got \(convChannels))")
        guard dropPath >= 0 && dropPath < 1, dropout >= 0 && dropout < 1, labelSmoothing >= 0 && labelSmoothing < 1
        else {
            throw ValidationError("--drop-path, --dropout and --label-smoothing must be in [0, 1)")
        }
        guard warmupEpochs >= 0 else { throw ValidationError("--warmup-epochs must be non-negative") }
    }

    /// The run configuration these flags describe (the class count comes from the data).
    var config: ImageClassificationConfig {
        get throws {
            var v = ViTConfig()
            (v.patchSize, v.dModel, v.depth, v.heads, v.mlpRatio, v.dropPath) = (
                patchSize, dModel, depth, heads, mlpRatio, dropPath
            )
            (v.dropout, v.positions, v.pooling) = (dropout, positions.kind, pooling)
            if tokenizer == .conv { v.convTokenizer = ConvTokenizerConfig(layers: convLayers, channels: convChannels) }
            var training = common.applied(
                to: TrainingRecipe(
                    epochs: recipe == .cctSmall ? 130 : 60, lr: 1e-3, optimizer: .adamw(beta2: 0.999),
                    weightDecay: 0.05, clipNorm: 1))
            (training.warmupEpochs, training.labelSmoothing, training.batchSize) = (
                warmupEpochs, labelSmoothing, batchSize
            )
            var c = ImageClassificationConfig(
                architecture: .vit(v), data: try images.selection(replaying: common.configFile != nil),
                training: training)
            (c.augmentation, c.transfer) = (images.augmentation, transfer.recipe)
            if recipe == .cctSmall {
                // Mixup and CutMix on unless their flags say otherwise (the rest of the augmentation as the flags ask)
                (c.augmentation.mixing.mixupAlpha, c.augmentation.mixing.cutmixAlpha) = (
                    images.mixup ?? 0.8, images.cutmix ?? 1
                )
            }
            c.normalize = images.normalize ?? (transfer.initFromStateDict ? .imagenet : nil)
            return c
        }
    }

    func run() throws {
        let c = try common.resolve(try config) { try Self.parse(["--config", $0]).config }
        try finish(
            try ImageClassificationTask.run(c, in: try common.context(task: "vit"), attentionExample: attentionExample))
    }
}

import ArgumentParser
import AttentionKit

/// `attn train cnn`: the small CNN or one of the course's CNNs on CIFAR-10 → `ImageClassificationTask.run`.
struct TrainCNN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn",
        abstract: "Train a CNN on CIFAR-10: the small CNN (default), LeNet-5, VGG-11, ResNet-20/56 or PreActResNet-18.",
        discussion: """
            Reads data_batch_*.bin from --data, holds out --val-fraction of the images (seeded; 0: none, the last epoch \
            is kept) or reads --valid-data, and trains with SGD (Nesterov momentum, weight decay on conv/linear weights \
            only), linear warmup + cosine learning rate (--schedule, --accumulate as for every verb), random crop (pad 4) \
            and horizontal flips (--mixup/--cutmix optional). Writes config.json, labels.json, metrics.jsonl/metrics.csv, \
            best.safetensors (the best validation epoch, with the configuration that rebuilds the model), last.safetensors, \
            resume.safetensors (full training state, every epoch and on Ctrl-C), curves.png, split.json (the indices of the \
            training and validation images), report.txt and confusion.png to --out (default runs/cnn). Defaults (75.6% on \
            the 5,085-image subset in 14 minutes on 2 cores): channels 64-128-256, hidden 256, dropout 0.3, label smoothing \
            0.1, 60 epochs, batches of 128, learning rate 0.05 after 1 warmup epoch, weight decay 5e-4, no gradient \
            clipping; --channels 32,64,128 --dropout 0 --label-smoothing 0 --epochs 40 is the earlier small recipe (71.5%, \
            3.5 min). --arch picks another model from the course (same data, recipe and outputs): lenet5 (LeCun 1998 \
            adapted to 32×32×3), vgg11 (VGG-11 at half width, BatchNorm, global average pooling), resnet20 / resnet56 (He \
            et al. 2016 §4.2, option-B projection shortcuts), preact18 (PreActResNet-18), resnet18 / resnet50 (torchvision's \
            ImageNet layout and state-dict names); --width sets their first-stage width. The course's transfer-learning \
            exercise: --arch resnet18 --init-from resnet18.safetensors (torchvision's ImageNet weights, saved once with \
            safetensors.torch.save_file(torchvision.models.resnet18(weights="DEFAULT").state_dict(), "resnet18.safetensors")) \
            --freeze backbone (feature extraction: only the new head trains; leave it out to fine-tune everything; \
            --unfreeze-epoch E trains the backbone too from epoch E, at --unfreeze-lr-factor × the learning rate), with \
            ImageNet's normalisation (--normalize) and, for ImageNet's input size, --image-size 224. --data also takes \
            your own images in class folders (DIR/CLASS_NAME/*.png|jpg). attn evaluate, predict and attention rebuild \
            whichever model a run directory holds, at its input size.
            """
    )

    @OptionGroup var common: CommonTrainingOptions
    @OptionGroup var images: ImageDataOptions
    @OptionGroup var transfer: TransferOptions
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Images per training step.")
    var batchSize = 128
    @Option(parsing: .unconditional, help: "SGD momentum.")
    var momentum: Float = 0.9
    @Option(
        name: .customLong("warmup-epochs"), parsing: .unconditional,
        help: "Epochs of linear learning-rate warmup before the cosine decay (instead of --warmup-steps).")
    var warmupEpochs = 1
    @Option(help: "Model: \(ImageArchitecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var arch: ImageArchitecture = .small
    @Option(
        parsing: .unconditional,
        help:
            "First-stage width of --arch vgg11 (default 32), resnet20/resnet56 (16), preact18 (64) or resnet18/resnet50 (64; ImageNet weights need 64)."
    )
    var width: Int?
    @Option(
        help:
            "--arch small: output channels of the conv blocks, comma-separated (each block: conv3×3 + BN + ReLU + maxpool 2; default 64,128,256)."
    )
    var channels: String?
    @Option(parsing: .unconditional, help: "--arch small: width of the hidden linear layer (default 256).")
    var hidden: Int?
    @Option(
        parsing: .unconditional,
        help: "Dropout probability before the last linear layer (--arch small: default 0.3; vgg11: default 0).")
    var dropout: Float?
    @Option(
        name: .customLong("label-smoothing"), parsing: .unconditional,
        help: "Label smoothing ε of the cross-entropy loss (0: none).")
    var labelSmoothing: Float = 0.1

    var dropoutValue: Float { dropout ?? (arch == .small ? 0.3 : 0) }
    var channelList: [Int] { integerList(channels ?? "64,128,256") }

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        guard momentum >= 0 && momentum < 1 else { throw ValidationError("--momentum must be in [0, 1)") }
        if arch != .small && (channels != nil || hidden != nil) {
            throw ValidationError("--channels and --hidden are for --arch small only")
        }
        if let dropout, !(arch == .small || arch == .vgg11) {
            throw ValidationError("--dropout \(dropout) is for --arch small and vgg11 only")
        }
        if width != nil && (arch == .small || arch == .lenet5) {
            throw ValidationError(
                "--width is for --arch vgg11, resnet20, resnet56, preact18, resnet18 and resnet50 (--arch small takes --channels)"
            )
        }
        guard (width ?? 1) > 0 && (width ?? 1) <= 1024 else { throw ValidationError("--width must be in 1...1024") }
        guard dropoutValue >= 0 && dropoutValue < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard labelSmoothing >= 0 && labelSmoothing < 1 else {
            throw ValidationError("--label-smoothing must be in [0, 1)")
        }
        // a warmup as long as the run is cut to fit it (TrainingRecipe.makeSchedule), as for the ViT
        try require(warmupEpochs >= 0, "--warmup-epochs must be non-negative (got \(warmupEpochs))")
        let c = channelList
        guard !c.isEmpty, c.count <= 5, c.allSatisfy({ $0 > 0 }), (hidden ?? 1) > 0 else {
            throw ValidationError("--channels must be 1 to 5 positive widths (e.g. 32,64,128) and --hidden positive")
        }
    }

    /// The run configuration these flags describe (the class count comes from the data).
    var config: ImageClassificationConfig {
        get throws {
            let architecture: ImageModelRecipe
            if arch == .small {
                var c = SmallCNNConfig()
                (c.channels, c.hidden, c.dropout) = (channelList, hidden ?? 256, dropoutValue)
                architecture = .small(c)
            } else {
                architecture = .zoo(arch, width: width, dropout: dropoutValue)
            }
            var training = common.applied(
                to: TrainingRecipe(
                    epochs: 60, lr: 0.05, optimizer: .sgd(momentum: momentum), weightDecay: 5e-4, clipNorm: 0))
            (training.warmupEpochs, training.labelSmoothing, training.batchSize) = (
                warmupEpochs, labelSmoothing, batchSize
            )
            var c = ImageClassificationConfig(
                architecture: architecture, data: try images.selection(replaying: common.configFile != nil),
                training: training)
            (c.augmentation, c.transfer) = (images.augmentation, transfer.recipe)
            c.normalize = images.normalize ?? (transfer.initFromStateDict ? .imagenet : nil)
            return c
        }
    }

    func run() throws {
        let c = try common.resolve(try config) { try Self.parse(["--config", $0]).config }
        try finish(try ImageClassificationTask.run(c, in: try common.context(task: "cnn")))
    }
}

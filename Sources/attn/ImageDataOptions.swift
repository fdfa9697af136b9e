import ArgumentParser
import AttentionKit

/// Data and augmentation flags shared by `attn train cnn` and `attn train vit`.
struct ImageDataOptions: ParsableArguments {
    @Option(
        help:
            "Training images: a CIFAR-10 binary directory (data_batch_*.bin, batches.meta.txt; the full dataset, or corpora/cifar10-sample of a clone), or a folder of class folders (DIR/CLASS_NAME/*.png|jpg, as torchvision's ImageFolder; the shorter side resized to --image-size and centre-cropped)."
    )
    var data: String?
    @Option(
        name: .customLong("image-size"), parsing: .unconditional,
        help:
            "The model's input side in pixels (default 32; 224 for an ImageNet backbone): class folders are resized and centre-cropped to it, CIFAR-10 images resized. Random crops pad by a side/8."
    )
    var imageSize: Int?
    @Option(
        help:
            "Input normalisation: data (the training images' channel mean and std) or imagenet (torchvision's mean/std; the default with --init-from a state-dict file)."
    )
    var normalize: ImageNormalizationSource?
    @Option(
        name: .customLong("valid-data"),
        help:
            "Validation images: a CIFAR-10 .bin file or directory, or class folders (default: a seeded --val-fraction of --data; stratified by class for folders)."
    )
    var validData: String?
    @Option(
        name: .customLong("bad-files"),
        help: "Class folders: skip images that cannot be decoded (each named) or stop at the first.")
    var badFiles: BadImagePolicy = .stop
    @Option(
        name: .customLong("val-fraction"), parsing: .unconditional,
        help:
            "Without --valid-data: the fraction of the images held out for validation; 0 trains on everything and keeps the last epoch."
    )
    var valFraction = 0.1
    @Option(
        name: .customLong("split-seed"), parsing: .unconditional,
        help: "Seed of the train/validation split (default: --seed), to vary the run on a fixed split.")
    var splitSeed: UInt64?
    @Option(parsing: .unconditional, help: "Use only the first N images (quick runs; 0 = all).")
    var limit = 0
    @Option(
        help:
            "Train only on these classes (comma-separated names or indices, e.g. airplane,automobile or 0,1); the model's classes are these, in this order."
    )
    var classes: String?
    @Option(
        name: .customLong("train-fraction"), parsing: .unconditional,
        help: "Keep this fraction of each class's training images (seeded; e.g. 0.1 to fine-tune on few labels).")
    var trainFraction = 1.0
    @Flag(name: .customLong("no-augment"), help: "Disable random crops and flips.")
    var noAugment = false
    @Flag(
        name: .customLong("trivial-augment"),
        help:
            "TrivialAugment (Müller & Hutter 2021, torchvision's TrivialAugmentWide): one of 14 operations (shear, translate, rotate, brightness, colour, contrast, sharpness, posterize, solarize, autocontrast, equalize, identity) at a random strength on each training image, before the crop and flip."
    )
    var trivialAugment = false
    @Option(parsing: .unconditional, help: "Mixup α (Beta(α, α) mixing of image pairs; default 0: off).")
    var mixup: Float?
    @Option(parsing: .unconditional, help: "CutMix α (paste a box of another image; default 0: off).")
    var cutmix: Float?
    @Option(
        name: .customLong("mix-probability"), parsing: .unconditional,
        help: "Chance that a batch is mixed when --mixup or --cutmix is on.")
    var mixProbability: Float = 1

    func validate() throws {
        guard valFraction >= 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard limit >= 0 else { throw ValidationError("--limit must be non-negative") }
        if let imageSize {
            guard imageSize >= 8 && imageSize <= 1024 else {
                throw ValidationError("--image-size must be in 8...1024 (got \(imageSize))")
            }
        }
        guard trainFraction > 0 && trainFraction <= 1 else {
            throw ValidationError("--train-fraction must be in (0, 1]")
        }
        if trivialAugment && noAugment {
            throw ValidationError("--trivial-augment augments and --no-augment turns augmentation off: give one")
        }
        guard (mixup ?? 0) >= 0, (cutmix ?? 0) >= 0, mixProbability >= 0 && mixProbability <= 1 else {
            throw ValidationError("--mixup and --cutmix must be non-negative and --mix-probability in [0, 1]")
        }
    }

    /// The images these flags select.
    /// - Throws: without --data (unless `replaying` a run's config.json, which names its data), a usage error saying
    ///   where CIFAR-10 comes from.
    func selection(replaying: Bool = false) throws -> ImageDataSelection {
        guard let data = data ?? (replaying ? "" : nil) else {
            throw ValidationError(
                "give --data DIR, a CIFAR-10 binary directory: corpora/cifar10-sample in this repository (a small sample, for a smoke run), or the full dataset, https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz unpacked (cifar-10-batches-bin)"
            )
        }
        var s = ImageDataSelection(data: data)
        (s.validData, s.valFraction, s.splitSeed, s.limit, s.classes, s.trainFraction) = (
            validData, valFraction, splitSeed, limit, classes, trainFraction
        )
        s.badFiles = badFiles == .stop ? nil : badFiles
        s.imageSize = imageSize == 32 ? nil : imageSize
        return s
    }

    /// Crops and flips (unless --no-augment) and Mixup/CutMix as the flags ask.
    var augmentation: ImageAugmentationRecipe {
        ImageAugmentationRecipe(
            augment: !noAugment,
            mixing: ImageMixing(mixupAlpha: mixup ?? 0, cutmixAlpha: cutmix ?? 0, probability: mixProbability),
            trivialAugment: trivialAugment)
    }
}

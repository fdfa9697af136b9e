import ArgumentParser
import AttentionKit
import Foundation

/// Transfer-learning flags of the classification verbs.
struct TransferOptions: ParsableArguments {
    @Option(
        name: .customLong("init-from"),
        help:
            "Start from a trained run directory's best.safetensors (every tensor with a matching name and shape is loaded; a head with another class count is re-initialised), or from a state-dict .safetensors file such as torchvision's ImageNet weights for --arch resnet18|resnet50 (all but the head must fit; every misfit is listed). attn train classifier also starts from a recurrent language model (attn train lm --model lstm|gru): its tokenizer, embeddings and layers under a new head (ULMFiT)."
    )
    var initFrom: String?
    @Option(
        help:
            "Freeze parameters under these module paths (comma-separated or repeated, e.g. features, encoder or patchEmbedding,encoder.layers; backbone: everything but the classification head); only the rest is trained, and BatchNorm layers under them keep their statistics."
    )
    var freeze: [String] = []
    @Option(
        name: .customLong("unfreeze-epoch"), parsing: .unconditional,
        help:
            "With --freeze: from this epoch (1-based) on the frozen parameters train too, at --unfreeze-lr-factor × the learning rate (feature extraction first, then fine-tuning; default: they stay frozen)."
    )
    var unfreezeEpoch: Int?
    @Option(
        name: .customLong("unfreeze-lr-factor"), parsing: .unconditional,
        help: "The unfrozen parameters' learning rate relative to the head's (default 0.1).")
    var unfreezeLRFactor: Float?
    @Flag(
        name: .customLong("gradual-unfreeze"),
        help:
            "With --init-from: epoch 1 trains the head alone, each later epoch one more layer group down (a recurrent or transformer layer, then the embeddings) — ULMFiT's gradual unfreezing."
    )
    var gradualUnfreeze = false
    @Option(
        name: .customLong("discriminative-lr"), parsing: .unconditional,
        help:
            "Each layer group learns at the rate of the group above it divided by this (ULMFiT: 2.6); the head at --lr."
    )
    var discriminativeLR: Float?

    /// Whether --init-from names a state-dict file (e.g. torchvision's ImageNet weights) rather than a run directory.
    var initFromStateDict: Bool {
        var isDirectory: ObjCBool = false
        return initFrom.map {
            FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        } ?? false
    }

    /// Whether --init-from names the run directory of a language model (`attn train lm`).
    var initFromLanguageModel: Bool {
        initFrom.map { (try? RunDirectory(path: $0).task()) == LanguageModelConfig.task } ?? false
    }

    func validate() throws {
        do { try recipe.validate() } catch let e as RunSetupError { throw ValidationError(e.description) }
        if let unfreezeEpoch {
            guard !recipe.freeze.isEmpty else {
                throw ValidationError("--unfreeze-epoch needs --freeze (what to unfreeze)")
            }
            guard unfreezeEpoch >= 2 else {
                throw ValidationError(
                    "--unfreeze-epoch must be 2 or later (epoch 1 trains the head alone); leave out --freeze to fine-tune everything from the start"
                )
            }
        }
        if let f = unfreezeLRFactor {
            guard unfreezeEpoch != nil else { throw ValidationError("--unfreeze-lr-factor goes with --unfreeze-epoch") }
            guard f > 0 && f <= 10 && f.isFinite else {
                throw ValidationError("--unfreeze-lr-factor must be in (0, 10]")
            }
        }
    }

    /// The transfer recipe these flags describe.
    var recipe: TransferRecipe {
        TransferRecipe(
            initFrom: initFrom,
            freeze: freeze.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter {
                !$0.isEmpty
            },
            unfreezeEpoch: unfreezeEpoch, unfreezeLRFactor: unfreezeLRFactor, gradualUnfreezing: gradualUnfreeze,
            discriminativeLR: discriminativeLR)
    }
}

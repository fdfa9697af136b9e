import ArgumentParser
import AttentionKit

/// Transfer-learning flags of the classification verbs.
struct TransferOptions: ParsableArguments {
    @Option(name: .customLong("init-from"), help: "Start from a trained run directory's best.safetensors (every tensor with a matching name and shape is loaded; a head with another class count is re-initialised), or from a state-dict .safetensors file such as torchvision's ImageNet weights for --arch resnet18|resnet50 (all but the head must fit; every misfit is listed).")
    var initFrom: String?
    @Option(help: "Freeze parameters under these module paths (comma-separated or repeated, e.g. features, encoder or patchEmbedding,encoder.layers; backbone: everything but the classification head); only the rest is trained, and BatchNorm layers under them keep their statistics.")
    var freeze: [String] = []

    /// The transfer recipe these flags describe.
    var recipe: TransferRecipe {
        TransferRecipe(initFrom: initFrom,
                       freeze: freeze.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty })
    }
}

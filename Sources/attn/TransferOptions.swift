import ArgumentParser
import AttentionKit

/// Transfer-learning flags of the classification verbs.
struct TransferOptions: ParsableArguments {
    @Option(name: .customLong("init-from"), help: "Start from a trained run directory's best.safetensors: every tensor with a matching name and shape is loaded; a head with another class count is re-initialised.")
    var initFrom: String?
    @Option(help: "Freeze parameters under these module paths (comma-separated or repeated, e.g. features, encoder or patchEmbedding,encoder.layers); only the rest is trained.")
    var freeze: [String] = []

    /// The transfer recipe these flags describe.
    var recipe: TransferRecipe {
        TransferRecipe(initFrom: initFrom,
                       freeze: freeze.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty })
    }
}

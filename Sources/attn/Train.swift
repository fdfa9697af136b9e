import ArgumentParser

/// `attn train`: one subcommand per task.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model.",
        subcommands: [
            TrainCNN.self, TrainViT.self, TrainTranslation.self, TrainClassifier.self, TrainLM.self, TrainWord2Vec.self
        ]
    )
}

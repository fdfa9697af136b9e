import AttentionKit
import Foundation

/// Lesson 3: a convolutional network on CIFAR-10 — convolutions, BatchNorm, pooling — trained with augmented
/// mini-batches and scored on a validation split it never trains on.
enum ConvolutionalNetwork {
    static func run() throws {
        // 1. Data: the CIFAR-10 binary files, a seeded 10% validation split, and the training images' per-channel
        //    mean and standard deviation to normalise with.
        let directory = Course.dataDirectory(default: "corpora/cifar10-sample")
        let (trainSet, validSet) = try CIFAR10(directory: directory).split(validationFraction: 0.1, seed: 0)
        let (mean, std) = trainSet.channelStatistics()
        print("\(trainSet.count) training and \(validSet.count) validation images")

        // 2. The model: three blocks of conv 3×3 → BatchNorm → ReLU → max-pool 2, then a small fully connected head.
        var g = RandomGenerator(seed: 0)
        let model = SmallCNN(SmallCNNConfig(), using: &g)
        print("SmallCNN: \(model.parameterCount()) parameters")

        // 3. Train and validate (the loop the next lessons reuse for the ViT).
        try train(model, trainSet: trainSet, validSet: validSet, mean: mean, std: std, epochs: Course.steps(10))
    }

    /// Mini-batch training with AdamW, random crops and flips; validation accuracy after each epoch.
    static func train(
        _ model: some Layer, trainSet: CIFAR10, validSet: CIFAR10, mean: [Float], std: [Float],
        epochs: Int, learningRate: Float = 2e-3
    ) throws {
        var batches = CIFARBatches(
            trainSet, batchSize: 64, mean: mean, std: std,
            augmentation: .standard(side: trainSet.side), seed: 0)
        let optimizer = AdamW(parameters: model.trainableParameters, learningRate: learningRate, weightDecay: 0.05)
        for epoch in 1...epochs {
            model.train()
            var lossSum: Float = 0, seen = 0
            while let (images, labels) = batches.next() {
                let loss = Loss.crossEntropy(model(images), labels)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                lossSum += loss.item() * Float(labels.shape[0])
                seen += labels.shape[0]
            }
            batches.startNextEpoch()
            print(
                "epoch \(epoch): training loss \(lossSum / Float(max(seen, 1))), validation accuracy "
                    + "\(accuracy(model, validSet, mean: mean, std: std) * 100)%")
        }
    }

    /// The fraction of `data` the model classifies correctly, in evaluation mode without a graph.
    static func accuracy(_ model: some Layer, _ data: CIFAR10, mean: [Float], std: [Float]) -> Float {
        model.eval()
        var batches = CIFARBatches(data, batchSize: 256, mean: mean, std: std, shuffle: false)
        var correct: Float = 0
        withNoGrad {
            while let (images, labels) = batches.next() {
                correct += model(images).argmax(axis: 1).eq(labels).sum().item()
            }
        }
        return correct / Float(max(data.count, 1))
    }
}

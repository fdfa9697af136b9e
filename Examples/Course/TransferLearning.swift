import AttentionKit
import Foundation

/// Lesson 7: transfer learning — a CNN trained on eight CIFAR-10 classes gives its convolutional features to a
/// classifier of the two other classes (ship, truck): feature extraction (frozen features, a new head) against the
/// same network trained from scratch on the same few images.
enum TransferLearning {
    static func run() throws {
        // 1. Data: the pretraining set (classes 0–7) and the new task (classes 8 and 9, relabelled 0 and 1).
        let directory = Course.dataDirectory(default: "corpora/cifar10-sample")
        let all = try CIFAR10(directory: directory)
        let pretraining = all.subset(all.labels.indices.filter { all.labels[$0] < 8 })
        var newTask = all.subset(all.labels.indices.filter { all.labels[$0] >= 8 })
        newTask.labels = newTask.labels.map { $0 - 8 }
        newTask.classNames = Array(all.classNames[8...])
        let (taskTrain, taskValid) = newTask.split(validationFraction: 0.2, seed: 0)
        let (mean, std) = pretraining.channelStatistics()
        print(
            "pretraining on \(pretraining.count) images; new task: \(taskTrain.count) training, "
                + "\(taskValid.count) validation images")

        // 2. Pretrain a CNN on the eight classes.
        var g = RandomGenerator(seed: 0)
        var eightClasses = SmallCNNConfig()
        eightClasses.classes = 8
        let pretrained = SmallCNN(eightClasses, using: &g)
        let (pretrainTrain, pretrainValid) = pretraining.split(validationFraction: 0.1, seed: 0)
        try ConvolutionalNetwork.train(
            pretrained, trainSet: pretrainTrain, validSet: pretrainValid, mean: mean, std: std,
            epochs: Course.steps(10))

        // 3. Feature extraction: a two-class CNN takes every pretrained tensor whose name and shape fit (the last
        //    layer of the head does not: it is re-initialised), then the convolutional features are frozen.
        var twoClasses = SmallCNNConfig()
        twoClasses.classes = 2
        let transferred = SmallCNN(twoClasses, using: &g)
        let state = Dictionary(uniqueKeysWithValues: pretrained.namedParameters() + pretrained.namedBuffers())
        let report = transferred.initialize(from: state)
        let frozen = try transferred.freeze(prefixes: ["features"])
        print(
            "re-initialised \(report.reinitialised.map(\.name)); frozen \(frozen.count) tensors; "
                + "\(transferred.parameterCount(trainableOnly: true)) trainable parameters left")
        try ConvolutionalNetwork.train(
            transferred, trainSet: taskTrain, validSet: taskValid, mean: mean, std: std,
            epochs: Course.steps(10))

        // 4. The same network from scratch on the same images, for comparison.
        let scratch = SmallCNN(twoClasses, using: &g)
        try ConvolutionalNetwork.train(
            scratch, trainSet: taskTrain, validSet: taskValid, mean: mean, std: std,
            epochs: Course.steps(10))
        let accuracies = [transferred, scratch].map {
            ConvolutionalNetwork.accuracy($0, taskValid, mean: mean, std: std) * 100
        }
        print("validation accuracy: feature extraction \(accuracies[0])%, from scratch \(accuracies[1])%")
    }
}

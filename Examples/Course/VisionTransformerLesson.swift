import AttentionKit
import Foundation

/// Lesson 6: a Vision Transformer — an image cut into patches, each patch a token, a class token that attends to
/// them — trained with the CNN lesson's loop, then asked where it looked (attention rollout).
enum VisionTransformerLesson {
    static func run() throws {
        // 1. The same data as the CNN lesson.
        let directory = Course.dataDirectory(default: "corpora/cifar10-sample")
        let (trainSet, validSet) = try CIFAR10(directory: directory).split(validationFraction: 0.1, seed: 0)
        let (mean, std) = trainSet.channelStatistics()

        // 2. The model: 4×4-pixel patches (an 8×8 grid of 64 tokens) projected to width 128, a class token and
        //    learned positions, 4 pre-norm encoder blocks of 4 heads, the class token's final state → 10 classes.
        var config = ViTConfig()
        (config.patchSize, config.dModel, config.depth, config.heads) = (4, 128, 4, 4)
        var g = RandomGenerator(seed: 0)
        let vit = VisionTransformer(config: config, using: &g)
        print("ViT: \(config.patchCount) patches, \(vit.parameterCount()) parameters")

        // 3. Training: the loop of lesson 3, unchanged — a model is a model.
        try ConvolutionalNetwork.train(
            vit, trainSet: trainSet, validSet: validSet, mean: mean, std: std,
            epochs: Course.steps(20), learningRate: 1e-3)

        // 4. Where it looked: capture every block's per-head maps for one validation image and roll them out
        //    through the layers; print the class token's attention over the 8×8 patch grid.
        vit.eval()
        var one = CIFARBatches(validSet.subset([0]), batchSize: 1, mean: mean, std: std, shuffle: false)
        guard let (image, label) = one.next() else { return }
        let (logits, maps) = withNoGrad { withAttentionCapture(on: vit) { vit(image) } }
        let predicted = Int(logits.argmax(axis: 1).item())
        print(
            "image 0: \(validSet.classNames[Int(label.item())]), predicted \(validSet.classNames[predicted]); "
                + "\(maps.entries.count) attention layers of \(maps.entries[0].weights.shape)")
        let heat = classTokenRollout(maps.entries.map(\.weights))  // [1, 64]
        let side = config.patchesPerSide
        for row in 0..<side {
            print((0..<side).map { String(format: "%4.0f", heat[0, row * side + $0] * 1000) }.joined())
        }
    }
}

// attention-to-numpy: captures every attention layer's per-head maps of a Vision Transformer for one image with
// `withAttentionCapture`, writes each as a NumPy .npy file ([heads, queries, keys] float32) with an index, and
// prints how to read them in Python. The model is trained for a few steps on the CIFAR sample first, so that the
// maps are not a fresh initialisation's. Usage: swift run -c release attention-to-numpy [CIFAR_DIR] [OUT_DIR]
//   (default: corpora/cifar10-sample, runs/attention-npy)
import AttentionKit
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
let data = args.first ?? "corpora/cifar10-sample"
let out = URL(fileURLWithPath: args.count > 1 ? args[1] : "runs/attention-npy")
do {
    let images = try CIFAR10(directory: URL(fileURLWithPath: data))
    let (mean, std) = images.channelStatistics()
    var g = RandomGenerator(seed: 0)
    var config = ViTConfig()
    config.dModel = 64; config.depth = 3; config.heads = 4
    let vit = VisionTransformer(config: config, using: &g)
    let optimizer = AdamW(parameters: vit.parameters, learningRate: 1e-3)
    var batches = CIFARBatches(images, batchSize: 50, mean: mean, std: std, seed: 1)
    for _ in 0..<20 {  // a few steps, enough to leave the initialisation
        guard let (x, y) = batches.next() else { batches.startNextEpoch(); continue }
        let loss = Loss.crossEntropy(vit(x), y)
        optimizer.zeroGrad(); loss.backward(); optimizer.step()
    }

    vit.isTraining = false
    let one = CIFARBatches(images.subset([0]), batchSize: 1, mean: mean, std: std, shuffle: false)
    var first = one
    let (image, label) = first.next()!
    // one switch: every attention layer's softmax probabilities, keyed by module path; the logits are unchanged
    let (logits, maps) = withAttentionCapture(on: vit) { withNoGrad { vit(image) } }
    print(
        "image 0 (\(images.classNames[Int(label[0])])): predicted \(images.classNames[Int(logits.argmax(axis: 1)[0])])")

    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    var index: [String] = []
    for (path, weights) in maps.entries {  // weights: [batch, heads, queries, keys]
        let file = path.replacingOccurrences(of: ".", with: "_") + ".npy"
        try NPY.write(weights.squeeze(0), to: out.appendingPathComponent(file))
        index.append("\"\(path)\": \"\(file)\"")
        print("\(path): \(weights.shape) → \(file)")
    }
    try Data(("{" + index.joined(separator: ", ") + "}\n").utf8).write(to: out.appendingPathComponent("index.json"))
    print(
        """

        In Python:
          import json, numpy as np
          index = json.load(open("\(out.path)/index.json"))
          maps = {layer: np.load("\(out.path)/" + f) for layer, f in index.items()}   # [heads, 65, 65]; row 0: the class token
        """)
} catch {
    print("attention-to-numpy: \(error)")
    exit(1)
}

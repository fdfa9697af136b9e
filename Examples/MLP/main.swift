// mlp: the course's multi-layer perceptron with the library's layers — `Linear` and `ReLU` in a `Sequential`, He
// initialisation, AdamW, the fused cross-entropy — on the 3-class spiral problem, with a held-out validation split.
// (Examples/MLPDemo builds the same network from raw tensors.) Usage: swift run -c release mlp [epochs] [seed]
import AttentionKit
import Foundation

let args = CommandLine.arguments
let epochs = args.count > 1 ? Int(args[1]) ?? 300 : 300
let seed = args.count > 2 ? UInt64(args[2]) ?? 0 : 0

var rng = RandomGenerator(seed: seed)
let (x, y) = ToyData.spiral(classes: 3, pointsPerClass: 200, using: &rng)  // x: [600, 2], y: [600]
// a seeded 80/20 split: train on one part, report accuracy on points the model never saw
var order = Array(0..<x.shape[0])
order.shuffle(using: &rng)
let cut = order.count * 4 / 5
let (trainX, trainY) = (
    x.indexSelect(axis: 0, indices: Array(order[..<cut])), y.indexSelect(axis: 0, indices: Array(order[..<cut]))
)
let (validX, validY) = (
    x.indexSelect(axis: 0, indices: Array(order[cut...])), y.indexSelect(axis: 0, indices: Array(order[cut...]))
)

let model = Sequential([
    Linear(2, 128, using: &rng), ReLU(), Linear(128, 128, using: &rng), ReLU(), Linear(128, 3, using: &rng)
])
// He initialisation for ReLU layers (PyTorch's default is U(±1/√fan_in)): N(0, 2/fan_in)
for case let layer as Linear in model.layers {
    layer.weight = Init.kaimingNormal(layer.weight.shape, using: &rng).requiringGrad()
}
let optimizer = AdamW(parameters: model.parameters, learningRate: 1e-2, weightDecay: 1e-4)
print(
    "MLP 2 → 128 → 128 → 3 (ReLU), \(model.parameterCount()) parameters; \(cut) training and \(order.count - cut) validation points"
)

func accuracy(_ logits: Tensor, _ labels: Tensor) -> Float { logits.argmax(axis: 1).eq(labels).mean().item() }
for epoch in 1...epochs {
    model.isTraining = true
    let logits = model(trainX)
    let loss = Loss.crossEntropy(logits, trainY)
    optimizer.zeroGrad()
    loss.backward()
    optimizer.step()
    if epoch == 1 || epoch % max(1, epochs / 6) == 0 || epoch == epochs {
        model.isTraining = false
        let valid = withNoGrad { accuracy(model(validX), validY) }
        print(
            String(
                format: "epoch %4d  loss %.4f  train accuracy %.1f%%  validation accuracy %.1f%%",
                epoch, loss.item(), accuracy(logits, trainY) * 100, valid * 100))
    }
}

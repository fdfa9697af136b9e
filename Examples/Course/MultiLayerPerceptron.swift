import AttentionKit

/// Lesson 2: a multi-layer perceptron learns what one neuron cannot — three interleaved spirals — and the course's
/// optimizers train the same network from the same start: SGD, SGD with momentum, Adam.
enum MultiLayerPerceptron {
    static func run() throws {
        // 1. Data: three spirals of 200 points; a seeded 80/20 split into training and validation points.
        var rng = RandomGenerator(seed: 0)
        let (x, y) = ToyData.spiral(classes: 3, pointsPerClass: 200, using: &rng)  // x [600, 2], y [600]
        var order = Array(0..<x.shape[0])
        order.shuffle(using: &rng)
        let (trainRows, validRows) = (Array(order[..<480]), Array(order[480...]))
        let (trainX, trainY) = (x.indexSelect(axis: 0, indices: trainRows), y.indexSelect(axis: 0, indices: trainRows))
        let (validX, validY) = (x.indexSelect(axis: 0, indices: validRows), y.indexSelect(axis: 0, indices: validRows))

        // 2. The network: two hidden ReLU layers with dropout between them, He-initialised (N(0, 2/fan_in), the
        //    initialisation that keeps ReLU activations from shrinking layer after layer).
        func makeNetwork(seed: UInt64) -> Sequential {
            var g = RandomGenerator(seed: seed)
            let network = Sequential([
                Linear(2, 64, using: &g), ReLU(), Dropout(p: 0.1, using: &g),
                Linear(64, 64, using: &g), ReLU(), Linear(64, 3, using: &g)
            ])
            for case let layer as Linear in network.layers {
                layer.weight = Init.kaimingNormal(layer.weight.shape, using: &g).requiringGrad()
            }
            return network
        }

        // 3. Training: full-batch steps of cross-entropy; validation accuracy in evaluation mode (dropout off).
        let optimizers: [(name: String, make: ([Tensor]) -> Optimizer)] = [
            ("SGD", { SGD(parameters: $0, learningRate: 0.1) }),
            ("SGD, momentum 0.9", { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9) }),
            ("Adam", { Adam(parameters: $0, learningRate: 0.01) })
        ]
        for (name, make) in optimizers {
            let network = makeNetwork(seed: 1)  // the same start for each
            let optimizer = make(network.parameters)
            var loss = Float.nan
            for _ in 0..<Course.steps(400) {
                network.train()
                let batchLoss = Loss.crossEntropy(network(trainX), trainY)
                optimizer.zeroGrad()
                batchLoss.backward()
                optimizer.step()
                loss = batchLoss.item()
            }
            network.eval()
            let accuracy = withNoGrad { network(validX).argmax(axis: 1).eq(validY).mean().item() }
            print("\(name): training loss \(loss), validation accuracy \(accuracy * 100)%")
        }
    }
}

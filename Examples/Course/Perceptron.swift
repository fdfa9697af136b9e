import AttentionKit

/// Lesson 1: a perceptron — one weighted sum and a step — learns to separate two clouds of points with Rosenblatt's
/// rule; then the same neuron with a sigmoid (logistic regression) learns by gradient descent.
enum Perceptron {
    static func run() throws {
        // 1. Data: two clouds of 100 points, around (−1, −1) with label −1 and around (+1, +1) with label +1.
        var rng = RandomGenerator(seed: 0)
        let a = Tensor.normal([100, 2], std: 0.5, using: &rng) - 1
        let b = Tensor.normal([100, 2], std: 0.5, using: &rng) + 1
        let x = Tensor.concat([a, b], axis: 0)  // [200, 2]
        let y = (0..<200).map { $0 < 100 ? Float(-1) : 1 }

        // 2. The perceptron: output = step(w·x + b). Rosenblatt's rule: when a point is misclassified, add it
        //    (times its label) to the weights. On separable data it stops making mistakes.
        var w: [Float] = [0, 0], bias: Float = 0
        for epoch in 1...10 {
            var mistakes = 0
            for i in 0..<200 {
                let (x0, x1) = (x[i, 0], x[i, 1])
                let output: Float = w[0] * x0 + w[1] * x1 + bias >= 0 ? 1 : -1
                if output != y[i] {
                    w[0] += y[i] * x0; w[1] += y[i] * x1; bias += y[i]
                    mistakes += 1
                }
            }
            print("epoch \(epoch): \(mistakes) mistakes, w = (\(w[0]), \(w[1])), b = \(bias)")
            if mistakes == 0 { break }
        }

        // 3. Logistic regression: the same neuron with a sigmoid instead of the step is differentiable, so autograd
        //    computes the gradient of the cross-entropy and SGD follows it.
        let weights = Tensor.zeros([2, 1]).requiringGrad(), b0 = Tensor.zeros([1]).requiringGrad()
        let targets = Tensor(y.map { $0 > 0 ? 1 : 0 }, shape: [200, 1])
        let optimizer = SGD(parameters: [weights, b0], learningRate: 0.5)
        for _ in 0..<Course.steps(100) {
            let logits = x.matmul(weights) + b0  // sigmoid(logits) = P(label +1)
            let loss = Loss.binaryCrossEntropyWithLogits(logits, targets)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        let accuracy = withNoGrad { (x.matmul(weights) + b0).gt(0).eq(targets).mean().item() }
        print("logistic neuron: accuracy \(accuracy * 100)%")
    }
}

// A 2-layer MLP learns the 3-class spiral problem: the smallest end-to-end use of AttentionKit
// (tensors, autograd, SGD). Usage: swift run -c release mlp-demo [steps] [seed]
import AttentionKit

let args = CommandLine.arguments
let steps = args.count > 1 ? Int(args[1]) ?? 2000 : 2000
let seed = args.count > 2 ? UInt64(args[2]) ?? 0 : 0

var rng = RandomGenerator(seed: seed)
let (x, y) = ToyData.spiral(classes: 3, pointsPerClass: 100, using: &rng)  // x: [300, 2], y: [300]
let hidden = 100

// Parameters, initialised as PyTorch's nn.Linear does: U(−1/√fan_in, 1/√fan_in).
func uniformInit(_ shape: [Int], fanIn: Int, _ rng: inout RandomGenerator) -> Tensor {
    let bound = 1 / Float(fanIn).squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, using: &rng).requiringGrad()
}
let w1 = uniformInit([2, hidden], fanIn: 2, &rng), b1 = uniformInit([hidden], fanIn: 2, &rng)
let w2 = uniformInit([hidden, 3], fanIn: hidden, &rng), b2 = uniformInit([3], fanIn: hidden, &rng)
let optimizer = SGD(parameters: [w1, b1, w2, b2], learningRate: 0.5, momentum: 0.9)

print("2-layer MLP (2 → \(hidden) → 3, ReLU) on the 3-class spiral, \(x.shape[0]) points, seed \(seed)")
var loss: Float = 0
for step in 0...steps {
    let h = (x.matmul(w1) + b1).relu()  // [300, hidden]
    let logits = h.matmul(w2) + b2  // [300, 3]
    let logProbs = logits.logSoftmax(axis: 1)
    let nll = -logProbs.gather(axis: 1, index: y.unsqueeze(1)).mean()
    loss = nll.item()
    if step % (steps / 10 == 0 ? 1 : steps / 10) == 0 {
        let accuracy = logits.argmax(axis: 1).eq(y).mean().item()
        print(
            "step \(String(step).leftPad(5))  loss \(String(format3: loss))  accuracy \(String(format3: accuracy * 100))%"
        )
    }
    if step == steps { break }
    optimizer.zeroGrad()
    nll.backward()
    optimizer.step()
}
print("final loss \(String(format3: loss)) (chance level: \(String(format3: Float.log(3))))")

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: Swift.max(0, n - count)) + self }
    init(format3 v: Float) {
        let r = (Double(v) * 1000).rounded() / 1000
        self = String(r)
    }
}

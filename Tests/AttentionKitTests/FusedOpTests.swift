import XCTest

@testable import AttentionKit

/// Ops that fuse or recompute to save memory, against finite differences and against the ops they replace.
final class FusedOpTests: XCTestCase {
    /// The fused feed-forward op (activation recomputed in backward) for each activation, with and without biases:
    /// finite differences, and the same values as the three ops composed.
    func testFusedFeedForward() {
        var g = RandomGenerator(seed: 4)
        for act in [FeedForwardActivation.relu, .gelu, .geluTanh] {
            for bias in [true, false] {
                let inputs = [
                    randAwayFromZero([2, 3, 4]), rand([6, 4], seed: 1), rand([6], seed: 2), rand([4, 6], seed: 3),
                    rand([4], seed: 5)
                ]
                let l1 = Linear(4, 6, bias: bias, using: &g), l2 = Linear(6, 4, bias: bias, using: &g)
                func ff(_ t: [Tensor]) -> Tensor {
                    l1.weight = t[1]; l1.bias = bias ? t[2] : nil
                    l2.weight = t[3]; l2.bias = bias ? t[4] : nil
                    return feedForwardOp(t[0], l1, l2, activation: act)
                }
                gradCheck("feedForward \(act), bias \(bias)", inputs, checkInputs: bias ? nil : [0, 1, 3]) { ff($0) }
                let xs = inputs.map { $0.to(.float32) }
                let fused = ff(xs), composed = l2(act.apply(l1(xs[0])))
                assertClose(fused.doubles, composed.doubles, atol: 1e-6, "values \(act)")
            }
        }
    }

    /// Dropout's byte mask gives the values of the float-mask formulation x ⊙ Bernoulli(1 − p)/(1 − p) from the same
    /// generator state, and its gradient is g ⊙ mask/(1 − p).
    func testDropoutMatchesTheFloatMaskFormulation() {
        var g = RandomGenerator(seed: 12)
        let x = Tensor.normal([5, 37], using: &g).requiringGrad()
        var a = RandomGenerator(seed: 99), b = a
        let y = dropoutOp(x, p: 0.3, using: &a)
        let mask = Tensor.bernoulli(x.shape, p: 0.7, using: &b) / 0.7
        XCTAssertEqual(y.scalars, (x.detach() * mask).scalars)
        XCTAssertEqual(a.next(), b.next(), "the generator advanced by one draw per element")
        let w = Tensor.normal(x.shape, using: &g)
        (y * w).sum().backward()
        XCTAssertEqual(x.grad!.scalars, (w * mask).scalars)
    }
}

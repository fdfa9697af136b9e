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

    /// The inference fusions (activation in place on linear1's output, residual add + LayerNorm in one pass, token
    /// lookup + padding mask + scale + positions in one pass) give the composed ops' values bit for bit: a translator
    /// of each norm placement, activation and position kind, its logits with the graph recorded (the composed ops)
    /// and under `withNoGrad` (the fused ones), with a non-zero padding row so that the padding mask matters (and a
    /// feed-forward width whose rows do not fill whole 16-lane vectors).
    func testInferenceFusionsGiveTheComposedValuesBitForBit() {
        for normFirst in [false, true] {
            for act in [FeedForwardActivation.relu, .gelu, .geluTanh] {
                for positions in [PositionKind.sinusoidal, .learned] {
                    var c = Seq2SeqConfig(sourceVocabulary: 20, targetVocabulary: 17)
                    c.dModel = 16; c.heads = 2; c.encoderLayers = 2; c.decoderLayers = 2; c.feedForward = 25
                    c.normFirst = normFirst; c.activation = act; c.positions = positions; c.maxLength = 12
                    c.scaleEmbeddings = positions == .sinusoidal
                    var g = RandomGenerator(seed: 3)
                    let model = Seq2SeqTransformer(c, using: &g)
                    model.eval()
                    for e in [model.sourceEmbedding.embedding, model.targetEmbedding.embedding] {
                        e.weight.withUnsafeMutableFloats { w in for k in 0..<16 { w[k] = Float(k) - 7.5 } }
                    }
                    let source = [[5, 6, 7, 2, 0], [8, 9, 10, 11, 2]], target = [[1, 4, 5, 0], [1, 6, 7, 8]]
                    let composed = model(source: source, targetInput: target)
                    XCTAssertTrue(composed.requiresGrad, "the reference ran the recorded (composed) ops")
                    let fused = withNoGrad { model(source: source, targetInput: target) }
                    XCTAssertEqual(
                        fused.scalars, composed.scalars, "normFirst \(normFirst), \(act), \(positions) positions")
                }
            }
        }
    }

    /// `LayerNorm(x, adding: r)` and `residual(x, adding: r)` in inference: x + r and its norm, bit for bit; with
    /// a graph wanted they are the differentiable ops (gradients flow to x, r, γ and β).
    func testAddLayerNormEqualsTheAddThenTheNorm() {
        var g = RandomGenerator(seed: 5)
        let norm = LayerNorm([24])
        norm.weight = Tensor.normal([24], using: &g).requiringGrad()
        norm.bias = Tensor.normal([24], using: &g).requiringGrad()
        let x = Tensor.normal([3, 7, 24], using: &g), r = Tensor.normal([3, 7, 24], using: &g)
        let reference = withNoGrad { norm(x + r) }
        XCTAssertEqual(withNoGrad { norm(x, adding: r) }.scalars, reference.scalars)
        let (h, n) = withNoGrad { norm.residual(x, adding: r) }
        XCTAssertEqual(h.scalars, (x + r).scalars)
        XCTAssertEqual(n.scalars, reference.scalars)
        let xg = x.requiringGrad()
        let y = norm(xg, adding: r)
        XCTAssertEqual(y.scalars, reference.scalars)
        y.sum().backward()
        XCTAssertNotNil(xg.grad)
        XCTAssertNotNil(norm.weight?.grad)
    }
}

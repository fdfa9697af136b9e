import AttentionKit
import Foundation
import XCTest

/// Forward results compared with NumPy/SciPy (float64 reference from float32 inputs) on the committed fixture
/// `Fixtures/core_ops.json`, written by `Fixtures/generate_core_fixtures.py`.
/// Tolerance: |ours − ref| ≤ 1e-5 + 1e-5·|ref| (float32 arithmetic against a float64 reference).
final class ReferenceTests: XCTestCase {
    struct Case { let name: String; let inputs: [Tensor]; let shape: [Int]; let expected: [Double] }

    static func loadCases() throws -> [Case] {
        let data = try Data(contentsOf: fixturesDirectory.appendingPathComponent("core_ops.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        func number(_ v: Any) -> Double {
            if let d = v as? Double { return d }
            if let s = v as? String { return s == "nan" ? .nan : (s.hasPrefix("-") ? -.infinity : .infinity) }
            return .nan
        }
        return try cases.map { c in
            let inputs = try XCTUnwrap(c["inputs"] as? [[String: Any]]).map { i in
                Tensor((i["data"] as! [Any]).map { Float(number($0)) }, shape: i["shape"] as! [Int])
            }
            let out = try XCTUnwrap(c["output"] as? [String: Any])
            return Case(
                name: c["name"] as! String, inputs: inputs, shape: out["shape"] as! [Int],
                expected: (out["data"] as! [Any]).map(number))
        }
    }

    /// Our op for each fixture case.
    static var ops: [String: ([Tensor]) -> Tensor] {
        [
            "add_broadcast": { $0[0] + $0[1] },
            "sub_broadcast": { $0[0] - $0[1] },
            "mul": { $0[0] * $0[1] },
            "div_broadcast": { $0[0] / $0[1] },
            "pow_scalar_2.5": { $0[0].pow(2.5) },
            "pow_scalar_3_negative_base": { $0[0].pow(3) },
            "pow_tensor": { $0[0].pow($0[1]) },
            "neg": { -$0[0] },
            "exp": { $0[0].exp() },
            "abs": { $0[0].abs() },
            "tanh": { $0[0].tanh() },
            "sigmoid": { $0[0].sigmoid() },
            "relu": { $0[0].relu() },
            "leaky_relu_0.1": { $0[0].leakyRelu(slope: 0.1) },
            "elu_1": { $0[0].elu() },
            "gelu_erf": { $0[0].gelu() },
            "gelu_tanh": { $0[0].gelu(approximate: true) },
            "clamp_-0.5_0.7": { $0[0].clamp(min: -0.5, max: 0.7) },
            "log": { $0[0].log() },
            "sqrt": { $0[0].sqrt() },
            "rsqrt": { $0[0].rsqrt() },
            "lt_broadcast": { $0[0].lt($0[1]) },
            "eq_broadcast": { $0[0].eq($0[1]) },
            "where": { Tensor.where($0[0], $0[1], $0[2]) },
            "maximum_broadcast": { $0[0].maximum($0[1]) },
            "sum_all": { $0[0].sum() },
            "sum_axes_0_2_keepdims": { $0[0].sum(axes: [0, 2], keepDims: true) },
            "mean_axis_1": { $0[0].mean(axis: 1) },
            "max_axis_-1": { $0[0].max(axis: -1) },
            "min_axes_0_1": { $0[0].min(axes: [0, 1]) },
            "argmax_axis_1": { $0[0].argmax(axis: 1) },
            "argmin_flat": { $0[0].argmin() },
            "variance_axis_0": { $0[0].variance(axis: 0) },
            "variance_all_biased": { $0[0].variance(correction: 0) },
            "logsumexp_axis_1": { $0[0].logsumexp(axis: 1) },
            "permute_2_0_1": { $0[0].permute([2, 0, 1]) },
            "slice_axis1_1_4_step2": { $0[0].slice(axis: 1, start: 1, end: 4, step: 2) },
            "slice_negative_start": { $0[0].slice(axis: 2, start: -2) },
            "concat_axis1": { Tensor.concat($0, axis: 1) },
            "stack_axis1": { Tensor.stack($0, axis: 1) },
            "pad_last2": { $0[0].pad([(1, 2), (0, 3)], value: 0.5) },
            "gather_axis1": { $0[0].gather(axis: 1, index: $0[1]) },
            "index_select_axis0": { $0[0].indexSelect(axis: 0, indices: [2, 0, 2, 1]) },
            "broadcast_to": { $0[0].broadcastTo([2, 3, 4]) },
            "matmul_2d": { matmul($0[0], $0[1]) },
            "matmul_batched": { matmul($0[0], $0[1]) },
            "matmul_broadcast_batch": { matmul($0[0], $0[1]) },
            "matmul_3d_2d": { matmul($0[0], $0[1]) },
            "matmul_transpose_both": { matmul($0[0], $0[1], transposeA: true, transposeB: true) },
            "matmul_transpose_b_batched": { matmul($0[0], $0[1], transposeB: true) },
            "matmul_1d_2d": { matmul($0[0], $0[1]) },
            "softmax_axis_1": { $0[0].softmax(axis: 1) },
            "log_softmax_last_large": { $0[0].logSoftmax() },
            "arange_0.5_3_0.7": { _ in Tensor.arange(0.5, 3, step: 0.7) },
            "linspace_-1_1_5": { _ in Tensor.linspace(-1, 1, count: 5) },
            "eye_3_4": { _ in Tensor.eye(3, 4) }
        ]
    }

    func testEveryFixtureCaseMatches() throws {
        let cases = try Self.loadCases()
        XCTAssertEqual(Set(cases.map(\.name)), Set(Self.ops.keys), "fixture cases and Swift ops must match one to one")
        for c in cases {
            guard let op = Self.ops[c.name] else { continue }
            let y = op(c.inputs)
            XCTAssertEqual(y.shape, c.shape, "\(c.name): shape")
            assertClose(y.doubles, c.expected, atol: 1e-5, rtol: 1e-5, c.name)
        }
    }

    func testFloat64PathMatchesToo() throws {
        // The same ops in float64 agree with the float64 reference far more tightly. Scalar arguments (slopes,
        // bounds, exponents) are Float32 in the API, so they carry up to 6e-8 relative rounding: rtol 1e-7.
        for c in try Self.loadCases()
        where !c.name.hasPrefix("arange") && !c.name.hasPrefix("linspace") && !c.name.hasPrefix("eye") {
            guard let op = Self.ops[c.name] else { continue }
            let y = op(c.inputs.map { $0.to(.float64) })
            XCTAssertEqual(y.dtype, .float64, c.name)
            assertClose(y.doubles, c.expected, atol: 1e-10, rtol: 1e-7, "\(c.name) (float64)")
        }
    }
}

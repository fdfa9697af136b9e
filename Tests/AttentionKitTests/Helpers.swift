import AttentionKit
import Foundation
import XCTest

/// Asserts |a − e| ≤ atol + rtol·|e| elementwise (NaN matches NaN, ±inf must match exactly).
func assertClose(
    _ actual: [Double], _ expected: [Double], atol: Double = 1e-6, rtol: Double = 1e-5,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.count, expected.count, "\(message): element count", file: file, line: line)
    guard actual.count == expected.count else { return }
    var worst = 0.0, worstAt = -1
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        if a.isNaN && e.isNaN { continue }
        if e.isInfinite || a.isInfinite {
            if a != e { XCTFail("\(message): element \(i) is \(a), expected \(e)", file: file, line: line); return }
            continue
        }
        let excess = Swift.abs(a - e) - (atol + rtol * Swift.abs(e))
        if excess > worst || a.isNaN { worst = a.isNaN ? .infinity : excess; worstAt = i }
    }
    if worstAt >= 0 {
        XCTFail(
            "\(message): element \(worstAt) is \(actual[worstAt]), expected \(expected[worstAt]) (atol \(atol), rtol \(rtol))",
            file: file, line: line)
    }
}

func assertClose(
    _ t: Tensor, _ expected: [Float], atol: Double = 1e-6, rtol: Double = 1e-5,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    assertClose(t.doubles, expected.map(Double.init), atol: atol, rtol: rtol, message, file: file, line: line)
}

/// Finite-difference gradient check in Double (the analogue of `torch.autograd.gradcheck`).
///
/// The inputs are converted to float64 leaves; the op's output y is reduced to a scalar L = Σ w⊙y with fixed
/// random weights w (so every output element's gradient path is exercised with a distinct weight). The analytic
/// ∂L/∂x from `backward()` is compared with the central difference (L(x+ε) − L(x−ε)) / 2ε for every element.
///
/// Tolerances: ε = 1e-6, |analytic − numeric| ≤ 1e-7 + 1e-5·|numeric|. In Double the central difference has
/// truncation error O(ε²·f‴) ≈ 1e-12 and rounding error ≈ 1e-16/ε = 1e-10, so these bounds leave two to three
/// orders of magnitude of headroom while still catching any wrong factor or missing term.
/// - Parameter checkInputs: indices of inputs to check (default: all); others are constants (e.g. indices, masks).
func gradCheck(
    _ name: String, _ inputs: [Tensor], checkInputs: [Int]? = nil, eps: Double = 1e-6,
    atol: Double = 1e-7, rtol: Double = 1e-5, file: StaticString = #filePath, line: UInt = #line,
    _ f: ([Tensor]) -> Tensor
) {
    let checked = Set(checkInputs ?? Array(inputs.indices))
    let xs = inputs.enumerated().map { i, t in
        let d = Tensor(doubles: t.doubles, shape: t.shape)
        return checked.contains(i) ? d.requiringGrad() : d
    }
    let y = f(xs)
    XCTAssertEqual(y.dtype, .float64, "\(name): output must stay float64", file: file, line: line)
    var rng = RandomGenerator(seed: 1234)
    let w = Tensor(doubles: (0..<y.count).map { _ in rng.nextUnit() * 2 - 1 }, shape: y.shape)
    let loss = (y * w).sum()
    loss.backward()
    func lossValue() -> Double { withNoGrad { (f(xs) * w).sum().itemDouble() } }
    for i in checked.sorted() {
        let x = xs[i]
        let analytic = x.grad?.doubles ?? [Double](repeating: 0, count: x.count)
        XCTAssertEqual(
            analytic.count, x.count, "\(name): gradient of input \(i) has the wrong size", file: file, line: line)
        var numeric = [Double](repeating: 0, count: x.count)
        for k in 0..<x.count {
            let orig = x.doubles[k]
            x.setDouble(k, orig + eps)
            let plus = lossValue()
            x.setDouble(k, orig - eps)
            let minus = lossValue()
            x.setDouble(k, orig)
            numeric[k] = (plus - minus) / (2 * eps)
        }
        assertClose(analytic, numeric, atol: atol, rtol: rtol, "\(name): ∂/∂input\(i)", file: file, line: line)
    }
}

extension Tensor {
    /// Test-only write of one float64 element through the public API.
    func setDouble(_ k: Int, _ v: Double) {
        var vals = doubles
        vals[k] = v
        assign(Tensor(doubles: vals, shape: shape))
    }
}

/// Random float64 tensor with values in [lo, hi) (deterministic per seed).
func rand(_ shape: [Int], _ lo: Double = -1, _ hi: Double = 1, seed: UInt64 = 7) -> Tensor {
    var g = RandomGenerator(seed: seed &+ UInt64(shape.reduce(1, *)) &* 31 &+ UInt64(shape.count))
    return Tensor(doubles: (0..<shape.reduce(1, *)).map { _ in lo + (hi - lo) * g.nextUnit() }, shape: shape)
}

/// Random values bounded away from 0 in absolute value (for kinks such as relu and abs).
func randAwayFromZero(_ shape: [Int], seed: UInt64 = 11) -> Tensor {
    let base = rand(shape, 0.1, 1.5, seed: seed).doubles
    var g = RandomGenerator(seed: seed)
    return Tensor(doubles: base.map { g.nextUnit() < 0.5 ? -$0 : $0 }, shape: shape)
}

/// Directory of the committed fixtures.
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// A test case with a fresh temporary directory per test (`tmp`), removed afterwards.
class TemporaryDirectoryTestCase: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ak-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
}

/// Headless Chromium's path; the test is skipped with a message where none is installed (CI installs it:
/// scripts/install-deps.sh --browser).
func headlessChromium() throws -> String {
    guard
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        })
    else {
        throw XCTSkip("Chromium is not installed (apt-get install chromium; scripts/install-deps.sh --browser does it)")
    }
    return chromium
}

/// Runs headless Chromium with `args` (after its headless flags and a virtual-time budget of `budgetMilliseconds`)
/// and returns its stdout. A browser that hangs must not hang the suite: it is stopped after `limit` seconds (the
/// test then fails on what it printed).
func browseHeadless(
    _ chromium: String, _ args: [String], budgetMilliseconds: Int = 5000, limit: TimeInterval = 60
) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: chromium)
    p.arguments =
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--virtual-time-budget=\(budgetMilliseconds)"
        ] + args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: watchdog)
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    watchdog.cancel()
    return String(decoding: data, as: UTF8.self)
}

import AttentionKit
import XCTest

final class TensorTests: XCTestCase {
    func testStorageIs64ByteAligned() {
        for n in [1, 3, 17, 1000] {
            let t = Tensor.zeros([n])
            XCTAssertEqual(Int(bitPattern: t.storage.baseAddress) % 64, 0)
        }
    }

    func testCreation() {
        XCTAssertEqual(Tensor.zeros([2, 3]).scalars, [Float](repeating: 0, count: 6))
        XCTAssertEqual(Tensor.ones([2]).scalars, [1, 1])
        XCTAssertEqual(Tensor.full([3], 2.5).scalars, [2.5, 2.5, 2.5])
        XCTAssertEqual(Tensor.arange(5).scalars, [0, 1, 2, 3, 4])
        XCTAssertEqual(Tensor.arange(1, 2, step: 0.25).scalars, [1, 1.25, 1.5, 1.75])
        XCTAssertEqual(Tensor.arange(3, 0, step: -1).scalars, [3, 2, 1])
        XCTAssertEqual(Tensor.linspace(0, 1, count: 5).scalars, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(Tensor.eye(2).scalars, [1, 0, 0, 1])
        XCTAssertEqual(Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])[1, 2], 6)
        XCTAssertEqual(Tensor(scalar: 3).shape, [])
        XCTAssertEqual(Tensor(scalar: 3).item(), 3)
        XCTAssertEqual(Tensor.zeros([0, 4]).count, 0)
    }

    func testSeededRandomIsReproducible() {
        var g1 = RandomGenerator(seed: 42), g2 = RandomGenerator(seed: 42), g3 = RandomGenerator(seed: 43)
        let a = Tensor.normal([100], using: &g1), b = Tensor.normal([100], using: &g2),
            c = Tensor.normal([100], using: &g3)
        XCTAssertEqual(a.scalars, b.scalars)
        XCTAssertNotEqual(a.scalars, c.scalars)
        XCTAssertEqual(g1, g2)
        // The stream is fixed forever: these values are part of the reproducibility contract.
        var g = RandomGenerator(seed: 0)
        let first = (0..<3).map { _ in g.next() }
        var h = RandomGenerator(seed: 0)
        XCTAssertEqual(first, (0..<3).map { _ in h.next() })
        // Save and restore state mid-stream.
        var s = RandomGenerator(seed: 9)
        _ = s.next()
        let saved = s.state
        let expected = s.next()
        var restored = RandomGenerator(state: saved)
        XCTAssertEqual(restored.next(), expected)
    }

    func testRandomDistributions() {
        var g = RandomGenerator(seed: 5)
        let n = 200_000
        let u = Tensor.uniform([n], low: -2, high: 3, using: &g)
        XCTAssertGreaterThanOrEqual(u.min().item(), -2)
        XCTAssertLessThan(u.max().item(), 3)
        XCTAssertEqual(u.mean().item(), 0.5, accuracy: 0.02)
        let z = Tensor.normal([n], mean: 1, std: 2, using: &g)
        XCTAssertEqual(z.mean().item(), 1, accuracy: 0.03)
        XCTAssertEqual(z.variance().item().squareRoot(), 2, accuracy: 0.03)
        let b = Tensor.bernoulli([n], p: 0.3, using: &g)
        XCTAssertEqual(b.mean().item(), 0.3, accuracy: 0.01)
        XCTAssertEqual(Set(b.scalars), [0, 1])
    }

    func testReshapeSharesStorageAndCopyDoesNot() {
        let a = Tensor([1, 2, 3, 4], shape: [2, 2])
        let r = a.reshape([4]), c = a.copy()
        XCTAssertTrue(r.storage === a.storage)
        XCTAssertFalse(c.storage === a.storage)
    }

    func testDescription() {
        XCTAssertEqual(Tensor([1, 2.5], shape: [2]).description, "tensor([1, 2.5], shape: [2])")
        XCTAssertTrue(Tensor.arange(10).description.contains("…"))
        XCTAssertTrue(Tensor([1]).requiringGrad().description.hasSuffix("requiresGrad)"))
    }

    func testDtypeConversion() {
        let x = Tensor([0.1, 0.2])
        let d = x.to(.float64)
        XCTAssertEqual(d.dtype, .float64)
        XCTAssertEqual(d.to(.float32).scalars, x.scalars)
    }

    func testSoftmaxIsStableAndHandlesMaskedRows() {
        let x = Tensor([1000, 1001, -1000, -.infinity], shape: [1, 4])
        let s = x.softmax()
        XCTAssertFalse(s.scalars.contains { $0.isNaN })
        XCTAssertEqual(s.sum().item(), 1, accuracy: 1e-6)
        XCTAssertEqual(s.scalars[3], 0)
        let ls = x.logSoftmax()
        XCTAssertEqual(ls.scalars[3], -.infinity)
        XCTAssertEqual(Tensor([-.infinity, 0], shape: [2]).logsumexp().item(), 0)
    }

    func testComparisonsAndArgmax() {
        let x = Tensor([1, 5, 5, 2], shape: [2, 2])
        XCTAssertEqual(x.argmax(axis: 1).scalars, [1, 0])
        XCTAssertEqual(x.argmax().item(), 1)
        XCTAssertEqual(x.gt(2).scalars, [0, 1, 1, 0])
        XCTAssertEqual(x.eq(Tensor([5])).scalars, [0, 1, 1, 0])
    }

    func testSplitChunkRoundTrip() {
        let x = Tensor.arange(12).reshape([3, 4])
        XCTAssertEqual(Tensor.concat(x.split([1, 3], axis: 1), axis: 1).scalars, x.scalars)
        XCTAssertEqual(Tensor.concat(x.chunk(3), axis: 0).scalars, x.scalars)
    }
}

final class ShapeErrorTests: XCTestCase {
    /// Every op validates through these functions and stops with exactly their message.
    func assertMessage(
        _ body: () throws(ShapeError) -> Void, contains parts: [String], file: StaticString = #filePath,
        line: UInt = #line
    ) {
        do {
            try body()
            XCTFail("expected a shape error", file: file, line: line)
        } catch {
            for p in parts {
                XCTAssertTrue(error.message.contains(p), "'\(error.message)' lacks '\(p)'", file: file, line: line)
            }
        }
    }

    func testBroadcastErrorNamesOpAndBothShapes() {
        assertMessage(
            { () throws(ShapeError) in _ = try Shape.broadcast([2, 3], [4, 3], op: "add") },
            contains: ["add", "[2, 3]", "[4, 3]"])
        XCTAssertEqual(try Shape.broadcast([2, 1, 3], [4, 1], op: "mul"), [2, 4, 3])
        XCTAssertEqual(try Shape.broadcast([], [5], op: "mul"), [5])
        XCTAssertEqual(try Shape.broadcast([0, 1], [1, 3], op: "mul"), [0, 3])
    }

    func testMatmulErrorNamesOpAndBothShapes() {
        assertMessage(
            { () throws(ShapeError) in _ = try Shape.matmul([2, 3], [4, 5]) }, contains: ["matmul", "[2, 3]", "[4, 5]"])
        assertMessage(
            { () throws(ShapeError) in _ = try Shape.matmul([2, 2, 3], [3, 3, 5]) }, contains: ["matmul", "[2]", "[3]"])
        assertMessage(
            { () throws(ShapeError) in _ = try Shape.matmul([3], [3, 5]) }, contains: ["matmul", "[3]", "[3, 5]"])
        XCTAssertEqual(try Shape.matmul([3, 2], [3, 5], transposeA: true), [2, 5])
        XCTAssertEqual(try Shape.matmul([7, 1, 2, 3], [4, 5, 3], transposeB: true), [7, 4, 2, 5])
    }

    func testReshapeAndAxisErrors() {
        assertMessage(
            { () throws(ShapeError) in _ = try Shape.reshape([2, 3], to: [4, 2]) },
            contains: ["reshape", "[2, 3]", "[4, 2]"])
        assertMessage(
            { () throws(ShapeError) in _ = try Shape.reshape([2, 3], to: [-1, -1]) }, contains: ["reshape", "[-1, -1]"])
        XCTAssertEqual(try Shape.reshape([2, 3], to: [3, -1]), [3, 2])
        assertMessage(
            { () throws(ShapeError) in _ = try Shape.axis(3, rank: 2, op: "sum") },
            contains: ["sum", "axis 3", "rank 2"])
        assertMessage(
            { () throws(ShapeError) in _ = try Shape.axes([0, -2], rank: 2, op: "mean") }, contains: ["mean", "twice"])
        assertMessage(
            { () throws(ShapeError) in try Shape.same([2], [3], op: "assign") }, contains: ["assign", "[2]", "[3]"])
    }
}

final class BufferCacheTests: XCTestCase {
    func testLargeBuffersAreReusedAndComeBackZeroed() {
        let cache = BufferCache.shared
        cache.releaseAll()
        let n = 1 << 18  // 1 MiB of Float32, above the cache's minimum
        var address: UnsafeRawPointer?
        do {
            let t = Tensor.full([n], 7)
            address = t.storage.baseAddress
        }
        XCTAssertEqual(cache.cachedBytes, n * 4)
        let z = Tensor.zeros([n])
        XCTAssertEqual(z.storage.baseAddress, address, "same-size allocation reuses the cached buffer")
        XCTAssertEqual(cache.cachedBytes, 0)
        XCTAssertEqual(z.max().item(), 0, "a reused buffer is zeroed when zeros are asked for")
        XCTAssertEqual(Int(bitPattern: z.storage.baseAddress) % 64, 0)
    }

    func testCapacityAndRelease() {
        let cache = BufferCache.shared
        cache.releaseAll()
        let saved = cache.capacityBytes
        defer { cache.capacityBytes = saved }
        do { _ = Tensor.zeros([1 << 18]); _ = Tensor.zeros([1 << 19]) }
        XCTAssertEqual(cache.cachedBytes, (1 << 18) * 4 + (1 << 19) * 4)
        cache.capacityBytes = (1 << 18) * 4
        XCTAssertLessThanOrEqual(cache.cachedBytes, (1 << 18) * 4)
        cache.releaseAll()
        XCTAssertEqual(cache.cachedBytes, 0)
        do { _ = Tensor.zeros([100]) }
        XCTAssertEqual(cache.cachedBytes, 0, "small buffers go straight back to malloc")
    }
}

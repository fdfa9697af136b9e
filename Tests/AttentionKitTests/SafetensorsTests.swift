import AttentionKit
import Foundation
import XCTest

final class SafetensorsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ak-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A file from a raw header string and data bytes (header length written as given unless overridden).
    func file(_ header: String, data: [UInt8] = [], length: UInt64? = nil, name: String = "t.safetensors") throws -> URL
    {
        let h = Array(header.utf8)
        var bytes = withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { Array($0) }
        bytes += h + data
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func assertRejects(
        _ url: URL, _ check: (SafetensorsError) -> Bool, file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            _ = try Safetensors.read(from: url)
            XCTFail("accepted a malformed file", file: file, line: line)
        } catch let e as SafetensorsError {
            XCTAssertTrue(check(e), "wrong error: \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(url.path), "error must name the file: \(e)", file: file, line: line)
        } catch {
            XCTFail("untyped error \(error)", file: file, line: line)
        }
    }

    let f32x2 = [UInt8](repeating: 0, count: 8)  // two float32 zeros

    func testRoundTrip() throws {
        let url = dir.appendingPathComponent("rt.safetensors")
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), b = Tensor(doubles: [0.1, 0.2], shape: [2]),
            c = Tensor.zeros([0, 4])
        try Safetensors.write([("a", a), ("b", b), ("c", c), ("s", Tensor(scalar: 7))], metadata: ["k": "v"], to: url)
        let (t, order, meta) = try Safetensors.read(from: url)
        XCTAssertEqual(order, ["a", "b", "c", "s"])
        XCTAssertEqual(t["a"]!.scalars, a.scalars)
        XCTAssertEqual(t["a"]!.shape, [2, 3])
        XCTAssertEqual(t["b"]!.dtype, .float64)
        XCTAssertEqual(t["b"]!.doubles, [0.1, 0.2])
        XCTAssertEqual(t["c"]!.shape, [0, 4])
        XCTAssertEqual(t["s"]!.shape, [])
        XCTAssertEqual(meta, ["k": "v"])
        let raw = try Data(contentsOf: url)
        let n = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + n) % 8, 0, "data section starts 8-byte aligned")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("tmp") }
        XCTAssertEqual(leftovers, [], "no temporary file is left behind")
    }

    func testAtomicWriteReplacesExistingFile() throws {
        let url = dir.appendingPathComponent("w.safetensors")
        try Safetensors.write([("x", Tensor([1]))], to: url)
        try Safetensors.write([("x", Tensor([2]))], to: url)
        XCTAssertEqual(try Safetensors.read(from: url).tensors["x"]!.scalars, [2])
        // a failing write (target directory missing) leaves nothing behind and throws a typed error
        XCTAssertThrowsError(
            try Safetensors.write([("x", Tensor([1]))], to: dir.appendingPathComponent("no/such/dir.st")))
    }

    func testLoadsFileWrittenByPyTorch() throws {
        let (t, _, meta) = try Safetensors.read(
            from: fixturesDirectory.appendingPathComponent("torch_written.safetensors"))
        XCTAssertEqual(t["weight"]!.shape, [2, 3])
        XCTAssertEqual(t["weight"]!.scalars, (0..<6).map { Float($0) / 4 - 0.5 })
        XCTAssertEqual(t["bias"]!.dtype, .float64)
        XCTAssertEqual(t["bias"]!.doubles, [-1, -0.5, 0, 0.5, 1])
        XCTAssertEqual(t["half"]!.scalars, [-1, -0.5, 0, 0.5])
        XCTAssertEqual(t["bf16"]!.scalars, [-2, 0, 2])
        XCTAssertEqual(t["empty"]!.shape, [0, 3])
        XCTAssertEqual(meta["format"], "pt")
    }

    func testRejectsFileShorterThan8Bytes() throws {
        let url = dir.appendingPathComponent("short")
        try Data([1, 2, 3]).write(to: url)
        assertRejects(url) {
            if case .headerTooSmall = $0 { return true }; return false
        }
    }

    func testRejectsHeaderOver100MB() throws {
        assertRejects(try file("{}", length: 100_000_001)) {
            if case .headerTooLarge = $0 { return true }; return false
        }
    }

    func testRejectsHeaderLengthPastEndOfFile() throws {
        assertRejects(try file("{}", length: 50)) {
            if case .headerLengthPastEnd = $0 { return true }; return false
        }
    }

    func testRejectsNonUTF8Header() throws {
        var bytes = withUnsafeBytes(of: UInt64(4).littleEndian) { Array($0) }
        bytes += [0x7B, 0xFF, 0xFE, 0x7D]
        let url = dir.appendingPathComponent("utf8")
        try Data(bytes).write(to: url)
        assertRejects(url) {
            if case .headerNotUTF8 = $0 { return true }; return false
        }
    }

    func testRejectsNonJSONHeader() throws {
        assertRejects(try file("{\"a\": ")) {
            if case .headerNotJSON = $0 { return true }; return false
        }
        assertRejects(try file("[1, 2]", name: "arr")) {
            if case .headerNotJSON = $0 { return true }; return false
        }
    }

    func testRejectsUnknownDType() throws {
        assertRejects(try file(#"{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#, data: f32x2)) {
            if case .unknownDType(_, "a", "F33") = $0 { return true }; return false
        }
    }

    func testRejectsOverlappingOffsets() throws {
        let h =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertRejects(try file(h, data: [UInt8](repeating: 0, count: 12))) {
            if case .invalidOffsets(_, "b", 4, 12, 8) = $0 { return true }; return false
        }
    }

    func testRejectsGapBetweenTensors() throws {
        let h =
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        assertRejects(try file(h, data: [UInt8](repeating: 0, count: 12))) {
            if case .invalidOffsets(_, "b", 8, 12, 4) = $0 { return true }; return false
        }
    }

    func testRejectsGapAtStart() throws {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertRejects(try file(h, data: f32x2)) {
            if case .invalidOffsets = $0 { return true }; return false
        }
    }

    func testRejectsOffsetsPastEndOfFile() throws {
        let h = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        assertRejects(try file(h, data: f32x2)) {
            if case .bufferLengthMismatch(_, 16, 8) = $0 { return true }; return false
        }
    }

    func testRejectsByteSizeNotMatchingShape() throws {
        let h = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        assertRejects(try file(h, data: f32x2)) {
            if case .sizeMismatch(_, "a", [3], "F32", 8) = $0 { return true }; return false
        }
    }

    func testRejectsTruncatedFile() throws {
        let url = dir.appendingPathComponent("full.safetensors")
        try Safetensors.write([("x", Tensor.ones([10]))], to: url)
        let data = try Data(contentsOf: url)
        let cut = dir.appendingPathComponent("cut.safetensors")
        try data.prefix(data.count - 3).write(to: cut)
        assertRejects(cut) {
            if case .bufferLengthMismatch(_, 40, 37) = $0 { return true }; return false
        }
    }

    func testRejectsTrailingBytes() throws {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        assertRejects(try file(h, data: f32x2 + [9])) {
            if case .bufferLengthMismatch(_, 8, 9) = $0 { return true }; return false
        }
    }

    func testRejectsMalformedEntries() throws {
        assertRejects(try file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#)) {
            if case .invalidEntry = $0 { return true }; return false
        }
        assertRejects(try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, name: "b")) {
            if case .invalidEntry = $0 { return true }; return false
        }
        assertRejects(try file(#"{"__metadata__":{"k":1}}"#, name: "c")) {
            if case .invalidEntry = $0 { return true }; return false
        }
        assertRejects(try file(#"{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#, data: f32x2, name: "d")) {
            if case .unsupportedDType = $0 { return true }; return false
        }
    }

    /// I64 tensors (BatchNorm's num_batches_tracked in a torchvision state dict) are read as float32 counts.
    func testReadsInt64CountsAsFloat() throws {
        let counts: [UInt8] = [7, 0, 0, 0, 0, 0, 0, 0] + [0x00, 0x01, 0, 0, 0, 0, 0, 0]  // 7 and 256, little-endian
        let t = try Safetensors.read(
            from: try file(#"{"n":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, data: counts, name: "e")
        ).tensors["n"]
        XCTAssertEqual(t?.dtype, .float32)
        XCTAssertEqual(t?.scalars, [7, 256])
    }

    func testMissingFileIsATypedError() {
        assertRejects(dir.appendingPathComponent("nope.safetensors")) {
            if case .cannotRead = $0 { return true }; return false
        }
    }
}

final class CheckpointTests: XCTestCase {
    /// A small model with every kind of state: weights, BatchNorm buffers and a Dropout generator.
    final class Net: Layer {
        var isTraining = true
        let body: Sequential
        init(seed: UInt64) {
            var g = RandomGenerator(seed: seed)
            body = Sequential([
                Linear(4, 16, using: &g), BatchNorm.oneD(16), ReLU(), Dropout(p: 0.2, seed: 9), Linear(16, 3, using: &g)
            ])
        }
        var children: [(name: String, module: any Module)] { [("body", body)] }
        func callAsFunction(_ x: Tensor) -> Tensor { body(x) }
    }

    func makeData() -> (Tensor, Tensor) {
        var g = RandomGenerator(seed: 1)
        let x = Tensor.normal([64, 4], using: &g)
        let y = Tensor((0..<64).map { Float($0 % 3) }, shape: [64])
        return (x, y)
    }

    /// Trains `steps` steps on shuffled minibatches of 16, continuing from the given data generator.
    func train(_ net: Net, _ opt: Optimizer, _ dataRNG: inout RandomGenerator, steps: Int) -> [Float] {
        let (x, y) = makeData()
        var losses: [Float] = []
        for _ in 0..<steps {
            let idx = (0..<16).map { _ in Int(dataRNG.next() % 64) }
            let logits = net(x.indexSelect(axis: 0, indices: idx))
            let loss = Loss.crossEntropy(logits, y.indexSelect(axis: 0, indices: idx))
            opt.zeroGrad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        }
        return losses
    }

    func testResumeReproducesUninterruptedRunBitForBit() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-resume-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }

        let straightNet = Net(seed: 3)
        let straightOpt = Adam(parameters: straightNet.parameters, learningRate: 0.01)
        var rng = RandomGenerator(seed: 4)
        let straight = train(straightNet, straightOpt, &rng, steps: 20)

        let firstNet = Net(seed: 3)
        let firstOpt = Adam(parameters: firstNet.parameters, learningRate: 0.01)
        var rng1 = RandomGenerator(seed: 4)
        let firstHalf = train(firstNet, firstOpt, &rng1, steps: 10)
        try Checkpoint.saveTrainingState(
            model: firstNet, optimizer: firstOpt, metadata: ["rng.data": rng1.serialized], to: url)

        let resumedNet = Net(seed: 99)  // different initial weights and dropout generator: all must come from the file
        let resumedOpt = Adam(parameters: resumedNet.parameters, learningRate: 0.01)
        let meta = try Checkpoint.loadTrainingState(model: resumedNet, optimizer: resumedOpt, from: url)
        var rng2 = try XCTUnwrap(RandomGenerator(serialized: meta["rng.data"] ?? ""))
        let secondHalf = train(resumedNet, resumedOpt, &rng2, steps: 10)

        XCTAssertEqual(firstHalf + secondHalf, straight, "resumed losses must equal the uninterrupted run's exactly")
        XCTAssertEqual(resumedOpt.stepCount, 20)
    }

    func testWeightsRoundTripAndStrictLoading() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ak-w-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let a = Net(seed: 1), b = Net(seed: 2)
        try Checkpoint.saveWeights(a, to: url)
        try Checkpoint.loadWeights(b, from: url)
        for ((n1, t1), (n2, t2)) in zip(a.stateDict(), b.stateDict()) {
            XCTAssertEqual(n1, n2)
            XCTAssertEqual(t1.scalars, t2.scalars, n1)
        }
        XCTAssertEqual(
            a.namedParameters().map(\.name),
            ["body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias", "body.4.weight", "body.4.bias"])
        XCTAssertThrowsError(try b.loadStateDict(["body.0.weight": Tensor.zeros([16, 4])])) { e in
            XCTAssertEqual(e as? CheckpointError, .missingTensor(name: "body.0.bias"))
        }
        var all = Dictionary(uniqueKeysWithValues: a.stateDict().map { ($0.name, $0.tensor) })
        all["body.0.weight"] = Tensor.zeros([4, 16])
        XCTAssertThrowsError(try b.loadStateDict(all)) { e in
            XCTAssertEqual(
                e as? CheckpointError, .shapeMismatch(name: "body.0.weight", expected: [16, 4], found: [4, 16]))
        }
    }
}

extension SafetensorsTests {
    func testRejectsBooleanInShape() throws {
        assertRejects(try file(#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) {
            if case .invalidEntry = $0 { return true }; return false
        }
    }
}

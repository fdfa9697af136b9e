import AttentionKit
import Foundation
import XCTest

/// Data-parallel training: the batch slicing everywhere, and `mpirun -np 2 attn train … --distributed` against one
/// process with the double batch (skipped, saying why, where the build has no MPI or `mpirun` is absent; CI has both).
final class DistributedTests: XCTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-dist-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    var cifar: String { root.appendingPathComponent("corpora/cifar10-sample").path }
    var trec: String { root.appendingPathComponent("corpora/trec-sample/train.label").path }

    // MARK: slicing (no MPI needed)

    func testShardsSplitEveryGlobalBatchDisjointly() throws {
        var whole = ShuffledBatches(count: 37, batchSize: 8, seed: 5)
        var parts = (0..<2).map { ShuffledBatches(count: 37, batchSize: 4, seed: 5, shard: Shard(rank: $0, of: 2)) }
        XCTAssertEqual(
            parts[0].batchesPerEpoch, whole.batchesPerEpoch, "37 = 4 × 8 + 5: the last global batch of 5 is split 2 + 3"
        )
        for _ in 0..<2 {  // two epochs: the reshuffle is the same everywhere
            while let b = whole.next() {
                let p0 = try XCTUnwrap(parts[0].next()), p1 = try XCTUnwrap(parts[1].next())
                XCTAssertEqual(p0 + p1, b, "the two slices are the global batch, in order")
            }
            XCTAssertNil(parts[0].next()); XCTAssertNil(parts[1].next())
            whole.startNextEpoch(); parts[0].startNextEpoch(); parts[1].startNextEpoch()
        }
        // A last global batch smaller than the number of processes is left out rather than leaving one of them empty.
        let three = ShuffledBatches(count: 17, batchSize: 2, seed: 1, shard: Shard(rank: 2, of: 3))
        XCTAssertEqual(three.batchesPerEpoch, 3, "17 = 6 + 6 + 5 in global batches of 2 × 3 (5 ≥ 3 processes: kept)")
        XCTAssertEqual(
            ShuffledBatches(count: 14, batchSize: 2, seed: 1, shard: Shard(rank: 0, of: 3)).batchesPerEpoch, 2,
            "14 = 6 + 6 + 2 (2 < 3 processes: left out)")
    }

    func testCIFARShardsSeeTheGlobalBatchesAugmentation() throws {
        let data = try CIFAR10(directory: URL(fileURLWithPath: cifar)).subset(Array(0..<40))
        let (mean, std) = data.channelStatistics()
        var whole = CIFARBatches(data, batchSize: 16, mean: mean, std: std, augmentation: ImageAugmentation(), seed: 3)
        var parts = (0..<2).map { r -> CIFARBatches in
            var b = CIFARBatches(data, batchSize: 8, mean: mean, std: std, augmentation: ImageAugmentation(), seed: 3)
            b.shard = Shard(rank: r, of: 2)
            return b
        }
        XCTAssertEqual(parts[1].batchesPerEpoch, 3)
        while let (x, y) = whole.next() {
            let a = try XCTUnwrap(parts[0].next()), b = try XCTUnwrap(parts[1].next())
            XCTAssertEqual(a.labels.scalars + b.labels.scalars, y.scalars)
            XCTAssertEqual(
                a.images.scalars + b.images.scalars, x.scalars, "same crops and flips as the one-process batch")
        }
        XCTAssertEqual(parts[0].savedState, whole.savedState, "the generators stay equal everywhere")
    }

    // MARK: mpirun

    /// `mpirun` on PATH, or a skip that says what is missing.
    func launcher() throws -> URL {
        guard DistributedRuntime.isAvailable else {
            throw XCTSkip("AttentionKit was built without Open MPI: build and test with `--traits MPI` (CI does)")
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let url = URL(fileURLWithPath: String(dir)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw XCTSkip("mpirun is not installed (scripts/install-deps.sh --mpi installs Open MPI)")
    }

    /// Starts `mpirun -np N attn ARGS` (as root where CI runs, oversubscribing the 2 cores).
    func startMPI(_ n: Int, _ args: [String]) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = try launcher()
        p.arguments = ["--oversubscribe", "-np", String(n), try builtBinary("attn").path] + args
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return (p, out, err)
    }

    func mpirun(_ n: Int, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let (p, out, err) = try startMPI(n, args)
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Every tensor of two checkpoints agrees within `tolerance` of the tensor's largest magnitude.
    func assertSameWeights(
        _ a: String, _ b: String, tolerance: Float, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let x = try Safetensors.read(from: URL(fileURLWithPath: a)).tensors,
            y = try Safetensors.read(from: URL(fileURLWithPath: b)).tensors
        XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line)
        for (k, t) in x where t.dtype == .float32 {
            var u = t.scalars, v = y[k]!.scalars
            if k.hasSuffix("inProjection.bias") {
                // The key bias's gradient is zero in exact arithmetic (softmax ignores a constant added to every score),
                // so Adam turns float noise into steps of up to lr (1e-3) there: the runs may part by a few such steps.
                let d = u.count / 3
                for i in d..<(2 * d) {
                    XCTAssertLessThanOrEqual(abs(u[i] - v[i]), 5e-3, "\(k)[\(i)] (key bias)", file: file, line: line)
                }
                u.removeSubrange(d..<(2 * d)); v.removeSubrange(d..<(2 * d))
            }
            let scale = max(u.map(abs).max() ?? 0, 1e-6)
            let worst = zip(u, v).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(
                worst / scale, tolerance, "\(k): 2 processes × B and 1 × 2B differ by \(worst)", file: file, line: line)
        }
    }

    func testTwoProcessesEqualOneWithTheDoubleBatchForTheTextClassifier() throws {
        _ = try launcher()
        // 80 training texts, batch 16 in all: 5 steps.
        let lines = try String(contentsOfFile: trec, encoding: .isoLatin1).split(separator: "\n")
        try (lines[0..<80].joined(separator: "\n") + "\n").write(
            toFile: path("train.label"), atomically: true, encoding: .utf8)
        try (lines[80..<140].joined(separator: "\n") + "\n").write(
            toFile: path("valid.label"), atomically: true, encoding: .utf8)
        let args = [
            "train", "classifier", "--format", "trec", "--data", path("train.label"), "--valid-data",
            path("valid.label"),
            "--epochs", "1", "--d-model", "16", "--heads", "2", "--layers", "1", "--feed-forward", "16", "--seed", "1",
            "--dropout", "0"
        ]
        let two = try mpirun(2, args + ["--batch-size", "8", "--out", path("two"), "--distributed"])
        XCTAssertEqual(two.status, 0, two.err)
        XCTAssertTrue(two.out.contains("2 processes; per step: allreduce"), two.out)
        XCTAssertEqual(
            two.out.components(separatedBy: "best validation accuracy").count, 2,
            "only the lead process reports:\n" + two.out)
        let one = try runAttn(args + ["--batch-size", "16", "--out", path("one")])
        XCTAssertEqual(one.status, 0, one.err)
        let metrics = try String(contentsOfFile: path("two/metrics.jsonl"), encoding: .utf8)
        XCTAssertTrue(metrics.contains("\"step\": 5,"), metrics)
        XCTAssertEqual(metrics.split(separator: "\n").count, 1, "one line per epoch, written once")
        try assertSameWeights(path("two/last.safetensors"), path("one/last.safetensors"), tolerance: 1e-5)
    }

    func testTwoProcessesEqualOneWithTheDoubleBatchForTheCNN() throws {
        _ = try launcher()
        // LeNet-5 (no BatchNorm: its batch statistics would differ between slices and the whole batch), 80 images, 5 steps.
        let args = [
            "train", "cnn", "--arch", "lenet5", "--data", cifar, "--limit", "100", "--val-fraction", "0.2",
            "--no-augment",
            "--epochs", "1", "--warmup-epochs", "0", "--seed", "3"
        ]
        let two = try mpirun(2, args + ["--batch-size", "8", "--out", path("two"), "--distributed"])
        XCTAssertEqual(two.status, 0, two.err)
        XCTAssertTrue(two.out.contains("5 steps of 8 × 2 processes"), two.out)
        let one = try runAttn(args + ["--batch-size", "16", "--out", path("one")])
        XCTAssertEqual(one.status, 0, one.err)
        try assertSameWeights(path("two/last.safetensors"), path("one/last.safetensors"), tolerance: 1e-5)
    }

    /// Ctrl-C on mpirun (it sends SIGTERM to every process) stops all processes at the same step with a checkpoint that
    /// holds each one's dropout streams and BatchNorm statistics; `--resume` then ends exactly where an uninterrupted
    /// distributed run does.
    func testInterruptedDistributedRunResumesBitForBit() throws {
        _ = try launcher()
        let args = [
            "train", "cnn", "--data", cifar, "--channels", "8,16,16", "--hidden", "32", "--val-fraction", "0.2",
            "--batch-size", "16", "--warmup-epochs", "0", "--epochs", "12", "--seed", "3", "--distributed"
        ]
        let straight = try mpirun(2, args + ["--out", path("straight")])
        XCTAssertEqual(straight.status, 0, straight.err)
        let (p, out, err) = try startMPI(2, args + ["--out", path("split")])
        let metrics = path("split/metrics.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline,
            ((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").split(separator: "\n").count < 2
        { usleep(2000) }
        kill(p.processIdentifier, SIGINT)
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(o.contains("interrupted at epoch"), o)
        let r = try mpirun(2, args + ["--out", path("split"), "--resume"])
        XCTAssertEqual(r.status, 0, r.err)
        let a = try Safetensors.read(from: URL(fileURLWithPath: path("straight/last.safetensors"))).tensors
        let b = try Safetensors.read(from: URL(fileURLWithPath: path("split/last.safetensors"))).tensors
        for (k, t) in a { XCTAssertEqual(t.scalars, b[k]?.scalars, "\(k) differs after the distributed resume") }
        func columns(_ f: String) throws -> [[Substring]] {  // timing columns (img_per_s, epoch_seconds) dropped
            try String(contentsOfFile: path(f), encoding: .utf8).split(separator: "\n").map { row in
                let c = row.split(separator: ",", omittingEmptySubsequences: false)
                return Array(c[0..<4] + c[6...])
            }
        }
        XCTAssertEqual(
            try columns("straight/metrics.csv"), try columns("split/metrics.csv"),
            "each epoch logged once, as in the straight run")
    }

    func testSeveralProcessesWithoutDistributedAreRefused() throws {
        _ = try launcher()
        let r = try mpirun(
            2,
            [
                "train", "cnn", "--arch", "lenet5", "--data", cifar, "--limit", "40", "--epochs", "1",
                "--warmup-epochs", "0", "--out", path("run")
            ])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("without --distributed"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("run/metrics.jsonl")))
    }
}

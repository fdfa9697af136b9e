import AttentionKit
import Foundation
import XCTest

/// Checkpoint averaging: the mean of weights files, kept epochs in training (`--average-last`), `attn average`.
final class CheckpointAveragingTests: TemporaryDirectoryTestCase {
    func file(_ name: String) -> URL { tmp.appendingPathComponent(name) }

    func testAverageIsTheElementwiseMeanInTheLastFilesOrderWithItsMetadata() throws {
        let a = [
            (name: "w", tensor: Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])),
            (name: "b", tensor: Tensor(doubles: [0.5, -1], shape: [2])),
            (name: "bn.num_batches_tracked", tensor: Tensor([10], shape: []))
        ]
        let b = [
            (name: "b", tensor: Tensor(doubles: [1.5, 2], shape: [2])),
            (name: "w", tensor: Tensor([3, 2, 1, 0, -1, 0.25], shape: [2, 3])),
            (name: "bn.num_batches_tracked", tensor: Tensor([20], shape: []))
        ]
        try Safetensors.write(a, metadata: ["who": "a"], to: file("a.safetensors"))
        try Safetensors.write(b, metadata: ["who": "b"], to: file("b.safetensors"))
        try CheckpointAveraging.average([file("a.safetensors"), file("b.safetensors")], to: file("m.safetensors"))
        let m = try Safetensors.read(from: file("m.safetensors"))
        XCTAssertEqual(m.order, ["b", "w", "bn.num_batches_tracked"])
        XCTAssertEqual(m.tensors["w"]!.shape, [2, 3])
        XCTAssertEqual(m.tensors["w"]!.scalars, [2, 2, 2, 2, 2, 3.125])
        XCTAssertEqual(m.tensors["b"]!.dtype, .float64)
        XCTAssertEqual(m.tensors["b"]!.doubles, [1, 0.5])
        XCTAssertEqual(m.tensors["bn.num_batches_tracked"]!.scalars, [20], "a counter is the last file's, not a mean")
        XCTAssertEqual(m.metadata["who"], "b")
        XCTAssertEqual(m.metadata["attentionkit.averaged"], "a.safetensors,b.safetensors")
        // one file: the same values
        try CheckpointAveraging.average([file("a.safetensors")], to: file("one.safetensors"))
        XCTAssertEqual(try Safetensors.read(from: file("one.safetensors")).tensors["w"]!.scalars, [1, 2, 3, 4, 5, 6])

        func refused(_ tensors: [(name: String, tensor: Tensor)], _ words: [String]) throws {
            try Safetensors.write(tensors, to: file("c.safetensors"))
            XCTAssertThrowsError(
                try CheckpointAveraging.average(
                    [file("c.safetensors"), file("b.safetensors")], to: file("x.safetensors"))
            ) { e in
                for w in words { XCTAssertTrue("\(e)".contains(w), "\(e) lacks \(w)") }
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: file("x.safetensors").path))
        }
        try refused([a[0], a[2]], ["c.safetensors", "no tensor 'b'"])
        try refused(
            [a[0], (name: "b", tensor: Tensor(doubles: [1, 2, 3], shape: [3])), a[2]], ["c.safetensors", "'b'", "[3]"])
        try refused(a + [(name: "extra", tensor: Tensor([1]))], ["c.safetensors", "'extra'"])
        XCTAssertThrowsError(try CheckpointAveraging.average([], to: file("x.safetensors")))
        XCTAssertThrowsError(try CheckpointAveraging.averageLast(2, in: tmp)) { e in
            XCTAssertTrue("\(e)".contains("--average-last"), "\(e)")
        }
    }

    func testTrainingKeepsTheLastEpochsAndAveragesThemForEveryInferenceVerb() throws {
        let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let corpus = root.appendingPathComponent("corpora/trec-sample/train.label").path
        let run = file("run").path
        let train = try runAttn([
            "train", "classifier", "--format", "trec", "--data", corpus, "--d-model", "16", "--heads", "2", "--layers",
            "1", "--feed-forward", "16", "--epochs", "4", "--average-last", "3", "--out", run
        ])
        XCTAssertEqual(train.status, 0, train.err)
        XCTAssertTrue(train.out.contains("averaged epochs 2–4 (averaged.safetensors): val_loss"), train.out)
        let kept = CheckpointAveraging.epochFiles(in: URL(fileURLWithPath: run))
        XCTAssertEqual(kept.map(\.epoch), [2, 3, 4], "only the last 3 epochs are kept")
        // the last epoch file is last.safetensors; the average is the mean of the three
        let epochs = try kept.map { try Safetensors.read(from: $0.url).tensors }
        let last = try Safetensors.read(from: URL(fileURLWithPath: run + "/last.safetensors")).tensors
        let averaged = try Safetensors.read(from: URL(fileURLWithPath: run + "/averaged.safetensors")).tensors
        XCTAssertEqual(Set(averaged.keys), Set(last.keys))
        for (name, t) in last {
            XCTAssertEqual(epochs[2][name]!.scalars, t.scalars, name)
            let mean = (0..<t.count).map { i in
                Float((0..<3).map { Double(epochs[$0][name]!.scalars[i]) }.reduce(0, +) / 3)
            }
            for (x, y) in zip(averaged[name]!.scalars, mean) { XCTAssertEqual(x, y, accuracy: 1e-6, name) }
        }
        // the averaged weights differ from the last epoch's, and load in evaluate and classify
        XCTAssertNotEqual(averaged.values.map(\.scalars).flatMap { $0 }, averaged.keys.flatMap { last[$0]!.scalars })
        let evaluate = try runAttn([
            "evaluate", "--checkpoint", run, "--weights", "averaged", "--data", corpus, "--json"
        ])
        XCTAssertEqual(evaluate.status, 0, evaluate.err)
        let classify = try runAttn([
            "classify", "--checkpoint", run, "--weights", "averaged", "--text", "What is a cat ?"
        ])
        XCTAssertEqual(classify.status, 0, classify.err)

        // attn average: fewer epochs again, with its JSON line; the errors
        let two = try runAttn(["average", "--checkpoint", run, "--last", "2", "--out", "two.safetensors"])
        XCTAssertEqual(two.status, 0, two.err)
        XCTAssertTrue(two.out.hasSuffix("\"epochs\": [3, 4]}\n"), two.out)
        let one = try runAttn(["average", "--checkpoint", run, "--last", "1", "--out", "one.safetensors"])
        XCTAssertEqual(one.status, 0, one.err)
        let oneTensors = try Safetensors.read(from: URL(fileURLWithPath: run + "/one.safetensors")).tensors
        for (name, t) in last { XCTAssertEqual(oneTensors[name]!.scalars, t.scalars, name) }
        let tooMany = try runAttn(["average", "--checkpoint", run, "--last", "4"])
        XCTAssertEqual(tooMany.status, 1)
        XCTAssertTrue(tooMany.err.contains("keeps 3 epoch files (epochs 2, 3, 4), fewer than --last 4"), tooMany.err)
        for bad in [
            ["--last", "0"], ["--last", "2", "--out", "best.safetensors"], ["--last", "2", "--out", "../x.safetensors"]
        ] {
            let r = try runAttn(["average", "--checkpoint", run] + bad)
            XCTAssertEqual(r.status, 64, "\(bad): \(r.err)")
        }
        let notARun = try runAttn(["average", "--checkpoint", file("nothing").path, "--last", "2"])
        XCTAssertEqual(notARun.status, 1)
        XCTAssertTrue(notARun.err.contains("not a directory"), notARun.err)
        let badFlag = try runAttn(["train", "classifier", "--data", corpus, "--format", "trec", "--average-last", "-1"])
        XCTAssertEqual(badFlag.status, 64, badFlag.err)
    }
}

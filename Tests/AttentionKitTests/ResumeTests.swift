import AttentionKit
import Foundation
import XCTest

/// Every training verb resumes bit for bit: a run stopped by SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, a job
/// scheduler) or SIGKILL (`kill -9`, the OOM killer) and continued with `--resume` ends with the same weights and
/// the same metrics (timings aside) as a run that was never stopped.
final class ResumeTests: XCTestCase {
    let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ak-resume-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }
    func corpus(_ n: String) -> String { root.appendingPathComponent("corpora/" + n).path }

    /// The tasks, each as tiny as trains in a second or two over enough epochs to be stopped in the middle.
    func tasks() throws -> [(name: String, args: [String], epochs: Int)] {
        let de = try String(contentsOfFile: corpus("multi30k-sample/train.de"), encoding: .utf8).split(separator: "\n")
            .prefix(60)
        let en = try String(contentsOfFile: corpus("multi30k-sample/train.en"), encoding: .utf8).split(separator: "\n")
            .prefix(60)
        try (de.joined(separator: "\n") + "\n").write(toFile: path("train.de"), atomically: true, encoding: .utf8)
        try (en.joined(separator: "\n") + "\n").write(toFile: path("train.en"), atomically: true, encoding: .utf8)
        let text = try String(contentsOfFile: corpus("shakespeare-sample/input.txt"), encoding: .utf8)
        try String(text.prefix(6000)).write(toFile: path("text.txt"), atomically: true, encoding: .utf8)
        let cifar = corpus("cifar10-sample")
        return [
            (
                "translation",
                [
                    "train", "translation", "--source", path("train.de"), "--target", path("train.en"), "--d-model",
                    "16", "--heads", "2",
                    "--layers", "1", "--feed-forward", "16", "--warmup-steps", "2", "--max-tokens", "300",
                    "--min-frequency", "1", "--epochs", "6"
                ], 6
            ),
            (
                "translation-rnn",
                [
                    "train", "translation", "--model", "rnn", "--source", path("train.de"), "--target",
                    path("train.en"), "--d-model", "16",
                    "--hidden", "16", "--warmup-steps", "2", "--max-tokens", "300", "--min-frequency", "1", "--epochs",
                    "6"
                ], 6
            ),
            (
                "classifier-lstm",
                [
                    "train", "classifier", "--model", "lstm", "--format", "trec", "--data",
                    corpus("trec-sample/train.label"), "--d-model", "16",
                    "--hidden", "8", "--epochs", "6"
                ], 6
            ),
            (
                "classifier",
                [
                    "train", "classifier", "--format", "trec", "--data", corpus("trec-sample/train.label"), "--d-model",
                    "16", "--heads", "2",
                    "--layers", "1", "--feed-forward", "16", "--epochs", "6"
                ], 6
            ),
            (
                "cnn",
                [
                    "train", "cnn", "--data", cifar, "--limit", "300", "--channels", "4,8", "--hidden", "8",
                    "--warmup-epochs", "0", "--batch-size", "32", "--epochs", "5"
                ], 5
            ),
            (
                "vit",
                [
                    "train", "vit", "--data", cifar, "--limit", "300", "--d-model", "16", "--heads", "2", "--depth",
                    "1", "--patch-size", "8",
                    "--warmup-epochs", "1", "--batch-size", "32", "--epochs", "5"
                ], 5
            ),
            (
                "lm",
                [
                    "train", "lm", "--data", path("text.txt"), "--d-model", "16", "--heads", "2", "--layers", "1",
                    "--block-size", "16", "--batch-size", "8", "--warmup-steps", "4", "--epochs", "5"
                ], 5
            )
        ]
    }

    /// metrics.jsonl without the timing fields.
    func metrics(_ dir: String) throws -> [[String: String]] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return o.filter { !$0.key.contains("per_s") && !$0.key.contains("seconds") }.mapValues { "\($0)" }
        }
    }

    func testEveryTaskResumesBitForBitAfterSIGINTSIGTERMAndSIGKILL() throws {
        var report: [String] = []
        for (name, args, _) in try tasks() {
            let straight = try runAttn(args + ["--out", path("\(name)-straight")])
            XCTAssertEqual(straight.status, 0, "\(name): " + straight.err)
            let reference = try Safetensors.read(from: URL(fileURLWithPath: path("\(name)-straight/last.safetensors")))
                .tensors
            let referenceMetrics = try metrics(path("\(name)-straight"))
            for (signalName, sig) in [("SIGINT", SIGINT), ("SIGTERM", SIGTERM), ("SIGKILL", SIGKILL)] {
                let out = path("\(name)-\(signalName)")
                let p = Process()
                p.executableURL = try builtBinary("attn")
                p.arguments = args + ["--out", out]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                // stop it once the first epoch has ended (a checkpoint exists) and well before the last
                let deadline = Date().addingTimeInterval(120)
                while p.isRunning, Date() < deadline,
                    !FileManager.default.fileExists(atPath: out + "/resume.safetensors")
                        || ((try? String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)) ?? "").isEmpty
                { usleep(1000) }
                kill(p.processIdentifier, sig)
                p.waitUntilExit()
                let linesAtStop = try metrics(out).count
                XCTAssertLessThan(linesAtStop, referenceMetrics.count, "\(name) \(signalName): stopped before the end")
                if sig == SIGKILL {
                    XCTAssertEqual(p.terminationReason, .uncaughtSignal, "\(name): killed")
                } else {
                    XCTAssertEqual(p.terminationStatus, 130, "\(name) \(signalName): a stopped run exits 130")
                }
                let resumed = try runAttn(args + ["--out", out, "--resume"])
                XCTAssertEqual(resumed.status, 0, "\(name) \(signalName) resume: " + resumed.err)
                let weights = try Safetensors.read(from: URL(fileURLWithPath: out + "/last.safetensors")).tensors
                XCTAssertEqual(Set(weights.keys), Set(reference.keys), "\(name) \(signalName)")
                for (k, t) in reference {
                    XCTAssertEqual(weights[k]?.scalars, t.scalars, "\(name) \(signalName): \(k) differs after resume")
                }
                XCTAssertEqual(try metrics(out), referenceMetrics, "\(name) \(signalName): metrics differ after resume")
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains(".tmp-") }
                XCTAssertEqual(leftovers, [], "\(name) \(signalName): temporary files left")
                report.append("\(name)/\(signalName) at \(linesAtStop)/\(referenceMetrics.count) epochs")
            }
        }
        print("resume: " + report.joined(separator: ", "))
    }

    /// A run directory is never silently replaced: another task's run, a directory of other files and a finished run
    /// of the same task are refused without changing a byte; `--overwrite` starts a same-task run anew; a failed
    /// start leaves no directory behind.
    func testTrainingOutputsNeverReplaceWhatIsThere() throws {
        let cls = [
            "train", "classifier", "--format", "trec", "--data", corpus("trec-sample/train.label"), "--d-model", "8",
            "--heads", "2",
            "--layers", "1", "--feed-forward", "8", "--epochs", "1"
        ]
        XCTAssertEqual(try runAttn(cls + ["--out", path("cls")]).status, 0)
        try FileManager.default.createDirectory(atPath: path("mine"), withIntermediateDirectories: true)
        try "notes".write(toFile: path("mine/notes.txt"), atomically: true, encoding: .utf8)
        func snapshot(_ d: String) throws -> [String: Data] {
            Dictionary(
                uniqueKeysWithValues: try FileManager.default.contentsOfDirectory(atPath: d).map {
                    ($0, (try? Data(contentsOf: URL(fileURLWithPath: d + "/" + $0))) ?? Data())
                })
        }
        let before = try snapshot(path("cls")), mine = try snapshot(path("mine"))
        let again = try runAttn(cls + ["--out", path("cls")])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(
            again.err.contains("already holds a classification run") && again.err.contains("--overwrite"), again.err)
        XCTAssertEqual(try snapshot(path("cls")), before)
        let other = try runAttn([
            "train", "lm", "--data", corpus("shakespeare-sample/input.txt"), "--max-steps", "5", "--out", path("cls")
        ])
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.err.contains("holds a classification run, not a language-model run"), other.err)
        XCTAssertEqual(try snapshot(path("cls")), before)
        let users = try runAttn(cls + ["--out", path("mine")])
        XCTAssertTrue(users.status == 1 && users.err.contains("notes.txt"), users.err)
        XCTAssertEqual(try snapshot(path("mine")), mine)
        let over = try runAttn(cls + ["--out", path("cls"), "--overwrite", "--seed", "3"])
        XCTAssertEqual(over.status, 0, over.err)
        XCTAssertNotEqual(try snapshot(path("cls"))["best.safetensors"], before["best.safetensors"], "a new run")
        let failed = try runAttn([
            "train", "classifier", "--format", "trec", "--data", path("missing.label"), "--out", path("new/run")
        ])
        XCTAssertEqual(failed.status, 1)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: path("new/run")), "a run that failed to start leaves no directory")
    }
}

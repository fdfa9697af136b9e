import AttentionKit
import Foundation
import XCTest

/// TensorBoard event files: CRC-32C against RFC 3720's vectors, the same bytes as the `tensorboard` package writes
/// (`Fixtures/tensorboard/reference.tfevents`, from `generate_tensorboard_fixture.py`), corrupt files named with
/// the byte offset, and a training run's events.
final class TensorBoardTests: TemporaryDirectoryTestCase {
    func testCRC32CMatchesRFC3720() {
        XCTAssertEqual(TFRecord.crc32c(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(TFRecord.crc32c([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(TFRecord.crc32c([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(TFRecord.crc32c((0..<32).map { UInt8($0) }), 0x46DD_794E)
    }

    func testSameBytesAsTheTensorBoardPackage() throws {
        let reference = try Data(contentsOf: fixturesDirectory.appendingPathComponent("tensorboard/reference.tfevents"))
        let w = try TensorBoardWriter(directory: tmp, wallTime: 1_700_000_000)
        try w.scalar("step/loss", 2.5, step: 1, wallTime: 1_700_000_001.5)
        try w.scalar("epoch/val_accuracy", 0.8125, step: 7, wallTime: 1_700_000_002.25)
        try w.text("config/text_summary", "```\n{\"task\": \"vit\"}\n```", step: 0, wallTime: 1_700_000_003)
        try w.flush()
        XCTAssertTrue(w.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000000."))
        XCTAssertEqual(try Data(contentsOf: w.url), reference, "byte for byte what tensorboard's RecordWriter wrote")
        let events = try TensorBoardWriter.read(w.url)
        XCTAssertEqual(events.map(\.step), [0, 1, 7, 0])
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[2].summary.value.first?.simpleValue, 0.8125)
        XCTAssertEqual(events[3].summary.value.first?.metadata.pluginData.pluginName, "text")
    }

    func testCorruptFilesAreNamedWithTheByteOffset() throws {
        var bytes = [UInt8](
            try Data(contentsOf: fixturesDirectory.appendingPathComponent("tensorboard/reference.tfevents")))
        let url = tmp.appendingPathComponent("bad.tfevents")
        bytes[30] ^= 0x01
        try Data(bytes).write(to: url)
        XCTAssertThrowsError(try TensorBoardWriter.read(url)) {
            XCTAssertTrue("\($0)".contains("bad.tfevents: byte") && "\($0)".contains("checksum"), "\($0)")
        }
        bytes[30] ^= 0x01
        try Data(bytes.prefix(50)).write(to: url)
        XCTAssertThrowsError(try TensorBoardWriter.read(url)) { XCTAssertTrue("\($0)".contains("cut short"), "\($0)") }
    }
}

extension TensorBoardTests {
    /// `attn train` writes an event file TensorBoard reads: per step the loss and rate, per epoch the metrics row
    /// (the same values as metrics.csv), config.json as text; `--no-tensorboard` writes none.
    func testTrainingWritesEventsThatMatchTheMetrics() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let out = tmp.appendingPathComponent("run")
        let args = [
            "train", "classifier", "--format", "trec", "--data",
            root.appendingPathComponent("corpora/trec-sample/train.label").path,
            "--epochs", "2", "--out", out.path
        ]
        let r = try runAttn(args)
        XCTAssertEqual(r.status, 0, r.err)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).filter {
            $0.hasPrefix("events.out.tfevents.")
        }
        XCTAssertEqual(files.count, 1)
        let events = try TensorBoardWriter.read(out.appendingPathComponent(files[0]))
        var curves: [String: [(Int64, Float)]] = [:]
        for e in events {
            for v in e.summary.value { if let x = v.simpleValue { curves[v.tag, default: []].append((e.step, x)) } }
        }
        let csv = try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8).split(
            separator: "\n"
        ).map { $0.split(separator: ",").map(String.init) }
        let column = { (name: String) in csv.dropFirst().map { Float(Double($0[csv[0].firstIndex(of: name)!])!) } }
        XCTAssertEqual(curves["epoch/val_accuracy"]?.map(\.1), column("val_accuracy"))
        XCTAssertEqual(curves["epoch/val_accuracy"]?.map(\.0), [1, 2], "epoch metrics at the epoch number")
        let steps = Int(column("step").last!)
        XCTAssertEqual(curves["step/loss"]?.map(\.0), (1...steps).map(Int64.init), "one loss point per optimizer step")
        XCTAssertEqual(curves["step/lr"]?.count, steps)
        XCTAssertTrue(
            events.contains {
                $0.summary.value.first?.tag == "config"
                    && $0.summary.value.first?.metadata.pluginData.pluginName == "text"
            })
        let quiet = try runAttn(args + ["--overwrite", "--no-tensorboard"])
        XCTAssertEqual(quiet.status, 0, quiet.err)
        XCTAssertFalse(
            try FileManager.default.contentsOfDirectory(atPath: out.path).contains {
                $0.hasPrefix("events.out.tfevents.")
            },
            "--overwrite removed the old events and --no-tensorboard wrote none")
    }
}

import AttentionKit
import Foundation
import XCTest

/// Pictures: libpng round trip, cairo/Pango drawing, the charts' axes (a pure function) and what each chart shows.
final class PNGTests: TemporaryDirectoryTestCase {
    func testPNGRoundTripsThroughLibpng() throws {
        var img = RGBImage(width: 37, height: 5)
        for y in 0..<5 {
            for x in 0..<37 { img.set(x, y, (UInt8(x * 7 % 256), UInt8(y * 50), UInt8((x + y) % 3 * 100))) }
        }
        let png = try img.pngData()
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let url = tmp.appendingPathComponent("a.png")
        try img.writePNG(to: url)
        let back = try ImageDecoding.read(contentsOf: url)
        XCTAssertEqual([back.width, back.height], [37, 5])
        XCTAssertEqual(back.pixels, img.pixels, "every pixel survives")
    }

    func testNiceTicksUseOneTwoFiveStepsAndStayInTheDomain() {
        let a = NiceAxis(covering: 5.35, 8.99)
        XCTAssertEqual(a.ticks, [5, 6, 7, 8, 9])
        XCTAssertEqual(a.label(7), "7")
        let bleu = NiceAxis(covering: -0.41, 40.2, domain: 0...100)
        XCTAssertEqual(bleu.lower, 0, "BLEU never below 0")
        XCTAssertEqual(bleu.ticks, [0, 10, 20, 30, 40, 50])
        let accuracy = NiceAxis(covering: 96.1, 100.4, domain: 0...100)
        XCTAssertEqual(accuracy.upper, 100, "accuracy never above 100%")
        XCTAssertTrue(accuracy.ticks.allSatisfy { $0 >= 0 && $0 <= 100 })
        XCTAssertEqual(accuracy.ticks.last, 100)
        let small = NiceAxis(covering: 0.1, 0.7, count: 7)
        XCTAssertEqual(small.step, 0.1)
        XCTAssertEqual(small.ticks, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], "no 0.30000000000000004")
        XCTAssertEqual(small.label(0.3), "0.3")
        let epochs = NiceAxis(covering: 1, 3, count: 8, domain: 0...(.infinity), integer: true)
        XCTAssertEqual(epochs.ticks, [1, 2, 3], "whole epochs")
        let flat = NiceAxis(covering: 0.5, 0.5, domain: 0...1)
        XCTAssertLessThan(flat.lower, 0.5)
        XCTAssertGreaterThan(flat.upper, 0.5)
        XCTAssertEqual(NiceAxis(covering: 0, 802_698).label(800_000), "800\u{2009}000")
        for raw in [0.013, 0.17, 3.3, 7.5, 42, 0.9] {
            let step = NiceAxis.niceStep(raw), mantissa = step / pow(10, log10(step).rounded(.down))
            XCTAssertTrue([1, 2, 5].contains { abs($0 - mantissa) < 1e-9 }, "\(raw) → \(step)")
            XCTAssertGreaterThanOrEqual(step, raw)
        }
    }

    func testCanvasDrawsTextInAnyScriptAntialiased() throws {
        func ink(_ text: String) throws -> (RGBImage, Int) {
            let c = try Canvas(width: 140, height: 30)
            c.text(text, x: 4, y: 22, size: 16)
            let img = c.rgbImage()
            return (img, stride(from: 0, to: img.pixels.count, by: 3).filter { img.pixels[$0] < 128 }.count)
        }
        let (u, inkU) = try ink("Gruße"), (umlaut, inkUmlaut) = try ink("Grüße")
        XCTAssertGreaterThan(inkU, 40, "text leaves ink")
        XCTAssertGreaterThan(inkUmlaut, inkU, "the umlaut's dots are drawn")
        XCTAssertNotEqual(u.pixels, umlaut.pixels)
        XCTAssertTrue(umlaut.pixels.contains { $0 > 40 && $0 < 215 }, "antialiased: grey levels between ink and paper")
        XCTAssertGreaterThan(try ink("東京").1, 40, "CJK through fontconfig's fallback")
        XCTAssertGreaterThan(Canvas.textWidth("abcd"), Canvas.textWidth("ab"))
        let svg = try Canvas(width: 50, height: 20, format: .svg)
        svg.text("x", x: 2, y: 15)
        let text = String(decoding: try svg.data(), as: UTF8.self)
        XCTAssertTrue(text.contains("<svg"), "an SVG document")
    }

    func testCurvesHaveNamedAxesInRangeAndMarkTheBestEpoch() throws {
        let csv = tmp.appendingPathComponent("metrics.csv")
        try "epoch,train_loss,val_loss,val_accuracy\n1,1.2,1.0,0.60\n2,0.8,0.7,0.91\n3,0.5,0.75,0.88\n".write(
            to: csv, atomically: true, encoding: .utf8)
        let charts = try TrainingCurves.charts(
            metricsCSV: csv, metric: "val_accuracy", selection: ("val_accuracy", true))
        XCTAssertEqual(charts.map(\.title), ["Loss", "Validation accuracy"])
        XCTAssertEqual(charts[1].yTitle, "Validation accuracy (%)")
        XCTAssertEqual(charts[0].yTitle, "Loss (cross-entropy, nats)")
        let y = try XCTUnwrap(charts[1].axes()).y
        XCTAssertGreaterThanOrEqual(y.lower, 0)
        XCTAssertLessThanOrEqual(y.upper, 100)
        XCTAssertTrue(y.ticks.contains(90), "percent, not fractions: \(y.ticks)")
        XCTAssertEqual(charts[1].marker?.x, 2, "the best accuracy's epoch")
        XCTAssertEqual(charts[1].marker?.label, "best: epoch 2, val accuracy 91.0%")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(charts[0].axes()).y.lower, 0, "a loss axis starts at 0 or above")
        let png = tmp.appendingPathComponent("curves.png")
        try TrainingCurves.write(metricsCSV: csv, to: png, metric: "val_accuracy")
        let image = try ImageDecoding.read(contentsOf: png)
        XCTAssertEqual([image.width, image.height], [1040, 410])
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("curves.svg").path))
    }

    func testComparisonChartsShareOneScalePerQuantity() throws {
        let entries = [
            ModelComparison.Entry(
                name: "vit", task: "image", model: "ViT", metric: "val_accuracy", score: 0.62, bestEpoch: 9, epochs: 10,
                parameters: 311_686, trainingSeconds: 600, inferencePerSecond: 900, inferenceUnit: "images/s",
                inferenceBatch: 256),
            ModelComparison.Entry(
                name: "cnn", task: "image", model: "CNN", metric: "val_accuracy", score: 0.75, bestEpoch: 9, epochs: 10,
                parameters: 120_000, trainingSeconds: 300, inferencePerSecond: 3000, inferenceUnit: "images/s",
                inferenceBatch: 256),
            ModelComparison.Entry(
                name: "tf", task: "translation", model: "Transformer", metric: "bleu", score: 40, bestEpoch: 9,
                epochs: 10,
                parameters: 802_698, trainingSeconds: 2400, inferencePerSecond: 40, inferenceUnit: "sentences/s",
                inferenceBatch: 64)
        ]
        let charts = ModelComparison(entries: entries).barCharts()
        XCTAssertEqual(
            charts.map(\.title),
            [
                "Validation accuracy (%)", "Validation BLEU (0–100)", "Parameters", "Training time (minutes)",
                "Inference (images/s)", "Inference (sentences/s)"
            ])
        let parameters = charts[2]
        XCTAssertGreaterThanOrEqual(parameters.axis.upper, 802_698, "one scale for every model")
        XCTAssertEqual(parameters.bars.map(\.value), [311_686, 120_000, 802_698])
        XCTAssertEqual(charts[0].axis.upper, 100)
        let dir = tmp.appendingPathComponent("cmp")
        try ModelComparison(entries: entries).write(to: dir)
        for f in ["comparison.png", "comparison.svg", "comparison.md", "comparison.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
    }

    func testConfusionMatrixKeepsItsWholeTitle() throws {
        let report = ClassificationReport(
            labels: ["ABBR", "DESC"], truth: Array(repeating: 0, count: 25) + Array(repeating: 1, count: 25),
            predicted: Array(repeating: 0, count: 20) + Array(repeating: 1, count: 5) + Array(repeating: 0, count: 3)
                + Array(repeating: 1, count: 22))
        let canvas = try report.confusionMatrixImage(title: "validation")
        let title = String(
            format: "validation — accuracy %.2f%%, macro-F1 %.3f, n = 50", report.accuracy * 100, report.macroF1)
        XCTAssertGreaterThanOrEqual(Double(canvas.width), Canvas.textWidth(title, size: 15, bold: true) + 14)
    }
}

import AttentionKit
import Foundation
import XCTest

/// TrivialAugment's operations against torchvision's (`Fixtures/generate_trivialaugment_fixture.py`: PIL images,
/// nearest interpolation, black fill), and its place in the training batches.
final class TrivialAugmentTests: XCTestCase {
    func testEveryOperationMatchesTorchvisionAtEveryStrengthAndSign() throws {
        let url = fixturesDirectory.appendingPathComponent("trivialaugment.json")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let side = try XCTUnwrap(json["side"] as? Int), plane = side * side
        let images = try XCTUnwrap(json["images"] as? [String]).map { [UInt8](Data(base64Encoded: $0)!) }
        let cases = try XCTUnwrap(json["cases"] as? [[String: Any]])
        XCTAssertEqual(Set(cases.map { $0["op"] as! Int }).count, TrivialAugment.Operation.allCases.count)
        for c in cases {
            let op = TrivialAugment.Operation(rawValue: c["op"] as! Int)!
            let draw = TrivialAugment.Draw(
                operation: op, level: c["level"] as! Int, negative: c["negative"] as! Bool)
            var image = images[c["image"] as! Int]
            var scratch = [UInt8](repeating: 0, count: 3 * plane)
            image.withUnsafeMutableBufferPointer { p in
                scratch.withUnsafeMutableBufferPointer { s in
                    TrivialAugment.apply(draw, to: p.baseAddress!, side: side, scratch: s.baseAddress!)
                }
            }
            let expected = [UInt8](Data(base64Encoded: c["out"] as! String)!)
            let off = zip(image, expected).map { abs(Int($0) - Int($1)) }
            // rounding of blends may differ by one level; the geometry must land on the same pixels
            let tolerance = [.brightness, .color, .contrast, .sharpness].contains(op) ? 1 : 0
            let wrong = off.filter { $0 > tolerance }.count
            // rotations by angles other than multiples of 90° may land a few boundary pixels on the neighbouring
            // source pixel (PIL's nearest-neighbour fast path works in 16.16 fixed point)
            let allowed = op == .rotate ? image.count * 3 / 100 : 0
            XCTAssertLessThanOrEqual(
                wrong, allowed, "\(draw): \(wrong) of \(image.count) values differ (max \(off.max()!))")
        }
    }

    func testBatchesWithTrivialAugmentAreSeededAndDifferFromPlainOnes() throws {
        let data = try CIFAR10(
            directory: fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("corpora/cifar10-sample"))
        func batch(_ trivial: Bool, seed: UInt64) -> [Float] {
            var b = CIFARBatches(
                data, batchSize: 16, mean: [0, 0, 0], std: [1, 1, 1],
                augmentation: ImageAugmentation(cropPadding: 4, horizontalFlip: true, trivialAugment: trivial),
                seed: seed)
            return b.next()!.images.scalars
        }
        XCTAssertEqual(batch(true, seed: 3), batch(true, seed: 3))
        XCTAssertNotEqual(batch(true, seed: 3), batch(false, seed: 3))
        XCTAssertNotEqual(batch(true, seed: 3), batch(true, seed: 4))
    }
}

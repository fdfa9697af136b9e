import AttentionKit
import Foundation
import XCTest

/// Images in class folders (torchvision's ImageFolder layout): class names from the folders, decoding, resizing and
/// centre crops, bad files named, the stratified split, and `attn train cnn|vit`, `evaluate`, `predict` on them.
final class ImageFolderTests: TemporaryDirectoryTestCase {
    /// The CIFAR sample's airplanes and ships as DIR/airplane/*.png and DIR/ship/*.png.
    func makeFolders() throws -> (dir: URL, cifar: CIFAR10) {
        let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let cifar = try CIFAR10(directory: root.appendingPathComponent("corpora/cifar10-sample"))
        let dir = tmp.appendingPathComponent("photos")
        for (n, i) in cifar.labels.indices.filter({ [0, 8].contains(cifar.labels[$0]) }).enumerated() {
            let name = cifar.classNames[cifar.labels[i]]
            let folder = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let image = RGBImage(planar: Array(cifar.pixels[(i * 3072)..<((i + 1) * 3072)]), width: 32, height: 32)
            try image.writePNG(to: folder.appendingPathComponent(String(format: "%03d.png", n)))
        }
        return (dir, cifar)
    }

    func testReadsClassFoldersAsTheCIFARLayout() throws {
        let (dir, cifar) = try makeFolders()
        XCTAssertTrue(ImageFolder.isImageFolder(dir))
        XCTAssertFalse(
            ImageFolder.isImageFolder(
                fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("corpora/cifar10-sample")),
            "a CIFAR binary directory is not a folder of classes")
        let set = try ImageFolder.read(dir)
        XCTAssertEqual(set.classNames, ["airplane", "ship"], "sorted folder names")
        let airplanes = cifar.labels.indices.filter { cifar.labels[$0] == 0 }
        XCTAssertEqual(set.labels.filter { $0 == 0 }.count, airplanes.count)
        XCTAssertEqual(
            Array(set.pixels[0..<3072]), Array(cifar.pixels[(airplanes[0] * 3072)..<((airplanes[0] + 1) * 3072)]),
            "a 32 × 32 PNG comes back exactly")
        // a 64 × 48 picture: shorter side to 32, centre crop 32 × 32 (the middle of the 43-wide resize)
        var wide = RGBImage(width: 64, height: 48)
        for y in 0..<48 { for x in 0..<64 { wide.set(x, y, (x < 32 ? 200 : 20, 50, 90)) } }
        let planar = ImageFolder.centreCropped(wide, side: 32)
        XCTAssertEqual(planar.count, 3072)
        XCTAssertEqual(planar[0], 200, "left of the crop is the left half")
        XCTAssertEqual(planar[31], 20, "right of the crop is the right half")
    }

    func testImagesAtAnySideFromFoldersAndCIFAR() throws {
        let (dir, cifar) = try makeFolders()
        let set = try ImageFolder.read(dir, side: 64)
        XCTAssertEqual(set.side, 64)
        XCTAssertEqual(set.pixels.count, set.count * 3 * 64 * 64)
        XCTAssertEqual(
            Array(set.pixels[0..<(3 * 64 * 64)]), Array(set.subset([0]).resized(to: 64).pixels),
            "a 32-pixel PNG at 64: the same resize")
        let up = cifar.subset([0, 1, 2]).resized(to: 48)
        XCTAssertEqual(up.side, 48)
        XCTAssertEqual(up.resized(to: 48).pixels, up.pixels, "resizing to its own side changes nothing")
        let (mean, std) = up.channelStatistics()
        var loader = CIFARBatches(
            up, batchSize: 2, mean: mean, std: std, augmentation: .standard(side: 48), shuffle: false)
        let batch = try XCTUnwrap(loader.next())
        XCTAssertEqual(batch.images.shape, [2, 3, 48, 48])
        var plain = CIFARBatches(up, batchSize: 3, mean: [0, 0, 0], std: [1, 1, 1], shuffle: false)
        let x = try XCTUnwrap(plain.next()).images.scalars
        let at = 2 * 3 * 48 * 48 + 48 * 48 + 5 * 48 + 7  // image 2, green plane, row 5, column 7
        let expected = Float(up.pixels[at]) / 255
        XCTAssertEqual(x[at], expected, accuracy: 1e-6)
    }

    /// The batches' random crops and flips against a plain per-pixel reference drawing the same numbers.
    func testCropsAndFlipsMatchAPlainReference() throws {
        let side = 12, pad = 3, n = 16
        var g = RandomGenerator(seed: 5)
        let pixels = (0..<(n * 3 * side * side)).map { _ in UInt8(g.next() % 256) }
        let data = CIFAR10(pixels: pixels, labels: Array(repeating: 0, count: n), side: side)
        var batches = CIFARBatches(
            data, batchSize: n, mean: [0, 0, 0], std: [1, 1, 1],
            augmentation: ImageAugmentation(cropPadding: pad, horizontalFlip: true),
            shuffle: false, seed: 11)
        let x = try XCTUnwrap(batches.next()).images.scalars
        var draws = RandomGenerator(seed: 11)
        var flips = 0
        for i in 0..<n {
            let dy = Int(draws.next() % UInt64(2 * pad + 1)) - pad, dx = Int(draws.next() % UInt64(2 * pad + 1)) - pad
            let flip = draws.next() & 1 == 1
            flips += flip ? 1 : 0
            for c in 0..<3 {
                for y in 0..<side {
                    for x0 in 0..<side {
                        let sy = y + dy, sx = (flip ? side - 1 - x0 : x0) + dx
                        let inside = sy >= 0 && sy < side && sx >= 0 && sx < side
                        let expected: Float =
                            inside ? Float(pixels[((i * 3 + c) * side + sy) * side + sx]) * (1 / Float(255)) : 0
                        XCTAssertEqual(
                            x[((i * 3 + c) * side + y) * side + x0], expected, "image \(i) channel \(c) (\(x0), \(y))")
                    }
                }
            }
        }
        XCTAssertTrue(flips > 0 && flips < n, "both flipped and unflipped images drawn")
    }

    func testTrainAndPredictAtAnotherImageSize() throws {
        let (dir, _) = try makeFolders()
        let out = tmp.appendingPathComponent("run48").path
        let r = try runAttn([
            "train", "cnn", "--data", dir.path, "--out", out, "--epochs", "1", "--batch-size", "8", "--warmup-epochs",
            "0",
            "--image-size", "48", "--channels", "4,8", "--hidden", "8"
        ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("image folders (2 classes, 48 × 48)"), r.out)
        let config = try String(contentsOf: URL(fileURLWithPath: out + "/config.json"), encoding: .utf8)
        XCTAssertTrue(config.contains("\"image_size\" : 48") || config.contains("\"image_size\": 48"), config)
        let e = try runAttn(["evaluate", "--checkpoint", out, "--data", dir.path])
        XCTAssertEqual(e.status, 0, e.err)
        let ship = try XCTUnwrap(ImageFolder.listing(dir).last?.files.first)
        let p = try runAttn(["predict", "--checkpoint", out, "--image", ship.path])
        XCTAssertEqual(p.status, 0, p.err)
        let run = try ImageClassification.load(from: URL(fileURLWithPath: out))
        XCTAssertEqual(run.imageSize, 48)
        XCTAssertEqual(
            run.input(RGBImage(width: 100, height: 60)).shape, [1, 3, 48, 48],
            "any picture: shorter side to 48, centre crop")
        let bad = try runAttn(["train", "cnn", "--data", dir.path, "--out", out + "-bad", "--image-size", "4"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--image-size must be in 8...1024"), bad.err)
    }

    func testBadFilesAreNamedOrSkipped() throws {
        let (dir, _) = try makeFolders()
        let bad = dir.appendingPathComponent("ship/zz-broken.jpg")
        try Data("not a jpeg".utf8).write(to: bad)
        XCTAssertThrowsError(try ImageFolder.read(dir)) { XCTAssertTrue("\($0)".contains("zz-broken.jpg"), "\($0)") }
        var notes: [String] = []
        let set = try ImageFolder.read(dir, badFiles: .skip) { notes.append($0) }
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes[0].contains("skipped") && notes[0].contains("zz-broken.jpg"), notes[0])
        XCTAssertEqual(set.labels.count, try ImageFolder.listing(dir).map(\.files.count).reduce(0, +) - 1)
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("empty"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolder.read(dir, badFiles: .skip)) {
            XCTAssertTrue("\($0)".contains("'empty' holds no .png or .jpg"), "\($0)")
        }
    }

    func testStratifiedSplitKeepsEachClassShare() {
        let labels = Array(repeating: 0, count: 40) + Array(repeating: 1, count: 10)
        let (train, validation) = ImageFolder.stratifiedSplit(labels: labels, fraction: 0.2, seed: 3)
        XCTAssertEqual(validation.filter { labels[$0] == 0 }.count, 8)
        XCTAssertEqual(validation.filter { labels[$0] == 1 }.count, 2)
        XCTAssertEqual(Set(train).union(validation).count, 50)
        XCTAssertTrue(Set(train).isDisjoint(with: validation))
        XCTAssertEqual(
            ImageFolder.stratifiedSplit(labels: labels, fraction: 0.2, seed: 3).validation, validation, "seeded")
    }

    func testTrainEvaluateAndPredictOnFolders() throws {
        let (dir, _) = try makeFolders()
        let out = tmp.appendingPathComponent("run").path
        let r = try runAttn([
            "train", "cnn", "--data", dir.path, "--out", out, "--epochs", "2", "--batch-size", "8", "--warmup-epochs",
            "0", "--val-fraction", "0.25"
        ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("image folders (2 classes, 32 × 32)"), r.out)
        let labels = try String(contentsOf: URL(fileURLWithPath: out + "/labels.json"), encoding: .utf8)
        XCTAssertTrue(labels.contains("airplane") && labels.contains("ship") && !labels.contains("truck"), labels)
        let e = try runAttn(["evaluate", "--checkpoint", out, "--data", dir.path, "--json"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.contains("\"n\": "), e.out)
        let ship = try XCTUnwrap(ImageFolder.listing(dir).last?.files.first)
        let p = try runAttn(["predict", "--checkpoint", out, "--image", ship.path])
        XCTAssertEqual(p.status, 0, p.err)
        XCTAssertTrue(p.out.contains("airplane") || p.out.contains("ship"), p.out)
    }
}

/// The course's transfer-learning exercise on class folders: torchvision weights (a state-dict file as
/// `safetensors.torch.save_file` writes it, int64 counts included) into `--arch resnet18`, the backbone frozen
/// (feature extraction) and bit-identical after training, or fine-tuned; a file of another architecture refused with
/// every misfit listed.
extension ImageFolderTests {
    var torchvisionFile: URL { fixturesDirectory.appendingPathComponent("torchvision_resnet18_w2.safetensors") }

    func testTorchVisionStateDictLoadsAndComputesAsTorchVision() throws {
        var c = TorchVisionResNetConfig(depth: 18, classes: 3)
        c.width = 2
        var g = RandomGenerator(seed: 9)
        let model = TorchVisionResNet(config: c, using: &g)
        try model.loadStateDict(try Safetensors.read(from: torchvisionFile).tensors)
        let zoo = try XCTUnwrap(ModelZooTests.cases["torchvision_resnet18_w2"])
        model.eval()
        let y = withNoGrad { model(ModelZooTests.tensor(zoo["x"])) }
        assertClose(
            y.doubles, ModelZooTests.tensor(zoo["y_eval"]).doubles, atol: 1e-5, rtol: 1e-4, "torchvision's eval output")
        // another width: one error listing every misfit
        var wide = c
        wide.width = 4
        let other = TorchVisionResNet(config: wide, using: &g)
        XCTAssertThrowsError(
            try TransferRecipe(initFrom: torchvisionFile.path).apply(
                to: other, resuming: false, head: "fc", labels: ["a", "b"], log: { _ in })
        ) {
            let text = "\($0)"
            XCTAssertTrue(
                text.contains("tensor(s) do not fit")
                    && text.contains("conv1.weight: [2, 3, 7, 7] in the file, [4, 3, 7, 7] in the model"), text)
        }
    }

    func testFeatureExtractionKeepsTheBackboneAndFineTuningChangesIt() throws {
        let (dir, _) = try makeFolders()
        let source = try Safetensors.read(from: torchvisionFile).tensors
        var firstEpochLoss: [String: String] = [:]
        for (name, freeze) in [
            ("extract", ["--freeze", "backbone"]), ("finetune", []),
            ("unfreeze", ["--freeze", "backbone", "--unfreeze-epoch", "2", "--unfreeze-lr-factor", "0.5"])
        ] {
            let out = tmp.appendingPathComponent(name).path
            let r = try runAttn(
                [
                    "train", "cnn", "--arch", "resnet18", "--width", "2", "--init-from", torchvisionFile.path, "--data",
                    dir.path,
                    "--out", out, "--epochs", "2", "--batch-size", "8", "--warmup-epochs", "0"
                ] + freeze)
            XCTAssertEqual(r.status, 0, r.err)
            let trained = try Safetensors.read(from: URL(fileURLWithPath: out + "/last.safetensors")).tensors
            XCTAssertEqual(trained["fc.weight"]?.shape, [2, 16], "a new head for the folders' two classes")
            let backbone = source.keys.filter { !$0.hasPrefix("fc.") && !$0.hasSuffix("num_batches_tracked") }
            let unchanged = backbone.filter { trained[$0]?.scalars == source[$0]!.scalars }
            let rows = try String(contentsOf: URL(fileURLWithPath: out + "/metrics.jsonl"), encoding: .utf8).split(
                separator: "\n")
            firstEpochLoss[name] = rows.first.flatMap { $0.split(separator: ",").first { $0.contains("train_loss") } }
                .map(String.init)
            let config = try String(contentsOf: URL(fileURLWithPath: out + "/config.json"), encoding: .utf8)
            XCTAssertTrue(
                config.contains("\"imagenet\"") && config.contains("0.485"),
                "a torchvision state dict: ImageNet's normalisation by default")
            if name == "extract" {
                XCTAssertTrue(r.out.contains("frozen:"), r.out)
                XCTAssertEqual(
                    unchanged.count, backbone.count,
                    "frozen: every backbone tensor, BatchNorm statistics included, as it was")
            } else {
                XCTAssertLessThan(unchanged.count, backbone.count / 2, "fine-tuning moves the backbone")
            }
            if name == "unfreeze" {
                XCTAssertTrue(r.out.contains("epoch 2: unfrozen") && r.out.contains("0.5 × the learning rate"), r.out)
                XCTAssertNotNil(firstEpochLoss["extract"])
                XCTAssertEqual(
                    firstEpochLoss["unfreeze"], firstEpochLoss["extract"],
                    "epoch 1 is feature extraction, step for step")
            }
        }
    }
}

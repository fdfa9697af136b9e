import AttentionKit
import Foundation
import XCTest

/// int8 dynamic quantization: the per-row weight quantizer's error bound, oneDNN's int8 GEMM against an integer
/// reference and against float, a quantized model's outputs near the float model's, quantized checkpoints that load
/// back to the same int8 values, and `attn quantize` / `--int8` end to end with their errors.
final class QuantizationTests: TemporaryDirectoryTestCase {
    func path(_ n: String) -> String { tmp.appendingPathComponent(n).path }

    func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var g = RandomGenerator(seed: seed)
        return Tensor.normal(shape, std: scale, using: &g)
    }

    /// Every value within half a step (scale / 2) of the weight; values in −127…127 with ±127 reached in every
    /// non-zero row; a zero row stays zero; quantizing the dequantized matrix gives the same values.
    func testWeightQuantizationErrorBoundAndIdempotence() {
        let w = random([13, 37], seed: 1, scale: 0.3)
        w.withUnsafeMutableFloats { p in for c in 0..<37 { p[5 * 37 + c] = 0 } }  // a zero row
        let q = Int8Matrix(quantizing: w)
        let d = q.dequantized()
        for r in 0..<13 {
            var m: Float = 0
            for c in 0..<37 {
                let x = w[r, c], v = q.values[r * 37 + c]
                XCTAssertLessThanOrEqual(abs(x - d[r, c]), q.scales[r] / 2 * 1.0001, "[\(r), \(c)]")
                XCTAssertTrue((-127...127).contains(Int(v)))
                m = max(m, abs(Float(v)))
            }
            XCTAssertEqual(m, r == 5 ? 0 : 127, "row \(r)")
        }
        XCTAssertEqual(Int8Matrix(quantizing: d).values, q.values)
        XCTAssertEqual(q.byteCount, 13 * 37 + 13 * 4)
    }

    /// oneDNN's u8·s8 GEMM equals the integer dot products of the same quantized values (exactly, up to the float
    /// scaling), for whole matrices, a row range (the packed attention projection's slices), one row, and rows of
    /// zeros and of one constant; and it is within the quantization error bound of the float x·Wᵀ + b.
    func testInt8GEMMAgainstIntegerAndFloatReferences() {
        for (m, k, n) in [(7, 33, 19), (1, 64, 5), (40, 128, 96)] {
            let x = random([m, k], seed: UInt64(m * 1000 + k), scale: 2)
            x.withUnsafeMutableFloats { p in
                for c in 0..<k { p[c] = 0 }  // row 0: zeros
                if m > 2 { for c in 0..<k { p[2 * k + c] = 0.75 } }  // row 2: one positive constant
            }
            if m == 1 { x.withUnsafeMutableFloats { p in for c in 0..<k { p[c] = Float(c % 7) - 3 } } }
            let w = random([n, k], seed: UInt64(n), scale: 0.2), b = random([n], seed: 9)
            let q = Int8Matrix(quantizing: w)
            let y = Int8GEMM.linear(x, q, bias: b)
            XCTAssertEqual(y.shape, [m, n])
            let (u, sx, zx) = Int8GEMM.quantize(rows: x)
            XCTAssertTrue(u.allSatisfy { Int($0) <= Int8GEMM.activationLevels })
            let xf = x.scalars, wf = w.scalars, bf = b.scalars
            for i in 0..<m {
                for j in 0..<n {
                    var integer = 0
                    var exact: Double = Double(bf[j]), bound: Double = 0
                    for c in 0..<k {
                        integer += (Int(u[i * k + c]) - Int(zx[i])) * Int(q.values[j * k + c])
                        exact += Double(xf[i * k + c]) * Double(wf[j * k + c])
                        bound +=
                            abs(Double(xf[i * k + c])) * Double(q.scales[j]) / 2 + abs(Double(wf[j * k + c]))
                            * Double(sx[i]) / 2 + Double(q.scales[j] * sx[i]) / 4
                    }
                    let reference = Double(integer) * Double(sx[i]) * Double(q.scales[j]) + Double(bf[j])
                    XCTAssertEqual(Double(y[i, j]), reference, accuracy: 1e-4 * max(1, abs(reference)), "[\(i), \(j)]")
                    XCTAssertLessThanOrEqual(abs(Double(y[i, j]) - exact), bound * 1.001 + 1e-5, "[\(i), \(j)]")
                    if i == 0 && m > 1 { XCTAssertEqual(y[i, j], bf[j], accuracy: 1e-6, "a zero row gives the bias") }
                }
            }
            // a row range: the columns of the whole product
            if n >= 10 {
                let part = Int8GEMM.linear(x, q, rows: 3..<10, bias: b.slice(axis: 0, start: 3, end: 10))
                for i in 0..<m { for j in 0..<7 { XCTAssertEqual(part[i, j], y[i, j + 3], accuracy: 1e-6) } }
            }
        }
    }

    /// A transformer translator with every Linear in int8 gives logits within 3% (relative, RMS) of the float
    /// model's, and a quantized checkpoint loads back to the same int8 values and the same logits.
    func testQuantizedTranslatorNearFloatAndItsCheckpointRoundTrips() throws {
        var g = RandomGenerator(seed: 4)
        var c = Seq2SeqConfig(sourceVocabulary: 50, targetVocabulary: 60)
        (c.dModel, c.heads, c.feedForward, c.encoderLayers, c.decoderLayers, c.tieOutput) = (32, 4, 64, 2, 2, true)
        let model = Seq2SeqTransformer(config: c, using: &g)
        model.eval()
        let source: [[Int]] = [[5, 9, 12, 30, 2], [7, 8, 2, 0, 0]], target: [[Int]] = [[1, 4, 6, 9], [1, 3, 0, 0]]
        let float = withNoGrad { model(source: source, targetInput: target) }
        XCTAssertFalse(Quantization.isQuantized(model))
        let layers = Quantization.quantize(model)
        XCTAssertEqual(layers, model.namedModules().filter { $0.module is Linear }.count)
        XCTAssertTrue(Quantization.isQuantized(model))
        let int8 = withNoGrad { model(source: source, targetInput: target) }
        let diff = (int8 - float).scalars, ref = float.scalars
        let rms = (diff.map { Double($0 * $0) }.reduce(0, +) / Double(diff.count)).squareRoot()
        let scale = (ref.map { Double($0 * $0) }.reduce(0, +) / Double(ref.count)).squareRoot()
        XCTAssertLessThan(rms / scale, 0.03, "relative RMS error of the int8 logits")
        XCTAssertGreaterThan(rms, 0, "int8 computes something else than float")

        let url = tmp.appendingPathComponent("q.safetensors")
        try Quantization.saveQuantized(model, to: url)
        let (tensors, _, meta) = try Safetensors.read(from: url)
        XCTAssertEqual(meta["attentionkit.quantization"], "int8")
        XCTAssertNotNil(tensors["outputProjection.weight_scale"])
        let loaded = try ModelFile.load(Seq2SeqTransformer.self, from: url)
        loaded.eval()
        let pairs = zip(model.namedModules(), loaded.namedModules()).compactMap { a, b -> (Linear, Linear)? in
            guard let x = a.module as? Linear, let y = b.module as? Linear else { return nil }
            return (x, y)
        }
        XCTAssertEqual(pairs.count, layers)
        for (a, b) in pairs { XCTAssertEqual(a.quantized?.values, b.quantized?.values) }
        let again = withNoGrad { loaded(source: source, targetInput: target) }
        XCTAssertEqual(again.scalars.count, int8.scalars.count)
        for (a, b) in zip(again.scalars, int8.scalars) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        // an int8 checkpoint whose values are not int8 is refused, naming the tensor
        var bad = tensors
        bad["outputProjection.weight"] = bad["outputProjection.weight"]! * 0.5
        try Safetensors.write(
            bad.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }, metadata: meta,
            to: tmp.appendingPathComponent("bad.safetensors"))
        XCTAssertThrowsError(
            try ModelFile.load(Seq2SeqTransformer.self, from: tmp.appendingPathComponent("bad.safetensors"))
        ) {
            XCTAssertTrue("\($0)".contains("outputProjection.weight"), "\($0)")
        }
    }

    func directoryBytes(_ dir: String) throws -> Int {
        let fm = FileManager.default
        var total = 0
        for name in try fm.subpathsOfDirectory(atPath: dir) {
            total += (try fm.attributesOfItem(atPath: dir + "/" + name)[.size] as? Int) ?? 0
        }
        return total
    }

    /// `attn quantize` on trained runs of each task: the int8 run directory is at most a third of the float one on
    /// disk, every inference verb loads it and gives what `--int8` on the float run gives; the errors: quantizing an
    /// int8 run, an --out that exists, resuming an int8 run, --init-from an int8 run.
    func testQuantizeVerbEndToEnd() throws {
        let corpora = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../corpora"
        ).standardized.path
        for args in [
            [
                "train", "translation", "--source", corpora + "/multi30k-sample/train.de", "--target",
                corpora + "/multi30k-sample/train.en", "--out", path("tr"), "--epochs", "1", "--d-model", "64",
                "--heads", "2", "--layers", "1", "--feed-forward", "128", "--warmup-steps", "1", "--min-frequency", "1"
            ],
            [
                "train", "classifier", "--format", "trec", "--data", corpora + "/trec-sample/train.label", "--out",
                path("cls"), "--epochs", "1", "--d-model", "64", "--heads", "2", "--layers", "1", "--feed-forward",
                "128"
            ],
            [
                "train", "vit", "--data", corpora + "/cifar10-sample", "--out", path("vit"), "--epochs", "1",
                "--d-model", "64", "--heads", "2", "--depth", "1", "--batch-size", "64", "--limit", "256"
            ]
        ] {
            let r = try runAttn(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.err)")
        }
        for run in ["tr", "cls", "vit"] {
            let r = try runAttn(["quantize", "--checkpoint", path(run)])
            XCTAssertEqual(r.status, 0, r.err)
            let last = try XCTUnwrap(r.out.split(separator: "\n").last)
            let json = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], String(last))
            XCTAssertEqual(json["out"] as? String, path(run) + "-int8")
            let floatBytes = try XCTUnwrap(json["float_bytes"] as? Int),
                int8Bytes = try XCTUnwrap(json["int8_bytes"] as? Int)
            // these test models are tiny (d 64, one layer): their float scales, biases, norms and position tables
            // weigh more than in a real model (a third or less there, see the note)
            XCTAssertLessThanOrEqual(
                Double(int8Bytes), 0.45 * Double(floatBytes), "\(run): \(int8Bytes) of \(floatBytes) bytes")
            XCTAssertLessThanOrEqual(
                try directoryBytes(path(run + "-int8")) * 3, try directoryBytes(path(run)),
                "\(run): the run directories")
            let config = try String(contentsOfFile: path(run + "-int8/config.json"), encoding: .utf8)
            XCTAssertTrue(config.contains("\"quantization\"") && config.contains("\"method\" : \"int8\""), config)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path(run + "-int8/resume.safetensors")))
        }
        let image = corpora + "/cifar10-sample/data_batch_1.bin:3"
        for (float, int8) in [
            (["translate", "--checkpoint", path("tr"), "--text", "Ein Mann fährt Fahrrad .", "--json"], "tr-int8"),
            (
                ["classify", "--checkpoint", path("cls"), "--text", "Who wrote Hamlet ?", "--top", "3", "--json"],
                "cls-int8"
            ),
            (["predict", "--checkpoint", path("vit"), "--image", image, "--top", "3", "--json"], "vit-int8")
        ] {
            let inMemory = try runAttn(float + ["--int8"])
            let fromDisk = try runAttn(float.map { $0 == path(String(int8.dropLast(5))) ? path(int8) : $0 })
            XCTAssertEqual(inMemory.status, 0, inMemory.err)
            XCTAssertEqual(fromDisk.status, 0, fromDisk.err)
            XCTAssertEqual(inMemory.out, fromDisk.out, "\(float[0]): --int8 and the int8 run agree")
        }
        for args in [
            ["evaluate", "--checkpoint", path("cls-int8"), "--data", corpora + "/trec-sample/train.label", "--json"],
            [
                "evaluate", "--checkpoint", path("vit-int8"), "--data", corpora + "/cifar10-sample/data_batch_1.bin",
                "--json"
            ],
            ["attention", "--checkpoint", path("tr-int8"), "--text", "Ein Hund .", "--out", path("att")]
        ] {
            let r = try runAttn(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.err)")
        }
        let errors: [([String], String)] = [
            (["quantize", "--checkpoint", path("tr-int8")], "already an int8 run"),
            (["quantize", "--checkpoint", path("tr")], "exists; pass --overwrite"),
            (["quantize", "--checkpoint", path("tr"), "--out", path("tr")], "is the run itself"),
            (
                [
                    "train", "classifier", "--format", "trec", "--data", corpora + "/trec-sample/train.label", "--out",
                    path("cls-int8"), "--epochs", "2", "--d-model", "16", "--heads", "2", "--layers", "1",
                    "--feed-forward", "32", "--resume"
                ], "int8 run (attn quantize) is for inference"
            ),
            (
                [
                    "train", "classifier", "--format", "trec", "--data", corpora + "/trec-sample/train.label", "--out",
                    path("cls-ft"), "--epochs", "1", "--d-model", "16", "--heads", "2", "--layers", "1",
                    "--feed-forward", "32", "--init-from", path("cls-int8")
                ], "int8 checkpoint (attn quantize) is for inference"
            )
        ]
        for (args, message) in errors {
            let r = try runAttn(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.err.contains(message), "\(args): \(r.err)")
        }
        XCTAssertEqual(try runAttn(["quantize", "--checkpoint", path("tr"), "--overwrite"]).status, 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: tmp.path).filter {
            $0.contains(".partial-")
        }
        XCTAssertEqual(leftovers, [])
    }

    /// oneDNN 2.6's AMX GEMMs ran inference 1.4–2× slower than its AVX-512 VNNI ones (Emerald Rapids): unless the
    /// user chose an ISA, AttentionKit keeps it below AMX (`OneDNNSetup`). Fails on an AMX host without the cap.
    func testOneDNNIsKeptOffAMXUnlessTheUserChose() throws {
        try XCTSkipIf(
            getenv("ONEDNN_MAX_CPU_ISA") != nil || getenv("DNNL_MAX_CPU_ISA") != nil, "the user chose oneDNN's ISA")
        XCTAssertNotEqual(Int8GEMM.isa, "avx512_core_amx")
        XCTAssertNotEqual(Int8GEMM.isa, "other")
    }
}

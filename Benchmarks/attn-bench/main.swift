// attn-bench: AttentionKit's benchmark runner. Prints one JSON line per workload.
// Usage: swift run -c release attn-bench [WORKLOAD…]   (no argument: all workloads; `--list` lists them)
import AttentionKit
import COpenBLAS
import Foundation

/// Seconds since an arbitrary origin (monotonic).
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Reads a `VmRSS`/`VmHWM`-style field of /proc/self/status, in MiB.
/// Tensor buffers alive at the peak so far, MiB (`BufferCache.peakLiveBytes`).
func peakTensorMiB() -> Double { Double(BufferCache.shared.peakLiveBytes) / 1_048_576 }

func procStatusMiB(_ field: String) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? -1
        return kb / 1024
    }
    return -1
}

/// Prints one JSON object on one line, keys in the given order.
func emit(_ fields: [(String, Any)]) {
    let parts = fields.map { key, value -> String in
        let v: String
        switch value {
        case let s as String: v = "\"\(s)\""
        case let d as Double: v = d.isFinite ? String(format: "%.4g", d) : "null"
        case let i as Int: v = String(i)
        default: v = "\"\(value)\""
        }
        return "\"\(key)\": \(v)"
    }
    print("{" + parts.joined(separator: ", ") + "}")
    fflush(nil)  // flush all streams (one JSON line at a time when piped)
}

/// Runs `body` repeatedly for at least `minTime` seconds (after one warm-up) and returns the median seconds per call.
func medianTime(minTime: Double = 0.5, minRuns: Int = 7, _ body: () -> Void) -> (median: Double, runs: Int) {
    body()
    var times: [Double] = []
    let start = now()
    while times.count < minRuns || now() - start < minTime {
        let t0 = now()
        body()
        times.append(now() - t0)
    }
    times.sort()
    return (times[times.count / 2], times.count)
}

// MARK: workloads

func benchMatmul() {
    var rng = RandomGenerator(seed: 1)
    for n in [64, 256, 1024, 2048] {
        let a = Tensor.normal([n, n], using: &rng), b = Tensor.normal([n, n], using: &rng)
        let flops = 2 * Double(n) * Double(n) * Double(n)
        let ours = withNoGrad { medianTime { _ = matmul(a, b) } }
        // Raw cblas_sgemm into a preallocated buffer, with OpenBLAS's own threads (as a direct user would call it):
        // the ceiling. AttentionKit runs OpenBLAS single-threaded and splits GEMMs itself, so restore that after.
        openblas_set_num_threads(Int32(Parallel.threads))
        defer { openblas_set_num_threads(1) }
        var c = [Float](repeating: 0, count: n * n)
        let raw = a.withUnsafeFloats { pa in
            b.withUnsafeFloats { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    medianTime {
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                            pa.baseAddress, Int32(n), pb.baseAddress, Int32(n), 0, pc.baseAddress, Int32(n))
                    }
                }
            }
        }
        let g = flops / ours.median / 1e9, cg = flops / raw.median / 1e9
        emit([
            ("workload", "matmul_\(n)"), ("gflops", g), ("cblas_gflops", cg), ("ratio", g / cg), ("runs", ours.runs),
            ("blas_kernels", BLASKernels.name + (BLASKernels.switched ? " (switched from OpenBLAS's fallback)" : ""))
        ])
    }
}

func benchMLPTrain() {
    // 2-layer MLP, batch 256, 256 → 512 → 10, ReLU, cross-entropy (log-softmax + gather), SGD momentum 0.9.
    var rng = RandomGenerator(seed: 2)
    let (batch, inDim, hidden, classes, steps) = (256, 256, 512, 10, 1000)
    let x = Tensor.normal([batch, inDim], using: &rng)
    let y = Tensor((0..<batch).map { Float($0 % classes) }, shape: [batch, 1])
    let w1 = (Tensor.normal([inDim, hidden], using: &rng) * 0.05).requiringGrad()
    let b1 = Tensor.zeros([hidden]).requiringGrad()
    let w2 = (Tensor.normal([hidden, classes], using: &rng) * 0.05).requiringGrad()
    let b2 = Tensor.zeros([classes]).requiringGrad()
    let opt = SGD(parameters: [w1, b1, w2, b2], learningRate: 0.05, momentum: 0.9)
    var rss10 = 0.0, hwm10 = 0.0, lastLoss: Float = 0
    let start = now()
    for step in 1...steps {
        let logits = (x.matmul(w1) + b1).relu().matmul(w2) + b2
        let loss = -logits.logSoftmax(axis: 1).gather(axis: 1, index: y).mean()
        opt.zeroGrad()
        loss.backward()
        opt.step()
        lastLoss = loss.item()
        if step == 10 { rss10 = procStatusMiB("VmRSS"); hwm10 = procStatusMiB("VmHWM") }
    }
    let elapsed = now() - start
    emit([
        ("workload", "mlp_train_1000"), ("steps_per_s", Double(steps) / elapsed), ("rss_mb_step10", rss10),
        ("rss_mb_step1000", procStatusMiB("VmRSS")), ("peak_rss_mb_step10", hwm10),
        ("peak_rss_mb_step1000", procStatusMiB("VmHWM")), ("final_loss", Double(lastLoss))
    ])
}

func benchCNNTrainStep() {
    // conv3×3(3→32)+BN+ReLU+maxpool2, 32→64, 64→128, flatten, Linear 2048→256, ReLU, Linear 256→10;
    // cross-entropy; SGD momentum 0.9; batch 128 of 3×32×32; median of 5 steps after 2 warm-up steps.
    var rng = RandomGenerator(seed: 3)
    let model = SmallCNN(using: &rng)
    let opt = SGD(parameters: model.parameters, learningRate: 0.01, momentum: 0.9)
    let x = Tensor.normal([128, 3, 32, 32], using: &rng)
    let y = Tensor((0..<128).map { Float($0 % 10) }, shape: [128])
    func step() {
        let loss = Loss.crossEntropy(model(x), y)
        opt.zeroGrad()
        loss.backward()
        opt.step()
    }
    emit([
        ("workload", "cnn_train_step_b128"), ("unit", "s"), ("median", stepMedian(step)), ("runs", timedSteps),
        ("peak_rss_mb", procStatusMiB("VmHWM"))
    ])
}

func benchBPEEncode() {
    // Encode Multi30k train.en + train.de (../shared) with the byte-level BPE that Benchmarks/torch/bench_tokenizers.py
    // trains with Hugging Face and saves; one thread, each line encoded separately, as the twin does.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let tokURL = root.appendingPathComponent(".build-bench/multi30k-bpe8000.json")
    let files = ["train.en", "train.de"].map {
        root.deletingLastPathComponent().appendingPathComponent("shared/data/multi30k/\($0)")
    }
    guard let tokenizer = try? Tokenizer.load(from: tokURL),
        let lines = try? files.flatMap({ try TextFile.lines(of: $0).map(\.text) })
    else {
        FileHandle.standardError.write(
            "bpe_encode: needs ../shared/data/multi30k and \(tokURL.path) (run Benchmarks/torch/bench_tokenizers.py first)\n"
                .data(using: .utf8)!)
        return
    }
    let bytes = lines.reduce(0) { $0 + $1.utf8.count + 1 }
    var tokens = 0
    let t0 = now()
    for l in lines { tokens += tokenizer.encode(l, addSpecialTokens: false).ids.count }
    let cold = now() - t0
    let warm = medianTime(minTime: 1, minRuns: 3) {
        for l in lines { _ = tokenizer.encode(l, addSpecialTokens: false) }
    }.median
    // a single 1 MB line (the sample repeated): linear-time check
    var big = "", bigBytes = 0, k = 0
    while bigBytes < 1 << 20 {
        big += lines[k % lines.count] + " "; bigBytes += lines[k % lines.count].utf8.count + 1; k += 1
    }
    let t1 = now()
    let bigTokens = tokenizer.encode(big, addSpecialTokens: false).ids.count
    let bigSeconds = now() - t1
    emit([
        ("workload", "bpe_encode_multi30k"), ("mb_per_s", Double(bytes) / 1e6 / warm),
        ("cold_mb_per_s", Double(bytes) / 1e6 / cold),
        ("lines", lines.count), ("tokens", tokens), ("threads", 1), ("one_mb_line_seconds", bigSeconds),
        ("one_mb_line_tokens", bigTokens)
    ])
}

func benchAttention() {
    // The ViT's attention shape: B 128, H 4, T 65 (64 patches + CLS), Dh 32; forward + backward with an upstream
    // gradient of ones. Three ways: the fused op on split heads [B, H, T, Dh] (PyTorch's F.scaled_dot_product_attention
    // layout); the fused op reading heads in place from a packed [B, T, 3D] projection (what MultiHeadAttention runs);
    // and the same math composed from matmul/softmax primitives.
    var rng = RandomGenerator(seed: 4)
    let (b, h, t, dh) = (128, 4, 65, 32)
    let q = Tensor.normal([b, h, t, dh], using: &rng).requiringGrad()
    let k = Tensor.normal([b, h, t, dh], using: &rng).requiringGrad()
    let v = Tensor.normal([b, h, t, dh], using: &rng).requiringGrad()
    let g = Tensor.ones([b, h, t, dh])
    let fused = medianTime(minTime: 1, minRuns: 7) {
        for x in [q, k, v] { x.zeroGrad() }
        scaledDotProductAttention(q, k, v).output.backward(g)
    }
    let scale = 1 / Float(dh).squareRoot()
    let composed = medianTime(minTime: 1, minRuns: 7) {
        for x in [q, k, v] { x.zeroGrad() }
        let p = (matmul(q, k, transposeB: true) * scale).softmax(axis: -1)
        matmul(p, v).backward(g)
    }
    let mha = MultiHeadAttention(dModel: h * dh, heads: h, using: &rng)
    let x = Tensor.normal([b, t, h * dh], using: &rng).requiringGrad()
    let gm = Tensor.ones([b, t, h * dh])
    let module = medianTime(minTime: 1, minRuns: 5) {
        x.zeroGrad(); mha.zeroGrad()
        mha(x).backward(gm)
    }
    emit([
        ("workload", "attention_b128"), ("unit", "s"), ("median", fused.median), ("composed_median", composed.median),
        ("fused_speedup_over_composed", composed.median / fused.median), ("mha_layer_median", module.median),
        ("runs", fused.runs), ("shape", "B128 H4 T65 Dh32")
    ])
}

func benchSeq2SeqStep() {
    // One Adam step of a Seq2SeqTransformer at the Multi30k recipe's size: 3+3 layers, d 256, 8 heads, ff 512,
    // vocabularies 8,000, batch 128 pairs of 16 source and 16 target tokens, label-smoothed cross-entropy.
    var rng = RandomGenerator(seed: 5)
    var c = Seq2SeqConfig(sourceVocabulary: 8000, targetVocabulary: 8000)
    c.dModel = 256; c.heads = 8; c.encoderLayers = 3; c.decoderLayers = 3; c.feedForward = 512; c.dropout = 0.1
    let model = Seq2SeqTransformer(c, using: &rng)
    let opt = Adam(parameters: model.parameters, learningRate: 5e-4)
    let (b, s, t) = (128, 16, 16)
    let src = (0..<b).map { _ in (0..<s).map { _ in 3 + Int(rng.next() % 7997) } }
    let tin = (0..<b).map { _ in (0..<t).map { _ in 3 + Int(rng.next() % 7997) } }
    let tout = tin.flatMap { $0 }
    func step() {
        let loss = Loss.crossEntropy(
            model(source: src, targetInput: tin).reshape([-1, 8000]), tout, labelSmoothing: 0.1)
        opt.zeroGrad(); loss.backward(); opt.step()
    }
    let median = stepMedian(runs: 5, step)
    emit([
        ("workload", "seq2seq_train_step_b128"), ("unit", "s"), ("median", median),
        ("target_tokens_per_s", Double(b * t) / median),
        ("runs", 5), ("peak_rss_mb", procStatusMiB("VmHWM"))
    ])
}

// MARK: issue 12's model workloads (each has a twin in Benchmarks/torch/bench_models.py; Benchmarks/run.py runs both)

/// Median seconds of `runs` calls of `step` after `warmup` calls.
/// Timed steps of the training workloads (after 2 warm-up steps): `BENCH_STEPS`, default 5. The twins read the same
/// variable; `Benchmarks/run.py` sets it (15) for both sides.
let timedSteps: Int = {
    if let t = getenv("BENCH_STEPS"), let n = Int(String(cString: t)), n > 0 { return n }; return 5
}()

/// Whether the float inference workloads pack their `Linear` weights first, as the inference verbs (and ONNX Runtime
/// and CTranslate2) do when they load a model: yes unless `BENCH_NO_PACK=1` (to measure the BLAS path).
let packs = getenv("BENCH_NO_PACK") == nil

func stepMedian(warmup: Int = 2, runs: Int = timedSteps, _ step: () -> Void) -> Double {
    for _ in 0..<warmup { step() }
    var times: [Double] = []
    for _ in 0..<runs { let t0 = now(); step(); times.append(now() - t0) }
    times.sort()
    return times[times.count / 2]
}

/// The benchmark ViT: 32×32, patch 4, d 128, 6 pre-norm layers, 4 heads, MLP 512, GELU, no dropout, CLS token.
func benchViT(using rng: inout RandomGenerator) -> VisionTransformer {
    var c = ViTConfig()
    c.dModel = 128; c.depth = 6; c.heads = 4; c.mlpRatio = 4; c.dropout = 0; c.attentionDropout = 0; c.dropPath = 0
    return VisionTransformer(config: c, using: &rng)
}

/// Forward FLOPs of that ViT per image (multiply-adds × 2): patch embedding, per layer QKV, scores, weighted
/// values, output projection and MLP, and the head.
/// The last layer computes only the class token's row (VisionTransformer's class-token path): keys and values of all
/// 65 positions, and the query, attention, projection and MLP of one row — counted as performed.
let vitForwardFLOPs: Double = {
    let t = 65.0, d = 128.0, n = 64.0
    func layer(queries q: Double) -> Double {
        2 * t * d * 2 * d + 2 * q * d * d + 2 * 2 * q * t * d + 2 * q * d * d + 2 * 2 * q * d * 4 * d
    }
    return 2 * n * 48 * d + 5 * layer(queries: t) + layer(queries: 1) + 2 * d * 10
}()

func benchViTTrainStep() {
    var rng = RandomGenerator(seed: 6)
    let model = benchViT(using: &rng)
    let opt = AdamW(ParameterGroup.weightDecayGroups(model, weightDecay: 0.05), learningRate: 1e-3, weightDecay: 0.05)
    let x = Tensor.normal([128, 3, 32, 32], using: &rng), y = Tensor((0..<128).map { Float($0 % 10) }, shape: [128])
    let t = stepMedian {
        let loss = Loss.crossEntropy(model(x), y)
        opt.zeroGrad(); loss.backward(); opt.step()
    }
    emit([
        ("workload", "vit_train_step_b128"), ("unit", "s"), ("median", t), ("runs", timedSteps),
        ("peak_rss_mb", procStatusMiB("VmHWM")), ("peak_tensor_mb", peakTensorMiB()),
        ("gflops", 3 * vitForwardFLOPs * 128 / t / 1e9)
    ])
}

func benchViTInfer(batch: Int, int8: Bool = false) {
    var rng = RandomGenerator(seed: 7)
    let model = benchViT(using: &rng)
    model.eval()
    if int8 { Quantization.quantize(model) } else if packs { WeightPacking.pack(model) }
    let x = Tensor.normal([batch, 3, 32, 32], using: &rng)
    benchInference("vit_infer_b\(batch)" + (int8 ? "_int8" : ""), batch: batch, unit: "img/s") { _ = model(x) }
}

/// An inference workload's line: batch 1 in milliseconds (≥ 20 runs), larger batches in items per second.
func benchInference(_ name: String, batch: Int, unit: String, _ body: () -> Void) {
    if batch == 1 {
        let t = withNoGrad { medianTime(minTime: 1, minRuns: 20) { body() } }
        emit([
            ("workload", name), ("unit", "ms"), ("median", t.median * 1000), ("runs", t.runs),
            ("peak_rss_mb", procStatusMiB("VmHWM"))
        ])
    } else {
        let t = withNoGrad { medianTime(minTime: 1, minRuns: 5) { body() } }
        emit([
            ("workload", name), ("unit", unit), ("median", Double(batch) / t.median), ("runs", t.runs),
            ("peak_rss_mb", procStatusMiB("VmHWM"))
        ])
    }
}

/// The text classifier of textcls_train_step_b64 (d 128, 2 post-norm layers, 4 heads, ff 256, vocabulary 10,000,
/// masked mean pooling, 6 classes) classifying `batch` sentences of up to 32 tokens (seeded lengths 16…32).
func benchTextClassifierInfer(batch: Int, int8: Bool = false) {
    var rng = RandomGenerator(seed: 9)
    var c = TextClassifierConfig(vocabulary: 10000, classes: 6)
    c.dModel = 128; c.heads = 4; c.layers = 2; c.feedForward = 256; c.dropout = 0.1; c.normFirst = false
    c.pooling = .mean; c.maxLength = 32; c.positions = .sinusoidal; c.activation = .relu
    let model = TextClassifier(config: c, using: &rng)
    model.eval()
    if int8 { Quantization.quantize(model) } else if packs { WeightPacking.pack(model) }
    let ids = paddedRows(batch, length: 32, vocabulary: 10000, using: &rng)
    benchInference("textcls_infer_b\(batch)" + (int8 ? "_int8" : ""), batch: batch, unit: "sent/s") { _ = model(ids) }
}

/// The benchmark translator: d 256, 3+3 post-norm layers, 8 heads, ff 512, dropout 0.1, vocabularies 8,000 / 6,000,
/// sinusoidal positions (embeddings scaled by √d), untied output; pad 0, BOS 1, EOS 2.
func benchSeq2Seq(using rng: inout RandomGenerator) -> Seq2SeqTransformer {
    var c = Seq2SeqConfig(sourceVocabulary: 8000, targetVocabulary: 6000)
    c.dModel = 256; c.heads = 8; c.encoderLayers = 3; c.decoderLayers = 3; c.feedForward = 512; c.dropout = 0.1
    c.normFirst = false; c.positions = .sinusoidal; c.maxLength = 64; c.activation = .relu
    return Seq2SeqTransformer(c, using: &rng)
}

/// Rows of ids in 3..<vocabulary with seeded lengths in [length/2, length], right-padded with 0 to `length`.
func paddedRows(_ n: Int, length: Int, vocabulary: Int, using rng: inout RandomGenerator) -> [[Int]] {
    (0..<n).map { _ in
        let l = length / 2 + Int(rng.next() % UInt64(length / 2 + 1))
        return (0..<l).map { _ in 3 + Int(rng.next() % UInt64(vocabulary - 3)) }
            + Array(repeating: 0, count: length - l)
    }
}

func benchSeq2SeqTrainStep() {
    var rng = RandomGenerator(seed: 8)
    let model = benchSeq2Seq(using: &rng)
    let opt = Adam(parameters: model.parameters, learningRate: 5e-4)
    let src = paddedRows(64, length: 24, vocabulary: 8000, using: &rng),
        tgt = paddedRows(64, length: 25, vocabulary: 6000, using: &rng)
    let tin = tgt.map { Array($0.dropLast()) }, tout = tgt.flatMap { $0.dropFirst() }
    let t = stepMedian {
        let loss = Loss.crossEntropy(model(source: src, targetInput: tin).reshape([-1, 6000]), tout, ignoreIndex: 0)
        opt.zeroGrad(); loss.backward(); opt.step()
    }
    emit([
        ("workload", "seq2seq_train_step_b64"), ("unit", "s"), ("median", t), ("runs", timedSteps),
        ("peak_rss_mb", procStatusMiB("VmHWM")), ("peak_tensor_mb", peakTensorMiB())
    ])
}

func benchTextClassifierTrainStep() {
    var rng = RandomGenerator(seed: 9)
    var c = TextClassifierConfig(vocabulary: 10000, classes: 6)
    c.dModel = 128; c.heads = 4; c.layers = 2; c.feedForward = 256; c.dropout = 0.1; c.normFirst = false
    c.pooling = .mean; c.maxLength = 32; c.positions = .sinusoidal; c.activation = .relu
    let model = TextClassifier(config: c, using: &rng)
    let opt = Adam(parameters: model.parameters, learningRate: 5e-4)
    let ids = paddedRows(64, length: 32, vocabulary: 10000, using: &rng), y = (0..<64).map { $0 % 6 }
    let t = stepMedian {
        let loss = Loss.crossEntropy(model(ids), y)
        opt.zeroGrad(); loss.backward(); opt.step()
    }
    emit([
        ("workload", "textcls_train_step_b64"), ("unit", "s"), ("median", t), ("runs", timedSteps),
        ("peak_rss_mb", procStatusMiB("VmHWM")), ("peak_tensor_mb", peakTensorMiB())
    ])
}

func benchTranslateBeam5(int8: Bool = false) {
    var rng = RandomGenerator(seed: 10)
    let model = benchSeq2Seq(using: &rng)
    model.eval()
    if int8 { Quantization.quantize(model) } else if packs { WeightPacking.pack(model) }
    // 64 sentences of 24 source tokens (23 + EOS), beam 5, at most 24 output tokens
    let src = (0..<64).map { _ in (0..<23).map { _ in 3 + Int(rng.next() % 7997) } + [2] }
    let t = stepMedian(warmup: 1, runs: 3) {
        _ = model.beamSearch(src, beamSize: 5, maxLength: 24, lengthPenalty: 0.6, nBest: 1)
    }
    emit([
        ("workload", "translate_beam5" + (int8 ? "_int8" : "")), ("unit", "sent/s"), ("median", 64 / t), ("runs", 3),
        ("peak_rss_mb", procStatusMiB("VmHWM"))
    ])
}

func benchBPETrain() {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let files = ["train.en", "train.de"].map {
        root.deletingLastPathComponent().appendingPathComponent("shared/data/multi30k/\($0)")
    }
    guard let lines = try? files.flatMap({ try TextFile.lines(of: $0).map(\.text) }) else {
        FileHandle.standardError.write("bpe_train_multi30k: needs ../shared/data/multi30k\n".data(using: .utf8)!)
        return
    }
    let t0 = now()
    let tok = TokenizerRecipe.byteLevelBPE(vocabularySize: 8000).train(on: lines)
    let t = now() - t0
    emit([
        ("workload", "bpe_train_multi30k"), ("unit", "s"), ("median", t), ("runs", 1),
        ("vocabulary", tok.vocabularySize),
        ("peak_rss_mb", procStatusMiB("VmHWM"))
    ])
}

/// nanoGPT's CPU character model (shakespeare_char with --block_size=64 --batch_size=12 --n_layer=4 --n_head=4
/// --n_embd=128 --dropout=0.0 --bias=True): vocabulary 65, learned positions, tied head.
func benchGPT(blockSize: Int = 64, using rng: inout RandomGenerator) -> GPT {
    var c = GPTConfig(vocabulary: 65)
    (c.blockSize, c.layers, c.heads, c.dModel, c.dropout) = (blockSize, 4, 4, 128, 0)
    return GPT(config: c, using: &rng)
}

/// One nanoGPT training iteration: forward and loss on 12 random windows of 64 tokens, backward, clipping at 1,
/// AdamW (β₂ 0.99, weight decay 0.1).
func benchLMTrainStep() {
    var rng = RandomGenerator(seed: 12)
    let model = benchGPT(using: &rng)
    let opt = AdamW(
        ParameterGroup.weightDecayGroups(model, weightDecay: 0.1), learningRate: 1e-3, beta2: 0.99, weightDecay: 0.1)
    let rows = (0..<12).map { _ in (0..<65).map { _ in Int(rng.next() % 65) } }
    let x = rows.map { Array($0.dropLast()) }, y = rows.map { Array($0.dropFirst()) }
    let t = stepMedian {
        let loss = model.loss(x, targets: y)
        opt.zeroGrad(); loss.backward()
        _ = try? clipGradientNorm(opt.allParameters, maxNorm: 1, step: 1)
        opt.step()
    }
    emit([
        ("workload", "lm_train_step"), ("unit", "s"), ("median", t), ("runs", timedSteps),
        ("peak_rss_mb", procStatusMiB("VmHWM")), ("peak_tensor_mb", peakTensorMiB())
    ])
}

/// 256 new tokens after a one-token prompt, greedy, with the key/value cache, for `batch` rows (a context of 512
/// positions, so that no window slides).
func benchLMGenerate(batch: Int) {
    var rng = RandomGenerator(seed: 13)
    let model = benchGPT(blockSize: 512, using: &rng)
    let prompts = (0..<batch).map { [$0 % 65] }
    let t = medianTime(minTime: 1, minRuns: 3) {
        var g = RandomGenerator(seed: 0)
        _ = model.generate(prompts, maxNewTokens: 256, sampling: Sampling(temperature: 0), using: &g)
    }
    emit([
        ("workload", "lm_generate_b\(batch)"), ("unit", "tok/s"), ("median", Double(batch * 256) / t.median),
        ("runs", t.runs),
        ("peak_rss_mb", procStatusMiB("VmHWM"))
    ])
}

/// A 2-layer LSTM (input and hidden 256) over 64 sequences of 32 steps, a linear head to 32 classes per step,
/// cross-entropy, backward through time and an Adam step (PyTorch's nn.LSTM on oneDNN/its CPU kernels as the twin).
func benchLSTMTrainStep() {
    var rng = RandomGenerator(seed: 14)
    let lstm = LSTM(256, 256, layers: 2, using: &rng), head = Linear(256, 32, using: &rng)
    let opt = Adam([ParameterGroup(lstm.parameters + head.parameters)], learningRate: 1e-3)
    let x = Tensor.normal([64, 32, 256], using: &rng)
    let targets = (0..<(64 * 32)).map { _ in Int(rng.next() % 32) }
    let t = stepMedian {
        let (y, _) = lstm(x)
        let loss = Loss.crossEntropy(head(y).reshape([64 * 32, 32]), targets)
        opt.zeroGrad(); loss.backward()
        opt.step()
    }
    emit([
        ("workload", "lstm_train_step"), ("unit", "s"), ("median", t), ("runs", timedSteps),
        ("peak_rss_mb", procStatusMiB("VmHWM")), ("peak_tensor_mb", peakTensorMiB())
    ])
}

/// `attn train translation --model rnn`'s RecurrentTranslator (bidirectional GRU encoder, GRU decoder with Bahdanau's
/// additive attention and Luong's input feeding, embeddings and hidden 256, dropout 0.2) on 64 pairs of 24 source and
/// 24 target tokens (vocabularies 8,000 → 6,000): teacher-forced cross-entropy, backward through time, an Adam step.
func benchGRUSeq2SeqTrainStep() {
    var rng = RandomGenerator(seed: 15)
    let model = RecurrentTranslator(
        config: RecurrentTranslatorConfig(sourceVocabulary: 8000, targetVocabulary: 6000), using: &rng)
    let opt = Adam([ParameterGroup(model.parameters)], learningRate: 1e-3)
    let source = (0..<64).map { _ in (0..<24).map { _ in 3 + Int(rng.next() % 7997) } }
    let target = (0..<64).map { _ in (0..<25).map { _ in 3 + Int(rng.next() % 5997) } }
    let input = target.map { Array($0.dropLast()) }, output = target.flatMap { $0.dropFirst() }
    let t = stepMedian {
        let loss = Loss.crossEntropy(model(source: source, targetInput: input).reshape([64 * 24, 6000]), output)
        opt.zeroGrad(); loss.backward()
        opt.step()
    }
    emit([
        ("workload", "gru_seq2seq_train_step"), ("unit", "s"), ("median", t), ("runs", timedSteps),
        ("peak_rss_mb", procStatusMiB("VmHWM")), ("peak_tensor_mb", peakTensorMiB())
    ])
}

/// Issue 30's data pipeline: one epoch over a folder of JPEGs (`BENCH_IMAGE_FOLDER`, made by Benchmarks/run.py:
/// 5,000 photos of 320×240 in 10 class folders) at 224×224, batches of 64 — decode (libjpeg-turbo), shorter side to
/// 224 and centre crop, then per batch a random crop (pad 28) and flip, normalised with ImageNet's statistics. The
/// first epoch decodes every file (what torchvision's ImageFolder + DataLoader do every epoch); later epochs reuse
/// the decoded pixels (`steady_img_per_s`).
func benchImageFolderEpoch() {
    guard let dir = getenv("BENCH_IMAGE_FOLDER").map({ String(cString: $0) }) else {
        FileHandle.standardError.write(
            "attn-bench: image_folder_epoch needs BENCH_IMAGE_FOLDER (Benchmarks/run.py makes it)\n".data(using: .utf8)!
        )
        exit(2)
    }
    let norm = ImageNormalization.imagenet
    func epoch(_ batches: inout CIFARBatches) -> Int {
        var n = 0
        while let b = batches.next() { n += b.images.shape[0] }
        return n
    }
    let start = now()
    let data: CIFAR10
    do { data = try ImageFolder.read(URL(fileURLWithPath: dir), side: 224) } catch {
        FileHandle.standardError.write("attn-bench: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
    var batches = CIFARBatches(
        data, batchSize: 64, mean: norm.mean, std: norm.std, augmentation: .standard(side: 224), shuffle: true, seed: 0)
    let n = epoch(&batches)
    let first = now() - start
    batches.startNextEpoch()
    let again = now()
    _ = epoch(&batches)
    let steady = now() - again
    emit([
        ("workload", "image_folder_epoch"), ("unit", "img/s"), ("median", Double(n) / first), ("runs", 1),
        ("images", Double(n)),
        ("steady_img_per_s", Double(n) / steady), ("peak_rss_mb", procStatusMiB("VmHWM"))
    ])
}

let workloads: [(String, () -> Void)] = [
    ("vit_train_step_b128", benchViTTrainStep), ("vit_infer_b1", { benchViTInfer(batch: 1) }),
    ("vit_infer_b256", { benchViTInfer(batch: 256) }), ("seq2seq_train_step_b64", benchSeq2SeqTrainStep),
    ("textcls_train_step_b64", benchTextClassifierTrainStep), ("translate_beam5", { benchTranslateBeam5() }),
    ("bpe_train_multi30k", benchBPETrain),
    ("seq2seq_train_step_b128", benchSeq2SeqStep), ("attention_b128", benchAttention), ("bpe_encode", benchBPEEncode),
    ("matmul", benchMatmul), ("mlp_train", benchMLPTrain), ("cnn_train_step_b128", benchCNNTrainStep),
    ("lm_train_step", benchLMTrainStep), ("lm_generate_b1", { benchLMGenerate(batch: 1) }),
    ("lm_generate_b8", { benchLMGenerate(batch: 8) }),
    ("lstm_train_step", benchLSTMTrainStep), ("gru_seq2seq_train_step", benchGRUSeq2SeqTrainStep),
    ("image_folder_epoch", benchImageFolderEpoch),
    // int8 (Quantization) and inference twins of ONNX Runtime's and CTranslate2's workloads (issue 27)
    ("vit_infer_b1_int8", { benchViTInfer(batch: 1, int8: true) }),
    ("vit_infer_b256_int8", { benchViTInfer(batch: 256, int8: true) }),
    ("textcls_infer_b1", { benchTextClassifierInfer(batch: 1) }),
    ("textcls_infer_b256", { benchTextClassifierInfer(batch: 256) }),
    ("textcls_infer_b1_int8", { benchTextClassifierInfer(batch: 1, int8: true) }),
    ("textcls_infer_b256_int8", { benchTextClassifierInfer(batch: 256, int8: true) }),
    ("translate_beam5_int8", { benchTranslateBeam5(int8: true) })
]
var requested = Array(CommandLine.arguments.dropFirst())
if requested.contains("--list") || requested.contains("--help") || requested.contains("-h") {
    print("usage: attn-bench [WORKLOAD…]\nworkloads: " + workloads.map(\.0).joined(separator: ", "))
    exit(0)
}
if requested.isEmpty { requested = workloads.map(\.0) }
for name in requested {
    guard let w = workloads.first(where: { $0.0 == name }) else {
        FileHandle.standardError.write(
            "attn-bench: unknown workload '\(name)' (known: \(workloads.map(\.0).joined(separator: ", ")))\n".data(
                using: .utf8)!)
        exit(2)
    }
    w.1()
}

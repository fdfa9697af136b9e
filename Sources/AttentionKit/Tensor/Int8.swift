import CDNNL
import CKernels
import Foundation

/// A weight matrix [rows, columns] quantized to int8 with one symmetric scale per row (per output feature), as
/// CTranslate2's and PyTorch's `quantize_dynamic` int8 weights: `W[r, c] ≈ scales[r] · values[r, c]`, values in
/// −127…127, `scales[r] = max|W[r, :]| / 127`. Quantizing the dequantized matrix again gives the same values.
public final class Int8Matrix: @unchecked Sendable {
    /// The shape [rows, columns].
    public let rows: Int, columns: Int
    /// The int8 values, row-major.
    public let values: [Int8]
    /// One scale per row.
    public let scales: [Float]
    /// Σ_c values[r, c] per row: the GEMM's correction for the activations' zero points.
    let rowSums: [Int32]

    /// `weight` [rows, columns] (float32) quantized per row.
    public init(quantizing weight: Tensor) {
        precondition(weight.rank == 2 && weight.dtype == .float32, "Int8Matrix: a float32 matrix, not \(weight.shape)")
        let rows = weight.shape[0], n = weight.shape[1]
        var values = [Int8](repeating: 0, count: rows * n), scales = [Float](repeating: 0, count: rows)
        var sums = [Int32](repeating: 0, count: rows)
        weight.withUnsafeFloats { w in
            values.withUnsafeMutableBufferPointer { q in
                for r in 0..<rows {
                    let row = w.baseAddress! + r * n
                    var m: Float = 0
                    for c in 0..<n { m = max(m, abs(row[c])) }
                    let scale = m > 0 ? m / 127 : 1
                    let inverse = 1 / scale
                    var s: Int32 = 0
                    for c in 0..<n {
                        let v = Int8(max(-127, min(127, (row[c] * inverse).rounded(.toNearestOrEven))))
                        q[r * n + c] = v
                        s += Int32(v)
                    }
                    scales[r] = scale
                    sums[r] = s
                }
            }
        }
        (self.rows, columns, self.values, self.scales, rowSums) = (rows, n, values, scales, sums)
    }

    /// A matrix from its int8 values and per-row scales (as a quantized checkpoint stores them).
    public init(rows: Int, columns: Int, values: [Int8], scales: [Float]) {
        precondition(values.count == rows * columns && scales.count == rows, "Int8Matrix: sizes do not fit")
        (self.rows, self.columns, self.values, self.scales) = (rows, columns, values, scales)
        rowSums = (0..<rows).map { r in values[(r * columns)..<((r + 1) * columns)].reduce(Int32(0)) { $0 + Int32($1) }
        }
    }

    /// The float matrix the values stand for: scales[r] · values[r, c].
    public func dequantized() -> Tensor {
        let out = Tensor(shape: [rows, columns], dtype: .float32, zeroed: false)
        out.withUnsafeMutableFloats { o in
            for r in 0..<rows {
                let s = scales[r]
                for c in 0..<columns { o[r * columns + c] = s * Float(values[r * columns + c]) }
            }
        }
        return out
    }

    /// Bytes the quantized matrix occupies (values and scales).
    public var byteCount: Int { values.count + 4 * scales.count }
}

/// oneDNN's instruction-set ceiling, set once before its first call.
///
/// oneDNN 2.6 (Debian 12) runs its BLAS-like GEMMs on AMX where the CPU has it (Intel Sapphire and Emerald Rapids).
/// On the few-row products of inference that was 1.4–2× slower than its AVX-512 VNNI kernels on an Emerald Rapids
/// host (`vit_infer_b256_int8` 551–565 against 995–1,027 img/s, `attn translate --int8` 8.0 against 4.8–5.4 s). So, unless the
/// user set `ONEDNN_MAX_CPU_ISA` (or `DNNL_MAX_CPU_ISA`), AttentionKit caps it at AVX-512 with VNNI and BF16; a CPU
/// below that keeps its own best (the cap is a maximum).
enum OneDNNSetup {
    static let ready: Void = {
        guard getenv("ONEDNN_MAX_CPU_ISA") == nil, getenv("DNNL_MAX_CPU_ISA") == nil else { return }
        _ = dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core_bf16)
    }()
}

/// int8 GEMM for dynamically quantized inference on oneDNN's `dnnl_gemm_u8s8s32` (int32 accumulation; VNNI's
/// `vpdpbusd` where the CPU has it, AVX2/AVX-512 `vpmaddubsw` otherwise).
///
/// Each activation row is quantized when it arrives, asymmetrically to unsigned 8 bits over its own [min, max]
/// (zero exact): `x ≈ scale · (u − zero)`. Without VNNI the activations use 7 bits (0…127, as PyTorch's fbgemm
/// `reduce_range`): `vpmaddubsw` adds two u8·s8 products in 16 bits, which 255·127·2 would overflow.
public enum Int8GEMM {
    /// Levels of the activations' unsigned range: 255 with VNNI, 127 without.
    public static let activationLevels: Int = {
        _ = OneDNNSetup.ready
        let isa = dnnl_get_effective_cpu_isa().rawValue
        return isa & 0x40 != 0 || isa & 0x400 != 0 ? 255 : 127  // avx512_core_vnni, avx2_vnni
    }()

    /// The CPU instruction set oneDNN dispatches to ("avx512_core_vnni", "avx2", …).
    public static var isa: String {
        _ = OneDNNSetup.ready
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        default: return "other"
        }
    }

    /// The rows of x [.., K] quantized as `linear` quantizes them: `x[i, c] ≈ scales[i] · (values[i, c] − zeros[i])`,
    /// values in 0…`activationLevels`, each row over its own [min(0, min), max(0, max)].
    public static func quantize(rows x: Tensor) -> (values: [UInt8], scales: [Float], zeros: [Int32]) {
        let k = x.shape.last ?? 1
        let m = k > 0 ? x.count / k : 0
        var values = [UInt8](repeating: 0, count: m * k)
        var scales = [Float](repeating: 1, count: m), zeros = [Int32](repeating: 0, count: m)
        x.withUnsafeFloats { px in
            values.withUnsafeMutableBufferPointer { q in
                scales.withUnsafeMutableBufferPointer { s in
                    zeros.withUnsafeMutableBufferPointer { z in
                        quantizeRows(px.baseAddress!, rows: 0..<m, k: k, q.baseAddress!, s.baseAddress!, z.baseAddress!)
                    }
                }
            }
        }
        return (values, scales, zeros)
    }

    /// Quantizes rows `rows` of x [m, k] into q (u8), their scales and zero points.
    static func quantizeRows(
        _ x: UnsafePointer<Float>, rows: Range<Int>, k: Int, _ q: UnsafeMutablePointer<UInt8>,
        _ scales: UnsafeMutablePointer<Float>, _ zeros: UnsafeMutablePointer<Int32>
    ) {
        if Kernels.avx2 {  // the same bits, eight lanes at a time
            let levels = Float(activationLevels)
            for i in rows { ak_quantize_row_avx2(x + i * k, k, levels, q + i * k, scales + i, zeros + i) }
            return
        }
        quantizeRowsLoop(x, rows: rows, k: k, q, scales, zeros)
    }

    /// `quantizeRows` in Swift (the baseline path, and the reference its AVX2 version is tested against).
    static func quantizeRowsLoop(
        _ x: UnsafePointer<Float>, rows: Range<Int>, k: Int, _ q: UnsafeMutablePointer<UInt8>,
        _ scales: UnsafeMutablePointer<Float>, _ zeros: UnsafeMutablePointer<Int32>
    ) {
        let levels = Float(activationLevels), blockEnd = k - k % 8
        for i in rows {
            let src = x + i * k
            // min and max in 8 independent lanes (a select per lane the compiler turns into minps/maxps)
            var l0: Float = 0, l1: Float = 0, l2: Float = 0, l3: Float = 0, l4: Float = 0, l5: Float = 0
            var l6: Float = 0, l7: Float = 0
            var h0: Float = 0, h1: Float = 0, h2: Float = 0, h3: Float = 0, h4: Float = 0, h5: Float = 0
            var h6: Float = 0, h7: Float = 0
            var c = 0
            while c < blockEnd {
                let p = src + c
                l0 = p[0] < l0 ? p[0] : l0; l1 = p[1] < l1 ? p[1] : l1; l2 = p[2] < l2 ? p[2] : l2
                l3 = p[3] < l3 ? p[3] : l3; l4 = p[4] < l4 ? p[4] : l4; l5 = p[5] < l5 ? p[5] : l5
                l6 = p[6] < l6 ? p[6] : l6; l7 = p[7] < l7 ? p[7] : l7
                h0 = p[0] > h0 ? p[0] : h0; h1 = p[1] > h1 ? p[1] : h1; h2 = p[2] > h2 ? p[2] : h2
                h3 = p[3] > h3 ? p[3] : h3; h4 = p[4] > h4 ? p[4] : h4; h5 = p[5] > h5 ? p[5] : h5
                h6 = p[6] > h6 ? p[6] : h6; h7 = p[7] > h7 ? p[7] : h7
                c += 8
            }
            var l = Swift.min(
                Swift.min(Swift.min(l0, l1), Swift.min(l2, l3)), Swift.min(Swift.min(l4, l5), Swift.min(l6, l7)))
            var h = Swift.max(
                Swift.max(Swift.max(h0, h1), Swift.max(h2, h3)), Swift.max(Swift.max(h4, h5), Swift.max(h6, h7)))
            while c < k { l = Swift.min(l, src[c]); h = Swift.max(h, src[c]); c += 1 }
            let scale = h > l ? (h - l) / levels : 1
            let zero = (-l / scale).rounded(.toNearestOrEven)
            let inverse = 1 / scale
            let out = q + i * k
            // round half to even by adding 1.5·2²³: the integer lands in the low mantissa bits (a plain loop the
            // compiler vectorises; value 0…255 after the clamp)
            let magic: Float = 12_582_912
            for c in 0..<k {
                let v = Swift.max(0, Swift.min(levels, src[c] * inverse + zero)) + magic
                out[c] = UInt8(truncatingIfNeeded: v.bitPattern)
            }
            scales[i] = scale
            zeros[i] = Int32(zero)
        }
    }

    /// One output row scaled back: o[j] = float(acc[j] − zero·rowSums[j])·(scale·weightScales[j]) (+ bias[j]), in one
    /// pass (a separate bias pass stayed scalar and cost as much as the rest).
    @inline(__always)
    static func dequantizeRow(
        _ a: UnsafePointer<Int32>, _ o: UnsafeMutablePointer<Float>, width: Int, zero z: Int32,
        rowSums rs: UnsafePointer<Int32>, scale sx: Float, weightScales ws: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?
    ) {
        if Kernels.avx2 {  // the same bits, eight lanes at a time
            ak_dequantize_row_avx2(a, o, width, z, rs, sx, ws, bias)
            return
        }
        dequantizeRowLoop(a, o, width: width, zero: z, rowSums: rs, scale: sx, weightScales: ws, bias: bias)
    }

    /// `dequantizeRow` in Swift (the baseline path, and the reference its AVX2 version is tested against).
    @inline(__always)
    static func dequantizeRowLoop(
        _ a: UnsafePointer<Int32>, _ o: UnsafeMutablePointer<Float>, width: Int, zero z: Int32,
        rowSums rs: UnsafePointer<Int32>, scale sx: Float, weightScales ws: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?
    ) {
        if let bias {
            for j in 0..<width { o[j] = Float(a[j] &- z &* rs[j]) * (sx * ws[j]) + bias[j] }
        } else {
            for j in 0..<width { o[j] = Float(a[j] &- z &* rs[j]) * (sx * ws[j]) }
        }
    }

    /// libgomp's `omp_set_num_threads` (oneDNN's OpenMP runtime), found at run time: each calling thread asks for
    /// one OpenMP thread, because AttentionKit splits the work over its own threads (two pools on the same cores
    /// would take turns spinning).
    nonisolated(unsafe) static let ompSetNumThreads: (@convention(c) (Int32) -> Void)? = {
        _ = OneDNNSetup.ready  // every oneDNN call site asks for this first
        guard let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") else { return nil }
        return unsafeBitCast(f, to: (@convention(c) (Int32) -> Void).self)
    }()

    /// y = x·Wᵀ + b for x [.., K] (float32) and the rows `rows` of `weight` (all by default): x's rows quantized on the
    /// fly, int8 GEMMs with int32 accumulation (the output columns split over AttentionKit's threads, one oneDNN call
    /// each), the result scaled back to float with the bias added. Not differentiable.
    public static func linear(_ x: Tensor, _ weight: Int8Matrix, rows: Range<Int>? = nil, bias: Tensor? = nil)
        -> Tensor
    {
        let range = rows ?? 0..<weight.rows
        let k = weight.columns, n = range.count
        precondition(x.dtype == .float32 && x.shape.last == k, "Int8GEMM.linear: x \(x.shape) against [\(n), \(k)]")
        precondition(bias == nil || bias!.count == n, "Int8GEMM.linear: bias of \(bias!.count) for \(n) outputs")
        let m = x.count / max(k, 1)
        let out = Tensor(shape: Array(x.shape.dropLast()) + [n], dtype: .float32, zeroed: false)
        guard m > 0 && n > 0 else { return out }
        let px = x.storage.pointer(Float.self), po = out.storage.pointer(Float.self)
        let pb = bias.map { $0.storage.pointer(Float.self) }
        weight.values.withUnsafeBufferPointer { wv in
            weight.scales.withUnsafeBufferPointer { ws in
                weight.rowSums.withUnsafeBufferPointer { rs in
                    let w = wv.baseAddress! + range.lowerBound * k
                    let ws = ws.baseAddress! + range.lowerBound, rs = rs.baseAddress! + range.lowerBound
                    /// Rows `r` × columns `j0..<j1`: quantize the rows once, then per block of columns (≤ 256 KiB of int32) one
                    /// oneDNN GEMM into an int32 block that stays in cache, scaled back (+ bias). The scratch comes from
                    /// the tensor buffer cache: a vocabulary-wide int32 block from malloc was mapped and zeroed by the
                    /// kernel on every call (5% of a decoding).
                    func tile(_ r: Range<Int>, _ j0: Int, _ j1: Int) {
                        let rowsCount = r.count, chunk = Swift.min(Swift.max(256, 65536 / rowsCount), j1 - j0)
                        let qBytes = rowsCount * k, accBytes = rowsCount * chunk * 4
                        let bytes = accBytes + 8 * rowsCount + qBytes  // int32 block, scales, zero points, u8 rows
                        let buffer = BufferCache.shared.allocate(bytes: bytes)
                        defer { BufferCache.shared.deallocate(buffer, bytes: bytes) }
                        let acc = buffer.assumingMemoryBound(to: Int32.self)
                        let scale = (buffer + accBytes).assumingMemoryBound(to: Float.self)
                        let zero = (buffer + accBytes + 4 * rowsCount).assumingMemoryBound(to: Int32.self)
                        let q = (buffer + accBytes + 8 * rowsCount).assumingMemoryBound(to: UInt8.self)
                        quantizeRows(px + r.lowerBound * k, rows: 0..<rowsCount, k: k, q, scale, zero)
                        ompSetNumThreads?(1)
                        var noOffset: Int32 = 0
                        for c0 in stride(from: j0, to: j1, by: chunk) {
                            let width = Swift.min(chunk, j1 - c0)
                            let status = dnnl_gemm_u8s8s32(
                                CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "T")), CChar(UInt8(ascii: "F")),
                                Int64(rowsCount), Int64(width), Int64(k), 1, q, Int64(k), 0, w + c0 * k, Int64(k), 0,
                                0, acc, Int64(width), &noOffset)
                            precondition(
                                status == dnnl_success, "dnnl_gemm_u8s8s32 failed with status \(status.rawValue)")
                            let bias = pb.map { $0 + c0 }
                            for i in 0..<rowsCount {
                                dequantizeRow(
                                    acc + i * width, po + (r.lowerBound + i) * n + c0, width: width, zero: zero[i],
                                    rowSums: rs + c0, scale: scale[i], weightScales: ws + c0, bias: bias)
                            }
                        }
                    }
                    // Many rows (a batch, an encoder): blocks of rows, each quantized, multiplied and scaled back while
                    // its int32 block is in cache. Few rows (a decoding step): the output columns split instead.
                    let blockRows = max(16, min(256, (64 * 1024) / max(n, 1)))
                    if m >= 2 * blockRows || Parallel.threads == 1 {
                        let blocks = (m + blockRows - 1) / blockRows
                        parallelFor(blocks, costPerItem: blockRows * n * k / 8) { part in
                            for b in part { tile((b * blockRows)..<min(m, (b + 1) * blockRows), 0, n) }
                        }
                    } else {
                        // Few rows (a decoding step): the output columns split over AttentionKit's threads, each
                        // chunk quantizing the few rows itself (less than its GEMM). Letting oneDNN's OpenMP team
                        // split one call instead was 4-20× slower at batch 1: its threads spin after each call on
                        // the cores AttentionKit's own threads need next.
                        let columnBlocks = (n + 15) / 16
                        parallelFor(columnBlocks, costPerItem: 16 * m * k / 8) { part in
                            let j0 = part.lowerBound * 16, j1 = Swift.min(n, part.upperBound * 16)
                            if j0 < j1 { tile(0..<m, j0, j1) }
                        }
                    }
                }
            }
        }
        return out
    }
}

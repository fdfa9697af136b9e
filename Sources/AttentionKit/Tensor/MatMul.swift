import CDNNL
import CKernels
import COpenBLAS

#if canImport(Glibc)
    import Glibc
#endif

/// GEMM dispatch for the two dtypes: C = op(A)·op(B) (+ beta·C), row-major, through OpenBLAS.
///
/// `gemm` splits large products across `Parallel.threads` (by columns of C, or by rows when C is narrow), each part
/// a single-threaded OpenBLAS call. AttentionKit owns the threads: OpenBLAS's own pool is set to one thread on first
/// use, so no OpenBLAS worker spin-waits on a core that our elementwise and im2col kernels need.
protocol GemmScalar: TensorScalar {
    static func gemmSerial(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: GemmScalar {
    /// Few rows times a weight matrix (x·Wᵀ with ≤ 16 rows of x and ≥ 256 outputs: a decoding step of a few beams, a
    /// batch-1 request) go to oneDNN's JIT sgemm: OpenBLAS's kernels are built for panels of rows and ran these at a
    /// quarter to a half of oneDNN's speed on AVX2 and AVX-512 alike (Benchmarks/README.md). The choice depends only
    /// on the shape, so the same product always takes the same path (and gives the same bits).
    @inline(__always)
    static func usesDNNL(transA: Bool, transB: Bool, m: Int, n: Int) -> Bool {
        !transA && transB && m <= 16 && n >= 256
    }

    @inline(__always)
    static func gemmSerial(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if usesDNNL(transA: transA, transB: transB, m: m, n: n) {
            Int8GEMM.ompSetNumThreads?(1)  // one OpenMP thread per caller: the split is ours
            let status = dnnl_sgemm(
                CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "T")), Int64(m), Int64(n), Int64(k), 1, a, Int64(lda), b,
                Int64(ldb), beta, c, Int64(ldc))
            if status == dnnl_success { return }  // else OpenBLAS computes it
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension Double: GemmScalar {
    @inline(__always)
    static func gemmSerial(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Whether AttentionKit splits GEMMs itself: true unless the user set OPENBLAS_NUM_THREADS, in which case OpenBLAS
/// keeps its own threads. Evaluated once; when true, OpenBLAS is made single-threaded.
let splitsGEMMItself: Bool = {
    _ = BLASKernels.name  // OpenBLAS's kernels fixed before its first call
    guard getenv("OPENBLAS_NUM_THREADS") == nil else { return false }
    openblas_set_num_threads(1)
    return true
}()

/// The OpenBLAS kernels AttentionKit's GEMMs run on.
///
/// OpenBLAS picks its kernels from the CPU model when it loads, and falls back to SSE3 ones ("Prescott") for a model
/// its version does not know: Debian 12's OpenBLAS 0.3.21 does that on Intel Emerald Rapids, where training then runs
/// about 4× slower. Before the first GEMM, AttentionKit switches such a fallback to the kernels the CPU runs
/// (SkylakeX with AVX-512, Haswell with AVX2 and FMA) and leaves every other choice, and any `OPENBLAS_CORETYPE` the
/// user set, alone.
public enum BLASKernels {
    private static let choice: (name: String, switched: Bool) = {
        var buffer = [CChar](repeating: 0, count: 64)
        let switched = ak_openblas_choose_core(&buffer, buffer.count) == 1
        let name = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return (name, switched)
    }()

    /// The name of the kernels in use (`openblas_get_corename`, e.g. "SkylakeX", "Haswell", "Zen").
    public static var name: String { choice.name }

    /// Whether AttentionKit replaced OpenBLAS's own choice (an SSE- or AVX-era fallback on a CPU with AVX2).
    public static var switched: Bool { choice.switched }
}

extension GemmScalar {
    /// C = op(A)·op(B) + beta·C, split across threads when m·n·k ≥ 2^18 (about 4 µs of work; the pool wakes in well under that).
    @inline(__always)
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int
    ) {
        let threads = Parallel.threads
        if !splitsGEMMItself || threads <= 1 || m * n * k < 1 << 18 {
            gemmSerial(
                transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c,
                ldc: ldc)
            return
        }
        if n >= 64 * threads {
            // columns of C ↔ columns of op(B): rows of B when B is transposed
            parallelFor(n, costPerItem: 1 << 20) { cols in
                let off = cols.lowerBound, w = cols.count
                let bp = transB ? b + off * ldb : b + off
                gemmSerial(
                    transA: transA, transB: transB, m: m, n: w, k: k, a: a, lda: lda, b: bp, ldb: ldb, beta: beta,
                    c: c + off, ldc: ldc)
            }
        } else {
            // rows of C ↔ rows of op(A): columns of A when A is transposed
            parallelFor(m, costPerItem: 1 << 20) { rows in
                let off = rows.lowerBound, h = rows.count
                let ap = transA ? a + off : a + off * lda
                gemmSerial(
                    transA: transA, transB: transB, m: h, n: n, k: k, a: ap, lda: lda, b: b, ldb: ldb, beta: beta,
                    c: c + off * ldc, ldc: ldc)
            }
        }
    }
}

/// Batched, broadcasting matrix product kernel (no autograd): op(a)·op(b) where op transposes the last two
/// dimensions when its flag is set. Transposed operands are never copied: the flag goes to GEMM.
func matmulKernel(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
    precondition(a.dtype == b.dtype, "matmul: dtypes \(a.dtype) and \(b.dtype) differ")
    let outShape = checked { () throws(ShapeError) in
        try Shape.matmul(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
    }
    let m = outShape[outShape.count - 2], n = outShape[outShape.count - 1]
    let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let k = transposeA ? ar : ac
    let out = Tensor(shape: outShape, dtype: a.dtype, zeroed: k == 0)
    if m == 0 || n == 0 || k == 0 { return out }
    let batchShape = Array(outShape.dropLast(2))
    let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))

    func run<T: GemmScalar>(_: T.Type) {
        let pa = a.storage.pointer(T.self), pb = b.storage.pointer(T.self), pc = out.storage.pointer(T.self)
        // A batched A against one shared, untransposed-layout-independent B: fold the batch into the rows.
        if !transposeA && Shape.count(bBatch) == 1 && aBatch == batchShape {
            let rows = Shape.count(aBatch) * ar
            T.gemm(
                transA: false, transB: transposeB, m: rows, n: n, k: k, a: pa, lda: ac, b: pb, ldb: bc, beta: 0, c: pc,
                ldc: n)
            return
        }
        let batches = Shape.count(batchShape)
        let aStrides = Shape.broadcastStrides(aBatch, to: batchShape),
            bStrides = Shape.broadcastStrides(bBatch, to: batchShape)
        let bs = Shape.strides(batchShape)
        let aMat = ar * ac, bMat = br * bc
        func offsets(_ i: Int) -> (Int, Int) {
            var rem = i, ai = 0, bi = 0
            for d in 0..<batchShape.count {
                let c = rem / bs[d]
                rem %= bs[d]
                ai += c * aStrides[d]
                bi += c * bStrides[d]
            }
            return (ai, bi)
        }
        if m * n * k >= 1 << 21 {
            // large matrices: each product is split across threads inside gemm
            for i in 0..<batches {
                let (ai, bi) = offsets(i)
                T.gemm(
                    transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: pa + ai * aMat, lda: ac,
                    b: pb + bi * bMat, ldb: bc, beta: 0, c: pc + i * m * n, ldc: n)
            }
        } else {
            // many small products (attention heads): split the batch across threads
            _ = splitsGEMMItself  // OpenBLAS single-threaded before calling it from our threads
            parallelFor(batches, costPerItem: m * n * k) { range in
                for i in range {
                    let (ai, bi) = offsets(i)
                    T.gemmSerial(
                        transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: pa + ai * aMat, lda: ac,
                        b: pb + bi * bMat, ldb: bc, beta: 0, c: pc + i * m * n, ldc: n)
                }
            }
        }
    }
    switch a.dtype {
    case .float32: run(Float.self)
    case .float64: run(Double.self)
    }
    return out
}

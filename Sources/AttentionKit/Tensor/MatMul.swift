import COpenBLAS

/// GEMM dispatch for the two dtypes: C = op(A)·op(B) (+ beta·C), row-major, through OpenBLAS.
protocol GemmScalar: TensorScalar {
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: GemmScalar {
    @inline(__always)
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension Double: GemmScalar {
    @inline(__always)
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>, lda: Int,
                     b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Batched, broadcasting matrix product kernel (no autograd): op(a)·op(b) where op transposes the last two
/// dimensions when its flag is set. Transposed operands are never copied: the flag goes to GEMM.
func matmulKernel(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
    precondition(a.dtype == b.dtype, "matmul: dtypes \(a.dtype) and \(b.dtype) differ")
    let outShape = checked { () throws(ShapeError) in try Shape.matmul(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB) }
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
            T.gemm(transA: false, transB: transposeB, m: rows, n: n, k: k, a: pa, lda: ac, b: pb, ldb: bc, beta: 0, c: pc, ldc: n)
            return
        }
        let batches = Shape.count(batchShape)
        let aStrides = Shape.broadcastStrides(aBatch, to: batchShape), bStrides = Shape.broadcastStrides(bBatch, to: batchShape)
        let bs = Shape.strides(batchShape)
        let aMat = ar * ac, bMat = br * bc
        for i in 0..<batches {
            var rem = i, ai = 0, bi = 0
            for d in 0..<batchShape.count {
                let c = rem / bs[d]
                rem %= bs[d]
                ai += c * aStrides[d]
                bi += c * bStrides[d]
            }
            T.gemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: pa + ai * aMat, lda: ac,
                   b: pb + bi * bMat, ldb: bc, beta: 0, c: pc + i * m * n, ldc: n)
        }
    }
    switch a.dtype {
    case .float32: run(Float.self)
    case .float64: run(Double.self)
    }
    return out
}

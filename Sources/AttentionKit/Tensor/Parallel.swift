/// Splits `0..<count` into `pieces` contiguous chunks (one per thread unless given) and runs `body` on each, on up to
/// `Parallel.threads` threads, each thread claiming the next chunk until none is left. The chunks depend only on
/// `count` and `pieces`, never on which thread runs them, so results do not depend on thread timing. More pieces
/// than threads balance kernels whose chunks may run at different speeds (the packed GEMM).
/// Runs inline when the work is small (`count · costPerItem < Parallel.grain`), so tiny tensors pay nothing.
/// `body` is called once per chunk (never per element) and must write only its own chunk's outputs.
@inline(__always)
func parallelFor(_ count: Int, costPerItem: Int = 1, pieces: Int? = nil, _ body: (Range<Int>) -> Void) {
    let threads = Parallel.threads
    if threads <= 1 || count < 2 || count * costPerItem < Parallel.grain {
        body(0..<count)
        return
    }
    let chunks = Swift.max(threads, Swift.min(pieces ?? threads, count))
    withoutActuallyEscaping(body) { body in
        // Chunks touch disjoint outputs by contract, so sharing the closure across threads is safe.
        let shared = UncheckedSendable(body)
        let ran = WorkerPool.shared.run(pieces: chunks) { k in
            let lo = count * k / chunks, hi = count * (k + 1) / chunks
            if lo < hi { shared.value(lo..<hi) }
        }
        if !ran { body(0..<count) }  // pool busy (nested or concurrent call): run inline
    }
}

/// Carries a value into `concurrentPerform` where the caller guarantees race freedom.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Threading settings of AttentionKit's own kernels (GEMM threads are OpenBLAS's, set by `OPENBLAS_NUM_THREADS`).
public enum Parallel {
    /// Threads for elementwise, normalisation, pooling and im2col kernels: `ATTENTIONKIT_THREADS`, else the number of
    /// active processors, at most 8, shared among the processes an MPI launcher started on this machine (so that
    /// `mpirun -np 2` on 2 cores gives each process one thread instead of oversubscribing).
    public static let threads: Int = {
        if let text = getenv("ATTENTIONKIT_THREADS"), let n = Int(String(cString: text)), n > 0 { return n }
        let cores = Swift.max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return Swift.min(8, Swift.max(1, cores / DistributedRuntime.localProcesses))
    }()

    /// Minimum work (elements × cost) worth splitting across threads.
    static let grain = 1 << 17  // a thread hand-off costs a few µs: split only work well above that
}

#if canImport(Glibc)
    import Glibc
#endif

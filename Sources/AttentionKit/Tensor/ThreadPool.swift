import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// AttentionKit's worker pool: `Parallel.threads − 1` workers that, after a job, spin for a short window before
/// parking on a condition variable. Back-to-back kernels (a GEMM, then a bias add, then an activation) then start
/// without a thread wake-up (tens of µs), as OpenBLAS's and OpenMP's pools do; an idle process parks within
/// `spinNanoseconds`. One job runs at a time; a `parallelFor` issued while a job is running (from
/// another thread, or nested inside a chunk) runs inline on its caller.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: Parallel.threads - 1)

    let workers: Int
    private let generation = Atomic<Int>(0)  // incremented for each job
    private let remaining = Atomic<Int>(0)  // chunks not yet finished
    private let busy = Atomic<Bool>(false)  // a job is being dispatched or run
    /// The next unclaimed piece of a job run by `runPieces` (each thread claims pieces until none is left).
    let nextPiece = Atomic<Int>(0)
    private var job: ((Int) -> Void)?  // chunk index → work; set before `generation` is bumped
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    /// How long an idle worker spins before parking: 1 ms, as libgomp's default spin count (~300,000 polls) gives.
    /// A batch-1 transformer runs a GEMM every few tens of µs with small single-threaded ops between them; with the
    /// earlier 20,000 polls (~10 µs) the worker parked in every gap and each GEMM waited for a futex wake-up.
    /// `ATTENTIONKIT_SPIN_US` sets it in microseconds (0: park at once, as `OMP_WAIT_POLICY=passive`).
    private let spinNanoseconds: UInt64 = {
        if let text = getenv("ATTENTIONKIT_SPIN_US"), let us = UInt64(String(cString: text)) { return us * 1000 }
        return 1_000_000
    }()

    private init(workers: Int) {
        self.workers = Swift.max(0, workers)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
        for w in 0..<self.workers { startWorker(index: w + 1) }
    }

    private func startWorker(index: Int) {
        let box = Unmanaged.passRetained(WorkerArgument(pool: self, index: index))
        var tid = pthread_t()
        let rc = pthread_create(
            &tid, nil,
            { raw in
                let arg = Unmanaged<WorkerArgument>.fromOpaque(raw!).takeRetainedValue()
                arg.pool.workerLoop(index: arg.index)
                return nil
            }, box.toOpaque())
        if rc == 0 { pthread_detach(tid) } else { box.release() }
    }

    private final class WorkerArgument {
        let pool: WorkerPool, index: Int
        init(pool: WorkerPool, index: Int) { self.pool = pool; self.index = index }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            // spin briefly for the next job, then park
            var spins = 0, deadline: UInt64 = 0
            while generation.load(ordering: .acquiring) == seen {
                spins &+= 1
                if spins & 1023 != 0 { continue }
                let now = monotonicNanoseconds()
                if deadline == 0 { deadline = now + spinNanoseconds; continue }
                if now > deadline {
                    pthread_mutex_lock(&mutex)
                    while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(&cond, &mutex) }
                    pthread_mutex_unlock(&mutex)
                    break
                }
            }
            seen = generation.load(ordering: .acquiring)
            job?(index)
            remaining.subtract(1, ordering: .releasing)
        }
    }

    /// Runs `chunk(0…workers)` with chunk 0 on the caller; returns false (having run nothing) if the pool is busy.
    /// `beforeStart` runs once the pool is claimed, before any chunk starts (to reset the job's shared state).
    func run(_ chunk: @escaping (Int) -> Void, beforeStart: () -> Void = {}) -> Bool {
        guard workers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        beforeStart()
        job = chunk
        remaining.store(workers, ordering: .relaxed)
        pthread_mutex_lock(&mutex)
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
        chunk(0)
        while remaining.load(ordering: .acquiring) > 0 {}
        job = nil
        busy.store(false, ordering: .releasing)
        return true
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
private func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

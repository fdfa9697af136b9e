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
    private let remaining = Atomic<Int>(0)  // workers not yet done with the job
    private let busy = Atomic<Bool>(false)  // a job is being dispatched or run
    private let nextPiece = Atomic<Int>(0)  // the job's next unclaimed piece
    private var job: (() -> Void)?  // claims and runs pieces until none is left; set before `generation` is bumped
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
        for _ in 0..<self.workers { startWorker() }
    }

    private func startWorker() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(
            &tid, nil,
            { raw in
                Unmanaged<WorkerPool>.fromOpaque(raw!).takeRetainedValue().workerLoop()
                return nil
            }, box.toOpaque())
        if rc == 0 { pthread_detach(tid) } else { box.release() }
    }

    private func workerLoop() {
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
            job?()
            remaining.subtract(1, ordering: .releasing)
        }
    }

    /// Runs `piece(0..<pieces)` on the caller and the workers: each thread claims the next piece until none is left,
    /// so a thread that runs slower (its core busier, its caches colder) takes fewer pieces instead of keeping the
    /// others waiting. Which thread runs which piece varies; the pieces themselves do not. Returns false (having run
    /// nothing) if the pool is busy.
    func run(pieces: Int, _ piece: @escaping (Int) -> Void) -> Bool {
        guard workers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        nextPiece.store(0, ordering: .relaxed)  // published to the workers by the releasing `generation` bump
        let claim = {
            while true {
                let k = self.nextPiece.wrappingAdd(1, ordering: .relaxed).oldValue
                guard k < pieces else { return }
                piece(k)
            }
        }
        job = claim
        remaining.store(workers, ordering: .relaxed)
        pthread_mutex_lock(&mutex)
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
        claim()
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

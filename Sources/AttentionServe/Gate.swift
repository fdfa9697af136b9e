import Foundation

/// Admission control: at most `limit` requests run inference at once, at most `queueLimit` wait for a slot; beyond
/// that `acquire` says no (the handler answers 503 with Retry-After). Waiters are served in arrival order.
actor Gate {
    let limit: Int, queueLimit: Int
    private(set) var running = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int, queueLimit: Int) { (self.limit, self.queueLimit) = (max(1, limit), max(0, queueLimit)) }

    /// Takes a slot, waiting in line if all are taken; false when the line is full.
    func acquire() async -> Bool {
        if running < limit {
            running += 1
            return true
        }
        guard waiters.count < queueLimit else { return false }
        await withCheckedContinuation { waiters.append($0) }  // the slot is handed over by `release`
        return true
    }

    /// Frees a slot, or hands it to the first waiter.
    func release() {
        if waiters.isEmpty { running -= 1 } else { waiters.removeFirst().resume() }
    }

    /// Requests waiting for a slot.
    var queued: Int { waiters.count }
}

/// A one-shot flag: the first `claim()` wins (the work's result or the timeout answers a request, never both).
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false
    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}

/// Inference threads still running, answered or not (a request past its timeout got its 504 while its work goes on):
/// the server waits for them before it returns, so the process never exits under a thread inside a kernel.
let backgroundWork = DispatchGroup()

/// Runs `work` on a thread of its own (inference is CPU-bound and synchronous: it must not block the event loops)
/// and returns its result, or throws a 504 after `timeout` seconds. The work is not interrupted by the timeout: it
/// finishes, then `done` runs (which frees the request's slot).
func runBlocking<T: Sendable>(
    timeout: Double, work: @escaping @Sendable () throws -> T, done: @escaping @Sendable () -> Void
) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
        let once = Once()
        backgroundWork.enter()
        Thread.detachNewThread {
            let r = Result { try work() }
            done()
            backgroundWork.leave()
            if once.claim() { c.resume(with: r) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            if once.claim() {
                c.resume(
                    throwing: APIError(
                        .gatewayTimeout, "timeout", "the request took longer than \(timeout) s (--timeout)"))
            }
        }
    }
}

import Foundation

/// Dynamic batching: texts of requests that arrive within `wait` of each other for the same model and settings
/// (`key`) are run as one batch of at most `maxTexts` texts, and each request gets its own results back. A request
/// larger than `maxTexts` runs alone.
actor Batcher {
    private struct Pending {
        let texts: [String]
        let continuation: CheckedContinuation<[String], Error>
    }
    private var queues: [String: [Pending]] = [:]
    let maxTexts: Int, wait: Duration
    /// Runs one batch: one result per text, in order.
    let run: @Sendable (String, [String]) async throws -> [String]

    init(maxTexts: Int, wait: Duration, run: @escaping @Sendable (String, [String]) async throws -> [String]) {
        (self.maxTexts, self.wait, self.run) = (maxTexts, wait, run)
    }

    /// The results of `texts`, run in a batch with whatever arrives for `key` within the wait.
    func submit(_ key: String, _ texts: [String]) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            if queued(key) + texts.count > maxTexts { flush(key) }
            queues[key, default: []].append(Pending(texts: texts, continuation: continuation))
            if queued(key) >= maxTexts {
                flush(key)
            } else if queues[key]!.count == 1 {
                let wait = self.wait
                Task {
                    try? await Task.sleep(for: wait)
                    self.flush(key)
                }
            }
        }
    }

    private func queued(_ key: String) -> Int { queues[key, default: []].reduce(0) { $0 + $1.texts.count } }

    private func flush(_ key: String) {
        guard let batch = queues.removeValue(forKey: key), !batch.isEmpty else { return }
        let run = self.run
        Task {
            do {
                let results = try await run(key, batch.flatMap(\.texts))
                var start = 0
                for p in batch {
                    p.continuation.resume(returning: Array(results[start..<(start + p.texts.count)]))
                    start += p.texts.count
                }
            } catch {
                for p in batch { p.continuation.resume(throwing: error) }
            }
        }
    }
}

import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A cache of large freed tensor buffers, reused for allocations of the same byte size.
///
/// Fresh large allocations come from `mmap` and cost one page fault per 4 KiB page on first touch (about 5% of a
/// 2048×2048 GEMM). Training and inference loops allocate the same sizes step after step, so keeping freed buffers
/// (as PyTorch's and MLX's caching allocators do) removes that cost. Only buffers of at least `minimumBytes` are
/// cached, up to `capacityBytes` in total; `BufferCache.shared.releaseAll()` returns them to the system.
public final class BufferCache: Sendable {
    /// The process-wide cache used by tensor storage.
    public static let shared = BufferCache()

    /// Smallest buffer that is cached (smaller ones are cheap for malloc).
    public let minimumBytes = 1 << 18
    private struct State {
        var free: [Int: [UInt]] = [:]  // byte size -> addresses of cached buffers
        var cachedBytes = 0
        var capacityBytes = BufferCache.defaultCapacityBytes
    }

    /// 1 GiB, or `ATTENTIONKIT_CACHE_MB` megabytes (0 turns the cache off: every freed buffer goes back to malloc).
    static let defaultCapacityBytes: Int = {
        if let text = getenv("ATTENTIONKIT_CACHE_MB"), let mb = Int(String(cString: text)), mb >= 0 { return mb << 20 }
        return 1 << 30
    }()
    private let state = Mutex(State())

    /// Upper bound on the bytes held in the cache (default 1 GiB, or `ATTENTIONKIT_CACHE_MB`). Lowering it releases
    /// buffers beyond it.
    public var capacityBytes: Int {
        get { state.withLock { $0.capacityBytes } }
        set {
            state.withLock { $0.capacityBytes = Swift.max(0, newValue) }
            trim()
        }
    }

    /// Bytes currently held by the cache.
    public var cachedBytes: Int { state.withLock { $0.cachedBytes } }

    private let live = Atomic<Int>(0), peak = Atomic<Int>(0)

    /// Bytes of tensor buffers alive now (PyTorch's `memory_allocated`; cached free buffers are not counted).
    public var liveBytes: Int { live.load(ordering: .relaxed) }
    /// Highest `liveBytes` since the start or the last `resetPeak()` (PyTorch's `max_memory_allocated`).
    public var peakLiveBytes: Int { peak.load(ordering: .relaxed) }
    /// Starts a new peak measurement from the current live bytes.
    public func resetPeak() { peak.store(live.load(ordering: .relaxed), ordering: .relaxed) }

    /// The bytes actually reserved for a request of `bytes`: cached sizes are rounded up to four classes per power of
    /// two (at most 25% more, PyTorch's allocator rounds likewise), so that the slightly different sizes of a
    /// shrinking batch or a growing sequence reuse each other's buffers instead of filling the cache with sizes
    /// that never come back.
    @inline(__always)
    func sizeClass(_ bytes: Int) -> Int {
        guard bytes >= minimumBytes else { return bytes }
        let top = Int.bitWidth - 1 - bytes.leadingZeroBitCount  // 2^top ≤ bytes
        let step = 1 << (top - 2)
        return (bytes + step - 1) / step * step
    }

    /// A buffer of at least `bytes` bytes, 64-byte aligned: reused from the cache when one of its size class is free.
    func allocate(bytes requested: Int) -> UnsafeMutableRawPointer {
        let bytes = sizeClass(requested)
        let now = live.add(bytes, ordering: .relaxed).newValue
        var seen = peak.load(ordering: .relaxed)
        while now > seen {
            let r = peak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if r.exchanged { break }
            seen = r.original
        }
        if bytes >= minimumBytes {
            let reused: UInt? = state.withLock { s in
                guard var list = s.free[bytes], let address = list.popLast() else { return nil }
                s.free[bytes] = list.isEmpty ? nil : list
                s.cachedBytes -= bytes
                return address
            }
            if let reused, let p = UnsafeMutableRawPointer(bitPattern: reused) { return p }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: TensorStorage.alignment)
    }

    /// Returns a buffer allocated for `bytes`: cached if large and there is room, otherwise freed.
    func deallocate(_ pointer: UnsafeMutableRawPointer, bytes requested: Int) {
        let bytes = sizeClass(requested)
        live.subtract(bytes, ordering: .relaxed)
        if bytes >= minimumBytes {
            let kept = state.withLock { s -> Bool in
                guard s.cachedBytes + bytes <= s.capacityBytes else { return false }
                s.free[bytes, default: []].append(UInt(bitPattern: pointer))
                s.cachedBytes += bytes
                return true
            }
            if kept { return }
        }
        pointer.deallocate()
    }

    /// Frees every cached buffer and hands the allocator's free memory back to the system: at a change of phase
    /// (training ↔ evaluation, whose batches have other sizes), so that a run's peak memory is the larger phase's
    /// working set rather than both phases' buffers kept side by side. The `Trainer` calls it around evaluation.
    public func releaseForPhaseChange() {
        releaseAll()
        _ = mallocTrim?(0)
    }

    /// glibc's `malloc_trim` (malloc.h is not in Swift's Glibc module), looked up once; nil elsewhere.
    private static let trimFunction: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
            guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
            return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
            return nil
        #endif
    }()
    private var mallocTrim: (@convention(c) (Int) -> Int32)? { Self.trimFunction }

    /// Frees every cached buffer (PyTorch's `empty_cache()`).
    public func releaseAll() {
        let addresses = state.withLock { s -> [UInt] in
            let all = s.free.values.flatMap { $0 }
            s.free = [:]
            s.cachedBytes = 0
            return all
        }
        for a in addresses { UnsafeMutableRawPointer(bitPattern: a)?.deallocate() }
    }

    private func trim() {
        let addresses = state.withLock { s -> [UInt] in
            var out: [UInt] = []
            while s.cachedBytes > s.capacityBytes, let size = s.free.keys.max(), var list = s.free[size],
                let a = list.popLast()
            {
                s.free[size] = list.isEmpty ? nil : list
                s.cachedBytes -= size
                out.append(a)
            }
            return out
        }
        for a in addresses { UnsafeMutableRawPointer(bitPattern: a)?.deallocate() }
    }
}

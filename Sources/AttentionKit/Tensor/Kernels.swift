import CKernels

#if canImport(Glibc)
    import Glibc
#endif

/// The run-time choice between the Swift loops (the baseline x86-64 build: four lanes) and their AVX2 versions in
/// the CKernels target (eight lanes; the same operations in the same order, so the same bits).
enum Kernels {
    /// True when the CPU runs AVX2 and `ATTENTIONKIT_NO_AVX2` is not set (the switch for comparing the two paths).
    static let avx2: Bool = ak_has_avx2() != 0 && getenv("ATTENTIONKIT_NO_AVX2") == nil
}

extension UnsafePointer {
    /// The same address as float32 (for callers that have checked the generic scalar is Float).
    @inline(__always) var floats: UnsafePointer<Float> { UnsafeRawPointer(self).assumingMemoryBound(to: Float.self) }
}

extension UnsafeMutablePointer {
    /// The same address as float32 (for callers that have checked the generic scalar is Float).
    @inline(__always) var floats: UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: Float.self)
    }
}

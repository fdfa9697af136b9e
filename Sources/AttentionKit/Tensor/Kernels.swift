import CKernels

#if canImport(Glibc)
    import Glibc
#endif

/// The run-time choice between the Swift loops (the baseline x86-64 build: four lanes) and their AVX2 versions in
/// the CKernels target (eight lanes; the same operations in the same order, so the same bits).
enum Kernels {
    /// True when the CPU runs AVX2 and `ATTENTIONKIT_NO_AVX2` is not set (the switch for comparing the two paths).
    static let avx2: Bool = ak_has_avx2() != 0 && getenv("ATTENTIONKIT_NO_AVX2") == nil
    /// True when `avx2` is and the CPU also runs AVX-512 F, unless `ATTENTIONKIT_NO_AVX512` is set: the elementwise
    /// kernels then take 16 lanes (the same operations per element, so the same bits).
    static let avx512: Bool = avx2 && ak_has_avx512() != 0 && getenv("ATTENTIONKIT_NO_AVX512") == nil
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

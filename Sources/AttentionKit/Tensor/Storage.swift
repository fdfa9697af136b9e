import RealModule

/// Element type of a tensor. `float32` is the working type; `float64` exists so that gradients can be
/// checked by finite differences in Double, as PyTorch's `gradcheck` does.
public enum DType: String, Sendable, CustomStringConvertible {
    case float32
    case float64

    /// Bytes per element.
    public var byteSize: Int { self == .float32 ? 4 : 8 }
    /// The type's name ("float32", …).
    public var description: String { rawValue }
}

/// Scalar types the kernels are written for (generic code, specialised by the compiler for `Float` and `Double`).
@usableFromInline
protocol TensorScalar: BinaryFloatingPoint & Real & SIMDScalar & Codable {
    static var dtype: DType { get }
}

extension Float: TensorScalar {
    @usableFromInline static var dtype: DType { .float32 }
}

extension Double: TensorScalar {
    @usableFromInline static var dtype: DType { .float64 }
}

/// An owned, 64-byte aligned, contiguous buffer of `count` elements of one dtype.
///
/// Tensors share a storage only through `reshape`/`detach` (views of the same contiguous data).
public final class TensorStorage: @unchecked Sendable {
    /// Alignment of every buffer, in bytes (one cache line, wide enough for AVX-512 loads).
    public static let alignment = 64

    /// Number of elements.
    public let count: Int
    /// The element type.
    public let dtype: DType
    @usableFromInline let raw: UnsafeMutableRawPointer

    /// Allocates `count` elements, zero-filled when `zeroed` is true (otherwise uninitialised).
    init(count: Int, dtype: DType, zeroed: Bool = true) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        self.count = count
        self.dtype = dtype
        let bytes = max(count * dtype.byteSize, TensorStorage.alignment)
        raw = BufferCache.shared.allocate(bytes: bytes)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
    }

    deinit { BufferCache.shared.deallocate(raw, bytes: Swift.max(count * dtype.byteSize, TensorStorage.alignment)) }

    /// Typed pointer to the elements; `T` must match `dtype`.
    @inline(__always)
    func pointer<T: TensorScalar>(_: T.Type) -> UnsafeMutablePointer<T> {
        assert(T.dtype == dtype, "TensorStorage: typed access as \(T.dtype) to \(dtype) storage")
        return raw.assumingMemoryBound(to: T.self)
    }

    /// Address of the buffer (used to check alignment in tests).
    public var baseAddress: UnsafeRawPointer { UnsafeRawPointer(raw) }

    /// A deep copy.
    func copy() -> TensorStorage {
        let s = TensorStorage(count: count, dtype: dtype, zeroed: false)
        s.raw.copyMemory(from: raw, byteCount: count * dtype.byteSize)
        return s
    }
}

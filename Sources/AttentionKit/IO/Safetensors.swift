import Foundation

/// Why a safetensors file was rejected. Every case names the file; offsets are byte offsets into it.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    case cannotRead(file: String, reason: String)
    case headerTooSmall(file: String, size: Int)
    case headerTooLarge(file: String, headerBytes: UInt64)
    case headerLengthPastEnd(file: String, headerBytes: UInt64, fileSize: Int)
    case headerNotUTF8(file: String)
    case headerNotJSON(file: String, reason: String)
    case invalidEntry(file: String, tensor: String, reason: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case invalidOffsets(file: String, tensor: String, begin: Int, end: Int, expectedBegin: Int)
    case sizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, bytes: Int)
    case bufferLengthMismatch(file: String, expected: Int, actual: Int)
    case cannotWrite(file: String, reason: String)

    /// The error as one line, naming the file.
    public var description: String {
        switch self {
        case .cannotRead(let f, let r): return "\(f): cannot read: \(r)"
        case .headerTooSmall(let f, let s):
            return "\(f): file of \(s) bytes is too small for a safetensors header (needs 8 bytes of length)"
        case .headerTooLarge(let f, let n): return "\(f): header length \(n) at byte 0 exceeds the 100 MB limit"
        case .headerLengthPastEnd(let f, let n, let s):
            return "\(f): header length \(n) at byte 0 runs past the end of the \(s)-byte file"
        case .headerNotUTF8(let f): return "\(f): header (from byte 8) is not valid UTF-8"
        case .headerNotJSON(let f, let r): return "\(f): header (from byte 8) is not a JSON object: \(r)"
        case .invalidEntry(let f, let t, let r): return "\(f): tensor '\(t)': \(r)"
        case .unknownDType(let f, let t, let d): return "\(f): tensor '\(t)' has unknown dtype '\(d)'"
        case .unsupportedDType(let f, let t, let d):
            return
                "\(f): tensor '\(t)' has dtype \(d), which AttentionKit does not load (F32, F64, F16, BF16, I8 weights and I64 counts only)"
        case .invalidOffsets(let f, let t, let b, let e, let x):
            return
                "\(f): tensor '\(t)' has data offsets [\(b), \(e)], expected to start at \(x) (offsets must be contiguous, in order, without overlap or gaps)"
        case .sizeMismatch(let f, let t, let s, let d, let n):
            return "\(f): tensor '\(t)' of shape \(fmt(s)) and dtype \(d) cannot occupy \(n) bytes"
        case .bufferLengthMismatch(let f, let e, let a):
            return
                "\(f): the tensors need \(e) data bytes but the file has \(a) after the header (\(a < e ? "truncated" : "trailing bytes"))"
        case .cannotWrite(let f, let r): return "\(f): cannot write: \(r)"
        }
    }
}

/// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
/// header length N, N bytes of JSON `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`,
/// then the tensor bytes, little-endian, row-major, offsets relative to the end of the header.
public enum Safetensors {
    /// Largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes: UInt64 = 100_000_000

    /// Every dtype the format defines, with its size in bytes (F4/F6 sub-byte types count as unknown here).
    static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8, "C64": 8
    ]

    /// Writes tensors (in the given order) and string metadata atomically: a temporary file in the same directory is
    /// written, fsynced and renamed over `url`, so a crash never leaves a half-written file in its place.
    /// `int8` matrices are written as `name` (I8, [rows, columns]) and `name_scale` (F32, [rows]) after the tensors.
    public static func write(
        _ tensors: [(name: String, tensor: Tensor)], int8: [(name: String, matrix: Int8Matrix)] = [],
        metadata: [String: String] = [:], to url: URL
    ) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, t) in tensors {
            guard header[name] == nil, name != "__metadata__" else {
                throw SafetensorsError.cannotWrite(
                    file: url.path, reason: "duplicate or reserved tensor name '\(name)'")
            }
            let bytes = t.count * t.dtype.byteSize
            header[name] = [
                "dtype": t.dtype == .float32 ? "F32" : "F64", "shape": t.shape, "data_offsets": [offset, offset + bytes]
            ]
            offset += bytes
        }
        for (name, q) in int8 {
            let scaleName = name + "_scale"
            guard header[name] == nil, header[scaleName] == nil, name != "__metadata__" else {
                throw SafetensorsError.cannotWrite(
                    file: url.path, reason: "duplicate or reserved tensor name '\(name)'")
            }
            header[name] = [
                "dtype": "I8", "shape": [q.rows, q.columns], "data_offsets": [offset, offset + q.values.count]
            ]
            offset += q.values.count
            header[scaleName] = [
                "dtype": "F32", "shape": [q.rows], "data_offsets": [offset, offset + 4 * q.scales.count]
            ]
            offset += 4 * q.scales.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }  // pad with spaces so the data starts 8-byte aligned
        var file = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { file.append(contentsOf: $0) }
        file.append(json)
        for (_, t) in tensors {
            // x86-64/arm64: little-endian
            file.append(Data(bytes: t.storage.baseAddress, count: t.count * t.dtype.byteSize))
        }
        for (_, q) in int8 {
            q.values.withUnsafeBytes { file.append(contentsOf: $0) }
            q.scales.withUnsafeBytes { file.append(contentsOf: $0) }
        }
        try AtomicFile.write(file, to: url)
    }

    /// Reads every tensor (F32/F64 as they are; F16/BF16, I8 (a quantized checkpoint's weights) and I64 — BatchNorm's `num_batches_tracked` — converted to
    /// float32) and the metadata.
    /// Rejects, with a `SafetensorsError`, every malformed file the reference implementation rejects.
    public static func read(from url: URL) throws -> (
        tensors: [String: Tensor], order: [String], metadata: [String: String]
    ) {
        try decode(bytes(of: url), file: url.path)
    }

    /// The bytes of a safetensors file (memory-mapped), with the reader's error when it cannot be read.
    public static func bytes(of url: URL) throws -> Data {
        do { return try UserFile.read(url, mapped: true) } catch {
            throw SafetensorsError.cannotRead(file: url.path, reason: UserFile.reason(for: error))
        }
    }

    /// `read` on bytes already in memory (e.g. a checkpoint received from another process); `file` names them in errors.
    public static func decode(_ data: Data, file: String) throws -> (
        tensors: [String: Tensor], order: [String], metadata: [String: String]
    ) {
        guard data.count >= 8 else { throw SafetensorsError.headerTooSmall(file: file, size: data.count) }
        let n = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n <= maxHeaderBytes else { throw SafetensorsError.headerTooLarge(file: file, headerBytes: n) }
        guard 8 + Int(n) <= data.count else {
            throw SafetensorsError.headerLengthPastEnd(file: file, headerBytes: n, fileSize: data.count)
        }
        let headerBytes = data.subdata(in: 8..<(8 + Int(n)))
        guard String(data: headerBytes, encoding: .utf8) != nil else {
            throw SafetensorsError.headerNotUTF8(file: file)
        }
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw SafetensorsError.headerNotJSON(file: file, reason: "does not start with '{'")
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: headerBytes) } catch {
            throw SafetensorsError.headerNotJSON(file: file, reason: "\(error.localizedDescription)")
        }
        guard let header = parsed as? [String: Any] else {
            throw SafetensorsError.headerNotJSON(file: file, reason: "not an object")
        }

        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let dict = m as? [String: Any], dict.values.allSatisfy({ $0 is String }) else {
                throw SafetensorsError.invalidEntry(
                    file: file, tensor: "__metadata__", reason: "must map strings to strings")
            }
            metadata = dict.mapValues { $0 as! String }
        }
        struct Entry { let name: String; let dtype: String; let shape: [Int]; let begin: Int; let end: Int }
        var entries: [Entry] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any] else {
                throw SafetensorsError.invalidEntry(file: file, tensor: name, reason: "not an object")
            }
            if let extra = info.keys.first(where: { !["dtype", "shape", "data_offsets"].contains($0) }) {
                throw SafetensorsError.invalidEntry(file: file, tensor: name, reason: "unknown field '\(extra)'")
            }
            guard let dtype = info["dtype"] as? String else {
                throw SafetensorsError.invalidEntry(file: file, tensor: name, reason: "missing dtype")
            }
            guard dtypeSizes[dtype] != nil else {
                throw SafetensorsError.unknownDType(file: file, tensor: name, dtype: dtype)
            }
            guard let shapeAny = info["shape"] as? [Any], let shape = integers(shapeAny), shape.allSatisfy({ $0 >= 0 })
            else {
                throw SafetensorsError.invalidEntry(
                    file: file, tensor: name, reason: "shape must be a list of non-negative integers")
            }
            guard let offAny = info["data_offsets"] as? [Any], let off = integers(offAny), off.count == 2 else {
                throw SafetensorsError.invalidEntry(
                    file: file, tensor: name, reason: "data_offsets must be two integers")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: off[0], end: off[1]))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expected = 0
        for e in entries {
            guard e.begin == expected, e.end >= e.begin else {
                throw SafetensorsError.invalidOffsets(
                    file: file, tensor: e.name, begin: e.begin, end: e.end, expectedBegin: expected)
            }
            var count = 1
            for d in e.shape {
                let (m, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw SafetensorsError.sizeMismatch(
                        file: file, tensor: e.name, shape: e.shape, dtype: e.dtype, bytes: e.end - e.begin)
                }
                count = m
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: dtypeSizes[e.dtype]!)
            guard !overflow, bytes == e.end - e.begin else {
                throw SafetensorsError.sizeMismatch(
                    file: file, tensor: e.name, shape: e.shape, dtype: e.dtype, bytes: e.end - e.begin)
            }
            expected = e.end
        }
        let dataStart = 8 + Int(n)
        guard data.count - dataStart == expected else {
            throw SafetensorsError.bufferLengthMismatch(file: file, expected: expected, actual: data.count - dataStart)
        }
        var tensors: [String: Tensor] = [:]
        for e in entries {
            let t: Tensor
            switch e.dtype {
            case "F32": t = Tensor(shape: e.shape, dtype: .float32, zeroed: false)
            case "F64": t = Tensor(shape: e.shape, dtype: .float64, zeroed: false)
            case "F16", "BF16": t = Tensor(shape: e.shape, dtype: .float32, zeroed: false)
            // counts (BatchNorm's num_batches_tracked)
            case "I64": t = Tensor(shape: e.shape, dtype: .float32, zeroed: false)
            // int8 weights of a quantized checkpoint (their scales are F32 tensors of their own)
            case "I8": t = Tensor(shape: e.shape, dtype: .float32, zeroed: false)
            default: throw SafetensorsError.unsupportedDType(file: file, tensor: e.name, dtype: e.dtype)
            }
            data.withUnsafeBytes { raw in
                let src = raw.baseAddress! + dataStart + e.begin
                switch e.dtype {
                case "F32", "F64": t.storage.raw.copyMemory(from: src, byteCount: e.end - e.begin)
                case "I8":
                    let bytes = src.assumingMemoryBound(to: Int8.self), dst = t.storage.pointer(Float.self)
                    for i in 0..<t.count { dst[i] = Float(bytes[i]) }
                case "I64":
                    let dst = t.storage.pointer(Float.self)
                    for i in 0..<t.count {
                        dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
                    }
                default:
                    let halves = src.assumingMemoryBound(to: UInt16.self), dst = t.storage.pointer(Float.self)
                    for i in 0..<t.count {
                        let h = UInt16(littleEndian: halves[i])
                        dst[i] = e.dtype == "BF16" ? Float(bitPattern: UInt32(h) << 16) : Float(Float16(bitPattern: h))
                    }
                }
            }
            tensors[e.name] = t
        }
        return (tensors, entries.map(\.name), metadata)
    }

    /// JSON numbers as exact integers (rejects fractions, booleans and non-numbers).
    private static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            // JSON booleans arrive as NSNumber with objCType "c" (and 0/1 also cast to Bool on Linux): check the type code
            guard let num = v as? NSNumber, String(cString: num.objCType) != "c" else { return nil }
            let d = num.doubleValue
            guard d == d.rounded(), abs(d) < 9e15 else { return nil }
            out.append(num.intValue)
        }
        return out
    }
}

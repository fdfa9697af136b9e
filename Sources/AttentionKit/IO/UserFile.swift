import Foundation

/// A file a user named that cannot be used, with a plain reason: `PATH: reason`.
public struct UserFileError: Error, CustomStringConvertible {
    public let path: String, reason: String
    /// An error for the file at `path`.
    public init(path: String, reason: String) { (self.path, self.reason) = (path, reason) }
    /// The path and the reason, on one line.
    public var description: String { "\(path): \(reason)" }
}

/// Reading files users name, with plain reasons instead of Foundation's error dumps (`NSCocoaErrorDomain Code=4 …`):
/// not found, is a directory, not a regular file, permission denied, too large (pipes and FIFOs are read to the end);
/// and JSON errors with their byte offset, line and column.
public enum UserFile {
    /// The bytes of the file at `url` (memory-mapped when `mapped`), after checking that it is a readable regular
    /// file of at most `maxBytes`.
    /// Pipes, FIFOs and devices are read up to `min(maxBytes, streamLimit)` (`/dev/zero` or `/dev/urandom` given as
    /// a file end with an error, not with the machine's memory).
    public static func read(_ url: URL, maxBytes: Int = 1 << 34, mapped: Bool = false) throws -> Data {
        let path = url.path
        var st = stat()
        guard stat(path, &st) == 0 else { throw UserFileError(path: path, reason: reason(errno: errno)) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFIFO, S_IFCHR:
            // A pipe (`--source <(zcat corpus.gz)`, /dev/stdin) is read to its end, as any Unix tool reads it.
            return try readStream(path, maxBytes: min(maxBytes, streamLimit))
        case S_IFDIR: throw UserFileError(path: path, reason: "is a directory, not a file")
        default: throw UserFileError(path: path, reason: "is not a regular file (a socket or block device)")
        }
        guard access(path, R_OK) == 0 else { throw UserFileError(path: path, reason: reason(errno: errno)) }
        guard Int(st.st_size) <= maxBytes else {
            throw UserFileError(path: path, reason: "is \(st.st_size) bytes, more than the \(maxBytes)-byte limit")
        }
        do { return try Data(contentsOf: url, options: mapped ? .mappedIfSafe : []) } catch {
            throw UserFileError(path: path, reason: reason(for: error))
        }
    }

    /// The most a pipe, FIFO or device is read to (1 GiB).
    public static let streamLimit = 1 << 30

    static func readStream(_ path: String, maxBytes: Int) throws -> Data {
        guard access(path, R_OK) == 0 else { throw UserFileError(path: path, reason: reason(errno: errno)) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw UserFileError(path: path, reason: "cannot be opened for reading")
        }
        defer { try? handle.close() }
        var data = Data()
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                data.append(chunk)
                guard data.count <= maxBytes else {
                    throw UserFileError(
                        path: path, reason: "more than the \(maxBytes)-byte limit came through the pipe")
                }
            }
        } catch let e as UserFileError { throw e } catch { throw UserFileError(path: path, reason: reason(for: error)) }
        return data
    }

    /// A file's text as UTF-8; invalid UTF-8 is an error naming the byte offset of the first bad sequence.
    public static func text(_ url: URL, maxBytes: Int = 1 << 32) throws -> String {
        let data = try read(url, maxBytes: maxBytes)
        if let s = String(bytes: data, encoding: .utf8) { return s }  // nil for invalid UTF-8 (no replacement)
        throw UserFileError(path: url.path, reason: "byte \(firstInvalidUTF8(data) ?? 0): not valid UTF-8")
    }

    /// A JSON document; a syntax error names the byte offset, line and column.
    public static func json(_ data: Data, path: String) throws -> Any {
        do { return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            let ns = error as NSError
            // Where the parser stopped: Apple's Foundation gives the index, swift-corelibs says "around character N"
            // or that the data ended.
            let debug = ns.userInfo["NSDebugDescription"] as? String ?? ""
            var index = ns.userInfo["NSJSONSerializationErrorIndex"] as? Int
            if index == nil, let r = debug.range(of: "around character ") {
                index = Int(debug[r.upperBound...].prefix { $0.isNumber })
            }
            if index == nil && debug.contains("end of file") { index = data.count }
            let what =
                debug.isEmpty
                ? "not valid JSON"
                : "not valid JSON ("
                    + debug.replacingOccurrences(of: #" around character \d+"#, with: "", options: .regularExpression)
                    .trimmingCharacters(in: CharacterSet(charactersIn: ". ")) + ")"
            if let index {
                let before = data.prefix(index)
                let line = before.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
                let column = index - (before.lastIndex(of: 0x0A).map { $0 - data.startIndex + 1 } ?? 0) + 1
                throw UserFileError(path: path, reason: "byte \(index) (line \(line), column \(column)): \(what)")
            }
            throw UserFileError(path: path, reason: "not valid JSON (\(ns.localizedDescription))")
        }
    }

    /// A plain reason for a POSIX error number.
    public static func reason(errno code: Int32) -> String {
        switch code {
        case ENOENT: return "not found"
        case EACCES, EPERM: return "permission denied"
        case ENOTDIR: return "a part of the path is not a directory"
        case EISDIR: return "is a directory, not a file"
        case ENOSPC: return "disk full"
        case EDQUOT: return "disk quota exceeded"
        case EROFS: return "read-only file system"
        case ENAMETOOLONG: return "path too long"
        case ELOOP: return "too many symbolic links"
        case EIO: return "input/output error"
        default: return String(cString: strerror(code))
        }
    }

    /// A plain reason for a Foundation or POSIX error.
    public static func reason(for error: Error) -> String {
        if let e = error as? UserFileError { return e.reason }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return reason(errno: Int32(ns.code)) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return reason(errno: Int32(underlying.code))
        }
        if ns.domain == NSCocoaErrorDomain {
            switch ns.code {
            case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "not found"
            case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "permission denied"
            case NSFileWriteOutOfSpaceError: return "disk full"
            case NSFileWriteVolumeReadOnlyError: return "read-only file system"
            case NSFileReadInapplicableStringEncodingError, NSFileReadCorruptFileError:
                return "not valid text in the expected encoding"
            case NSFileReadTooLargeError: return "too large to read"
            default: break
            }
        }
        return ns.localizedDescription
    }

    /// The offset of the first byte that does not start or continue a valid UTF-8 sequence.
    static func firstInvalidUTF8(_ data: Data) -> Int? {
        var iterator = data.makeIterator()
        var offset = 0, decoder = UTF8()
        var consumed = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): consumed += UTF8.width(s); offset = consumed
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}

/// How an error reads to a person: the library's errors describe themselves (file, line, reason); Foundation's and
/// the standard library's are rendered without their type dumps (`Error Domain=NSCocoaErrorDomain Code=…`,
/// `keyNotFound(CodingKeys(…))`).
public enum ErrorText {
    /// The error as one line for a person: the library's own description, or Foundation's without its type dump.
    public static func message(for error: Error) -> String {
        switch error {
        case let e as DecodingError: return RunDirectoryError.describe(e, under: nil)
        case let e as EncodingError:
            if case .invalidValue(let v, let c) = e {
                return "cannot write \(v) at \(c.codingPath.map(\.stringValue).joined(separator: ".")) as JSON"
            }
            return "cannot encode a value as JSON"
        default:
            let text = String(describing: error)
            if !looksLikeADump(text) { return text }
        }
        let ns = error as NSError
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        let reason = UserFile.reason(for: error)
        return (path.map { "\($0): " } ?? "")
            + (looksLikeADump(reason) ? "operation failed (\(ns.domain) \(ns.code))" : reason)
    }

    /// Whether `text` shows a type's internals rather than a sentence.
    public static func looksLikeADump(_ text: String) -> Bool {
        ["Error Domain=", "CodingKeys(", "NSUnderlyingError", "Swift.DecodingError", "UserInfo={", "debugDescription:"]
            .contains { text.contains($0) }
    }
}

import Foundation

/// How raw bytes become text.
public enum TextEncoding: Sendable {
    /// UTF-8; each byte that is not part of a valid sequence becomes one U+FFFD (as sentencepiece does).
    case utf8Replacing
    /// Latin-1 (ISO 8859-1): every byte is the code point of the same value. Never fails.
    case latin1
}

/// Decoded text with the byte offsets of every replaced byte.
public struct DecodedText: Sendable {
    /// The decoded text.
    public var text: String
    /// Byte offsets (into the input) of bytes that were invalid UTF-8 and became U+FFFD.
    public var replacedByteOffsets: [Int]
}

/// Decoding bytes as text: UTF-8 with U+FFFD for each invalid byte (reported), or Latin-1.
public enum TextDecoding {
    /// Decodes bytes, replacing each invalid byte by U+FFFD (one per bad byte) and reporting where.
    ///
    /// Valid UTF-8: the shortest form of U+0000…U+10FFFF excluding surrogates. A truncated or malformed sequence
    /// replaces only its first byte; decoding resumes at the next byte.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, encoding: TextEncoding = .utf8Replacing)
        -> DecodedText
    {
        if encoding == .latin1 {
            var s = String.UnicodeScalarView()
            for b in bytes { s.append(Unicode.Scalar(b)) }
            return DecodedText(text: String(s), replacedByteOffsets: [])
        }
        var replaced: [Int] = []
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { out.append(b0); i += 1; continue }
            let len: Int, minCP: UInt32
            var cp: UInt32
            switch b0 {
            case 0xC2...0xDF: len = 2; cp = UInt32(b0 & 0x1F); minCP = 0x80
            case 0xE0...0xEF: len = 3; cp = UInt32(b0 & 0x0F); minCP = 0x800
            case 0xF0...0xF4: len = 4; cp = UInt32(b0 & 0x07); minCP = 0x10000
            default: len = 0; cp = 0; minCP = 0
            }
            var ok = len > 0 && i + len <= n
            if ok {
                for k in 1..<len {
                    let b = bytes[i + k]
                    if b & 0xC0 != 0x80 { ok = false; break }
                    cp = cp << 6 | UInt32(b & 0x3F)
                }
            }
            if ok && (cp < minCP || cp > 0x10FFFF || (0xD800...0xDFFF).contains(cp)) { ok = false }
            if ok {
                out.append(contentsOf: bytes[i..<(i + len)])
                i += len
            } else {
                replaced.append(i)
                out += [0xEF, 0xBF, 0xBD]  // U+FFFD
                i += 1
            }
        }
        return DecodedText(text: String(decoding: out, as: UTF8.self), replacedByteOffsets: replaced)
    }

    /// Decodes `data`, reporting the byte offsets of every replaced byte.
    public static func decode(_ data: Data, encoding: TextEncoding = .utf8Replacing) -> DecodedText {
        data.withUnsafeBytes { decode($0.bindMemory(to: UInt8.self), encoding: encoding) }
    }
}

/// One line of a text file with its 1-based line number and any replaced bytes (offsets into the file).
public struct TextLine: Sendable {
    /// The 1-based line number.
    public var number: Int
    /// The line without its terminator.
    public var text: String
    /// Byte offsets (into the file) of invalid bytes replaced in this line.
    public var replacedByteOffsets: [Int]
}

/// Reads a text file as lines (LF or CRLF), decoding each line separately so that one bad byte affects one line.
public enum TextFile {
    /// The lines of the file at `url` (LF or CRLF), decoded; throws a `UserFileError` naming the file when it cannot be read.
    public static func lines(of url: URL, encoding: TextEncoding = .utf8Replacing) throws -> [TextLine] {
        let data: Data
        do { data = try UserFile.read(url) } catch {
            throw DatasetError.unreadable(path: url.path, reason: UserFile.reason(for: error))
        }
        var out: [TextLine] = []
        data.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            var start = 0, number = 1
            func emit(_ end: Int) {
                var stop = end
                if stop > start && b[stop - 1] == 0x0D { stop -= 1 }
                let d = TextDecoding.decode(UnsafeBufferPointer(rebasing: b[start..<stop]), encoding: encoding)
                out.append(
                    TextLine(
                        number: number, text: d.text, replacedByteOffsets: d.replacedByteOffsets.map { $0 + start }))
            }
            for i in 0..<b.count where b[i] == 0x0A {
                emit(i)
                start = i + 1
                number += 1
            }
            if start < b.count { emit(b.count) }
        }
        return out
    }

}

extension TextFile {
    /// The lines of standard input (LF or CRLF, as files), UTF-8; an invalid byte is an error naming the line and the
    /// byte offset. A final line without a newline counts; an empty input has no lines.
    public static func standardInputLines() throws -> [String] {
        let lines = try TextFile.lines(of: URL(fileURLWithPath: "/dev/stdin"))
        if let bad = lines.first(where: { !$0.replacedByteOffsets.isEmpty }) {
            throw RunSetupError(
                "standard input:\(bad.number): invalid UTF-8 at byte offset \(bad.replacedByteOffsets[0])")
        }
        return lines.map(\.text)
    }

    /// The lines of a UTF-8 file `path` (`what` names it in errors: "source", "reference"); an invalid byte is an
    /// error naming the file, the line and the byte offset.
    public static func strictLines(_ path: String, what: String) throws -> [String] {
        let lines: [TextLine]
        do { lines = try TextFile.lines(of: URL(fileURLWithPath: path)) } catch {
            throw RunSetupError("\(what) \(path): \(error)")
        }
        if let bad = lines.first(where: { !$0.replacedByteOffsets.isEmpty }) {
            throw RunSetupError("\(path):\(bad.number): invalid UTF-8 at byte offset \(bad.replacedByteOffsets[0])")
        }
        return lines.map(\.text)
    }
}

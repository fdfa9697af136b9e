import Foundation

/// A JSON value as the tool prints it: object keys keep the order they are given in (the documented order, not
/// sorted), numbers print plainly (`13910.4`, never `1.391e+04`), text stays UTF-8 (only `"`, `\` and control
/// characters are escaped). `attn … --json` prints one such object per line.
public indirect enum JSONLine: Equatable, Sendable {
    case string(String)
    case number(Double)
    case integer(Int)
    case bool(Bool)
    case null
    case array([JSONLine])
    case object([(String, JSONLine)])

    /// Equal when both print the same text.
    public static func == (a: JSONLine, b: JSONLine) -> Bool { a.text == b.text }

    /// The value on one line: `{"key": value, …}`, `[a, b]`.
    public var text: String {
        switch self {
        case .string(let s): return JSONLine.quoted(s)
        case .number(let v): return JSONLine.plain(v)
        case .integer(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(\.text).joined(separator: ", ") + "]"
        case .object(let pairs):
            return "{" + pairs.map { JSONLine.quoted($0.0) + ": " + $0.1.text }.joined(separator: ", ") + "}"
        }
    }

    /// `v` without an exponent: integers as integers, other numbers with 6 significant digits and no trailing
    /// zeros; NaN and infinities as `null` (JSON has no spelling for them).
    public static func plain(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        let magnitude = Int(Foundation.floor(Foundation.log10(abs(v))))
        let decimals = min(20, max(0, 5 - magnitude))
        var s = String(format: "%.\(decimals)f", v)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s == "-0" ? "0" : s
    }

    /// `s` as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

extension JSONLine: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral
{
    /// A JSON string.
    public init(stringLiteral value: String) { self = .string(value) }
    /// A JSON integer.
    public init(integerLiteral value: Int) { self = .integer(value) }
    /// A JSON number.
    public init(floatLiteral value: Double) { self = .number(value) }
    /// A JSON boolean.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A JSON array.
    public init(arrayLiteral elements: JSONLine...) { self = .array(elements) }
}

extension JSONLine {
    /// A number, or `null` when absent.
    public static func number(_ v: Double?) -> JSONLine { v.map { .number($0) } ?? .null }
    /// A number from a Float.
    public static func number(_ v: Float) -> JSONLine { .number(Double(v)) }
}

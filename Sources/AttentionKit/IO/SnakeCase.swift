import Foundation

/// The key style of every JSON file AttentionKit writes — `config.json`, a checkpoint's `attentionkit.config`
/// metadata, metrics, `--json` lines: snake_case. Configuration types keep Swift's property names (`dModel`,
/// `bosID`, `minLRFactor`) and are written through `encoder` as `d_model`, `bos_id`, `min_lr_factor`; `decoder`
/// reads those back, and reads the camelCase keys of the runs and checkpoints that earlier versions wrote, so
/// old runs still load.
///
/// The conversion is exact in both directions for every configuration property (a test checks each one): a word
/// boundary is an upper-case letter after a lower-case one or a digit, or the last capital of an acronym followed by
/// a lower-case letter; on the way back, the segments in `acronyms` are capitalised whole.
public enum SnakeCase {
    /// The acronyms that property names spell in capitals: `bosID` ↔ `bos_id`, `minLRFactor` ↔ `min_lr_factor`.
    public static let acronyms: Set<String> = ["id", "lr"]

    /// `name` as a snake_case key: "dModel" → "d_model", "bosID" → "bos_id", "minLRFactor" → "min_lr_factor".
    /// Keys that do not start with a lower-case ASCII letter, or have no capital, are returned as they are.
    public static func key(_ name: String) -> String {
        let c = Array(name.utf8)
        guard let first = c.first, isLower(first), c.contains(where: isUpper) else { return name }
        var out: [UInt8] = []
        out.reserveCapacity(c.count + 4)
        for i in c.indices {
            let ch = c[i]
            if isUpper(ch) && i > 0 {
                let previous = c[i - 1]
                let nextIsLower = i + 1 < c.count && isLower(c[i + 1])
                if isLower(previous) || isDigit(previous) || (isUpper(previous) && nextIsLower) {
                    out.append(UInt8(ascii: "_"))
                }
            }
            out.append(isUpper(ch) ? ch + 32 : ch)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The property name of a snake_case `key`: "d_model" → "dModel", "bos_id" → "bosID"; a key without an
    /// underscore (one word, or an old camelCase key) is returned as it is.
    public static func property(_ key: String) -> String {
        guard key.contains("_"), let first = key.utf8.first, isLower(first) else { return key }
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        guard !parts.contains(where: \.isEmpty) else { return key }
        return String(parts[0])
            + parts.dropFirst().map { part -> String in
                acronyms.contains(String(part)) ? part.uppercased() : part.prefix(1).uppercased() + part.dropFirst()
            }.joined()
    }

    /// An encoder that writes property names as snake_case keys (sorted keys; non-finite floats as "inf", "-inf",
    /// "nan"). Dictionary keys go through the conversion too, so encode no dictionary of user-given names with it.
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        e.keyEncodingStrategy = .custom { path in AnyKey(key(path.last!.stringValue)) }
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// A decoder that reads snake_case keys (and the camelCase keys of older files) into property names.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .custom { path in AnyKey(property(path.last!.stringValue)) }
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// A dotted path of property names ("model.padID") as the keys of the file ("model.pad_id").
    public static func path(_ path: String) -> String {
        path.split(separator: ".", omittingEmptySubsequences: false).map { key(String($0)) }.joined(separator: ".")
    }

    private static func isLower(_ c: UInt8) -> Bool { c >= 97 && c <= 122 }
    private static func isUpper(_ c: UInt8) -> Bool { c >= 65 && c <= 90 }
    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension JSONValue {
    /// The value with every object key written as `SnakeCase.key` gives it (the keys of an older config.json,
    /// read as the keys this version writes).
    public var snakeCased: JSONValue {
        switch self {
        case .object(let o):
            var out: [String: JSONValue] = [:]
            for (k, v) in o { out[SnakeCase.key(k)] = v.snakeCased }
            return .object(out)
        case .array(let a): return .array(a.map(\.snakeCased))
        default: return self
        }
    }
}

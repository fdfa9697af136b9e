import AttentionKit
import Foundation
import HTTPTypes

/// An error a client caused (or the server's limits): the HTTP status and `{"error": {"code", "message"}}`, the
/// message naming the field.
struct APIError: Error {
    let status: HTTPResponse.Status, code: String, message: String
    var retryAfter: Int? = nil
    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil) {
        (self.status, self.code, self.message, self.retryAfter) = (status, code, message, retryAfter)
    }

    var json: String {
        JSONLine.object([("error", .object([("code", .string(code)), ("message", .string(message))]))]).text
    }
}

/// The limits every request is checked against.
struct RequestLimits: Sendable {
    var maxTextBytes = 10_000, maxTexts = 256, maxBeam = 16, maxTop = 100, maxNewTokens = 1_000
}

/// A request's JSON body, with typed accessors that name the field in their errors.
struct JSONBody {
    let fields: [String: Any]

    init(_ data: Data) throws {
        guard String(data: data, encoding: .utf8) != nil else {
            throw APIError(.badRequest, "invalid_utf8", "body: not valid UTF-8")
        }
        guard !data.isEmpty else { throw APIError(.badRequest, "empty_body", "body: empty; expected a JSON object") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw APIError(.badRequest, "malformed_json", "body: not valid JSON (\(error.localizedDescription))")
        }
        guard let d = object as? [String: Any] else {
            throw APIError(.badRequest, "malformed_json", "body: expected a JSON object")
        }
        fields = d
    }

    func string(_ key: String) throws -> String? {
        guard let v = fields[key], !(v is NSNull) else { return nil }
        guard let s = v as? String else { throw APIError(.badRequest, "wrong_type", "\(key): expected a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = fields[key], !(v is NSNull) else { return nil }
        guard let n = v as? NSNumber, isJSONBool(n) else {
            throw APIError(.badRequest, "wrong_type", "\(key): expected true or false")
        }
        return n.boolValue
    }

    /// An integer field in `range` (default when absent).
    func integer(_ key: String, default d: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let v = fields[key], !(v is NSNull) else { return d }
        guard let n = v as? NSNumber, !isJSONBool(n), let i = Int(exactly: n.doubleValue)
        else { throw APIError(.badRequest, "wrong_type", "\(key): expected an integer") }
        guard range.contains(i) else {
            throw APIError(
                .badRequest, "out_of_range", "\(key): \(i) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        return i
    }

    /// A number field in `range` (default when absent).
    func number(_ key: String, default d: Double, in range: ClosedRange<Double>) throws -> Double {
        guard let v = fields[key], !(v is NSNull) else { return d }
        guard let n = v as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite else {
            throw APIError(.badRequest, "wrong_type", "\(key): expected a number")
        }
        guard range.contains(n.doubleValue) else {
            throw APIError(.badRequest, "out_of_range", "\(key): \(n.doubleValue) is outside \(range)")
        }
        return n.doubleValue
    }

    /// `"text": "…"` or `"texts": ["…", …]` (exactly one), each non-empty and at most `limits.maxTextBytes` bytes.
    func texts(_ limits: RequestLimits) throws -> (texts: [String], single: Bool) {
        let one = try string("text")
        let many: [String]?
        if let v = fields["texts"], !(v is NSNull) {
            guard let a = v as? [Any] else { throw APIError(.badRequest, "wrong_type", "texts: expected an array") }
            many = try a.enumerated().map { i, x in
                guard let s = x as? String else {
                    throw APIError(.badRequest, "wrong_type", "texts[\(i)]: expected a string")
                }
                return s
            }
        } else {
            many = nil
        }
        switch (one, many) {
        case (nil, nil): throw APIError(.badRequest, "missing_field", "text: missing (give \"text\" or \"texts\")")
        case (.some, .some): throw APIError(.badRequest, "conflicting_fields", "text, texts: give one of them")
        default: break
        }
        let all = one.map { [$0] } ?? many!
        if many != nil && all.isEmpty { throw APIError(.badRequest, "empty_field", "texts: empty array") }
        guard all.count <= limits.maxTexts else {
            throw APIError(.badRequest, "too_many_texts", "texts: \(all.count) texts, at most \(limits.maxTexts)")
        }
        for (i, t) in all.enumerated() {
            let field = one != nil ? "text" : "texts[\(i)]"
            if t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw APIError(.badRequest, "empty_field", "\(field): empty")
            }
            if t.utf8.count > limits.maxTextBytes {
                throw APIError(
                    .contentTooLarge, "text_too_long",
                    "\(field): \(t.utf8.count) bytes, at most \(limits.maxTextBytes) (--max-text-bytes)")
            }
        }
        return (all, one != nil)
    }
}

/// JSONSerialization gives true and false as NSNumbers of ObjC type "c" (numbers are "q" or "d").
func isJSONBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

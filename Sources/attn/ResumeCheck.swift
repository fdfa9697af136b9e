import AttentionKit
import Foundation

/// `--resume` checks: the flags that decide the data (and the model) must be the ones the run was started with,
/// or the saved data position and weights would silently mean something else. Checked before any file of the run
/// directory is touched; the error names the flag, both values and the file.
enum ResumeCheck {
    /// One setting to compare: its dotted path in config.json, the value these flags give, and the flag that sets it.
    struct Entry {
        let path: String, value: Any, flag: String
        init(_ path: String, _ value: Any, _ flag: String) { (self.path, self.value, self.flag) = (path, value, flag) }
    }

    /// Compares `entries` with the run's config.json.
    static func config(in dir: URL, _ entries: [Entry]) throws {
        let url = dir.appendingPathComponent("config.json")
        let data: Data
        do { data = try UserFile.read(url, maxBytes: 1 << 30) } catch {
            throw CLIError("\(url.path): cannot be read, so --resume cannot check the run's settings (\(UserFile.reason(for: error)))")
        }
        let parsed: Any
        do { parsed = try UserFile.json(data, path: url.path) } catch { throw CLIError("\(error); --resume needs the run's settings") }
        guard let saved = parsed as? [String: Any] else {
            throw CLIError("\(url.path): not a JSON object; --resume needs the run's settings")
        }
        for e in entries {
            var node: Any? = saved
            for key in e.path.split(separator: ".") { node = (node as? [String: Any])?[String(key)] }
            // Both sides through JSON, so that 0.1, "0.1" in a file and Float/Double/UInt64 compare as JSON does.
            let mine = normalised(e.value), theirs = node.map(normalised)
            if let theirs, (mine as? NSObject)?.isEqual(theirs) ?? false { continue }
            throw CLIError("""
                \(url.path): \(e.path) is \(theirs.map(describe) ?? "missing") but \(e.flag) gives \(describe(mine)): \
                resume with the run's \(e.flag) (a resumed run must read the same data), or start a new run in another --out
                """)
        }
    }

    /// The run's `name` file must hold exactly `expected` (e.g. split.json: the images these flags select).
    static func file(_ name: String, in dir: URL, equals expected: Data, flags: String) throws {
        let url = dir.appendingPathComponent(name)
        let saved: Data
        do { saved = try UserFile.read(url, maxBytes: 1 << 30) } catch { throw CLIError("\(url.path): \(UserFile.reason(for: error)); --resume needs it") }
        guard saved == expected else {
            throw CLIError("\(url.path): these flags select other data than the run did (check \(flags)); resume with the run's flags, or start a new run in another --out")
        }
    }

    static func normalised(_ v: Any) -> Any {
        guard let d = try? JSONSerialization.data(withJSONObject: [v], options: [.fragmentsAllowed]),
              let a = try? JSONSerialization.jsonObject(with: d) as? [Any], let x = a.first else { return v }
        return x
    }

    static func describe(_ v: Any) -> String {
        if v is NSNull { return "null" }
        if let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]),
           let s = String(data: d, encoding: .utf8) { return s.count > 120 ? String(s.prefix(117)) + "…" : s }
        return "\(v)"
    }
}

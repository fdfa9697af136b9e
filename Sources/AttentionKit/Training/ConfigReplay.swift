import Foundation

extension RunDirectory {
    /// Replays this run's recipe (`attn train … --config RUN/config.json`): the configuration config.json holds, with
    /// every value that `changed` sets differently from `base` put in its place. `base` is what the command line
    /// gives with no flags and `changed` what it gives with the user's flags, so the values the user changed override
    /// the saved ones and everything else comes from the saved run: its data, model, tokenizer and training recipe.
    /// Objects are compared key by key at any depth; an array, or an object whose keys differ (another kind of model),
    /// is replaced whole.
    /// `forcing` names dotted paths ("training.lr") whose value is taken from `changed` even when it equals `base`'s:
    /// the flags the user gave with the default value.
    /// - Returns: the configuration and the dotted paths that the flags overrode, in order.
    /// - Throws: when config.json is missing or unreadable, describes another task, or no longer decodes.
    public func replay<C: RunConfiguration>(changing base: C, to changed: C, forcing: [String] = []) throws -> (
        config: C, overridden: [String]
    ) {
        let saved = try configJSON()
        guard case .string(let t)? = saved[path: "task"], t == C.task else {
            let found = saved[path: "task"].map { "a \($0) run" } ?? "no task"
            throw RunDirectoryError(
                message:
                    "\(configURL.path): config.json describes \(found), not a \(C.task) run: replay it with the verb that trained it"
            )
        }
        var overridden: [String] = []
        let changedJSON = try JSONValue(changed)
        var merged = Self.overlay(saved, from: try JSONValue(base), to: changedJSON, path: "", overridden: &overridden)
        for path in forcing where !overridden.contains(path) {
            guard let value = changedJSON[path: path], merged[path: path] != value else { continue }
            merged = Self.setting(merged, path.split(separator: ".").map(String.init), to: value)
            overridden.append(path)
        }
        do {
            return (try Self.decoder.decode(C.self, from: Self.encoder.encode(merged)), overridden)
        } catch let e as DecodingError {
            throw RunDirectoryError(
                message:
                    "\(configURL.path): \(RunDirectoryError.describe(e, under: nil)) (written by another version? start the run with flags instead)"
            )
        }
    }

    /// `json` with the value at `keys` replaced (objects made where missing).
    static func setting(_ json: JSONValue, _ keys: [String], to value: JSONValue) -> JSONValue {
        guard let first = keys.first else { return value }
        guard case .object(var o) = json else {
            return .object([first: setting(.null, Array(keys.dropFirst()), to: value)])
        }
        o[first] = setting(o[first] ?? .null, Array(keys.dropFirst()), to: value)
        return .object(o)
    }

    /// `saved` with the leaves where `changed` differs from `base` taken from `changed`.
    static func overlay(
        _ saved: JSONValue, from base: JSONValue, to changed: JSONValue, path: String, overridden: inout [String]
    ) -> JSONValue {
        guard base != changed else { return saved }
        guard case .object(let b) = base, case .object(let c) = changed, Set(b.keys) == Set(c.keys),
            case .object(var s) = saved
        else {
            overridden.append(path)
            return changed
        }
        for key in c.keys.sorted() where b[key] != c[key] {
            let child = path.isEmpty ? key : path + "." + key
            s[key] = overlay(s[key] ?? .null, from: b[key]!, to: c[key]!, path: child, overridden: &overridden)
        }
        return .object(s)
    }
}

import Foundation

/// A run directory that cannot be used, with the reason.
public struct RunDirectoryError: Error, CustomStringConvertible {
    /// What is wrong, naming the run directory or file.
    public let message: String
    /// An error with this message.
    public init(message: String) { self.message = message }
    /// The message.
    public var description: String { message }

    /// A decoding error as its JSON path and a plain reason.
    static func describe(_ e: DecodingError, under key: String?) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let parts =
                (key.map { [$0] } ?? []) + keys.map { $0.intValue.map { "[\($0)]" } ?? SnakeCase.key($0.stringValue) }
            return parts.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch e {
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])) is missing"
        case .typeMismatch(let t, let c): return "\(path(c.codingPath)) is not a \(t)"
        case .valueNotFound(let t, let c): return "\(path(c.codingPath)) is null, expected a \(t)"
        case .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }
}

/// A JSON value compared as JSON compares it: numbers by value (0.1 written from a Float or a Double is one number),
/// objects by their keys. Resume checks compare settings through it.
public enum JSONValue: Codable, Equatable, Sendable, CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    /// Decodes config.json's fields (snake_case keys).
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value as the JSON it was decoded from.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Any encodable value as JSON (through the encoder config.json is written with).
    public init(_ value: some Encodable) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: RunDirectory.encoder.encode(value))
    }

    /// The value at a dotted path ("data.val_fraction"), nil when absent.
    public subscript(path path: String) -> JSONValue? {
        var node: JSONValue? = self
        for key in path.split(separator: ".") {
            guard case .object(let o)? = node else { return nil }
            node = o[String(key)]
        }
        return node
    }

    /// Compact JSON (sorted keys, no spaces), cut to 120 characters.
    public var description: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let compact = (try? e.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        return compact.count > 120 ? String(compact.prefix(117)) + "…" : compact
    }
}

/// One setting a resumed run must share with the run it continues: its dotted path in config.json, the flag that
/// sets it, and its value.
public struct RunSetting: Sendable {
    public let field: String, flag: String, value: JSONValue
    /// A setting named `field` with its value (compared as JSON) and the flag that sets it.
    public init(_ field: String, _ value: some Encodable, flag: String) throws {
        self.field = field
        self.flag = flag
        self.value = try JSONValue(value)
    }
}

/// A task's typed run configuration: everything that rebuilds and retrains the run (model, data, tokenizer,
/// recipe), written as `config.json` with `format_version` and `task` beside its own fields.
public protocol RunConfiguration: Codable, Sendable {
    /// The task name in config.json ("translation", "classification", "image-classification", …).
    static var task: String { get }
    /// The settings a resume must not change (the data, the split, the batch shape, the seed; the model where flags
    /// set it): with other values, the saved data position and weights would silently mean something else.
    func resumeSettings() throws -> [RunSetting]
}

/// A training run's directory: `config.json` (a task's `RunConfiguration`, with `format_version`), `labels.json`,
/// tokenizers, checkpoints and metrics. Every write is atomic (temporary file, fsync, rename); a resume is checked
/// against the saved configuration before anything is written.
public struct RunDirectory: Sendable {
    /// The config.json layout this version writes: 2 adds `format_version` and a typed schema per task; runs without
    /// the field (version 1, written before the task layer) still load for inference.
    public static let formatVersion = 2
    /// The directory.
    public let url: URL

    /// The run directory at `url`.
    public init(_ url: URL) { self.url = url }
    /// The run directory at `path`.
    public init(path: String) { url = URL(fileURLWithPath: path) }

    /// The directory's path.
    public var path: String { url.path }
    /// The URL of the file `name` in the directory.
    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    /// The run's `config.json`.
    public var configURL: URL { file("config.json") }

    /// config.json's encoder: snake_case keys (`SnakeCase`), sorted, pretty-printed.
    static var encoder: JSONEncoder { SnakeCase.encoder() }
    /// Reads config.json's snake_case keys (and the camelCase ones of earlier versions) into configuration types.
    static var decoder: JSONDecoder { SnakeCase.decoder() }

    /// The files (besides `*.safetensors`) and folders a training run writes; `--overwrite` removes them.
    public static let runFiles: Set<String> = [
        "config.json", "labels.json", "tokenizer.json", "source-tokenizer.json", "target-tokenizer.json", "split.json",
        "metrics.jsonl", "metrics.csv", "curves.png", "curves.svg", "report.txt", "confusion.png", "validation.source",
        "validation.target", "attention", "generation_config.json"
    ]

    /// The files and folders of `runFiles` and the checkpoints that are in the directory now (what training wrote).
    public func trainingFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter {
            Self.runFiles.contains($0) || $0.hasSuffix(".safetensors") || $0.hasPrefix("events.out.tfevents.")
        }
    }

    /// "a translation", "an image-classification": a task name with its article, for messages.
    public static func article(_ task: String) -> String {
        (task.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + task
    }

    /// Creates the directory (and its parents).
    public func create() throws {
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw RunDirectoryError(
                message: "\(path): cannot create the run directory (\(UserFile.reason(for: error)))")
        }
    }

    /// Writes `data` to `name` in the directory, atomically.
    public func write(_ data: Data, to name: String) throws { try AtomicFile.write(data, to: file(name)) }

    /// Writes `text` to `name`, atomically.
    public func write(text: String, to name: String) throws { try write(Data(text.utf8), to: name) }

    // MARK: config.json

    /// Writes `config` as config.json: its fields plus `format_version` and `task` (and, for a classifier, the
    /// `labels` in the order of the model's outputs, which loading checks labels.json against).
    public func writeConfig<C: RunConfiguration>(_ config: C, labels: [String]? = nil) throws {
        guard case .object(var fields) = try JSONValue(config) else {
            throw RunDirectoryError(message: "\(C.self) does not encode as a JSON object")
        }
        fields["format_version"] = .number(Double(Self.formatVersion))
        fields["task"] = .string(C.task)
        if let labels { fields["labels"] = .array(labels.map { .string($0) }) }
        try write(try Self.encoder.encode(JSONValue.object(fields)), to: "config.json")
    }

    /// config.json as JSON, or an error naming the file and why it cannot be read.
    public func configJSON() throws -> JSONValue {
        let data: Data
        do { data = try UserFile.read(configURL, maxBytes: 1 << 30) } catch {
            throw RunDirectoryError(message: "\(configURL.path): \(UserFile.reason(for: error))")
        }
        _ = try UserFile.json(data, path: configURL.path)  // a syntax error names its byte, line and column
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: data), case .object = value else {
            throw RunDirectoryError(message: "\(configURL.path): not a JSON object")
        }
        return value.snakeCased  // an earlier version's camelCase keys, as this version writes them
    }

    /// The run's task name ("translation", …) from config.json.
    public func task() throws -> String {
        guard case .string(let t)? = try configJSON()[path: "task"] else {
            throw RunDirectoryError(
                message: "\(configURL.path): no \"task\" entry (not a run directory of `attn train`)")
        }
        return t
    }

    /// config.json's `format_version` (1 for runs written before it existed).
    public func formatVersion() throws -> Int {
        if case .number(let v)? = try configJSON()[path: "format_version"] { return Int(v) }
        return 1
    }

    /// The typed configuration; an error names the file and the field that does not fit.
    public func readConfig<C: RunConfiguration>(_ type: C.Type) throws -> C {
        let json = try configJSON()
        guard case .string(let t)? = json[path: "task"], t == C.task else {
            let found = json[path: "task"].map { "a \($0) run" } ?? "no task"
            throw RunDirectoryError(message: "\(configURL.path): config.json describes \(found), not a \(C.task) run")
        }
        do { return try Self.decoder.decode(C.self, from: Self.encoder.encode(json)) } catch let e as DecodingError {
            let version = (try? formatVersion()) ?? 1
            throw RunDirectoryError(
                message: "\(configURL.path): \(RunDirectoryError.describe(e, under: nil))"
                    + (version < Self.formatVersion
                        ? " (a format \(version) run, written before format_version \(Self.formatVersion); start a new run to train it further)"
                        : ""))
        }
    }

    /// Decodes the entry `key` of config.json as `T`; a model configuration is validated too (at most 2·10⁹ parameters).
    public func entry<T: Decodable>(_ key: String, as type: T.Type, describing what: String) throws -> T {
        guard let entry = try configJSON()[path: key] else {
            throw RunDirectoryError(message: "\(configURL.path): no \"\(key)\" entry")
        }
        let value: T
        do { value = try Self.decoder.decode(T.self, from: Self.encoder.encode(entry)) } catch let e as DecodingError {
            throw RunDirectoryError(
                message:
                    "\(configURL.path): the \"\(key)\" entry is not \(what): \(RunDirectoryError.describe(e, under: key))"
            )
        }
        if let config = value as? any ModelConfiguration {
            do { try config.validate(maxParameters: 2e9) } catch {
                throw RunDirectoryError(
                    message:
                        "\(configURL.path): \(key).\((error as? ConfigurationError)?.fileDescription ?? "\(error)")")
            }
        }
        return value
    }

    /// Checks a `--resume` before anything is written: the saved configuration must give every one of `config`'s
    /// `resumeSettings` the same value. The error names the field, both values and the flag.
    public func checkResume<C: RunConfiguration>(_ config: C) throws {
        let json: JSONValue
        do { json = try configJSON() } catch let e as RunDirectoryError {
            throw RunDirectoryError(message: "\(e.message); --resume needs the run's settings")
        }
        if json[path: "quantization"] != nil {
            throw RunDirectoryError(
                message:
                    "\(configURL.path): an int8 run (attn quantize) is for inference; resume the float run it was quantized from"
            )
        }
        guard case .string(let t)? = json[path: "task"], t == C.task else {
            throw RunDirectoryError(
                message:
                    "\(configURL.path): this is not a \(C.task) run (its task is \(json[path: "task"]?.description ?? "missing")); resume it with its own verb, or start a new run in another --out"
            )
        }
        for s in try config.resumeSettings() {
            let saved = json[path: s.field]
            if (saved ?? .null) == s.value { continue }  // an absent optional is null
            // objects (a model configuration): the first field that differs, not the whole object
            let (field, was, now) =
                Self.firstDifference(saved ?? .null, s.value, at: s.field) ?? (
                    s.field, saved?.description ?? "missing", s.value.description
                )
            throw RunDirectoryError(
                message: """
                    \(configURL.path): \(field) is \(was) but \(s.flag) gives \(now): \
                    resume with the run's \(s.flag) (a resumed run must read the same data), or start a new run in another --out
                    """)
        }
    }

    /// Checks that `name` holds exactly `expected` (e.g. split.json: the images these flags select) for a resume.
    public func checkResume(file name: String, equals expected: Data, flags: String) throws {
        let saved: Data
        do { saved = try UserFile.read(file(name), maxBytes: 1 << 30) } catch {
            throw RunDirectoryError(message: "\(file(name).path): \(UserFile.reason(for: error)); --resume needs it")
        }
        guard saved == expected else {
            throw RunDirectoryError(
                message:
                    "\(file(name).path): these flags select other data than the run did (check \(flags)); resume with the run's flags, or start a new run in another --out"
            )
        }
    }

    // MARK: labels.json and the rest

    /// Writes the class names as labels.json.
    public func writeLabels(_ labels: [String]) throws {
        try write(try JSONSerialization.data(withJSONObject: labels), to: "labels.json")
    }

    /// The label names in labels.json: a non-empty list without repeats.
    public func labels() throws -> [String] {
        let url = file("labels.json")
        let parsed: Any
        do { parsed = try UserFile.json(try UserFile.read(url, maxBytes: 1 << 26), path: url.path) } catch {
            throw RunDirectoryError(message: "\(url.path): \(UserFile.reason(for: error))")
        }
        guard let labels = parsed as? [String], !labels.isEmpty else {
            throw RunDirectoryError(message: "\(url.path): not a non-empty JSON list of label names")
        }
        if let twice = Dictionary(grouping: labels, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw RunDirectoryError(message: "\(url.path): the label '\(twice)' is listed twice")
        }
        // Training wrote the same list into config.json: a labels.json reordered or changed since would name every
        // prediction and every metric with another class's name.
        if case .array(let saved)? = try? configJSON()[path: "labels"] {
            let names = saved.map { v -> String in
                if case .string(let s) = v { return s }; return v.description
            }
            if names != labels {
                let at =
                    zip(names, labels).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                    ?? min(names.count, labels.count)
                throw RunDirectoryError(
                    message:
                        "\(url.path): lists \(labels.count) labels that disagree with config.json's \"labels\" (\(names.count), the order of the model's outputs) at position \(at): "
                        + "'\(at < labels.count ? labels[at] : "nothing")' where the model has '\(at < names.count ? names[at] : "nothing")'"
                )
            }
        }
        return labels
    }

    /// Checks a model loaded from `weights` against config.json: its type (`model_type`, when given) and, in runs of
    /// the current format, its configuration (`model`); the error names the file and the first field that differs
    /// (a CNN's weights in a ViT run, a checkpoint of another run).
    public func checkModel(typeName: String, config: some Encodable, weights: String) throws {
        let json = try configJSON()
        if case .string(let saved)? = json[path: "model_type"], saved != typeName {
            throw RunDirectoryError(
                message:
                    "\(file(weights).path): holds a \(typeName), but config.json's model_type is \(saved): the weights belong to another run"
            )
        }
        guard (try? formatVersion()) ?? 1 >= Self.formatVersion, let saved = json[path: "model"] else { return }
        let mine = try JSONValue(config)
        if let field = Self.firstDifference(saved, mine, at: "model") {
            throw RunDirectoryError(
                message:
                    "\(file(weights).path): its model configuration differs from config.json's at \(field.path) (\(field.saved) in config.json, \(field.weights) in the weights): the weights belong to another run"
            )
        }
    }

    /// Loads the model in `weights` — whichever of `types` it holds, the file read once — and checks it against
    /// config.json (`checkModel`).
    public func loadModel(_ weights: String, oneOf types: [any ConfigurableModel.Type], kind: String) throws
        -> any ConfigurableModel
    {
        let model = try ModelFile.load(from: file(weights), oneOf: types, kind: kind)
        func check<M: ConfigurableModel>(_ m: M) throws {
            try checkModel(typeName: String(describing: M.self), config: m.config, weights: weights)
        }
        try check(model)
        return model
    }

    /// Checks that a tokenizer file of the run has exactly the vocabulary the model's embedding was built for.
    public func checkVocabulary(of tokenizer: Tokenizer, file name: String, model size: Int) throws {
        guard tokenizer.vocabularySize == size else {
            throw RunDirectoryError(
                message:
                    "\(file(name).path): has \(tokenizer.vocabularySize) tokens but the model's embedding has \(size) rows: the tokenizer belongs to another run"
            )
        }
    }

    static func firstDifference(_ a: JSONValue, _ b: JSONValue, at path: String) -> (
        path: String, saved: String, weights: String
    )? {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            for key in Set(x.keys).union(y.keys).sorted() {
                if let d = firstDifference(x[key] ?? .null, y[key] ?? .null, at: path + "." + key) { return d }
            }
            return nil
        case (.array(let x), .array(let y)) where x.count == y.count:
            for (i, (u, v)) in zip(x, y).enumerated() {
                if let d = firstDifference(u, v, at: "\(path)[\(i)]") { return d }
            }
            return nil
        default:
            return a == b ? nil : (path, a.description, b.description)
        }
    }

    /// Throws unless the directory exists and holds `files` (a `kind` run directory written by training).
    public func check(holds files: [String], kind: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw RunDirectoryError(message: "\(path) is not a directory (pass the run directory that training wrote)")
        }
        for f in files where !FileManager.default.fileExists(atPath: file(f).path) {
            throw RunDirectoryError(
                message: "\(path) has no \(f): not a \(kind) run directory, or training has not finished an epoch")
        }
    }

    /// `best`, `last`, `averaged` (checkpoint averaging) or a file name in the directory: the weights file it names.
    public static func weightsFile(_ choice: String) -> String {
        ["best", "last", "averaged"].contains(choice) ? choice + ".safetensors" : choice
    }
}

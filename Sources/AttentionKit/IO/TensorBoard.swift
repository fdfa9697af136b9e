// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (SwiftProtobuf requires the name `_protobuf_nameMap` of its message types.)

import Foundation
import SwiftProtobuf

/// TensorBoard event files: what `tensorboard --logdir runs/` reads. A file `events.out.tfevents.TIME.HOST.PID.N`
/// holds TFRecord-framed `Event` protocol buffers (TensorFlow's `event.proto` and `summary.proto`): the first says
/// the file version ("brain.Event:2"), the others carry summaries — scalars (`simple_value`) and text (the text
/// plugin's string tensor). Each record is the data's length (UInt64, little-endian), the masked CRC-32C of those 8
/// bytes, the data, and the masked CRC-32C of the data. The messages are encoded by swift-protobuf.
public final class TensorBoardWriter {
    /// The event file (`events.out.tfevents.*`).
    public let url: URL
    let handle: FileHandle

    /// Starts a new event file in `directory` (created if needed); a resumed run gets a file of its own beside the
    /// earlier ones, as TensorBoard expects.
    public init(directory: URL, wallTime: Double = Date().timeIntervalSince1970) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.isEmpty ? "localhost" : ProcessInfo.processInfo.hostName
        var name = "", n = 0
        repeat {
            name = String(
                format: "events.out.tfevents.%010d.%@.%d.%d", Int(wallTime), host,
                ProcessInfo.processInfo.processIdentifier, n)
            n += 1
        } while FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path)
        url = directory.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CheckpointError.invalidState("\(url.path): cannot create the TensorBoard event file")
        }
        handle = try FileHandle(forWritingTo: url)
        var first = TBEvent()
        first.wallTime = wallTime
        first.fileVersion = "brain.Event:2"
        try write(first)
    }

    deinit { try? handle.close() }

    /// One scalar at `step` (a point of the curve `tag`).
    public func scalar(_ tag: String, _ value: Double, step: Int, wallTime: Double = Date().timeIntervalSince1970)
        throws
    {
        var v = TBSummary.Value()
        v.tag = tag
        v.simpleValue = Float(value)
        try write(event(wallTime, step, [v]))
    }

    /// Several scalars at one step, in one event.
    public func scalars(
        _ values: [(tag: String, value: Double)], step: Int, wallTime: Double = Date().timeIntervalSince1970
    ) throws {
        guard !values.isEmpty else { return }
        try write(
            event(
                wallTime, step,
                values.map { t in
                    var v = TBSummary.Value()
                    v.tag = t.tag
                    v.simpleValue = Float(t.value)
                    return v
                }))
    }

    /// Text (Markdown) shown in TensorBoard's Text tab (as PyTorch's `SummaryWriter.add_text` writes it; its tags end
    /// in "/text_summary").
    public func text(_ tag: String, _ markdown: String, step: Int, wallTime: Double = Date().timeIntervalSince1970)
        throws
    {
        var v = TBSummary.Value()
        v.tag = tag
        v.metadata.pluginData.pluginName = "text"
        v.tensor.dtype = 7  // DT_STRING
        v.tensor.shape = [1]  // as torch.utils.tensorboard writes text
        v.tensor.stringVal = [Data(markdown.utf8)]
        try write(event(wallTime, step, [v]))
    }

    func event(_ wallTime: Double, _ step: Int, _ values: [TBSummary.Value]) -> TBEvent {
        var e = TBEvent()
        e.wallTime = wallTime
        e.step = Int64(step)
        e.summary.value = values
        e.hasSummary = true
        return e
    }

    func write(_ event: TBEvent) throws {
        try handle.write(contentsOf: TFRecord.frame(try event.serializedBytes()))
    }

    /// Makes what was written durable (at the end of an epoch).
    public func flush() throws { try handle.synchronize() }

    /// The events of an event file (for tests and tools): each record's frame and checksums are verified.
    public static func read(_ url: URL) throws -> [TBEvent] {
        try TFRecord.records(in: Data(contentsOf: url), file: url.path).map { try TBEvent(serializedBytes: $0) }
    }
}

/// TFRecord framing with CRC-32C (Castagnoli) checksums, masked as TensorFlow masks them.
public enum TFRecord {
    /// CRC-32C's table (reflected polynomial 0x82F63B78).
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32C of `bytes` (RFC 3720's check value: "123456789" → 0xE3069283).
    public static func crc32c<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// TensorFlow's mask: rotate right by 15 and add a constant (a CRC of data holding CRCs stays meaningful).
    public static func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

    /// One record: length, its masked CRC, the data, its masked CRC.
    public static func frame(_ data: [UInt8]) -> Data {
        let length = littleEndian(UInt64(data.count))
        return Data(length + littleEndian(masked(crc32c(length))) + data + littleEndian(masked(crc32c(data))))
    }

    /// The records of a TFRecord file.
    /// - Throws: naming the file and the byte offset of a truncated record or a checksum that does not match.
    public static func records(in data: Data, file: String) throws -> [[UInt8]] {
        let bytes = [UInt8](data)
        var out: [[UInt8]] = [], i = 0
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        while i < bytes.count {
            guard i + 12 <= bytes.count else {
                throw CheckpointError.invalidFile("\(file): byte \(i): a record header is cut short")
            }
            let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[i + $1]) << (8 * $1) }
            guard masked(crc32c(bytes[i..<(i + 8)])) == u32(i + 8) else {
                throw CheckpointError.invalidFile("\(file): byte \(i): the length's checksum does not match")
            }
            guard length <= UInt64(bytes.count - i - 16) else {
                throw CheckpointError.invalidFile("\(file): byte \(i): a record of \(length) bytes is cut short")
            }
            let start = i + 12, end = start + Int(length)
            guard masked(crc32c(bytes[start..<end])) == u32(end) else {
                throw CheckpointError.invalidFile("\(file): byte \(start): the record's checksum does not match")
            }
            out.append(Array(bytes[start..<end]))
            i = end + 4
        }
        return out
    }
}

// MARK: - TensorFlow's event.proto and summary.proto, the fields TensorBoard's scalars and text use
// (binary encoding only: the name maps for the text and JSON formats are left empty).

/// `tensorflow.Event`: wall_time = 1, step = 2, file_version = 3, summary = 5.
public struct TBEvent: Sendable {
    /// Seconds since 1970 when the event was written.
    public var wallTime: Double = 0
    /// The training step.
    public var step: Int64 = 0
    /// The file-version header of the first event ("brain.Event:2").
    public var fileVersion: String = ""
    /// The summary values, when `hasSummary`.
    public var summary = TBSummary()
    /// Whether the event carries a summary.
    public var hasSummary = false
    /// Fields this reader does not know, kept so that re-encoding loses nothing.
    public var unknownFields = UnknownStorage()
    /// An empty message.
    public init() {}
}

/// `tensorflow.Summary`: repeated Value value = 1.
public struct TBSummary: Sendable {
    /// The tagged values.
    public var value: [Value] = []
    /// Fields this reader does not know, kept so that re-encoding loses nothing.
    public var unknownFields = UnknownStorage()
    /// An empty message.
    public init() {}

    /// `Summary.Value`: tag = 1, simple_value = 2, tensor = 8, metadata = 9.
    public struct Value: Sendable {
        /// The value's name (e.g. "train/loss").
        public var tag: String = ""
        /// A scalar.
        public var simpleValue: Float? = nil
        /// A tensor value (text summaries are string tensors).
        public var tensor = TBTensor() { didSet { hasTensor = true } }
        /// Whether `tensor` is set.
        public var hasTensor = false
        /// Which TensorBoard plugin shows the value (e.g. "text").
        public var metadata = TBSummaryMetadata() { didSet { hasMetadata = true } }
        /// Whether `metadata` is set.
        public var hasMetadata = false
        /// Fields this reader does not know, kept so that re-encoding loses nothing.
        public var unknownFields = UnknownStorage()
        /// An empty message.
        public init() {}
    }
}

/// `tensorflow.SummaryMetadata`: plugin_data = 1 (`PluginData`: plugin_name = 1, content = 2).
public struct TBSummaryMetadata: Sendable {
    /// The plugin that shows the value.
    public var pluginData = TBPluginData()
    /// Fields this reader does not know, kept so that re-encoding loses nothing.
    public var unknownFields = UnknownStorage()
    /// An empty message.
    public init() {}
}

/// `tensorflow.SummaryMetadata.PluginData`: a plugin's name and its settings.
public struct TBPluginData: Sendable {
    /// The plugin's name ("text", "scalars").
    public var pluginName: String = ""
    /// The plugin's own serialized settings (empty here).
    public var content = Data()
    /// Fields this reader does not know, kept so that re-encoding loses nothing.
    public var unknownFields = UnknownStorage()
    /// An empty message.
    public init() {}
}

/// `tensorflow.TensorProto`: dtype = 1, tensor_shape = 2, string_val = 8.
public struct TBTensor: Sendable {
    /// The element type (`DT_STRING` = 7 for text).
    public var dtype: Int32 = 0
    /// The dimensions (nil: no shape field).
    public var shape: [Int64]? = nil
    /// The elements of a string tensor.
    public var stringVal: [Data] = []
    /// Fields this reader does not know, kept so that re-encoding loses nothing.
    public var unknownFields = UnknownStorage()
    /// An empty message.
    public init() {}
}

/// `tensorflow.TensorShapeProto`: repeated Dim dim = 2 (`Dim`: size = 1).
struct TBShape: Message, _MessageImplementationBase, _ProtoNameProviding {
    static let protoMessageName = "tensorflow.TensorShapeProto"
    static let _protobuf_nameMap = _NameMap()
    var dims: [Dim] = []
    var unknownFields = UnknownStorage()
    init() {}
    init(_ sizes: [Int64]) {
        dims = sizes.map {
            var d = Dim(); d.size = $0; return d
        }
    }
    mutating func decodeMessage<D: Decoder>(decoder: inout D) throws {
        while let field = try decoder.nextFieldNumber() {
            if field == 2 { try decoder.decodeRepeatedMessageField(value: &dims) }
        }
    }
    func traverse<V: Visitor>(visitor: inout V) throws {
        if !dims.isEmpty { try visitor.visitRepeatedMessageField(value: dims, fieldNumber: 2) }
        try unknownFields.traverse(visitor: &visitor)
    }
    static func == (a: Self, b: Self) -> Bool { a.dims == b.dims && a.unknownFields == b.unknownFields }

    struct Dim: Message, _MessageImplementationBase, _ProtoNameProviding {
        static let protoMessageName = "tensorflow.TensorShapeProto.Dim"
        static let _protobuf_nameMap = _NameMap()
        var size: Int64 = 0
        var unknownFields = UnknownStorage()
        init() {}
        mutating func decodeMessage<D: Decoder>(decoder: inout D) throws {
            while let field = try decoder.nextFieldNumber() {
                if field == 1 { try decoder.decodeSingularInt64Field(value: &size) }
            }
        }
        func traverse<V: Visitor>(visitor: inout V) throws {
            if size != 0 { try visitor.visitSingularInt64Field(value: size, fieldNumber: 1) }
            try unknownFields.traverse(visitor: &visitor)
        }
        static func == (a: Self, b: Self) -> Bool { a.size == b.size && a.unknownFields == b.unknownFields }
    }
}

extension TBEvent: Message, _MessageImplementationBase, _ProtoNameProviding {
    /// The protobuf message name (SwiftProtobuf `Message`).
    public static let protoMessageName = "tensorflow.Event"
    /// Field names for SwiftProtobuf's text and JSON formats (none: this message is only read and written in binary).
    public static let _protobuf_nameMap = _NameMap()
    /// Reads the fields this writer uses from a binary protobuf message (SwiftProtobuf `Message`).
    public mutating func decodeMessage<D: Decoder>(decoder: inout D) throws {
        while let field = try decoder.nextFieldNumber() {
            switch field {
            case 1: try decoder.decodeSingularDoubleField(value: &wallTime)
            case 2: try decoder.decodeSingularInt64Field(value: &step)
            case 3: try decoder.decodeSingularStringField(value: &fileVersion)
            case 5:
                var s: TBSummary? = nil
                try decoder.decodeSingularMessageField(value: &s)
                if let s { summary = s; hasSummary = true }
            default: break
            }
        }
    }
    /// Visits the set fields in field-number order for binary encoding (SwiftProtobuf `Message`).
    public func traverse<V: Visitor>(visitor: inout V) throws {
        if wallTime != 0 { try visitor.visitSingularDoubleField(value: wallTime, fieldNumber: 1) }
        if step != 0 { try visitor.visitSingularInt64Field(value: step, fieldNumber: 2) }
        if !fileVersion.isEmpty { try visitor.visitSingularStringField(value: fileVersion, fieldNumber: 3) }
        if hasSummary { try visitor.visitSingularMessageField(value: summary, fieldNumber: 5) }
        try unknownFields.traverse(visitor: &visitor)
    }
    /// Field-by-field equality, unknown fields included.
    public static func == (a: Self, b: Self) -> Bool {
        a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion && a.hasSummary == b.hasSummary
            && a.summary == b.summary && a.unknownFields == b.unknownFields
    }
}

extension TBSummary: Message, _MessageImplementationBase, _ProtoNameProviding {
    /// The protobuf message name (SwiftProtobuf `Message`).
    public static let protoMessageName = "tensorflow.Summary"
    /// Field names for SwiftProtobuf's text and JSON formats (none: this message is only read and written in binary).
    public static let _protobuf_nameMap = _NameMap()
    /// Reads the fields this writer uses from a binary protobuf message (SwiftProtobuf `Message`).
    public mutating func decodeMessage<D: Decoder>(decoder: inout D) throws {
        while let field = try decoder.nextFieldNumber() {
            if field == 1 { try decoder.decodeRepeatedMessageField(value: &value) }
        }
    }
    /// Visits the set fields in field-number order for binary encoding (SwiftProtobuf `Message`).
    public func traverse<V: Visitor>(visitor: inout V) throws {
        if !value.isEmpty { try visitor.visitRepeatedMessageField(value: value, fieldNumber: 1) }
        try unknownFields.traverse(visitor: &visitor)
    }
    /// Field-by-field equality, unknown fields included.
    public static func == (a: Self, b: Self) -> Bool { a.value == b.value && a.unknownFields == b.unknownFields }
}

extension TBSummary.Value: Message, _MessageImplementationBase, _ProtoNameProviding {
    /// The protobuf message name (SwiftProtobuf `Message`).
    public static let protoMessageName = "tensorflow.Summary.Value"
    /// Field names for SwiftProtobuf's text and JSON formats (none: this message is only read and written in binary).
    public static let _protobuf_nameMap = _NameMap()
    /// Reads the fields this writer uses from a binary protobuf message (SwiftProtobuf `Message`).
    public mutating func decodeMessage<D: Decoder>(decoder: inout D) throws {
        while let field = try decoder.nextFieldNumber() {
            switch field {
            case 1: try decoder.decodeSingularStringField(value: &tag)
            case 2: try decoder.decodeSingularFloatField(value: &simpleValue)
            case 8:
                var t: TBTensor? = nil
                try decoder.decodeSingularMessageField(value: &t)
                if let t { tensor = t }
            case 9:
                var m: TBSummaryMetadata? = nil
                try decoder.decodeSingularMessageField(value: &m)
                if let m { metadata = m }
            default: break
            }
        }
    }
    /// Visits the set fields in field-number order for binary encoding (SwiftProtobuf `Message`).
    public func traverse<V: Visitor>(visitor: inout V) throws {
        if !tag.isEmpty { try visitor.visitSingularStringField(value: tag, fieldNumber: 1) }
        if let simpleValue { try visitor.visitSingularFloatField(value: simpleValue, fieldNumber: 2) }
        if hasTensor { try visitor.visitSingularMessageField(value: tensor, fieldNumber: 8) }
        if hasMetadata { try visitor.visitSingularMessageField(value: metadata, fieldNumber: 9) }
        try unknownFields.traverse(visitor: &visitor)
    }
    /// Field-by-field equality, unknown fields included.
    public static func == (a: Self, b: Self) -> Bool {
        a.tag == b.tag && a.simpleValue == b.simpleValue && a.hasTensor == b.hasTensor && a.tensor == b.tensor
            && a.hasMetadata == b.hasMetadata && a.metadata == b.metadata && a.unknownFields == b.unknownFields
    }
}

extension TBSummaryMetadata: Message, _MessageImplementationBase, _ProtoNameProviding {
    /// The protobuf message name (SwiftProtobuf `Message`).
    public static let protoMessageName = "tensorflow.SummaryMetadata"
    /// Field names for SwiftProtobuf's text and JSON formats (none: this message is only read and written in binary).
    public static let _protobuf_nameMap = _NameMap()
    /// Reads the fields this writer uses from a binary protobuf message (SwiftProtobuf `Message`).
    public mutating func decodeMessage<D: Decoder>(decoder: inout D) throws {
        while let field = try decoder.nextFieldNumber() {
            if field == 1 {
                var p: TBPluginData? = nil
                try decoder.decodeSingularMessageField(value: &p)
                if let p { pluginData = p }
            }
        }
    }
    /// Visits the set fields in field-number order for binary encoding (SwiftProtobuf `Message`).
    public func traverse<V: Visitor>(visitor: inout V) throws {
        try visitor.visitSingularMessageField(value: pluginData, fieldNumber: 1)
        try unknownFields.traverse(visitor: &visitor)
    }
    /// Field-by-field equality, unknown fields included.
    public static func == (a: Self, b: Self) -> Bool {
        a.pluginData == b.pluginData && a.unknownFields == b.unknownFields
    }
}

extension TBPluginData: Message, _MessageImplementationBase, _ProtoNameProviding {
    /// The protobuf message name (SwiftProtobuf `Message`).
    public static let protoMessageName = "tensorflow.SummaryMetadata.PluginData"
    /// Field names for SwiftProtobuf's text and JSON formats (none: this message is only read and written in binary).
    public static let _protobuf_nameMap = _NameMap()
    /// Reads the fields this writer uses from a binary protobuf message (SwiftProtobuf `Message`).
    public mutating func decodeMessage<D: Decoder>(decoder: inout D) throws {
        while let field = try decoder.nextFieldNumber() {
            switch field {
            case 1: try decoder.decodeSingularStringField(value: &pluginName)
            case 2: try decoder.decodeSingularBytesField(value: &content)
            default: break
            }
        }
    }
    /// Visits the set fields in field-number order for binary encoding (SwiftProtobuf `Message`).
    public func traverse<V: Visitor>(visitor: inout V) throws {
        if !pluginName.isEmpty { try visitor.visitSingularStringField(value: pluginName, fieldNumber: 1) }
        if !content.isEmpty { try visitor.visitSingularBytesField(value: content, fieldNumber: 2) }
        try unknownFields.traverse(visitor: &visitor)
    }
    /// Field-by-field equality, unknown fields included.
    public static func == (a: Self, b: Self) -> Bool {
        a.pluginName == b.pluginName && a.content == b.content && a.unknownFields == b.unknownFields
    }
}

extension TBTensor: Message, _MessageImplementationBase, _ProtoNameProviding {
    /// The protobuf message name (SwiftProtobuf `Message`).
    public static let protoMessageName = "tensorflow.TensorProto"
    /// Field names for SwiftProtobuf's text and JSON formats (none: this message is only read and written in binary).
    public static let _protobuf_nameMap = _NameMap()
    /// Reads the fields this writer uses from a binary protobuf message (SwiftProtobuf `Message`).
    public mutating func decodeMessage<D: Decoder>(decoder: inout D) throws {
        while let field = try decoder.nextFieldNumber() {
            switch field {
            case 1: try decoder.decodeSingularEnumField(value: &dtypeEnum); dtype = Int32(dtypeEnum.rawValue)
            case 2:
                var s: TBShape? = nil
                try decoder.decodeSingularMessageField(value: &s)
                shape = s.map { $0.dims.map(\.size) }
            case 8: try decoder.decodeRepeatedBytesField(value: &stringVal)
            default: break
            }
        }
    }
    /// Visits the set fields in field-number order for binary encoding (SwiftProtobuf `Message`).
    public func traverse<V: Visitor>(visitor: inout V) throws {
        if dtype != 0 { try visitor.visitSingularEnumField(value: TBDataType(rawValue: Int(dtype)), fieldNumber: 1) }
        if let shape { try visitor.visitSingularMessageField(value: TBShape(shape), fieldNumber: 2) }
        if !stringVal.isEmpty { try visitor.visitRepeatedBytesField(value: stringVal, fieldNumber: 8) }
        try unknownFields.traverse(visitor: &visitor)
    }
    /// Field-by-field equality, unknown fields included.
    public static func == (a: Self, b: Self) -> Bool {
        a.dtype == b.dtype && a.shape == b.shape && a.stringVal == b.stringVal && a.unknownFields == b.unknownFields
    }
    private var dtypeEnum: TBDataType {
        get { TBDataType(rawValue: Int(dtype)) }
        set { dtype = Int32(newValue.rawValue) }
    }
}

/// `tensorflow.DataType` as an open enum (only its number is used).
struct TBDataType: SwiftProtobuf.Enum {
    var rawValue: Int
    init() { rawValue = 0 }
    init(rawValue: Int) { self.rawValue = rawValue }
}

import Foundation

/// A text with its label and the line it came from (1-based).
public struct LabelledText: Sendable, Equatable {
    public var label: String, text: String, line: Int
    /// A labelled example read from `line` (1-based) of its file.
    public init(label: String, text: String, line: Int) { self.label = label; self.text = text; self.line = line }
}

/// Readers for labelled text in the formats people have, and a stratified split.
public enum LabelledCorpus {
    /// The lines of a file; a line that is not valid UTF-8 is decoded as Latin-1 and reported (file, line, byte offset).
    public static func lines(of url: URL) throws -> (lines: [(number: Int, text: String)], notes: [String]) {
        let data: Data
        do { data = try UserFile.read(url) } catch {
            throw CorpusError("\(url.path): cannot read (\(UserFile.reason(for: error)))")
        }
        var out: [(Int, String)] = [], notes: [String] = []
        var start = data.startIndex, number = 1, offset = 0
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: 0x0A) ?? data.endIndex
            var line = data[start..<end]
            if line.last == 0x0D { line = line.dropLast() }
            let decoded = TextDecoding.decode(Data(line))
            if let bad = decoded.replacedByteOffsets.first {
                out.append((number, TextDecoding.decode(Data(line), encoding: .latin1).text))
                notes.append(
                    "\(url.path):\(number): not UTF-8 (byte offset \(offset + bad) in the file): read as Latin-1")
            } else {
                out.append((number, decoded.text))
            }
            offset += end - start + 1
            start = end < data.endIndex ? data.index(after: end) : end
            number += 1
        }
        return (out, notes)
    }

    /// TREC question classification: `COARSE:fine question text` per line. `fine` labels keep the coarse prefix
    /// (`DESC:manner`). Blank lines are skipped; a line without `LABEL:fine ` is an error naming the file and line.
    public static func readTREC(_ url: URL, fine: Bool = false) throws -> (examples: [LabelledText], notes: [String]) {
        let (lines, notes) = try lines(of: url)
        var out: [LabelledText] = []
        for (n, text) in lines where !text.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let space = text.firstIndex(of: " "), let colon = text[..<space].firstIndex(of: ":"),
                colon > text.startIndex, text.index(after: colon) < space
            else {
                throw CorpusError("\(url.path):\(n): expected 'COARSE:fine question', found '\(text.prefix(60))'")
            }
            let label = fine ? String(text[..<space]) : String(text[..<colon])
            let question = text[text.index(after: space)...].trimmingCharacters(in: .whitespaces)
            guard !question.isEmpty else { throw CorpusError("\(url.path):\(n): label '\(label)' has no question") }
            out.append(LabelledText(label: label, text: question, line: n))
        }
        return (out, notes)
    }

    /// Tab-separated `label<TAB>text` (e.g. the SMS Spam Collection), with 0-based label and text columns.
    public static func readTSV(_ url: URL, labelColumn: Int = 0, textColumn: Int = 1) throws -> (
        examples: [LabelledText], notes: [String]
    ) {
        let (lines, notes) = try lines(of: url)
        var out: [LabelledText] = []
        for (n, text) in lines where !text.trimmingCharacters(in: .whitespaces).isEmpty {
            let f = text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count > max(labelColumn, textColumn) else {
                throw CorpusError(
                    "\(url.path):\(n): \(f.count) tab-separated columns, need column \(max(labelColumn, textColumn) + 1)"
                )
            }
            let label = f[labelColumn].trimmingCharacters(in: .whitespaces),
                body = f[textColumn].trimmingCharacters(in: .whitespaces)
            guard !label.isEmpty, !body.isEmpty else { throw CorpusError("\(url.path):\(n): empty label or text") }
            out.append(LabelledText(label: label, text: body, line: n))
        }
        return (out, notes)
    }

    /// A seeded split that keeps each label's share: from every label, `fraction` of its examples (rounded, at
    /// least one when it has two or more) go to validation.
    public static func stratifiedSplit(_ examples: [LabelledText], validationFraction fraction: Double, seed: UInt64)
        -> (train: [LabelledText], validation: [LabelledText])
    {
        var g = RandomGenerator(seed: seed)
        var byLabel: [String: [Int]] = [:]
        for (i, e) in examples.enumerated() { byLabel[e.label, default: []].append(i) }
        var val = Set<Int>()
        for label in byLabel.keys.sorted() {
            var idx = byLabel[label]!
            idx.shuffle(using: &g)
            let n = idx.count < 2 ? 0 : max(1, Int((Double(idx.count) * fraction).rounded()))
            val.formUnion(idx.prefix(n))
        }
        return (
            examples.indices.filter { !val.contains($0) }.map { examples[$0] },
            examples.indices.filter { val.contains($0) }.map { examples[$0] }
        )
    }
}

import ArgumentParser
import AttentionKit
import Foundation

/// Prints a line to stdout immediately (stdout is block-buffered when redirected; progress lines must not wait).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Prints a note to stderr.
func note(_ line: String) {
    FileHandle.standardError.write(Data("note: \(line)\n".utf8))
}

/// Parses "a,b" into two different 1-based column numbers, returned 0-based.
func columnPair(_ text: String) throws -> (Int, Int) {
    let parts = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, parts.allSatisfy({ $0 >= 1 }), parts[0] != parts[1] else {
        throw ValidationError("--columns must be two different 1-based column numbers, e.g. 1,2")
    }
    return (parts[0] - 1, parts[1] - 1)
}

/// A comma-separated list of integers (-1 where an item is not one).
func integerList(_ text: String) -> [Int] {
    text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) ?? -1 }
}

/// `--beam` in 1…256: wider beams cost memory and time in proportion and, on a small model, only find worse
/// (shorter) translations.
func checkBeam(_ beam: Int) throws {
    guard (1...256).contains(beam) else { throw ValidationError("--beam must be in 1…256 (got \(beam))") }
}

/// Throws a usage error unless a given `--length-penalty` is in 0…5.
func checkLengthPenalty(_ alpha: Float?) throws {
    guard let alpha else { return }
    guard alpha.isFinite && (0...5).contains(alpha) else {
        throw ValidationError("--length-penalty must be finite and in 0…5 (got \(alpha))")
    }
}

/// Throws a usage error with `message` unless `condition` holds (one flag per message, with the value given).
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    guard condition else { throw ValidationError(message()) }
}

/// Throws when a flag that only one kind of model reads was given for another: `given` pairs each such flag's name
/// with whether it was given; `model` is the `--model` chosen and `kinds` the models that read those flags.
func requireOnly(_ given: [(flag: String, isSet: Bool)], for kinds: String, model: String) throws {
    let extra = given.filter(\.isSet).map(\.flag)
    guard extra.isEmpty else {
        throw ValidationError(
            "\(extra.joined(separator: ", ")) \(extra.count == 1 ? "is" : "are") only read by --model \(kinds), not by --model \(model)"
        )
    }
}

/// `--json`, the same on every inference verb: one JSON object per line on stdout (snake_case keys in the documented
/// order, numbers printed plainly) instead of the readable output; notes stay on stderr.
struct JSONOutput: ParsableArguments {
    @Flag(
        help:
            "Machine-readable output: one JSON object per line (snake_case keys, in the order --help documents), nothing else on stdout."
    )
    var json = false

    /// Prints `value` as one line.
    func emit(_ value: JSONLine) { say(value.text) }
}

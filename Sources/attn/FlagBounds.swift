import ArgumentParser
import AttentionKit
import Foundation

/// The checks every flag of every verb gets, after ArgumentParser has parsed it and before the verb runs: a number
/// must be finite (`--lr inf`, `--length-penalty nan`), a path or text must not be empty (`--out ''` would name the
/// current directory). Ranges that depend on the flag stay in each verb's `validate()`; model sizes are checked
/// against memory when the model's configuration is known (`ModelConfiguration.checkTrainable`).
enum FlagBounds {
    /// Flags whose empty value means something (an unconditioned sample, no special tokens, no title).
    static let mayBeEmpty: Set<String> = ["--prompt", "--sample-prompt", "--special-tokens", "--title"]

    static func check(_ command: Any) throws {
        try walk(Mirror(reflecting: command))
    }

    private static func walk(_ mirror: Mirror) throws {
        for child in mirror.children {
            guard let label = child.label, label.hasPrefix("_") else { continue }
            let name = String(label.dropFirst())
            switch child.value {
            case let group as any OptionGroupValue: try walk(Mirror(reflecting: group.groupValue))
            case let option as any FlagValue:
                guard let value = option.flagValue else { continue }
                try check(
                    value, flag: option.isPositional ? "<\(FlagNames.kebab(name))>" : "--" + FlagNames.kebab(name))
            default: continue
            }
        }
    }

    private static func check(_ value: Any, flag: String) throws {
        switch value {
        case let v as Float where !v.isFinite: throw ValidationError("\(flag) must be a finite number (got \(v))")
        case let v as Double where !v.isFinite: throw ValidationError("\(flag) must be a finite number (got \(v))")
        case let v as String where v.isEmpty && !mayBeEmpty.contains(flag):
            throw ValidationError("\(flag) is empty" + (flag.hasPrefix("--") ? ": give a value" : ""))
        case let vs as [String]: for v in vs { try check(v, flag: flag) }
        case let vs as [Float]: for v in vs { try check(v, flag: flag) }
        default: break
        }
    }
}

/// A parsed `@Option` or `@Argument` seen through reflection: its value (nil when an optional flag was not given).
protocol FlagValue {
    var flagValue: Any? { get }
    var isPositional: Bool { get }
}

/// A parsed `@OptionGroup`: its options.
protocol OptionGroupValue {
    var groupValue: Any { get }
}

/// Unwraps `Optional` values held as `Any`.
private func unwrapped(_ value: Any) -> Any? {
    let m = Mirror(reflecting: value)
    guard m.displayStyle == .optional else { return value }
    return m.children.first.map { unwrapped($0.value) } ?? nil
}

extension Option: FlagValue {
    var flagValue: Any? { unwrapped(wrappedValue) }
    var isPositional: Bool { false }
}

extension Argument: FlagValue {
    var flagValue: Any? { unwrapped(wrappedValue) }
    var isPositional: Bool { true }
}

extension OptionGroup: OptionGroupValue {
    var groupValue: Any { wrappedValue }
}

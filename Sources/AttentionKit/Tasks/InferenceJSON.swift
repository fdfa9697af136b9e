import Foundation

/// The JSON objects of the inference verbs, one per input: what `attn translate|classify|predict --json` print a line
/// of, and what `attn serve` answers with, built in one place so the two never differ. Keys are snake_case, in the
/// order given here.
public enum InferenceJSON {
    /// `{"source", "translation", "score", "n_best": [{"text", "score"}, …]}`; a blank source gives an empty
    /// translation, a null score and an empty n_best.
    public static func translation(source: String, hypotheses: [(text: String, score: Float)]) -> JSONLine {
        let blank = source.trimmingCharacters(in: .whitespaces).isEmpty
        let best = blank ? nil : hypotheses.first
        return .object([
            ("source", .string(source)), ("translation", .string(best?.text ?? "")),
            ("score", .number(best.map { Double($0.score) })),
            (
                "n_best",
                .array(
                    blank ? [] : hypotheses.map { .object([("text", .string($0.text)), ("score", .number($0.score))]) })
            )
        ])
    }

    /// `{"text", "label", "probability", "top": [{"label", "probability"}, …]}` (the K best); a blank text gives a
    /// null label and probability and an empty top.
    public static func classification(text: String, ranked: [(label: String, probability: Float)]) -> JSONLine {
        let blank = text.trimmingCharacters(in: .whitespaces).isEmpty || ranked.isEmpty
        return .object([
            ("text", .string(text)), ("label", blank ? .null : .string(ranked[0].label)),
            ("probability", blank ? .null : .number(ranked[0].probability)),
            ("top", blank ? .array([]) : rankedLabels(ranked))
        ])
    }

    /// `{"image", "label", "probability", "top": [{"label", "probability"}, …]}`: `image` names the picture (its
    /// path, or what the client called it).
    public static func image(_ name: String, ranked: [(label: String, probability: Float)]) -> JSONLine {
        .object([
            ("image", .string(name)), ("label", .string(ranked[0].label)),
            ("probability", .number(ranked[0].probability)), ("top", rankedLabels(ranked))
        ])
    }

    /// `[{"label", "probability"}, …]`, best first.
    public static func rankedLabels(_ r: [(label: String, probability: Float)]) -> JSONLine {
        .array(r.map { .object([("label", .string($0.label)), ("probability", .number($0.probability))]) })
    }
}

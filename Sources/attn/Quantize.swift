import ArgumentParser
import AttentionKit
import Foundation

/// `attn quantize`.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an int8 copy of a trained run (dynamic quantization) that every inference verb loads.",
        discussion: """
            Every Linear and Embedding weight becomes int8 with one scale per output row; activations are quantized \
            per row as they arrive and multiplied on oneDNN's int8 GEMM (int32 accumulation). Convolutions, \
            normalisation and biases stay float32. The run directory written holds config.json (with a \
            "quantization" entry), the tokenizers and labels, generation_config.json (its weights now best.safetensors), and best.safetensors (I8 weights beside F32 \
            "NAME_scale" tensors). translate, classify, predict, evaluate, attention and generate load it as they \
            load any run; `--int8` on those verbs quantizes a float run in memory instead. The last line is JSON: \
            {"out", "layers", "quantized_parameters", "parameters", "float_bytes", "int8_bytes"}.
            """
    )
    @Option(help: "Run directory written by `attn train` (a float run).")
    var checkpoint: String
    @Option(
        help:
            "Weights in the run directory: best, last, averaged (training with --average-last), or a file name in it. Default: the run's generation_config.json's, else best."
    )
    var weights: String?
    @Option(help: "The int8 run directory to write (default: the run's path + \"-int8\").")
    var out: String?
    @Flag(help: "Replace --out if it exists.")
    var overwrite = false

    func run() throws {
        let source = RunDirectory(path: checkpoint)
        let target = out ?? (checkpoint.hasSuffix("/") ? String(checkpoint.dropLast()) : checkpoint) + "-int8"
        let r = try Quantization.quantizeRun(
            source, weights: try weights.map(RunDirectory.weightsFile) ?? source.defaultWeightsFile(),
            to: RunDirectory(path: target), overwrite: overwrite)
        let share = Double(r.quantizedParameters) / Double(max(r.parameters, 1)) * 100
        say(
            "int8: \(r.layers) Linear layers compute in int8 (oneDNN, \(Int8GEMM.isa)); \(r.matrices) weight matrices stored as int8: \(r.quantizedParameters) of \(r.parameters) parameters (\(String(format: "%.1f", share))%)"
        )
        say(
            "weights: \(String(format: "%.2f", Double(r.floatBytes) / 1_048_576)) MiB float32 → \(String(format: "%.2f", Double(r.int8Bytes) / 1_048_576)) MiB int8 (\(String(format: "%.2f", Double(r.int8Bytes) / Double(max(r.floatBytes, 1))))×); run directory \(r.output)"
        )
        let line = JSONLine.object([
            ("out", .string(r.output)), ("layers", .integer(r.layers)),
            ("quantized_parameters", .integer(r.quantizedParameters)), ("parameters", .integer(r.parameters)),
            ("float_bytes", .integer(r.floatBytes)), ("int8_bytes", .integer(r.int8Bytes))
        ])
        say(line.text)
    }
}

import Foundation

/// Loading weights trained in PyTorch (saved with `safetensors.torch.save_file(model.state_dict(), …)`) into
/// AttentionKit models, by a documented renaming of parameter paths.
///
/// `nn.Transformer` / `nn.TransformerEncoder(Layer)` / `nn.TransformerDecoder(Layer)` / `nn.MultiheadAttention`
/// (`transformerName`), per path component:
///
/// | PyTorch | AttentionKit |
/// |---|---|
/// | `self_attn` | `selfAttention` |
/// | `multihead_attn` | `crossAttention` |
/// | `in_proj_weight`, `in_proj_bias` | `inProjection.weight`, `inProjection.bias` |
/// | `q_proj_weight`, `k_proj_weight`, `v_proj_weight` | `query.weight`, `key.weight`, `value.weight` |
/// | `out_proj` | `outProjection` |
/// | `in_proj_bias` with separate projections | split in three: `query.bias`, `key.bias`, `value.bias` |
/// | `linear1`, `linear2`, `norm1…3`, `layers.N`, `encoder.norm`, `decoder.norm` | unchanged |
///
/// timm `VisionTransformer` (`timmViTName`): `patch_embed.proj` → `patchEmbedding.projection`, `cls_token` →
/// `classToken`, `pos_embed` → `positionEmbedding`, `blocks.N` → `encoder.layers.N`, `attn.qkv` →
/// `selfAttention.inProjection`, `attn.proj` → `selfAttention.outProjection`, `mlp.fc1`/`mlp.fc2` →
/// `linear1`/`linear2`, `norm` → `encoder.norm`, `head` → `head` (class-token pooling; timm's LayerNorm eps 1e-6).
public enum PyTorchWeights {
    /// PyTorch `nn.Transformer*` / `nn.MultiheadAttention` path → AttentionKit path.
    public static func transformerName(_ name: String) -> String {
        let table = [
            "self_attn": "selfAttention", "multihead_attn": "crossAttention", "in_proj_weight": "inProjection.weight",
            "in_proj_bias": "inProjection.bias", "q_proj_weight": "query.weight", "k_proj_weight": "key.weight",
            "v_proj_weight": "value.weight", "out_proj": "outProjection"
        ]
        return name.split(separator: ".", omittingEmptySubsequences: false).map { table[String($0)] ?? String($0) }
            .joined(separator: ".")
    }

    /// timm ViT path → AttentionKit `VisionTransformer` path.
    public static func timmViTName(_ name: String) -> String {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "patch_embed": parts.replaceSubrange(0..<min(2, parts.count), with: ["patchEmbedding", "projection"])
        case "cls_token": parts[0] = "classToken"
        case "pos_embed": parts[0] = "positionEmbedding"
        case "norm": parts[0] = "encoder.norm"
        case "blocks":
            parts[0] = "encoder.layers"
            let rest = Array(parts.dropFirst(2)).joined(separator: ".")
            let map = [
                "attn.qkv": "selfAttention.inProjection", "attn.proj": "selfAttention.outProjection",
                "mlp.fc1": "linear1", "mlp.fc2": "linear2"
            ]
            for (from, to) in map where rest.hasPrefix(from + ".") {
                return "encoder.layers.\(parts[1]).\(to)" + rest.dropFirst(from.count)
            }
            return "encoder.layers.\(parts[1]).\(rest)"
        default: break
        }
        return parts.joined(separator: ".")
    }

    /// Copies `tensors` (PyTorch names) into `model` after renaming each with `rename`.
    /// - Throws: `WeightImportError` listing every missing, unexpected and mis-shaped tensor at once.
    public static func load(
        _ tensors: [String: Tensor], into model: some Module, rename: (String) -> String, source: String = "weights"
    ) throws {
        var renamed: [String: Tensor] = [:], origin: [String: String] = [:]
        for (name, t) in tensors {
            let n = rename(name)
            renamed[n] = t
            origin[n] = name
        }
        let own = model.stateDict()
        let ownNames = Set(own.map(\.name))
        // separate query/key/value projections: PyTorch still packs their biases into one in_proj_bias
        for name in Array(renamed.keys) where name.hasSuffix("inProjection.bias") && !ownNames.contains(name) {
            let stem = String(name.dropLast("inProjection.bias".count))
            guard ownNames.contains(stem + "query.bias"), let t = renamed[name], t.rank == 1, t.shape[0] % 3 == 0 else {
                continue
            }
            let parts = t.split([t.shape[0] / 3, t.shape[0] / 3, t.shape[0] / 3])
            for (part, key) in zip(parts, ["query", "key", "value"]) {
                renamed[stem + key + ".bias"] = part; origin[stem + key + ".bias"] = origin[name]
            }
            renamed[name] = nil
        }
        var err = WeightImportError(source: source)
        err.unexpected = renamed.keys.filter { !ownNames.contains($0) }.map { origin[$0]! + " (→ \($0))" }.sorted()
        for (name, t) in own {
            guard let src = renamed[name] else { err.missing.append(name); continue }
            if src.shape != t.shape {
                err.misshaped.append(
                    "\(origin[name]!) → \(name): \(fmt(src.shape)) in the file, expected \(fmt(t.shape))")
            }
        }
        guard err.missing.isEmpty && err.unexpected.isEmpty && err.misshaped.isEmpty else { throw err }
        for (name, t) in own { t.assign(renamed[name]!.to(t.dtype)) }
    }

    /// Loads a safetensors file holding a PyTorch `nn.Transformer*` or `nn.MultiheadAttention` state dict.
    public static func loadTransformer(from url: URL, into model: some Module) throws {
        try load(try Safetensors.read(from: url).tensors, into: model, rename: transformerName, source: url.path)
    }

    /// Loads a safetensors file holding a timm ViT state dict into `model`.
    public static func loadTimmViT(from url: URL, into model: VisionTransformer) throws {
        try load(try Safetensors.read(from: url).tensors, into: model, rename: timmViTName, source: url.path)
    }
}

/// What did not fit when importing PyTorch weights: every problem at once.
public struct WeightImportError: Error, CustomStringConvertible {
    /// The weights file.
    public let source: String
    /// Model parameters the file lacks.
    public var missing: [String] = []
    /// Tensors in the file the model does not have.
    public var unexpected: [String] = []
    /// Tensors whose shape differs from the model's, with both shapes.
    public var misshaped: [String] = []

    /// Every mismatch, one per line, after the file's name.
    public var description: String {
        var lines = ["\(source): the weights do not fit the model"]
        if !missing.isEmpty { lines.append("  missing (\(missing.count)): " + missing.joined(separator: ", ")) }
        if !unexpected.isEmpty {
            lines.append("  unexpected (\(unexpected.count)): " + unexpected.joined(separator: ", "))
        }
        if !misshaped.isEmpty {
            lines.append("  mis-shaped (\(misshaped.count)): " + misshaped.joined(separator: "; "))
        }
        return lines.joined(separator: "\n")
    }
}

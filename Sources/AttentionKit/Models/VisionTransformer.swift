// The Vision Transformer (Dosovitskiy et al. 2021) and attention rollout (Abnar & Zuidema 2020).
// Dimension key: B batch, C channels, N patches, T = N (+1 with a class token), D model width, H heads.

/// Configuration of `VisionTransformer` (defaults: a small ViT for 32×32 CIFAR images, 4×4 patches).
public struct ViTConfig: Codable, Sendable, Equatable {
    /// Input side in pixels (square images).
    public var imageSize = 32
    /// Side of a square patch, in pixels.
    public var patchSize = 4
    /// Input channels (3 for RGB images).
    public var channels = 3
    /// Number of classes the head predicts.
    public var classes = 10
    /// Model width.
    public var dModel = 192
    /// Transformer blocks.
    public var depth = 6
    /// Attention heads; they divide `dModel`.
    public var heads = 3
    /// Feed-forward width = mlpRatio · D.
    public var mlpRatio: Float = 4
    /// Dropout on the embeddings and residual branches.
    public var dropout: Float = 0
    /// Dropout on the attention weights.
    public var attentionDropout: Float = 0
    /// Stochastic depth: the last block's drop-path rate (rising linearly from 0).
    public var dropPath: Float = 0.1
    /// How patch tokens become one vector: the class token, the mean, or attention (sequence) pooling.
    public var pooling: Pooling = .cls
    /// `.learned` (trained, N(0, 0.02²)) or `.sinusoidal` (fixed 2-D sin-cos, MAE style).
    public var positions: PositionKind = .learned
    /// LayerNorm's epsilon (timm: 1e-6).
    public var layerNormEps: Float = 1e-6
    /// Whether the query/key/value projection has a bias.
    public var qkvBias = true
    /// A convolutional tokenizer instead of patches (CCT, Hassani et al. 2021); nil: non-overlapping patches.
    public var convTokenizer: ConvTokenizerConfig?

    /// The default configuration.
    public init() {}

    /// Tokens per side of the grid: imageSize / patchSize, or imageSize / 2^layers with a convolutional tokenizer.
    public var patchesPerSide: Int { convTokenizer.map { imageSize >> $0.layers } ?? imageSize / patchSize }
    /// Patch tokens per image.
    public var patchCount: Int { patchesPerSide * patchesPerSide }
}

/// CCT's tokenizer: `layers` × (Conv2d k×k, stride 1, same padding, no bias → ReLU → MaxPool 3×3, stride 2,
/// padding 1); the inner layers have `channels` maps, the last one D. Each layer halves the side: 32×32 images
/// through 2 layers give 8×8 = 64 tokens that overlap and carry local structure a linear patch projection lacks.
public struct ConvTokenizerConfig: Codable, Sendable, Equatable {
    /// Convolution layers.
    public var layers = 2
    /// Channels of the hidden convolutions.
    public var channels = 64
    /// Kernel side of each convolution.
    public var kernel = 3
    /// A tokenizer of `layers` convolutions of `kernel`×`kernel`.
    public init(layers: Int = 2, channels: Int = 64, kernel: Int = 3) {
        self.layers = layers; self.channels = channels; self.kernel = kernel
    }
}

/// The convolutional tokenizer (`ConvTokenizerConfig`): images [B, C, H, W] → tokens [B, N, D], row-major.
public final class ConvTokenizer: Layer {
    /// The convolutions, each followed by ReLU and a 3×3 max pool of stride 2.
    public var convolutions: [Conv2d]
    let pool = MaxPool2d(3, stride: 2, padding: 1)
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A convolutional tokenizer from `channels` to tokens of width `dModel`.
    public init(channels: Int, dModel: Int, config c: ConvTokenizerConfig, using g: inout RandomGenerator) {
        convolutions = (0..<c.layers).map { i in
            Conv2d(
                i == 0 ? channels : c.channels, i == c.layers - 1 ? dModel : c.channels,
                kernelSize: (c.kernel, c.kernel),
                stride: (1, 1), padding: (c.kernel / 2, c.kernel / 2), bias: false, using: &g)
        }
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        convolutions.enumerated().map { ("convolutions.\($0.offset)", $0.element) }
    }

    /// Tokens [B, N, dModel] for images [B, C, H, W].
    public func callAsFunction(_ images: Tensor) -> Tensor {
        var x = images
        for conv in convolutions { x = pool(conv(x).relu()) }
        return x.flatten(from: 2).permute([0, 2, 1])  // [B, N, D]
    }
}

/// Cuts an image into non-overlapping p×p patches and projects each to D: a Conv2d with kernel = stride = p.
/// images [B, C, H, W] → tokens [B, N, D], patches row-major.
public final class PatchEmbedding: Layer {
    /// The patch projection: a convolution with kernel and stride `patchSize`.
    public var projection: Conv2d
    /// Side of a square patch, in pixels.
    public let patchSize: Int
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A patch embedding from `channels` to tokens of width `dModel`.
    public init(channels: Int, dModel: Int, patchSize: Int, using g: inout RandomGenerator) {
        self.patchSize = patchSize
        projection = Conv2d(channels, dModel, kernelSize: patchSize, stride: patchSize, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] { [("projection", projection)] }

    /// Tokens [B, (H/p)·(W/p), dModel] for images [B, C, H, W], row-major patches.
    public func callAsFunction(_ images: Tensor) -> Tensor {
        guard images.rank == 4, images.shape[2] % patchSize == 0, images.shape[3] % patchSize == 0 else {
            shapeFailure(
                ShapeError(
                    "PatchEmbedding: images \(fmt(images.shape)) are not [B, C, H, W] with H and W multiples of \(patchSize)"
                ))
        }
        let y = projection(images)  // [B, D, H/p, W/p]
        return y.flatten(from: 2).permute([0, 2, 1])  // [B, N, D]
    }
}

/// ViT: patch embedding, class token (or global average pooling), learned or 2-D sin-cos positions, a pre-norm
/// GELU encoder with drop-path, a final layer norm and a linear head. images [B, C, H, W] → logits [B, classes].
/// Parameter paths follow ours (`encoder.layers.N.selfAttention.inProjection.weight`); `PyTorchWeights` maps timm's.
public final class VisionTransformer: Module, ConfigurableModel {
    /// The model's configuration.
    public let config: ViTConfig
    /// Non-overlapping patches (nil with a convolutional tokenizer).
    public var patchEmbedding: PatchEmbedding?
    /// CCT's convolutional tokenizer (`ViTConfig.convTokenizer`).
    public var convTokenizer: ConvTokenizer?
    /// [1, 1, D] when pooling is `.cls`.
    public var classToken: Tensor?
    /// [1, T, D]: a parameter when learned, a buffer when sin-cos.
    public var positionEmbedding: Tensor
    /// Dropout after the positions are added.
    public var positionDropout: Dropout
    /// The transformer encoder with its final LayerNorm.
    public var encoder: TransformerEncoder
    /// Sequence pooling's scores (`.attention` pooling).
    public var attentionPool: AttentionPooling?
    /// The classification head.
    public var head: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A ViT initialised as timm's (truncated normal 0.02 for linear layers and positions, zero head).
    public init(config c: ViTConfig, using g: inout RandomGenerator) {
        precondition(
            c.imageSize % c.patchSize == 0,
            "ViT: image size \(c.imageSize) is not a multiple of the patch size \(c.patchSize)")
        config = c
        if let t = c.convTokenizer {
            convTokenizer = ConvTokenizer(channels: c.channels, dModel: c.dModel, config: t, using: &g)
        } else {
            patchEmbedding = PatchEmbedding(channels: c.channels, dModel: c.dModel, patchSize: c.patchSize, using: &g)
        }
        let cls = c.pooling == .cls
        classToken = cls ? Tensor.normal([1, 1, c.dModel], std: 0.02, using: &g).requiringGrad() : nil
        let tokens = c.patchCount + (cls ? 1 : 0)
        switch c.positions {
        case .learned: positionEmbedding = Tensor.normal([1, tokens, c.dModel], std: 0.02, using: &g).requiringGrad()
        case .sinusoidal:
            positionEmbedding = sinusoidalTable2D(
                rows: c.patchesPerSide, columns: c.patchesPerSide, dim: c.dModel, classToken: cls
            )
            .reshape([1, tokens, c.dModel])
        }
        positionDropout = Dropout(p: c.dropout, using: &g)
        let lc = TransformerLayerConfig(
            dModel: c.dModel, heads: c.heads, feedForward: Int(Float(c.dModel) * c.mlpRatio),
            dropout: c.dropout, attentionDropout: c.attentionDropout, activation: .gelu,
            normFirst: true, layerNormEps: c.layerNormEps, bias: c.qkvBias)
        encoder = TransformerEncoder(lc, layers: c.depth, finalNorm: true, dropPath: c.dropPath, using: &g)
        attentionPool = c.pooling == .attention ? AttentionPooling(c.dModel, using: &g) : nil
        head = Linear(c.dModel, c.classes, using: &g)
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        (classToken.map { [("classToken", $0)] } ?? [])
            + (config.positions == .learned ? [("positionEmbedding", positionEmbedding)] : [])
    }
    /// This module's own non-trainable state saved in checkpoints (running statistics), by local name.
    public var localBuffers: [(name: String, tensor: Tensor)] {
        config.positions == .learned ? [] : [("positionEmbedding", positionEmbedding)]
    }
    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        (patchEmbedding.map { [("patchEmbedding", $0 as any Module)] } ?? [])
            + (convTokenizer.map { [("convTokenizer", $0 as any Module)] } ?? [])
            + [("positionDropout", positionDropout), ("encoder", encoder)]
            + (attentionPool.map { [("attentionPool", $0 as any Module)] } ?? []) + [("head", head)]
    }

    /// Encoder states after the final norm, [B, T, D] (the class token first when there is one).
    public func features(_ images: Tensor) -> Tensor { encoder(tokens(images)) }

    /// Patch embeddings with the class token and positions, [B, T, D]: the encoder's input.
    private func tokens(_ images: Tensor) -> Tensor {
        var x = patchEmbedding.map { $0(images) } ?? convTokenizer!(images)  // [B, N, D]
        if let classToken { x = Tensor.concat([classToken.expand([x.shape[0], 1, config.dModel]), x], axis: 1) }
        return positionDropout(x + positionEmbedding)
    }

    /// Logits [B, classes]. With class-token pooling the last encoder layer computes only the class token's row (the
    /// other rows' query, projection and MLP feed nothing: same logits, ~1/7 less work for 6 layers); while attention
    /// maps are being captured it runs whole, so every layer's map covers every query.
    public func callAsFunction(_ images: Tensor) -> Tensor {
        if config.pooling == .cls && AttentionCapture.recorder == nil {
            return head(encoder(tokens(images), firstRows: 1).select(axis: 1, index: 0))
        }
        let h = features(images)
        switch config.pooling {
        case .cls: return head(h.select(axis: 1, index: 0))
        case .mean: return head(h.mean(axis: 1))
        case .max: return head(h.max(axis: 1))
        case .attention: return head(attentionPool!(h))
        case .concat: preconditionFailure("VisionTransformer: concat pooling is for recurrent classifiers")
        }
    }
}

/// How attention rollout fuses the heads of a layer.
public enum HeadFusion: String, Codable, Sendable { case mean, max, min }

/// Attention rollout (Abnar & Zuidema 2020): per layer, fuse the heads of A [B, H, T, T] (mean, max or min), zero
/// the lowest `discardRatio` of each map (never the class token's own entry), add the identity for the residual
/// path, renormalise rows — Â = (A + I)/rowsum — and multiply through the layers, R = Â_L ⋯ Â_1.
/// - Parameters:
///   - maps: per layer in forward order (`AttentionMaps.entries` of a ViT).
///   - headFusion: how each layer's heads are fused: mean, max or min.
///   - discardRatio: the fraction of each fused map's lowest weights set to zero (0: none).
/// - Returns: R [B, T, T]; its row 0 from column 1 on is the class token's map over the patches (`classTokenRollout`).
public func attentionRollout(_ maps: [Tensor], headFusion: HeadFusion = .mean, discardRatio: Float = 0) -> Tensor {
    precondition(!maps.isEmpty, "attentionRollout: no attention maps")
    precondition(
        discardRatio >= 0 && discardRatio < 1, "attentionRollout: discard ratio \(discardRatio) must be in [0, 1)")
    return withNoGrad {
        let b = maps[0].shape[0], t = maps[0].shape[2]
        var result = Tensor.eye(t).expand([b, t, t]).copy()
        for a in maps {
            precondition(
                a.rank == 4 && a.shape[0] == b && a.shape[2] == t && a.shape[3] == t,
                "attentionRollout: map \(fmt(a.shape)) is not [B, H, T, T] = [\(b), _, \(t), \(t)]")
            let fused: Tensor
            switch headFusion {
            case .mean: fused = a.to(.float32).mean(axis: 1)
            case .max: fused = a.to(.float32).max(axis: 1)
            case .min: fused = a.to(.float32).min(axis: 1)
            }
            var vals = fused.scalars  // [B·T·T]
            let drop = Int(Float(t * t) * discardRatio)
            if drop > 0 {
                for bi in 0..<b {
                    let base = bi * t * t
                    let order = (1..<(t * t)).sorted {
                        vals[base + $0] != vals[base + $1] ? vals[base + $0] < vals[base + $1] : $0 < $1
                    }
                    for j in order.prefix(drop) { vals[base + j] = 0 }
                }
            }
            let withResidual = Tensor(vals, shape: [b, t, t]) + Tensor.eye(t)
            let normalised = withResidual / withResidual.sum(axis: -1, keepDims: true)
            result = matmul(normalised, result)
        }
        return result
    }
}

/// The class token's rolled-out attention over the patches: R[:, 0, 1:], [B, N] (reshape to the patch grid to draw).
public func classTokenRollout(_ maps: [Tensor], headFusion: HeadFusion = .mean, discardRatio: Float = 0) -> Tensor {
    let r = attentionRollout(maps, headFusion: headFusion, discardRatio: discardRatio)
    return r.select(axis: 1, index: 0).slice(axis: 1, start: 1)
}

// torchvision's ImageNet ResNets (He et al. 2016, the v1.5 layout torchvision ships): a 7×7/2 stem, a 3×3/2 max
// pool, four stages of basic (18, 34) or bottleneck (50) blocks, global average pooling, a linear layer. Every
// parameter and buffer has torchvision's state-dict name, so `torchvision.models.resnet18(weights=…).state_dict()`
// saved as safetensors loads as it is (`TorchVisionResNet.load(torchvisionWeights:)`).

/// Configuration of `TorchVisionResNet`.
public struct TorchVisionResNetConfig: Codable, Sendable, Equatable {
    /// 18, 34 or 50.
    public var depth = 18
    /// Number of classes the head predicts.
    public var classes = 1000
    /// Input channels (3 for RGB images).
    public var inputChannels = 3
    /// The input side the run feeds (any side ≥ 32 works: the pooling is global).
    public var imageSize = 224
    /// The first stage's width (torchvision: 64; the stages double it). Other widths cannot load ImageNet weights.
    public var width = 64
    /// The default configuration.
    public init() {}
    /// torchvision's ResNet of this depth (18, 34 or 50) with `classes` outputs.
    public init(depth: Int, classes: Int = 1000) { self.depth = depth; self.classes = classes }

    /// Blocks per stage.
    public var blocks: [Int] { depth == 50 ? [3, 4, 6, 3] : depth == 34 ? [3, 4, 6, 3] : [2, 2, 2, 2] }
    /// Whether the blocks are bottlenecks (depth 50) rather than basic blocks.
    public var bottleneck: Bool { depth >= 50 }
    /// Output channels of the last stage (8 × width, × 4 with bottlenecks: 512 or 2048).
    public var features: Int { width * 8 * (bottleneck ? 4 : 1) }
}

/// A basic block (two 3×3 convolutions) or a bottleneck (1×1 → 3×3 with the stride → 1×1 to 4× the width), each
/// convolution followed by BatchNorm, ReLU after all but the last; added to the input or to `downsample` (a strided
/// 1×1 convolution and BatchNorm) where the shape changes; ReLU.
public final class TorchVisionBlock: Layer {
    public let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    public let conv3: Conv2d?, bn3: BatchNorm?
    /// The strided 1×1 convolution with BatchNorm when the shape changes (torchvision's `downsample`).
    public let downsample: Sequential?
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A basic or bottleneck block of `width` channels (×4 out for a bottleneck), downsampling by `stride`.
    public init(_ inChannels: Int, width: Int, stride: Int, bottleneck: Bool, using g: inout RandomGenerator) {
        let out = bottleneck ? width * 4 : width
        if bottleneck {
            conv1 = Conv2d(inChannels, width, kernelSize: 1, bias: false, using: &g)
            conv2 = Conv2d(width, width, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &g)
            conv3 = Conv2d(width, out, kernelSize: 1, bias: false, using: &g)
            bn3 = BatchNorm.twoD(out)
        } else {
            conv1 = Conv2d(inChannels, width, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &g)
            conv2 = Conv2d(width, width, kernelSize: 3, padding: 1, bias: false, using: &g)
            conv3 = nil
            bn3 = nil
        }
        bn1 = BatchNorm.twoD(width)
        bn2 = BatchNorm.twoD(width)
        downsample =
            stride != 1 || inChannels != out
            ? Sequential([
                Conv2d(inChannels, out, kernelSize: 1, stride: stride, bias: false, using: &g), BatchNorm.twoD(out)
            ]) : nil
        // torchvision's init: Kaiming normal (fan_out, ReLU) for convolutions; BatchNorm γ = 1, β = 0
        for conv in [conv1, conv2, conv3].compactMap({ $0 }) + (downsample.map { [$0.layers[0] as! Conv2d] } ?? []) {
            conv.weight = Init.kaimingNormalFanOut(conv.weight.shape, using: &g).requiringGrad()
        }
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        var c: [(name: String, module: any Module)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
        if let conv3, let bn3 { c += [("conv3", conv3), ("bn3", bn3)] }
        if let downsample { c.append(("downsample", downsample)) }
        return c
    }

    /// The residual branch plus the (downsampled) input, then ReLU.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = bn2(conv2(bn1(conv1(x)).relu()))
        if let conv3, let bn3 { h = bn3(conv3(h.relu())) }
        return (h + (downsample.map { $0(x) } ?? x)).relu()
    }
}

/// torchvision's `resnet18`, `resnet34`, `resnet50`: images [B, C, H, W] → logits [B, classes]. The convolutional
/// part (`conv1`, `bn1`, `layer1`…`layer4`) is the backbone a fine-tuning run freezes; `fc` is the head.
public final class TorchVisionResNet: Module, ImageClassifierModel {
    /// The model's configuration.
    public let config: TorchVisionResNetConfig
    public let conv1: Conv2d, bn1: BatchNorm
    let maxPool = MaxPool2d(3, stride: 2, padding: 1)
    /// The four stages (`layer1`…`layer4`).
    public let layers: [ModuleList<TorchVisionBlock>]
    /// The classification head (replaced when fine-tuning on other classes).
    public var fc: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A ResNet with torchvision's initialisation and parameter names.
    public init(config c: TorchVisionResNetConfig, using g: inout RandomGenerator) {
        precondition([18, 34, 50].contains(c.depth), "TorchVisionResNet: depth \(c.depth) is not 18, 34 or 50")
        config = c
        conv1 = Conv2d(c.inputChannels, c.width, kernelSize: 7, stride: 2, padding: 3, bias: false, using: &g)
        conv1.weight = Init.kaimingNormalFanOut(conv1.weight.shape, using: &g).requiringGrad()
        bn1 = BatchNorm.twoD(c.width)
        var channels = c.width
        layers = c.blocks.enumerated().map { stage, count in
            ModuleList(
                (0..<count).map { i in
                    let width = c.width << stage
                    defer { channels = c.bottleneck ? width * 4 : width }
                    return TorchVisionBlock(
                        channels, width: width, stride: stage > 0 && i == 0 ? 2 : 1, bottleneck: c.bottleneck, using: &g
                    )
                })
        }
        fc = Linear(c.features, c.classes, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("conv1", conv1), ("bn1", bn1)]
            + layers.enumerated().map { ("layer\($0.offset + 1)", $0.element as any Module) } + [("fc", fc)]
    }

    /// Input side in pixels (square images).
    public var imageSize: Int { config.imageSize }
    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Module path of the final classification layer (re-initialised when fine-tuning on other classes).
    public var headPath: String { "fc" }

    /// The pooled backbone features [B, 512] (2048 with bottlenecks): what feature extraction trains a head on.
    public func features(_ x: Tensor) -> Tensor {
        var h = maxPool(bn1(conv1(x)).relu())
        for stage in layers { for block in stage.modules { h = block(h) } }
        return h.mean(axes: [2, 3])
    }

    /// Logits [B, classes] for images [B, 3, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor { fc(features(x)) }
}

extension TorchVisionResNetConfig: ModelConfiguration {
    /// A lower bound on the parameters this configuration builds, computed without building anything.
    public var parameterLowerBound: Double {
        Double(blocks.reduce(0, +)) * 9 * Double(width * width) + Double(features * classes)
    }

    /// Throws a `ConfigurationError` naming the first field that cannot build a model.
    public func validate() throws {
        guard [18, 34, 50].contains(depth) else { throw ConfigurationError("depth", "\(depth) is not 18, 34 or 50") }
        try ConfigCheck.size("inputChannels", inputChannels, max: 64)
        try ConfigCheck.size("width", width, max: 1024)
        try ConfigCheck.size("imageSize", imageSize, max: ConfigCheck.maxImage)
        guard imageSize >= 32 else {
            throw ConfigurationError("imageSize", "\(imageSize) is below 32: five halvings leave nothing to pool")
        }
        try ConfigCheck.size("classes", classes)
    }
}

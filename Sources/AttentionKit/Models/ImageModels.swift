// The course's image classifiers for 32×32 inputs, built from the same layers as everything else: LeNet-5, VGG,
// ResNet for CIFAR (He et al. 2016 §4.2) and PreActResNet (He et al., "Identity Mappings", 2016). Parameter names
// follow the usual PyTorch layouts (torchvision's `features`/`classifier` for LeNet and VGG; kuangliu/pytorch-cifar's
// `layerN.M.conv1`, `shortcut.0` … for the residual nets), so a PyTorch state dict of the same config loads.

/// What `ImageClassification`, `attn train cnn` and transfer learning need of an image model.
public protocol ImageClassifierModel: Layer, ConfigurableModel {
    /// Input side in pixels (square images).
    var imageSize: Int { get }
    var classes: Int { get }
    /// Module path of the final classification layer (re-initialised when fine-tuning on other classes).
    var headPath: String { get }
}

/// Every image model type a run directory may hold, for loading by the name saved with the weights.
nonisolated(unsafe) public let imageClassifierModelTypes: [any ImageClassifierModel.Type] = [
    VisionTransformer.self, SmallCNN.self, LeNet5.self, VGG.self, ResNet.self, PreActResNet.self, TorchVisionResNet.self
]

extension SmallCNN: ImageClassifierModel {
    /// Input side in pixels (square images).
    public var imageSize: Int { config.imageSize }
    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Module path of the final classification layer (re-initialised when fine-tuning on other classes).
    public var headPath: String { "classifier.\(classifier.layers.count - 1)" }
}

extension VisionTransformer: ImageClassifierModel {
    /// Input side in pixels (square images).
    public var imageSize: Int { config.imageSize }
    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Module path of the final classification layer (re-initialised when fine-tuning on other classes).
    public var headPath: String { "head" }
}

/// The activation of a configurable model.
public enum ActivationKind: String, Codable, Sendable, CaseIterable {
    case relu, tanh, sigmoid
    func layer() -> any Layer {
        switch self {
        case .relu: ReLU()
        case .tanh: Tanh()
        case .sigmoid: Sigmoid()
        }
    }
}

// MARK: - LeNet-5

/// Configuration of `LeNet5`.
public struct LeNet5Config: Codable, Sendable, Equatable {
    /// Input channels (3 for RGB images).
    public var inputChannels = 3
    /// Input side in pixels (square images).
    public var imageSize = 32
    /// Number of classes the head predicts.
    public var classes = 10
    /// LeCun 1998 used tanh-like squashing and average "subsampling"; ReLU and max pooling train faster.
    public var activation = ActivationKind.relu
    /// "max" or "avg".
    public var pooling = "max"
    /// The default configuration.
    public init() {}
}

/// LeNet-5 (LeCun et al. 1998) on 32×32×C: C1 conv5×5 → 6@28², S2 pool → 14², C3 conv5×5 → 16@10², S4 pool → 5²,
/// C5 120 (a full 5×5 convolution, here the linear layer over the 400 features), F6 84, output `classes`.
/// 62,006 parameters for RGB and 10 classes.
public final class LeNet5: Module, ImageClassifierModel {
    /// The model's configuration.
    public let config: LeNet5Config
    public let features: Sequential, classifier: Sequential
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// LeNet-5 with the configured activation and pooling.
    public init(config c: LeNet5Config, using g: inout RandomGenerator) {
        precondition(
            c.imageSize >= 12 && c.classes > 0 && c.inputChannels > 0,
            "LeNet5: needs images of at least 12 pixels and positive classes")
        config = c
        func pool() -> any Layer { c.pooling == "avg" ? AvgPool2d(2) : MaxPool2d(2) }
        features = Sequential([
            Conv2d(c.inputChannels, 6, kernelSize: 5, using: &g), c.activation.layer(), pool(),
            Conv2d(6, 16, kernelSize: 5, using: &g), c.activation.layer(), pool()
        ])
        let side = ((c.imageSize - 4) / 2 - 4) / 2
        classifier = Sequential([
            Flatten(), Linear(16 * side * side, 120, using: &g), c.activation.layer(),
            Linear(120, 84, using: &g), c.activation.layer(), Linear(84, c.classes, using: &g)
        ])
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] { [("features", features), ("classifier", classifier)] }
    /// Input side in pixels (square images).
    public var imageSize: Int { config.imageSize }
    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Module path of the final classification layer (re-initialised when fine-tuning on other classes).
    public var headPath: String { "classifier.5" }
    /// Logits [B, classes] for images [B, C, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor { classifier(features(x)) }
}

// MARK: - VGG

/// Configuration of `VGG`: stages of 3×3 convolutions (each conv → BatchNorm → ReLU), a 2×2 max pool after each
/// stage, then global average pooling, dropout and one linear layer (the CIFAR adaptation of Simonyan & Zisserman's
/// VGG: its three 4096-wide layers are for 224² ImageNet images).
public struct VGGConfig: Codable, Sendable, Equatable {
    /// Output channels of each convolution, per stage. The default is VGG-11 (configuration "A") narrowed to half width.
    public var stages: [[Int]] = [[32], [64], [128, 128], [256, 256], [256, 256]]
    /// Whether each convolution is followed by BatchNorm.
    public var batchNorm = true
    /// Dropout before the linear head (0: none).
    public var dropout: Float = 0
    /// Input channels (3 for RGB images).
    public var inputChannels = 3
    /// Input side in pixels (square images).
    public var imageSize = 32
    /// Number of classes the head predicts.
    public var classes = 10
    /// The default configuration.
    public init() {}

    /// VGG-11 (configuration A: 1-1-2-2-2 convolutions) with the given first-stage width (64 in the paper).
    public static func vgg11(width: Int = 32) -> VGGConfig {
        var c = VGGConfig()
        c.stages = [[width], [2 * width], [4 * width, 4 * width], [8 * width, 8 * width], [8 * width, 8 * width]]
        return c
    }
}

/// VGG for small images (see `VGGConfig`). Names as torchvision's: `features.N` (conv, bn, relu, …, pool),
/// `classifier.N`.
public final class VGG: Module, ImageClassifierModel {
    /// The model's configuration.
    public let config: VGGConfig
    public let features: Sequential, classifier: Sequential
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A VGG with He-initialised convolutions.
    public init(config c: VGGConfig, using g: inout RandomGenerator) {
        precondition(
            !c.stages.isEmpty && c.stages.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 > 0 } },
            "VGG: every stage needs positive widths")
        precondition(
            c.imageSize >> c.stages.count >= 1, "VGG: \(c.stages.count) pools do not fit \(c.imageSize)-pixel images")
        config = c
        var layers: [any Layer] = [], channels = c.inputChannels
        for stage in c.stages {
            for width in stage {
                layers.append(Conv2d(channels, width, kernelSize: 3, padding: 1, bias: !c.batchNorm, using: &g))
                if c.batchNorm { layers.append(BatchNorm.twoD(width)) }
                layers.append(ReLU())
                channels = width
            }
            layers.append(MaxPool2d(2))
        }
        features = Sequential(layers)
        var head: [any Layer] = [GlobalAvgPool2d()]
        if c.dropout > 0 { head.append(Dropout(p: c.dropout, using: &g)) }
        head.append(Linear(channels, c.classes, using: &g))
        classifier = Sequential(head)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] { [("features", features), ("classifier", classifier)] }
    /// Input side in pixels (square images).
    public var imageSize: Int { config.imageSize }
    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Module path of the final classification layer (re-initialised when fine-tuning on other classes).
    public var headPath: String { "classifier.\(classifier.layers.count - 1)" }
    /// Logits [B, classes] for images [B, C, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor { classifier(features(x)) }
}

// MARK: - ResNet for CIFAR

/// The stages of a residual net: `counts[s]` blocks of `widths[s]` channels each, the first block of every stage after
/// the first with stride 2; `channels` goes in as the stem's width and comes out as the last stage's.
private func residualStages<Block: Module>(
    _ counts: [Int], widths: [Int], channels: inout Int,
    _ block: (_ from: Int, _ to: Int, _ stride: Int) -> Block
) -> [ModuleList<Block>] {
    zip(counts, widths).enumerated().map { s, stage in
        ModuleList(
            (0..<stage.0).map { i in
                defer { channels = stage.1 }
                return block(channels, stage.1, s > 0 && i == 0 ? 2 : 1)
            })
    }
}

/// The residual blocks' shortcut: identity, or (when the shape changes) a strided 1×1 projection (option B).
/// An empty `Sequential` is the identity, as in the PyTorch layout (`shortcut = nn.Sequential()`).
private func projection(_ from: Int, _ to: Int, stride: Int, batchNorm: Bool, using g: inout RandomGenerator)
    -> Sequential
{
    guard stride != 1 || from != to else { return Sequential([]) }
    let conv = Conv2d(from, to, kernelSize: 1, stride: stride, bias: false, using: &g)
    return Sequential(batchNorm ? [conv, BatchNorm.twoD(to)] : [conv])
}

/// He et al.'s basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), 3×3 convolutions without bias.
public final class BasicBlock: Layer {
    public let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    /// The identity, or a strided 1×1 convolution with BatchNorm when the shape changes.
    public let shortcut: Sequential
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A block from `inChannels` to `outChannels`, downsampling by `stride`.
    public init(_ inChannels: Int, _ outChannels: Int, stride: Int, using g: inout RandomGenerator) {
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &g)
        bn1 = BatchNorm.twoD(outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false, using: &g)
        bn2 = BatchNorm.twoD(outChannels)
        shortcut = projection(inChannels, outChannels, stride: stride, batchNorm: true, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2), ("shortcut", shortcut)]
    }

    /// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        (bn2(conv2(bn1(conv1(x)).relu())) + shortcut(x)).relu()
    }
}

/// Configuration of `ResNet`.
public struct ResNetConfig: Codable, Sendable, Equatable {
    /// 6n + 2 weighted layers: 20, 32, 44, 56, 110 (n = 3, 5, 7, 9, 18 blocks per stage).
    public var depth = 20
    /// Channels of the three stages (16, 32, 64 in the paper).
    public var widths = [16, 32, 64]
    /// Start each block's last BatchNorm γ at 0, so every block begins as the identity (Goyal et al. 2017).
    public var zeroInitResidual = false
    /// Input channels (3 for RGB images).
    public var inputChannels = 3
    /// Input side in pixels (square images).
    public var imageSize = 32
    /// Number of classes the head predicts.
    public var classes = 10
    /// The default configuration.
    public init() {}
    /// A CIFAR ResNet of `depth` layers (6n + 2).
    public init(depth: Int, classes: Int = 10) { self.depth = depth; self.classes = classes }
    /// Basic blocks in each of the three stages.
    public var blocksPerStage: Int { (depth - 2) / 6 }
}

/// ResNet for CIFAR (He et al. 2016, §4.2): a 3×3 convolution to `widths[0]` channels, three stages of n basic blocks
/// (the first block of stages 2 and 3 halves the resolution with stride 2), global average pooling, a linear layer.
/// Shortcuts where the shape changes are 1×1 projections with BatchNorm (option B). ResNet-20: 272,474 parameters
/// (269,722 with option A's parameter-free shortcuts); ResNet-56: 855,770.
public final class ResNet: Module, ImageClassifierModel {
    /// The model's configuration.
    public let config: ResNetConfig
    public let conv1: Conv2d, bn1: BatchNorm
    /// The three stages of basic blocks.
    public let layers: [ModuleList<BasicBlock>]
    /// The classification head.
    public let linear: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A CIFAR ResNet (He et al. 2016, §4.2) with He-initialised convolutions.
    public init(config c: ResNetConfig, using g: inout RandomGenerator) {
        precondition(
            c.depth >= 8 && (c.depth - 2) % 6 == 0, "ResNet: depth \(c.depth) is not 6n + 2 (20, 32, 44, 56, 110)")
        precondition(!c.widths.isEmpty && c.widths.allSatisfy { $0 > 0 }, "ResNet: stage widths must be positive")
        config = c
        conv1 = Conv2d(c.inputChannels, c.widths[0], kernelSize: 3, padding: 1, bias: false, using: &g)
        bn1 = BatchNorm.twoD(c.widths[0])
        var channels = c.widths[0]
        layers = residualStages(
            Array(repeating: c.blocksPerStage, count: c.widths.count), widths: c.widths, channels: &channels
        ) {
            BasicBlock($0, $1, stride: $2, using: &g)
        }
        linear = Linear(channels, c.classes, using: &g)
        if c.zeroInitResidual {
            for stage in layers { for b in stage.modules { b.bn2.weight?.assign(Tensor.zeros([b.bn2.numFeatures])) } }
        }
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("conv1", conv1), ("bn1", bn1)]
            + layers.enumerated().map { ("layer\($0.offset + 1)", $0.element as any Module) } + [("linear", linear)]
    }

    /// Input side in pixels (square images).
    public var imageSize: Int { config.imageSize }
    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Module path of the final classification layer (re-initialised when fine-tuning on other classes).
    public var headPath: String { "linear" }

    /// Logits [B, classes] for images [B, C, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = bn1(conv1(x)).relu()
        for stage in layers { for block in stage.modules { h = block(h) } }
        return linear(h.mean(axes: [2, 3]))
    }
}

// MARK: - PreActResNet

/// The pre-activation block (He et al., "Identity Mappings in Deep Residual Networks"): BN → ReLU → conv → BN → ReLU
/// → conv, added to the shortcut; the projection shortcut (1×1, no BatchNorm) takes the pre-activated input.
public final class PreActBlock: Layer {
    public let bn1: BatchNorm, conv1: Conv2d, bn2: BatchNorm, conv2: Conv2d
    /// The identity, or a strided 1×1 convolution when the shape changes.
    public let shortcut: Sequential
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A pre-activation block from `inChannels` to `outChannels`, downsampling by `stride`.
    public init(_ inChannels: Int, _ outChannels: Int, stride: Int, using g: inout RandomGenerator) {
        bn1 = BatchNorm.twoD(inChannels)
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &g)
        bn2 = BatchNorm.twoD(outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false, using: &g)
        shortcut = projection(inChannels, outChannels, stride: stride, batchNorm: false, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("bn1", bn1), ("conv1", conv1), ("bn2", bn2), ("conv2", conv2), ("shortcut", shortcut)]
    }

    /// conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let a = bn1(x).relu()
        let skip = shortcut.layers.isEmpty ? x : shortcut(a)
        return conv2(bn2(conv1(a)).relu()) + skip
    }
}

/// Configuration of `PreActResNet`.
public struct PreActResNetConfig: Codable, Sendable, Equatable {
    /// Blocks per stage: [2, 2, 2, 2] is PreActResNet-18, [3, 4, 6, 3] PreActResNet-34.
    public var blocks = [2, 2, 2, 2]
    /// Channels of the first stage (64 in the paper); each later stage doubles them.
    public var width = 64
    /// Input channels (3 for RGB images).
    public var inputChannels = 3
    /// Input side in pixels (square images).
    public var imageSize = 32
    /// Number of classes the head predicts.
    public var classes = 10
    /// The default configuration.
    public init() {}
}

/// PreActResNet for 32×32 images: a 3×3 convolution to `width` channels, four stages of pre-activation blocks
/// (widths w, 2w, 4w, 8w; stride 2 at the start of stages 2–4), a final BN → ReLU, global average pooling and a
/// linear layer. PreActResNet-18 at width 64: 11,172,170 parameters (2,796,714 at width 32).
public final class PreActResNet: Module, ImageClassifierModel {
    /// The model's configuration.
    public let config: PreActResNetConfig
    /// The stem convolution.
    public let conv1: Conv2d
    /// The stages of pre-activation blocks.
    public let layers: [ModuleList<PreActBlock>]
    /// The BatchNorm before the final ReLU and pooling.
    public let bn: BatchNorm
    /// The classification head.
    public let linear: Linear
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A pre-activation ResNet (He et al. 2016, "Identity mappings") with He-initialised convolutions.
    public init(config c: PreActResNetConfig, using g: inout RandomGenerator) {
        precondition(
            !c.blocks.isEmpty && c.blocks.allSatisfy { $0 > 0 } && c.width > 0,
            "PreActResNet: blocks and width must be positive")
        config = c
        conv1 = Conv2d(c.inputChannels, c.width, kernelSize: 3, padding: 1, bias: false, using: &g)
        var channels = c.width
        layers = residualStages(c.blocks, widths: c.blocks.indices.map { c.width << $0 }, channels: &channels) {
            PreActBlock($0, $1, stride: $2, using: &g)
        }
        bn = BatchNorm.twoD(channels)
        linear = Linear(channels, c.classes, using: &g)
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        [("conv1", conv1)] + layers.enumerated().map { ("layer\($0.offset + 1)", $0.element as any Module) } + [
            ("bn", bn), ("linear", linear)
        ]
    }

    /// Input side in pixels (square images).
    public var imageSize: Int { config.imageSize }
    /// Number of classes the head predicts.
    public var classes: Int { config.classes }
    /// Module path of the final classification layer (re-initialised when fine-tuning on other classes).
    public var headPath: String { "linear" }

    /// Logits [B, classes] for images [B, C, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(x)
        for stage in layers { for block in stage.modules { h = block(h) } }
        return linear(bn(h).relu().mean(axes: [2, 3]))
    }
}

// MARK: - Architectures by name

/// The image architectures `attn train cnn --arch` offers, each built for a class count and image size.
public enum ImageArchitecture: String, Codable, CaseIterable, Sendable {
    case small, lenet5, vgg11, resnet20, resnet56, preact18
    /// torchvision's ImageNet ResNets (`TorchVisionResNet`), for fine-tuning ImageNet weights.
    case resnet18, resnet50

    /// The architecture's configuration; `width` overrides its first-stage width where it has one (VGG 32,
    /// ResNet 16, PreActResNet 64, torchvision's ResNets 64).
    public func configuration(classes: Int, imageSize: Int = 32, width: Int? = nil, dropout: Float = 0)
        -> any ModelConfiguration
    {
        switch self {
        case .small:
            var c = SmallCNNConfig(); c.classes = classes; c.imageSize = imageSize; c.dropout = dropout
            if let width { c.channels = [width, 2 * width, 4 * width] }
            return c
        case .lenet5:
            var c = LeNet5Config(); c.classes = classes; c.imageSize = imageSize
            return c
        case .vgg11:
            var c = VGGConfig.vgg11(width: width ?? 32); c.classes = classes; c.imageSize = imageSize;
            c.dropout = dropout
            return c
        case .resnet20, .resnet56:
            var c = ResNetConfig(depth: self == .resnet20 ? 20 : 56, classes: classes); c.imageSize = imageSize
            if let width { c.widths = [width, 2 * width, 4 * width] }
            return c
        case .preact18:
            var c = PreActResNetConfig(); c.classes = classes; c.imageSize = imageSize
            if let width { c.width = width }
            return c
        case .resnet18, .resnet50:
            var c = TorchVisionResNetConfig(depth: self == .resnet18 ? 18 : 50, classes: classes);
            c.imageSize = imageSize
            if let width { c.width = width }
            return c
        }
    }

    /// Builds the architecture (see `configuration`).
    public func build(
        classes: Int, imageSize: Int = 32, width: Int? = nil, dropout: Float = 0,
        using g: inout RandomGenerator
    ) -> any ImageClassifierModel {
        imageModel(configuration(classes: classes, imageSize: imageSize, width: width, dropout: dropout), using: &g)
    }
}

/// The untrained image model a configuration describes (the ViT's or one of the CNNs').
func imageModel(_ configuration: any ModelConfiguration, using g: inout RandomGenerator) -> any ImageClassifierModel {
    switch configuration {
    case let c as ViTConfig: return VisionTransformer(config: c, using: &g)
    case let c as SmallCNNConfig: return SmallCNN(c, using: &g)
    case let c as LeNet5Config: return LeNet5(config: c, using: &g)
    case let c as VGGConfig: return VGG(config: c, using: &g)
    case let c as ResNetConfig: return ResNet(config: c, using: &g)
    case let c as PreActResNetConfig: return PreActResNet(config: c, using: &g)
    case let c as TorchVisionResNetConfig: return TorchVisionResNet(config: c, using: &g)
    case let c: fatalError("no image model for \(type(of: c))")
    }
}

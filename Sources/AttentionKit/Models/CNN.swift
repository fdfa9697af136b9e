/// Configuration of `SmallCNN`.
public struct SmallCNNConfig: Codable, Sendable, Equatable {
    /// Output channels of each conv block (each: conv3×3 pad 1 → BatchNorm2d → ReLU → maxpool 2).
    public var channels: [Int] = [32, 64, 128]
    /// Input channels (3 for RGB images).
    public var inputChannels = 3
    /// Input side in pixels (square images).
    public var imageSize = 32
    /// Width of the hidden fully connected layer.
    public var hidden = 256
    /// Number of classes the head predicts.
    public var classes = 10
    /// Dropout before the last linear layer (0: none).
    public var dropout: Float = 0
    /// The default configuration.
    public init() {}
}

/// A small CNN for 32×32 images: conv blocks (conv3×3 + BN + ReLU + maxpool2), flatten, Linear → ReLU → Linear.
/// With the default config: 3→32→64→128 channels, 2048 → 256 → 10, 620,810 parameters.
/// Parameter names match the equivalent PyTorch `nn.Sequential` layout: `features.N.*`, `classifier.N.*`.
public final class SmallCNN: Layer, ConfigurableModel {
    /// The model's configuration.
    public let config: SmallCNNConfig
    /// The convolution blocks.
    public let features: Sequential
    /// The fully connected head.
    public var classifier: Sequential
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A SmallCNN with He (Kaiming) initialised convolutions.
    public init(_ config: SmallCNNConfig = SmallCNNConfig(), using g: inout RandomGenerator) {
        self.config = config
        var layers: [any Layer] = []
        var c = config.inputChannels, size = config.imageSize
        for out in config.channels {
            layers += [Conv2d(c, out, kernelSize: 3, padding: 1, using: &g), BatchNorm.twoD(out), ReLU(), MaxPool2d(2)]
            c = out
            size /= 2
        }
        features = Sequential(layers)
        var head: [any Layer] = [Flatten(), Linear(c * size * size, config.hidden, using: &g), ReLU()]
        if config.dropout > 0 { head.append(Dropout(p: config.dropout, using: &g)) }
        head.append(Linear(config.hidden, config.classes, using: &g))
        classifier = Sequential(head)
    }

    /// A SmallCNN from its configuration (the `ConfigurableModel` initialiser).
    public convenience init(config: SmallCNNConfig, using g: inout RandomGenerator) { self.init(config, using: &g) }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] { [("features", features), ("classifier", classifier)] }

    /// images [B, C, H, W] → logits [B, classes].
    public func callAsFunction(_ x: Tensor) -> Tensor { classifier(features(x)) }
}

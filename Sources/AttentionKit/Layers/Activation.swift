/// Activation functions as modules, for `Sequential` (each forwards to the tensor op of the same name).
public final class ReLU: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// A ReLU layer.
    public init() {}
    /// max(x, 0) elementwise.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.relu() }
}

/// Leaky ReLU (PyTorch's `nn.LeakyReLU`): x for x > 0, slope·x otherwise.
public final class LeakyReLU: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// The slope for negative inputs.
    public let slope: Float
    /// A leaky ReLU with this negative slope.
    public init(slope: Float = 0.01) { self.slope = slope }
    /// x for x > 0, slope·x otherwise.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.leakyRelu(slope: slope) }
}

/// ELU (PyTorch's `nn.ELU`): x for x > 0, α(eˣ − 1) otherwise.
public final class ELU: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// The α in α(eˣ − 1).
    public let alpha: Float
    /// An ELU with this α.
    public init(alpha: Float = 1) { self.alpha = alpha }
    /// x for x > 0, α(eˣ − 1) otherwise.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.elu(alpha: alpha) }
}

/// GELU (PyTorch's `nn.GELU`): x·Φ(x), exact or with the tanh approximation.
public final class GELU: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// Whether the tanh approximation is used (PyTorch's `approximate="tanh"`).
    public let approximate: Bool
    /// A GELU, exact by default.
    public init(approximate: Bool = false) { self.approximate = approximate }
    /// x·Φ(x) elementwise.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
}

/// Hyperbolic tangent as a layer (PyTorch's `nn.Tanh`).
public final class Tanh: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// A tanh layer.
    public init() {}
    /// tanh(x) elementwise.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.tanh() }
}

/// The logistic sigmoid as a layer (PyTorch's `nn.Sigmoid`).
public final class Sigmoid: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// A sigmoid layer.
    public init() {}
    /// 1 / (1 + e⁻ˣ) elementwise.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// Flattens dimensions `start...end` (PyTorch's `nn.Flatten`, default from axis 1).
public final class Flatten: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    public let start: Int, end: Int
    /// Flattens dimensions `start` through `end` (negative: from the end) into one.
    public init(start: Int = 1, end: Int = -1) { self.start = start; self.end = end }
    /// `x` with dimensions `start...end` merged.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flatten(from: start, to: end) }
}

/// Layers applied in order; children are named "0", "1", … as in PyTorch's `nn.Sequential`.
public final class Sequential: Layer {
    /// The layers, applied in order.
    public var layers: [any Layer]
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// Layers applied in order; children are named by index ("0", "1", …) as in PyTorch.
    public init(_ layers: [any Layer]) { self.layers = layers }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        layers.enumerated().map { (String($0.offset), $0.element as any Module) }
    }

    /// Applies the layers in order. A BatchNorm directly followed by a ReLU runs as one fused op (the same values and
    /// gradients, one pass over the activations instead of two).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x, i = 0
        while i < layers.count {
            if let bn = layers[i] as? BatchNorm, i + 1 < layers.count, type(of: layers[i + 1]) == ReLU.self {
                y = bn.forward(y, relu: true)
                i += 2
            } else {
                y = layers[i](y)
                i += 1
            }
        }
        return y
    }
}

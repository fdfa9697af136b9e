/// Activation functions as modules, for `Sequential` (each forwards to the tensor op of the same name).
public final class ReLU: Layer {
    public var isTraining = true
    public init() {}
    public func callAsFunction(_ x: Tensor) -> Tensor { x.relu() }
}

public final class LeakyReLU: Layer {
    public var isTraining = true
    public let slope: Float
    public init(slope: Float = 0.01) { self.slope = slope }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.leakyRelu(slope: slope) }
}

public final class ELU: Layer {
    public var isTraining = true
    public let alpha: Float
    public init(alpha: Float = 1) { self.alpha = alpha }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.elu(alpha: alpha) }
}

public final class GELU: Layer {
    public var isTraining = true
    public let approximate: Bool
    public init(approximate: Bool = false) { self.approximate = approximate }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
}

public final class Tanh: Layer {
    public var isTraining = true
    public init() {}
    public func callAsFunction(_ x: Tensor) -> Tensor { x.tanh() }
}

public final class Sigmoid: Layer {
    public var isTraining = true
    public init() {}
    public func callAsFunction(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// Flattens dimensions `start...end` (PyTorch's `nn.Flatten`, default from axis 1).
public final class Flatten: Layer {
    public var isTraining = true
    public let start: Int, end: Int
    public init(start: Int = 1, end: Int = -1) { self.start = start; self.end = end }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flatten(from: start, to: end) }
}

/// Layers applied in order; children are named "0", "1", … as in PyTorch's `nn.Sequential`.
public final class Sequential: Layer {
    public var layers: [any Layer]
    public var isTraining = true

    public init(_ layers: [any Layer]) { self.layers = layers }

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

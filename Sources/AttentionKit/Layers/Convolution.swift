/// 2-D convolution layer (PyTorch's `nn.Conv2d`): x [B, C, H, W] → [B, O, Ho, Wo], weight [O, C, kh, kw].
/// Default init: U(±1/√(C·kh·kw)) for weight and bias (PyTorch's).
public final class Conv2d: Layer {
    /// The kernels [out, in, kH, kW].
    public var weight: Tensor
    /// The bias [out], if any.
    public var bias: Tensor?
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A 2-D convolution (PyTorch's `nn.Conv2d`), weights Kaiming-uniform initialised as PyTorch does.
    public init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), bias: Bool = true, using g: inout RandomGenerator
    ) {
        let fanIn = inChannels * kernelSize.0 * kernelSize.1
        weight = Init.torchDefault([outChannels, inChannels, kernelSize.0, kernelSize.1], fanIn: fanIn, using: &g)
            .requiringGrad()
        self.bias = bias ? Init.torchDefault([outChannels], fanIn: fanIn, using: &g).requiringGrad() : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    /// Square kernel, stride, padding and dilation.
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, bias: Bool = true, using g: inout RandomGenerator
    ) {
        self.init(
            inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
            padding: (padding, padding), dilation: (dilation, dilation), bias: bias, using: &g)
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// Convolves `x` [B, C, H, W] to [B, out, H', W'].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
    }
}

/// Window geometry shared by the pooling layers (square kernel; stride defaults to the kernel size).
public struct PoolWindow: Sendable {
    public let kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)
    /// A square window of side `kernel`, moving by `stride` (default: the kernel), zero-padded by `padding`.
    public init(_ kernel: Int, stride: Int?, padding: Int) {
        self.kernel = (kernel, kernel)
        self.stride = stride.map { ($0, $0) }
        self.padding = (padding, padding)
    }
}

/// 2-D max pooling (PyTorch's `nn.MaxPool2d`; stride defaults to the kernel size).
public final class MaxPool2d: Layer {
    /// The pooling window.
    public let window: PoolWindow
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// Max pooling over `kernel`×`kernel` windows (PyTorch's `nn.MaxPool2d`).
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
        window = PoolWindow(kernel, stride: stride, padding: padding)
    }
    /// The maximum of each window of `x` [B, C, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        maxPool2d(x, kernel: window.kernel, stride: window.stride, padding: window.padding)
    }
}

/// 2-D average pooling (PyTorch's `nn.AvgPool2d`, `count_include_pad=True`).
public final class AvgPool2d: Layer {
    /// The pooling window.
    public let window: PoolWindow
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// Average pooling over `kernel`×`kernel` windows (PyTorch's `nn.AvgPool2d`, padding counted).
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
        window = PoolWindow(kernel, stride: stride, padding: padding)
    }
    /// The mean of each window of `x` [B, C, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernel: window.kernel, stride: window.stride, padding: window.padding)
    }
}

/// Global average pooling: [B, C, H, W] → [B, C] (PyTorch's `AdaptiveAvgPool2d(1)` followed by flatten).
public final class GlobalAvgPool2d: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// A global average pooling layer.
    public init() {}
    /// The mean over H and W: [B, C, H, W] → [B, C].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard x.rank == 4 else {
            shapeFailure(ShapeError("GlobalAvgPool2d: input \(fmt(x.shape)) is not [B, C, H, W]"))
        }
        return x.mean(axes: [2, 3])
    }
}

/// 1-D convolution layer (PyTorch's `nn.Conv1d`, groups = 1): x [B, C, T] → [B, O, To], weight [O, C, k].
/// Default init: U(±1/√(C·k)) for weight and bias (PyTorch's). Runs as the 2-D convolution over [B, C, 1, T]
/// (the same im2col + GEMM forward and backward), the weight viewed as [O, C, 1, k].
public final class Conv1d: Layer {
    /// The kernels [out, in, k].
    public var weight: Tensor
    /// The bias [out], if any.
    public var bias: Tensor?
    public let stride: Int, padding: Int, dilation: Int
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A 1-D convolution (PyTorch's `nn.Conv1d`), weights Kaiming-uniform initialised as PyTorch does.
    public init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
        bias: Bool = true, using g: inout RandomGenerator
    ) {
        precondition(
            kernelSize > 0 && stride > 0 && padding >= 0 && dilation > 0,
            "Conv1d: kernel, stride and dilation must be positive, padding non-negative")
        let fanIn = inChannels * kernelSize
        weight = Init.torchDefault([outChannels, inChannels, kernelSize], fanIn: fanIn, using: &g).requiringGrad()
        self.bias = bias ? Init.torchDefault([outChannels], fanIn: fanIn, using: &g).requiringGrad() : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// Convolves `x` [B, C, T] to [B, out, T'].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard x.rank == 3, x.shape[1] == weight.shape[1] else {
            shapeFailure(
                ShapeError(
                    "Conv1d: input \(fmt(x.shape)) does not match weight \(fmt(weight.shape)) (expected [B, \(weight.shape[1]), T])"
                ))
        }
        let (o, c, k) = (weight.shape[0], weight.shape[1], weight.shape[2])
        let y = conv2d(
            x.reshape([x.shape[0], c, 1, x.shape[2]]), weight: weight.reshape([o, c, 1, k]), bias: bias,
            stride: (1, stride), padding: (0, padding), dilation: (1, dilation))
        return y.reshape([x.shape[0], o, y.shape[3]])
    }
}

/// 1-D max pooling over x [B, C, T] (PyTorch's `nn.MaxPool1d`; stride defaults to the kernel size; padding counts
/// as −∞). Runs as the 2-D pooling over [B, C, 1, T] with a 1×k window, whose backward routes each gradient to its
/// window's maximum.
public final class MaxPool1d: Layer {
    public let kernel: Int, stride: Int, padding: Int, dilation: Int
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// Max pooling over windows of `kernel` steps (PyTorch's `nn.MaxPool1d`).
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1) {
        precondition(
            kernel > 0 && (stride ?? kernel) > 0 && dilation > 0 && padding >= 0 && 2 * padding <= kernel,
            "MaxPool1d: kernel, stride and dilation must be positive and padding at most half the kernel")
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        self.dilation = dilation
    }
    /// The maximum of each window of `x` [B, C, T].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard x.rank == 3 else { shapeFailure(ShapeError("MaxPool1d: input \(fmt(x.shape)) is not [B, C, T]")) }
        let (b, c, t) = (x.shape[0], x.shape[1], x.shape[2])
        let y = maxPool2d(
            x.reshape([b, c, 1, t]), kernel: (1, kernel), stride: (1, stride), padding: (0, padding),
            dilation: (1, dilation))
        return y.reshape([b, c, y.shape[3]])
    }
}

/// Global max pooling over time, Kim's "max-over-time": [B, C, T] → [B, C] (PyTorch's `AdaptiveMaxPool1d(1)`
/// followed by flatten). The gradient goes to each row's maximum.
public final class GlobalMaxPool1d: Layer {
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// A global max pooling layer (max over time).
    public init() {}
    /// The maximum over time: [B, C, T] → [B, C].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard x.rank == 3, x.shape[2] > 0 else {
            shapeFailure(ShapeError("GlobalMaxPool1d: input \(fmt(x.shape)) is not [B, C, T] with T > 0"))
        }
        return x.max(axis: 2)
    }
}

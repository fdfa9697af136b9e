import RealModule

// Positional information for sequences and image patches.
// Dimension key: B batch, T sequence length, D model width, N patches.

/// The sinusoidal table of Vaswani et al. (2017), interleaved:
/// p_t = [sin(ω₀t), cos(ω₀t), sin(ω₁t), cos(ω₁t), …, sin(ω_{d/2−1}t), cos(ω_{d/2−1}t)], ω_k = 1/10000^{2k/d},
/// k = 0…d/2−1 — the PyTorch tutorial's `pe[:, 0::2] = sin(t·div)`, `pe[:, 1::2] = cos(t·div)`.
/// (Course slides that number the frequencies from k = 1 shift each ω by one step; this follows Vaswani.)
/// For odd d the last column is the sine of the next frequency. Computed in Double, stored as Float: [maxLength, d].
public func sinusoidalTable(length: Int, dim d: Int) -> Tensor {
    precondition(length >= 0 && d > 0, "sinusoidalTable: length \(length) and dim \(d) must be positive")
    let t = Tensor(shape: [length, d], dtype: .float32, zeroed: false)
    let p = t.storage.pointer(Float.self)
    for k in 0..<(d + 1) / 2 {
        let omega = 1 / Double.pow(10000, Double(2 * k) / Double(d))
        for pos in 0..<length {
            let a = Double(pos) * omega
            p[pos * d + 2 * k] = Float(Double.sin(a))
            if 2 * k + 1 < d { p[pos * d + 2 * k + 1] = Float(Double.cos(a)) }
        }
    }
    return t
}

/// 1-D sin-cos embedding of `positions` into `d` columns, MAE style (not interleaved: the first half sines, the
/// second half cosines, ω_k = 1/10000^{2k/d}): [positions.count, d].
func sincos1D(_ positions: [Double], dim d: Int) -> [Float] {
    precondition(d % 2 == 0, "sincos1D: width \(d) must be even")
    var out = [Float](repeating: 0, count: positions.count * d)
    let half = d / 2
    for (i, pos) in positions.enumerated() {
        for k in 0..<half {
            let a = pos / Double.pow(10000, Double(k) / Double(half))
            out[i * d + k] = Float(Double.sin(a))
            out[i * d + half + k] = Float(Double.cos(a))
        }
    }
    return out
}

/// 2-D sin-cos embeddings for a grid of image patches (MAE / "ViT-S/16 simple" style): for the patch in row r and
/// column c, the first half of the width encodes r and the second half c, each as `sincos1D` (so d must be a
/// multiple of 4). Patches are numbered row-major. With `classToken`, a zero row comes first.
/// Returns [(classToken ? 1 : 0) + rows·columns, d].
public func sinusoidalTable2D(rows: Int, columns: Int, dim d: Int, classToken: Bool = false) -> Tensor {
    precondition(d % 4 == 0, "sinusoidalTable2D: width \(d) must be a multiple of 4")
    var rowsPos: [Double] = [], colsPos: [Double] = []
    for r in 0..<rows { for c in 0..<columns { rowsPos.append(Double(r)); colsPos.append(Double(c)) } }
    let er = sincos1D(rowsPos, dim: d / 2), ec = sincos1D(colsPos, dim: d / 2)
    var out = [Float](repeating: 0, count: classToken ? d : 0)
    for i in 0..<rowsPos.count {
        out += er[(i * d / 2)..<((i + 1) * d / 2)]
        out += ec[(i * d / 2)..<((i + 1) * d / 2)]
    }
    return Tensor(out, shape: [out.count / d, d])
}

/// A module that adds position information to [B, T, D] inputs whose first row is position `offset`.
public protocol PositionEncoding: Module {
    func callAsFunction(_ x: Tensor, offset: Int) -> Tensor
}

/// Adds the fixed sinusoidal table to token embeddings: y = x·(√D if `scaleInput`) + p_{offset…offset+T−1}.
///
/// The table is precomputed once for `maxLength` positions and held as a buffer (`pe`), not a parameter: it is
/// saved with the weights but never trained. Input [B, T, D] → [B, T, D].
public final class SinusoidalPositionalEncoding: PositionEncoding {
    /// [maxLength, D]
    public let table: Tensor
    public let maxLength: Int, dim: Int
    /// Multiply the input by √D first (Vaswani et al. scale the embeddings so they are not drowned by the table).
    public let scaleInput: Bool
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// The sinusoidal table of `maxLength` positions × `dim`; `scaleInput` multiplies inputs by √dim first.
    public init(dim: Int, maxLength: Int = 512, scaleInput: Bool = false) {
        self.dim = dim
        self.maxLength = maxLength
        self.scaleInput = scaleInput
        table = sinusoidalTable(length: maxLength, dim: dim)
    }

    /// This module's own non-trainable state saved in checkpoints (running statistics), by local name.
    public var localBuffers: [(name: String, tensor: Tensor)] { [("pe", table)] }

    /// - Parameters:
    ///   - x: embeddings [..., T, D].
    ///   - offset: position of the first row (incremental decoding feeds one position at a time).
    public func callAsFunction(_ x: Tensor, offset: Int = 0) -> Tensor {
        let t = x.shape[x.rank - 2]
        guard x.shape.last == dim else {
            shapeFailure(
                ShapeError("SinusoidalPositionalEncoding: input \(fmt(x.shape)) does not end with width \(dim)"))
        }
        guard offset >= 0, offset + t <= maxLength else {
            shapeFailure(
                ShapeError(
                    "SinusoidalPositionalEncoding: positions \(offset)..<\(offset + t) exceed the table's \(maxLength) positions (build it with a larger maxLength)"
                ))
        }
        let rows = table.slice(axis: 0, start: offset, end: offset + t)  // [T, D]
        return (scaleInput ? x * Float(dim).squareRoot() : x) + rows
    }
}

/// Learned absolute position embeddings (BERT / GPT-2 / ViT): a trainable [maxLength, D] table added to the input,
/// initialised N(0, 0.02²). Input [B, T, D] → [B, T, D].
public final class LearnedPositionalEmbedding: PositionEncoding {
    /// [maxLength, D]
    public var weight: Tensor
    public let maxLength: Int, dim: Int
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// A learned table of `maxLength` positions × `dim`, drawn from N(0, std²).
    public init(dim: Int, maxLength: Int, std: Float = 0.02, using g: inout RandomGenerator) {
        self.dim = dim
        self.maxLength = maxLength
        weight = Tensor.normal([maxLength, dim], std: std, using: &g).requiringGrad()
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] { [("weight", weight)] }

    /// `x` [..., T, dim] plus the rows for positions `offset..<offset+T`.
    public func callAsFunction(_ x: Tensor, offset: Int = 0) -> Tensor {
        let t = x.shape[x.rank - 2]
        guard offset >= 0, offset + t <= maxLength else {
            shapeFailure(
                ShapeError(
                    "LearnedPositionalEmbedding: positions \(offset)..<\(offset + t) exceed the table's \(maxLength) positions"
                ))
        }
        return x + weight.slice(axis: 0, start: offset, end: offset + t)
    }
}

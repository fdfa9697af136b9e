/// The state a recurrent network starts from and ends with: h (and the LSTM's c), each [layers · directions, B, H]
/// in PyTorch's order (layer 0 forward, layer 0 reverse, layer 1 forward, …).
public struct RecurrentState {
    /// The hidden state [layers·directions, B, H].
    public var h: Tensor
    /// The LSTM cell state [layers·directions, B, H] (nil for RNN and GRU).
    public var c: Tensor?
    /// A state from its hidden (and, for an LSTM, cell) tensors.
    public init(h: Tensor, c: Tensor? = nil) { (self.h, self.c) = (h, c) }
}

/// A multi-layer, optionally bidirectional recurrent network with PyTorch's semantics for `batch_first=True`:
/// `nn.RNN`, `nn.LSTM` and `nn.GRU` (their gate order, their parameter names `weight_ih_l{k}[_reverse]`,
/// `weight_hh_l{k}…`, `bias_ih_l{k}…`, `bias_hh_l{k}…` so state dicts load either way, their initialisation
/// U(±1/√hidden), dropout on the outputs of every layer but the last in training).
///
/// Input [B, T, inputSize] → output [B, T, directions · hiddenSize] and the final state. `lengths` runs each row
/// for its own number of steps, as a packed sequence: padded steps neither change the state nor produce output
/// (their outputs are 0), the reverse direction starts at each row's last real step, and the final state is each
/// row's state after its last real step — a padded batch gives what its sequences give one by one.
/// Each layer and direction is one fused op (`recurrentLayerOp`): the whole sequence's forward and its backward
/// through time, the input projections of all steps as one GEMM.
public class RecurrentNetwork: Module {
    /// The cell kind: RNN, LSTM or GRU.
    public let cell: RecurrentCell
    public let inputSize: Int, hiddenSize: Int, layers: Int
    /// Whether each layer also runs backwards in time (outputs concatenated).
    public let bidirectional: Bool
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// Per layer and direction: weight_ih, weight_hh, bias_ih, bias_hh (nil without biases).
    public var weights: [(ih: Tensor, hh: Tensor, biasIH: Tensor?, biasHH: Tensor?)] = []
    let dropout: Dropout?

    /// 2 when bidirectional, else 1.
    public var directions: Int { bidirectional ? 2 : 1 }

    /// A stack of `layers` recurrent layers with PyTorch's parameter names and initialisation (uniform in ±1/√hidden).
    public init(
        cell: RecurrentCell, inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
        bidirectional: Bool = false,
        dropout p: Float = 0, using g: inout RandomGenerator
    ) {
        precondition(
            inputSize > 0 && hiddenSize > 0 && layers > 0,
            "\(cell.rawValue): input size \(inputSize), hidden size \(hiddenSize) and layers \(layers) must be positive"
        )
        precondition(p >= 0 && p < 1, "\(cell.rawValue): dropout \(p) must be in [0, 1)")
        self.cell = cell
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.bidirectional = bidirectional
        let rows = cell.gates * hiddenSize, bound = 1 / Float(hiddenSize).squareRoot()
        for k in 0..<layers {
            let input = k == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            for _ in 0..<(bidirectional ? 2 : 1) {
                // PyTorch's reset_parameters: every weight and bias U(−1/√H, 1/√H), in its parameter order
                let ih = Tensor.uniform([rows, input], low: -bound, high: bound, using: &g).requiringGrad()
                let hh = Tensor.uniform([rows, hiddenSize], low: -bound, high: bound, using: &g).requiringGrad()
                let bih = bias ? Tensor.uniform([rows], low: -bound, high: bound, using: &g).requiringGrad() : nil
                let bhh = bias ? Tensor.uniform([rows], low: -bound, high: bound, using: &g).requiringGrad() : nil
                weights.append((ih, hh, bih, bhh))
            }
        }
        dropout = p > 0 && layers > 1 ? Dropout(p: p, using: &g) : nil
    }

    /// This module's own trainable tensors, by local name (PyTorch's parameter names).
    public var localParameters: [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        for (index, w) in weights.enumerated() {
            let suffix = "_l\(index / directions)" + (index % directions == 1 ? "_reverse" : "")
            out += [("weight_ih" + suffix, w.ih), ("weight_hh" + suffix, w.hh)]
            if let b = w.biasIH { out.append(("bias_ih" + suffix, b)) }
            if let b = w.biasHH { out.append(("bias_hh" + suffix, b)) }
        }
        return out
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] { dropout.map { [("dropout", $0)] } ?? [] }

    /// Throws a `SequenceError` naming the row when `lengths` cannot go with an input of `batch` rows and `steps`
    /// steps: a length of 0 (a packed sequence has none either: give the empty text a pad token) or beyond `steps`.
    public func validate(lengths: [Int], batch: Int, steps: Int) throws(SequenceError) {
        guard lengths.count == batch else {
            throw SequenceError(message: "\(lengths.count) lengths for a batch of \(batch) rows: give one per row")
        }
        for (r, n) in lengths.enumerated() {
            if n < 1 {
                throw SequenceError(
                    message:
                        "row \(r): length \(n) — every sequence needs at least one step (PyTorch's packed sequences refuse empty ones too)"
                )
            }
            if n > steps { throw SequenceError(message: "row \(r): length \(n) is beyond the padded width \(steps)") }
        }
    }

    /// Runs the network over `x` [B, T, inputSize].
    /// - Parameters:
    ///   - x: the inputs [B, T, input size].
    ///   - initial: the starting state (zeros when nil), [layers · directions, B, H] each.
    ///   - lengths: each row's real steps (1…T); nil: all T.
    /// - Returns: the outputs [B, T, directions · H] and the final state.
    public func callAsFunction(_ x: Tensor, initial: RecurrentState? = nil, lengths: [Int]? = nil) -> (
        output: Tensor, state: RecurrentState
    ) {
        precondition(
            x.rank == 3 && x.shape[2] == inputSize,
            "\(cell.rawValue): input \(fmt(x.shape)) is not [batch, steps, \(inputSize)]")
        let b = x.shape[0], steps = x.shape[1], h = hiddenSize
        if let lengths {
            do { try validate(lengths: lengths, batch: b, steps: steps) } catch {
                preconditionFailure("\(cell.rawValue): \(error)")
            }
        }
        if let initial {
            precondition(
                initial.h.shape == [layers * directions, b, h],
                "\(cell.rawValue): initial h \(fmt(initial.h.shape)) is not [\(layers * directions), \(b), \(h)]")
            precondition(
                cell.hasCellState == (initial.c != nil) && (initial.c.map { $0.shape == initial.h.shape } ?? true),
                "\(cell.rawValue): the initial state needs \(cell.hasCellState ? "h and c of the same shape" : "h only")"
            )
        }
        let zeros = Tensor.zeros([b, h], dtype: x.dtype)
        var input = x
        var finalH: [Tensor] = [], finalC: [Tensor] = []
        for k in 0..<layers {
            var outputs: [Tensor] = []
            for d in 0..<directions {
                let index = k * directions + d, w = weights[index]
                let h0 = initial.map { $0.h.select(axis: 0, index: index) } ?? zeros
                let c0 = cell.hasCellState ? (initial?.c.map { $0.select(axis: 0, index: index) } ?? zeros) : nil
                let packed = recurrentLayerOp(
                    cell, x: input, h0: h0, c0: c0, weightIH: w.ih, weightHH: w.hh, biasIH: w.biasIH, biasHH: w.biasHH,
                    lengths: lengths, reverse: d == 1)
                outputs.append(packed.slice(axis: 1, start: 0, end: steps))
                finalH.append(packed.select(axis: 1, index: steps))
                if cell.hasCellState { finalC.append(packed.select(axis: 1, index: steps + 1)) }
            }
            input = outputs.count == 1 ? outputs[0] : Tensor.concat(outputs, axis: 2)
            if k < layers - 1, let dropout { input = dropout(input) }
        }
        let state = RecurrentState(
            h: Tensor.stack(finalH, axis: 0), c: cell.hasCellState ? Tensor.stack(finalC, axis: 0) : nil)
        return (input, state)
    }
}

/// PyTorch's `nn.RNN(batch_first=True)`: h' = tanh (or relu) of W_ih x + b_ih + W_hh h + b_hh.
public final class RNN: RecurrentNetwork {
    /// The activation of an Elman RNN's cell.
    public enum Nonlinearity: String, Sendable { case tanh, relu }
    /// An Elman RNN (PyTorch's `nn.RNN`, batch first).
    public init(
        _ inputSize: Int, _ hiddenSize: Int, layers: Int = 1, nonlinearity: Nonlinearity = .tanh, bias: Bool = true,
        bidirectional: Bool = false, dropout: Float = 0, using g: inout RandomGenerator
    ) {
        super.init(
            cell: nonlinearity == .tanh ? .rnnTanh : .rnnReLU, inputSize: inputSize, hiddenSize: hiddenSize,
            layers: layers, bias: bias,
            bidirectional: bidirectional, dropout: dropout, using: &g)
    }
}

/// PyTorch's `nn.LSTM(batch_first=True)`: gates i, f, g, o in that order in every weight.
public final class LSTM: RecurrentNetwork {
    /// A long short-term memory network (PyTorch's `nn.LSTM`, batch first).
    public init(
        _ inputSize: Int, _ hiddenSize: Int, layers: Int = 1, bias: Bool = true, bidirectional: Bool = false,
        dropout: Float = 0,
        using g: inout RandomGenerator
    ) {
        super.init(
            cell: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
            bidirectional: bidirectional, dropout: dropout, using: &g)
    }
}

/// PyTorch's `nn.GRU(batch_first=True)`: gates r, z, n in that order; b_hn inside the reset gate's product.
public final class GRU: RecurrentNetwork {
    /// A gated recurrent unit network (PyTorch's `nn.GRU`, batch first).
    public init(
        _ inputSize: Int, _ hiddenSize: Int, layers: Int = 1, bias: Bool = true, bidirectional: Bool = false,
        dropout: Float = 0,
        using g: inout RandomGenerator
    ) {
        super.init(
            cell: .gru, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
            bidirectional: bidirectional, dropout: dropout, using: &g)
    }
}

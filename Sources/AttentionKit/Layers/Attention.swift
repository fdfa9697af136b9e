// Multi-head attention, its key/value cache, and the scoped capture of attention maps.
// Dimension key: B batch, T query length, S key/value length, D model width, H heads, Dh = D/H head width.

/// Attention maps captured from a whole model: one [B, H, Tq, Tk] tensor per attention layer, keyed by the layer's
/// module path (`encoder.layers.2.selfAttention`), in the order the layers first ran.
public struct AttentionMaps {
    /// (module path, weights [B, H, Tq, Tk]) in call order.
    public internal(set) var entries: [(path: String, weights: Tensor)] = []

    /// Module paths in call order.
    public var paths: [String] { entries.map(\.path) }

    /// The map of the layer at `path`, if it ran.
    public subscript(path: String) -> Tensor? { entries.first { $0.path == path }?.weights }
}

/// Collects attention weights for one `withAttentionCapture` scope.
final class AttentionRecorder: @unchecked Sendable {
    let paths: [ObjectIdentifier: String]
    /// per path: the weights of each call (several while decoding incrementally)
    var calls: [(path: String, parts: [Tensor])] = []

    init(model: any Module) {
        var p: [ObjectIdentifier: String] = [:]
        for (path, m) in model.namedModules() where p[ObjectIdentifier(m)] == nil { p[ObjectIdentifier(m)] = path }
        paths = p
    }

    func record(_ module: AnyObject, _ weights: Tensor) {
        let path = paths[ObjectIdentifier(module)] ?? "<attention outside the captured model>"
        if let i = calls.firstIndex(where: { $0.path == path }) {
            calls[i].parts.append(weights)
        } else {
            calls.append((path, [weights]))
        }
    }

    /// One tensor per layer; several calls (decoding steps) are joined along Tq, their Tk padded with zeros to the
    /// longest (a step's query row covers only the keys that existed then).
    func maps() -> AttentionMaps {
        var out = AttentionMaps()
        for (path, parts) in calls {
            if parts.count == 1 { out.entries.append((path, parts[0])); continue }
            let tk = parts.map { $0.shape[3] }.max()!
            let padded = parts.map { $0.shape[3] == tk ? $0 : $0.pad([(0, 0), (0, 0), (0, 0), (0, tk - $0.shape[3])]) }
            out.entries.append((path, Tensor.concat(padded, axis: 2)))
        }
        return out
    }
}

/// Scoped state of attention capture (task-local, like `GradMode`: no global flag).
enum AttentionCapture {
    @TaskLocal static var recorder: AttentionRecorder?
}

/// Runs `body` with every attention layer of `model` handing out its weights, and returns them with body's result:
/// `let (logits, maps) = withAttentionCapture(on: model) { model(x) }`.
///
/// The weights are the fused op's saved softmax probabilities P (before attention dropout), [B, H, Tq, Tk] per
/// layer, never recomputed: outputs are bit-identical with capture on and off, and with capture off nothing is
/// kept. Works during incremental decoding (each step's query row is appended; see `AttentionMaps`).
public func withAttentionCapture<R>(on model: some Module, _ body: () throws -> R) rethrows -> (R, AttentionMaps) {
    let recorder = AttentionRecorder(model: model)
    let r = try AttentionCapture.$recorder.withValue(recorder) { try body() }
    return (r, recorder.maps())
}

/// Keys and values of one attention layer kept across decoding steps, in [B, capacity, D] buffers.
///
/// Self-attention appends one step's key and value rows; cross-attention fills the buffers once from the source
/// (memory). Attention reads the first `length` rows in place (the buffers' batch stride is capacity·D). Batch row i
/// lives in buffer row `batchRows[i]` once a reorder has moved rows (beam search), so that a reorder copies only the
/// rows it duplicates.
public final class KeyValueCache {
    /// The buffers; rows at and past `length` are uninitialised (allocating them zeroed at full capacity cost a
    /// memset of capacity rows per batch when decoding reads only the rows it has written).
    public private(set) var keys: Tensor, values: Tensor
    /// Rows filled so far.
    public private(set) var length: Int
    /// Rows the buffers hold (the longest sequence decoding may reach).
    public let capacity: Int
    /// The buffer row (of `keys` and `values`) that holds batch row i; nil until the first reorder (row i).
    public private(set) var batchRows: [Int]?

    init(batch: Int, capacity: Int, keyWidth: Int, valueWidth: Int) {
        keys = Tensor(shape: [batch, capacity, keyWidth], dtype: .float32, zeroed: false)
        values = Tensor(shape: [batch, capacity, valueWidth], dtype: .float32, zeroed: false)
        length = 0
        self.capacity = capacity
    }

    /// Copies rows [B, n, D] of keys and values into positions length..<length+n (batch row i into its buffer row).
    func append(keys k: Tensor, values v: Tensor) {
        append(
            keys: .merged(k, column: 0, headWidth: k.shape[2]), values: .merged(v, column: 0, headWidth: v.shape[2]))
    }

    /// The same from merged head views (a packed projection's key and value columns, read in place: each position's
    /// heads are side by side, as many columns as the buffers are wide, from the view's offset).
    func append(keys k: HeadView, values v: HeadView) {
        let n = k.length, b = k.base.shape[0]
        precondition(k.base.dtype == .float32 && v.base.dtype == .float32, "KeyValueCache: decoding runs in float32")
        precondition(length + n <= capacity, "KeyValueCache: \(length + n) positions exceed the capacity \(capacity)")
        precondition(
            v.length == n && v.base.shape[0] == b && b == batchRows?.count ?? b && b <= keys.shape[0],
            "KeyValueCache: \(b) rows appended to a batch of \(batchRows?.count ?? keys.shape[0])")
        for (dst, src) in [(keys, k), (values, v)] {
            let w = dst.shape[2], pd = dst.storage.pointer(Float.self), ps = src.base.storage.pointer(Float.self)
            for bi in 0..<b {
                let to = pd + ((batchRows?[bi] ?? bi) * capacity + length) * w
                for t in 0..<n {
                    (to + t * w).update(from: ps + src.offset + bi * src.batchStride + t * src.rowStride, count: w)
                }
            }
        }
        length += n
    }

    /// The filled keys and values as merged head views of width `headWidth`, read through the buffer-row map.
    func heads(width headWidth: Int) -> (keys: HeadView, values: HeadView) {
        (
            .merged(keys, column: 0, headWidth: headWidth, length: length, batchRows: batchRows),
            .merged(values, column: 0, headWidth: headWidth, length: length, batchRows: batchRows)
        )
    }

    /// Makes batch row i the current row `rows[i]` (beam search reorders hypotheses; fewer rows: sentences leave).
    /// Nothing moves for a row whose source no earlier row took: batch row i just points at the source's buffer row.
    /// A source taken twice (a beam that fans out) is copied, filled positions only, into a buffer row no current row
    /// needs — never one that is read — so no row is saved first; the copies are split across the threads.
    func reorder(_ rows: [Int]) {
        let current = batchRows ?? Array(0..<keys.shape[0]), buffers = keys.shape[0]
        precondition(rows.count <= buffers, "KeyValueCache.reorder: \(rows.count) rows for \(buffers)")
        precondition(
            rows.allSatisfy { $0 >= 0 && $0 < current.count },
            "KeyValueCache.reorder: rows outside 0..<\(current.count)")
        var taken = [Bool](repeating: false, count: buffers)
        var next = [Int](repeating: -1, count: rows.count)
        for (i, r) in rows.enumerated() where !taken[current[r]] {
            taken[current[r]] = true
            next[i] = current[r]
        }
        var copies: [(from: Int, to: Int)] = []
        var free = 0
        for i in rows.indices where next[i] < 0 {
            while taken[free] { free += 1 }  // a row no source uses: there are as many as duplicates, or more
            taken[free] = true
            next[i] = free
            copies.append((current[rows[i]], free))
        }
        batchRows = next
        guard length > 0, !copies.isEmpty else { return }
        for t in [keys, values] {
            let w = t.shape[2], stride = capacity * w, used = length * w
            let p = t.storage.pointer(Float.self)
            parallelFor(copies.count, costPerItem: used) { part in
                for c in copies[part] { (p + c.to * stride).update(from: p + c.from * stride, count: used) }
            }
        }
    }
}

/// Multi-head attention (PyTorch's `nn.MultiheadAttention` with `batch_first=True`):
/// MultiHead(Q, K, V) = Concat(head₁…head_H)·W_Oᵀ + b_O, head_i = softmax(Q W_Qᵢᵀ (K W_Kᵢᵀ)ᵀ/√Dh + masks)·V W_Vᵢᵀ.
///
/// Projections are packed (`inProjection`: one [3D, D] weight, as PyTorch's `in_proj_weight`) or separate
/// (`query`, `key`, `value`; required when keys/values have another width). Self-attention with packed weights is
/// one GEMM to [B, T, 3D] whose heads the fused op reads in place; its output comes back merged as [B, T, D] for
/// the output projection. Init as PyTorch: Xavier-uniform projections, zero biases, U(±1/√D) output weight.
public final class MultiHeadAttention: Module, RandomModule {
    public let dModel: Int, heads: Int, headDim: Int, keyDim: Int, valueDim: Int
    /// The packed query/key/value projection [3D, D] (PyTorch's `in_proj_weight`), when the widths are equal and `packed`.
    public var inProjection: Linear?  // [3D, D] packed
    public var query: Linear?, key: Linear?, value: Linear?
    /// The output projection (`out_proj`).
    public var outProjection: Linear
    /// Attention dropout probability on P.
    public let dropout: Float
    /// The generator for attention dropout.
    public var generator: RandomGenerator
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true

    /// Attention over `heads` heads of width `dModel`/`heads` (or `keyDim`/`valueDim` for keys and values of other widths), as `nn.MultiheadAttention`.
    public init(
        dModel: Int, heads: Int, keyDim: Int? = nil, valueDim: Int? = nil, bias: Bool = true, packed: Bool = true,
        dropout: Float = 0, using g: inout RandomGenerator
    ) {
        precondition(
            heads > 0 && dModel % heads == 0, "MultiHeadAttention: width \(dModel) is not divisible by \(heads) heads")
        self.dModel = dModel
        self.heads = heads
        headDim = dModel / heads
        self.keyDim = keyDim ?? dModel
        self.valueDim = valueDim ?? dModel
        self.dropout = dropout
        generator = RandomGenerator(seed: g.next())
        if packed && self.keyDim == dModel && self.valueDim == dModel {
            let p = Linear(dModel, 3 * dModel, bias: bias, using: &g)
            p.weight = Init.xavierUniform([3 * dModel, dModel], using: &g).requiringGrad()
            p.bias = bias ? Tensor.zeros([3 * dModel]).requiringGrad() : nil
            inProjection = p
        } else {
            func proj(_ inWidth: Int) -> Linear {
                let p = Linear(inWidth, dModel, bias: bias, using: &g)
                p.weight = Init.xavierUniform([dModel, inWidth], using: &g).requiringGrad()
                p.bias = bias ? Tensor.zeros([dModel]).requiringGrad() : nil
                return p
            }
            query = proj(dModel)
            key = proj(self.keyDim)
            value = proj(self.valueDim)
        }
        outProjection = Linear(dModel, dModel, bias: bias, using: &g)
        if bias { outProjection.bias = Tensor.zeros([dModel]).requiringGrad() }
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        if let inProjection { return [("inProjection", inProjection), ("outProjection", outProjection)] }
        return [("query", query!), ("key", key!), ("value", value!), ("outProjection", outProjection)]
    }

    /// Rows `part` (0 = query, 1 = key, 2 = value) of the packed projection applied to x.
    private func packedPart(_ x: Tensor, _ parts: Range<Int>) -> Tensor {
        let p = inProjection!
        if let q = p.quantized {
            let rows = (parts.lowerBound * dModel)..<(parts.upperBound * dModel)
            return Int8GEMM.linear(
                x, q, rows: rows, bias: p.bias?.slice(axis: 0, start: rows.lowerBound, end: rows.upperBound))
        }
        let rows = (parts.lowerBound * dModel)..<(parts.upperBound * dModel)
        if let packed = p.packedWeight(for: x), packed.canCompute(outputs: rows), x.dtype == .float32 {
            return packed.product(
                x, outputs: rows, bias: p.bias?.slice(axis: 0, start: rows.lowerBound, end: rows.upperBound))
        }
        let w = p.weight.slice(axis: 0, start: parts.lowerBound * dModel, end: parts.upperBound * dModel)
        let y = matmul(x, w, transposeB: true)
        return p.bias.map { y + $0.slice(axis: 0, start: parts.lowerBound * dModel, end: parts.upperBound * dModel) }
            ?? y
    }

    /// Projects query, key and value and returns their head views (sharing storage when packed).
    private func project(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> (HeadView, HeadView, HeadView) {
        if let inProjection {
            if q === k && k === v {
                let qkv = inProjection(q)  // [B, T, 3D]
                return (
                    .merged(qkv, column: 0, headWidth: headDim), .merged(qkv, column: dModel, headWidth: headDim),
                    .merged(qkv, column: 2 * dModel, headWidth: headDim)
                )
            }
            let qp = packedPart(q, 0..<1)  // [B, T, D]
            if k === v {
                let kv = packedPart(k, 1..<3)  // [B, S, 2D]
                return (
                    .merged(qp, column: 0, headWidth: headDim), .merged(kv, column: 0, headWidth: headDim),
                    .merged(kv, column: dModel, headWidth: headDim)
                )
            }
            return (
                .merged(qp, column: 0, headWidth: headDim),
                .merged(packedPart(k, 1..<2), column: 0, headWidth: headDim),
                .merged(packedPart(v, 2..<3), column: 0, headWidth: headDim)
            )
        }
        return (
            .merged(query!(q), column: 0, headWidth: headDim), .merged(key!(k), column: 0, headWidth: headDim),
            .merged(value!(v), column: 0, headWidth: headDim)
        )
    }

    /// Runs the fused op on head views, hands the weights to an active capture, projects the merged output.
    private func attend(_ q: HeadView, _ k: HeadView, _ v: HeadView, batch: Int, mask: AttentionMask) -> (
        Tensor, Tensor
    ) {
        var g: RandomGenerator? = (isTraining && dropout > 0) ? generator : nil
        let r = attentionOp(
            q: q, k: k, v: v, batch: batch, heads: heads, mask: mask, scale: 1 / Double(headDim).squareRoot(),
            dropout: isTraining ? dropout : 0, generator: &g, mergedOutput: true)  // [B, T, D]
        if let g { generator = g }
        AttentionCapture.recorder?.record(self, r.weights)
        return (outProjection(r.output), r.weights)
    }

    /// Attention of `query` [B, T, D] over `key` [B, S, kdim] and `value` [B, S, vdim] (pass the same tensor three
    /// times for self-attention: that takes the one-GEMM packed path).
    /// - Parameters:
    ///   - query: [B, T, D].
    ///   - key: [B, S, kdim].
    ///   - value: [B, S, vdim].
    ///   - mask: key padding, causal and additive masks (`AttentionMask`).
    ///   - needWeights: also return the attention weights (PyTorch's `need_weights`);
    ///   - averageWeights: average them over heads to [B, T, S] (PyTorch's `average_attn_weights`), else [B, H, T, S].
    /// - Returns: output [B, T, D] and, if asked, the weights (before attention dropout).
    public func callAsFunction(
        query: Tensor, key: Tensor, value: Tensor, mask: AttentionMask = .none,
        needWeights: Bool = false, averageWeights: Bool = true
    ) -> (output: Tensor, weights: Tensor?) {
        guard query.rank == 3, key.rank == 3, value.rank == 3, query.shape[2] == dModel, key.shape[2] == keyDim,
            value.shape[2] == valueDim, query.shape[0] == key.shape[0], key.shape[0] == value.shape[0],
            key.shape[1] == value.shape[1]
        else {
            shapeFailure(
                ShapeError(
                    "MultiHeadAttention: query \(fmt(query.shape)), key \(fmt(key.shape)), value \(fmt(value.shape)) do not fit [B, T, \(dModel)], [B, S, \(keyDim)], [B, S, \(valueDim)]"
                ))
        }
        let (q, k, v) = project(query, key, value)
        let (out, w) = attend(q, k, v, batch: query.shape[0], mask: mask)
        guard needWeights else { return (out, nil) }
        return (out, averageWeights ? w.mean(axes: [1]) : w)
    }

    /// Self-attention: x [B, T, D] → [B, T, D].
    public func callAsFunction(_ x: Tensor, mask: AttentionMask = .none) -> Tensor {
        self(query: x, key: x, value: x, mask: mask).output
    }

    /// One decoding step of self-attention: x [B, n, D] holds the newest n positions; their keys and values are
    /// appended to `cache` and the queries attend to every cached position (causally within the n new ones).
    public func step(_ x: Tensor, cache: KeyValueCache) -> Tensor {
        let (q, k, v) = project(x, x, x)
        cache.append(keys: k, values: v)  // the projection's key and value columns, copied once
        let n = x.shape[1]
        let (kc, vc) = cache.heads(width: headDim)
        return attend(q, kc, vc, batch: x.shape[0], mask: AttentionMask(causal: n > 1)).0
    }

    /// A cache for cross-attention over `memory` [B, S, D]: keys and values projected once.
    public func crossCache(memory: Tensor) -> KeyValueCache {
        let (_, k, v) = project(memory, memory, memory)
        let c = KeyValueCache(batch: memory.shape[0], capacity: memory.shape[1], keyWidth: dModel, valueWidth: dModel)
        c.append(keys: k, values: v)
        return c
    }

    /// Cross-attention of x [B, n, D] over a filled `crossCache`. With `beams` > 1, x holds `beams` consecutive rows per
    /// row of the cache (beam search's hypotheses of one source, whose keys and values are the same): as
    /// cross-attention has no causal mask, they attend as `beams·n` queries of that one row, so the cache and `mask`
    /// are kept once per source instead of once per beam.
    public func step(_ x: Tensor, crossCache c: KeyValueCache, mask: AttentionMask = .none, beams: Int = 1) -> Tensor {
        let xs = beams == 1 ? x : x.reshape([x.shape[0] / beams, beams * x.shape[1], x.shape[2]])
        let q: HeadView =
            inProjection != nil
            ? .merged(packedPart(xs, 0..<1), column: 0, headWidth: headDim)
            : .merged(query!(xs), column: 0, headWidth: headDim)
        let (kc, vc) = c.heads(width: headDim)
        let out = attend(q, kc, vc, batch: xs.shape[0], mask: mask).0
        return beams == 1 ? out : out.reshape(x.shape)
    }

}

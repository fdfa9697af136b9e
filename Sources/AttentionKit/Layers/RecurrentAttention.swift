// The attention recurrent translators began with: Bahdanau's additive score and Luong's multiplicative ones.
// Dimension key: B batch, T queries (decoder steps), S keys (source positions).

/// How a recurrent attention scores a query against each key.
public enum AlignmentScore: String, Codable, Sendable, CaseIterable {
    /// Bahdanau et al. (2015): vᵀ tanh(W q + U k).
    case additive
    /// Luong et al. (2015) "dot": qᵀ k (query and key of one width).
    case dot
    /// Luong et al. (2015) "general": qᵀ W k.
    case general
}

/// Attention for recurrent models: scores of a query against every key (`AlignmentScore`), a softmax over the keys
/// that are not padding, and the weighted sum of the values. Returns the context and the weights; an active
/// `withAttentionCapture` sees the weights like every other attention layer's, as [B, 1, T, S] (one head).
///
/// Composed of differentiable ops (linear maps, tanh, a batched matmul, softmax), so its gradient is theirs.
public final class RecurrentAttention: Module {
    /// How a query is scored against a key (dot, general or concat/additive).
    public let score: AlignmentScore
    public let queryWidth: Int, keyWidth: Int
    /// True in training mode (dropout active, batch statistics in BatchNorm).
    public var isTraining = true
    /// additive: W [A, Dq] (no bias), U [A, Dk] (with bias), v [1, A]; general: W [Dq, Dk] (no bias).
    public let queryProjection: Linear?, keyProjection: Linear?, energy: Linear?

    /// - Parameters:
    ///   - score: how a query and a key are scored: dot, general (Luong) or additive (Bahdanau).
    ///   - queryWidth: the queries' width (the decoder state).
    ///   - keyWidth: the keys' width (the encoder outputs).
    ///   - hidden: the additive score's width A (Bahdanau's n'); unused by dot and general.
    ///   - g: the generator the weights are drawn from.
    public init(
        _ score: AlignmentScore, queryWidth: Int, keyWidth: Int, hidden: Int? = nil, using g: inout RandomGenerator
    ) {
        precondition(
            score != .dot || queryWidth == keyWidth,
            "dot attention: query width \(queryWidth) and key width \(keyWidth) must be equal")
        self.score = score
        self.queryWidth = queryWidth
        self.keyWidth = keyWidth
        switch score {
        case .additive:
            let a = hidden ?? queryWidth
            queryProjection = Linear(queryWidth, a, bias: false, using: &g)
            keyProjection = Linear(keyWidth, a, using: &g)
            energy = Linear(a, 1, bias: false, using: &g)
        case .general:
            queryProjection = nil
            keyProjection = Linear(keyWidth, queryWidth, bias: false, using: &g)
            energy = nil
        case .dot:
            (queryProjection, keyProjection, energy) = (nil, nil, nil)
        }
    }

    /// Direct sub-modules, by local name (the prefixes of their parameters' state-dict paths).
    public var children: [(name: String, module: any Module)] {
        var out: [(name: String, module: any Module)] = []
        if let queryProjection { out.append(("queryProjection", queryProjection)) }
        if let keyProjection { out.append(("keyProjection", keyProjection)) }
        if let energy { out.append(("energy", energy)) }
        return out
    }

    /// The keys' projection, which does not depend on the query: compute it once per source and pass it to every
    /// decoding step (`callAsFunction(query:keys:values:projectedKeys:…)`).
    public func projectKeys(_ keys: Tensor) -> Tensor { keyProjection.map { $0(keys) } ?? keys }

    /// Attends `query` [B, T, Dq] over `keys` [B, S, Dk] and `values` [B, S, Dv].
    /// - Parameters:
    ///   - query: [B, T, query width].
    ///   - keys: [B, S, key width].
    ///   - values: [B, S, Dv].
    ///   - keyLengths: each row's real keys (1…S); keys past them get no weight. nil: all.
    ///   - projectedKeys: `projectKeys(keys)`, when the caller keeps it across steps.
    /// - Returns: the context [B, T, Dv] and the weights [B, T, S].
    public func callAsFunction(
        query: Tensor, keys: Tensor, values: Tensor, keyLengths: [Int]? = nil,
        projectedKeys: Tensor? = nil
    ) -> (context: Tensor, weights: Tensor) {
        let b = query.shape[0], t = query.shape[1], s = keys.shape[1]
        precondition(
            keys.shape[0] == b && values.shape[0] == b && values.shape[1] == s,
            "attention: keys \(fmt(keys.shape)) and values \(fmt(values.shape)) do not fit the query \(fmt(query.shape))"
        )
        let k = projectedKeys ?? projectKeys(keys)
        var scores: Tensor
        switch score {
        case .additive:
            // [B, T, 1, A] + [B, 1, S, A] → tanh → v: [B, T, S]
            let q = queryProjection!(query).unsqueeze(2), kk = k.unsqueeze(1)
            scores = energy!((q + kk).tanh()).reshape([b, t, s])
        case .dot, .general:
            scores = matmul(query, k, transposeB: true)  // [B, T, S]
        }
        if let keyLengths {
            precondition(
                keyLengths.count == b && keyLengths.allSatisfy { $0 >= 1 && $0 <= s },
                "attention: key lengths must be 1…\(s), one per row")
            var mask = [Double](repeating: 0, count: b * t * s)
            for r in 0..<b where keyLengths[r] < s {
                for i in 0..<t { for j in keyLengths[r]..<s { mask[(r * t + i) * s + j] = -.infinity } }
            }
            scores = scores + Tensor(doubles: mask, shape: [b, t, s]).to(scores.dtype)
        }
        let weights = scores.softmax(axis: -1)
        AttentionCapture.recorder?.record(self, weights.detach().unsqueeze(1))
        return (matmul(weights, values), weights)
    }
}

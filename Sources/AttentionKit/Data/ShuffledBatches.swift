import Foundation

/// Seeded shuffled batches of indices, reshuffled every epoch; resumable through `savedState`/`restore`.
public struct ShuffledBatches {
    public let count: Int, batchSize: Int
    private var epochs: EpochBatches

    /// - Parameters:
    ///   - count: the examples, numbered 0..<count.
    ///   - batchSize: examples per batch (the last one may be smaller).
    ///   - seed: the shuffling's seed.
    ///   - shard: data-parallel training: global batches of `batchSize` × processes, this process's slice of
    ///     each (`batchSize` examples).
    public init(count: Int, batchSize: Int, seed: UInt64, shard: Shard = .whole) {
        self.count = count
        self.batchSize = batchSize
        let global = batchSize * shard.count
        epochs = EpochBatches(seed: seed, shard: shard) { g in
            var order = Array(0..<count)
            order.shuffle(using: &g)
            return stride(from: 0, to: count, by: global).map { Array(order[$0..<min(count, $0 + global)]) }
        }
    }

    /// Number of batches in each epoch.
    public var batchesPerEpoch: Int { epochs.batches.count }
    /// Index of the next batch in the current epoch.
    public var index: Int { epochs.index }
    /// The indices of the next batch of this epoch; nil at the end of the epoch.
    public mutating func next() -> [Int]? { epochs.next() }
    /// Shuffles the order for the next epoch and starts it.
    public mutating func startNextEpoch() { epochs.startNextEpoch() }
    /// The position (epoch, index, generator) as text, for a checkpoint.
    public var savedState: String { epochs.savedState }
    /// Restores a position saved by `savedState`; throws when the text does not fit these batches.
    public mutating func restore(_ text: String) throws { try epochs.restore(text) }
}

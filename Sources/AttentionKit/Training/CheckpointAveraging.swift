import Foundation

/// Checkpoint averaging (Vaswani et al. 2017; fairseq's `average_checkpoints.py`, Marian's `--exponential-smoothing`'s
/// offline cousin): the element-wise mean of the weights of a run's last epochs, usually a little better than any one
/// of them because it sits nearer the middle of the region the optimizer was moving through.
///
/// Training with `TrainerOptions.averageLast` N keeps `epoch-K.safetensors` for the last N epochs and writes their mean
/// as `averaged.safetensors` when the run ends; `average(_:to:)` averages any weights files of one model.
public enum CheckpointAveraging {
    /// The file an epoch's weights are kept in (1-based epoch).
    public static func epochFile(_ epoch: Int) -> String { "epoch-\(epoch).safetensors" }

    /// The name the average of the last epochs is written under.
    public static let averagedFile = "averaged.safetensors"

    /// The kept epoch files in `directory`, in epoch order: (epoch, URL).
    public static func epochFiles(in directory: URL) -> [(epoch: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix("epoch-"), name.hasSuffix(".safetensors"),
                let k = Int(name.dropFirst(6).dropLast(12)), k > 0, epochFile(k) == name
            else { return nil }
            return (k, directory.appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// Writes the element-wise mean of the weights files `files` (one model's: the same tensor names and shapes) to
    /// `url`, atomically, in the last file's tensor order and with its metadata (so it loads wherever that file
    /// does), plus `attentionkit.averaged` naming the files. Counters (`num_batches_tracked`) are taken from the last
    /// file, not averaged. Sums are kept in Double.
    /// - Returns: the averaged tensors by name (what the file holds).
    /// - Throws: `CheckpointAveragingError` naming the file and tensor that does not fit, or the reader's error.
    @discardableResult
    public static func average(_ files: [URL], to url: URL) throws -> [String: Tensor] {
        guard let lastURL = files.last else { throw CheckpointAveragingError("no weights files to average") }
        let last = try Safetensors.read(from: lastURL)
        var sums: [String: [Double]] = [:]
        for name in last.order where !name.hasSuffix("num_batches_tracked") {
            sums[name] = [Double](repeating: 0, count: last.tensors[name]!.count)
        }
        for file in files {
            let tensors = file == lastURL ? last.tensors : try Safetensors.read(from: file).tensors
            for name in last.order {
                guard let t = tensors[name] else {
                    throw CheckpointAveragingError(
                        "\(file.path) has no tensor '\(name)' (which \(lastURL.lastPathComponent) has): not the same model"
                    )
                }
                let expected = last.tensors[name]!.shape
                guard t.shape == expected else {
                    throw CheckpointAveragingError(
                        "\(file.path): tensor '\(name)' has shape \(t.shape), \(lastURL.lastPathComponent) has \(expected): not the same model"
                    )
                }
                guard sums[name] != nil else { continue }
                t.doubles.withUnsafeBufferPointer { v in
                    sums[name]!.withUnsafeMutableBufferPointer { s in
                        for i in 0..<v.count { s[i] += v[i] }
                    }
                }
            }
            if let extra = Set(tensors.keys).subtracting(last.order).sorted().first {
                throw CheckpointAveragingError(
                    "\(file.path) has a tensor '\(extra)' that \(lastURL.lastPathComponent) has not: not the same model"
                )
            }
        }
        let n = Double(files.count)
        let tensors: [(name: String, tensor: Tensor)] = last.order.map { name in
            let t = last.tensors[name]!
            guard let s = sums[name] else { return (name, t) }
            let mean = s.map { $0 / n }
            return (
                name,
                t.dtype == .float64
                    ? Tensor(doubles: mean, shape: t.shape) : Tensor(mean.map { Float($0) }, shape: t.shape)
            )
        }
        var metadata = last.metadata
        metadata["attentionkit.averaged"] = files.map(\.lastPathComponent).joined(separator: ",")
        try Safetensors.write(tensors, metadata: metadata, to: url)
        return Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) })
    }

    /// Averages the last `count` kept epoch files of a run directory into `RUN/name`; returns the epochs averaged.
    /// - Throws: when fewer than `count` epoch files are kept (the run was trained without `--average-last`, or
    ///   with a smaller one).
    @discardableResult
    public static func averageLast(_ count: Int, in directory: URL, to name: String = averagedFile) throws -> [Int] {
        guard count >= 1 else { throw CheckpointAveragingError("--last must be at least 1 (got \(count))") }
        let kept = epochFiles(in: directory)
        guard kept.count >= count else {
            throw CheckpointAveragingError(
                kept.isEmpty
                    ? "\(directory.path) keeps no epoch-K.safetensors files: train with --average-last N (it keeps the last N epochs' weights)"
                    : "\(directory.path) keeps \(kept.count) epoch file\(kept.count == 1 ? "" : "s") (epochs \(kept.map { String($0.epoch) }.joined(separator: ", "))), fewer than --last \(count)"
            )
        }
        let chosen = kept.suffix(count)
        try average(chosen.map(\.url), to: directory.appendingPathComponent(name))
        return chosen.map(\.epoch)
    }
}

/// Weights files that cannot be averaged (different models, too few epochs kept).
public struct CheckpointAveragingError: Error, CustomStringConvertible {
    /// What is wrong, naming the file.
    public let description: String
    /// An error with this message.
    public init(_ description: String) { self.description = description }
}

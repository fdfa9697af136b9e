import Foundation

/// A translation run's decoding defaults, `generation_config.json` (Hugging Face's file name and its `num_beams`,
/// `length_penalty` keys): the beam, the GNMT length penalty and the weights file that `attn translate` and
/// `attn evaluate` use where no flag says otherwise. Training writes it after the last epoch, chosen on the run's
/// validation pairs (`Translator.tuneDecoding`); `attn tune-decoding` writes it for an existing run.
public struct GenerationConfig: Codable, Sendable, Equatable {
    /// The file's name in a run directory.
    public static let fileName = "generation_config.json"
    /// The length penalty used where a run has no generation_config.json (and the default of `translate`).
    public static let defaultLengthPenalty: Float = 0.6

    /// The beam the choice was made with.
    public var numBeams: Int
    /// α of GNMT's length normalisation, log p / ((5 + |Y|) / 6)^α.
    public var lengthPenalty: Float
    /// The weights file in the run directory ("best.safetensors", "averaged.safetensors").
    public var weights: String
    /// What the choice was made on ("validation.source, validation.target").
    public var chosenOn: String
    /// How many sentence pairs.
    public var pairs: Int
    /// The metric that chose ("bleu": sacreBLEU's cased corpus BLEU, the metric training keeps its best epoch by).
    public var metric: String
    /// Every candidate tried, in the order tried.
    public var candidates: [Candidate]

    /// One (weights, length penalty) pair and its score.
    public struct Candidate: Codable, Sendable, Equatable {
        /// The weights file.
        public var weights: String
        /// The length penalty α.
        public var lengthPenalty: Float
        /// Its score on the validation pairs (`GenerationConfig.metric`).
        public var score: Double
        /// A scored candidate.
        public init(weights: String, lengthPenalty: Float, score: Double) {
            self.weights = weights
            self.lengthPenalty = lengthPenalty
            self.score = score
        }
    }

    /// A configuration from its parts.
    public init(
        numBeams: Int, lengthPenalty: Float, weights: String, chosenOn: String, pairs: Int, metric: String,
        candidates: [Candidate]
    ) {
        self.numBeams = numBeams
        self.lengthPenalty = lengthPenalty
        self.weights = weights
        self.chosenOn = chosenOn
        self.pairs = pairs
        self.metric = metric
        self.candidates = candidates
    }

    /// The score of the chosen (weights, length penalty) among `candidates`; nil when the file was edited to a pair
    /// that was not tried.
    public var chosenScore: Double? {
        candidates.first { $0.weights == weights && $0.lengthPenalty == lengthPenalty }?.score
    }

    /// The best of `candidates` (the first of equal scores: candidates are tried best weights first, smaller α
    /// first), as a configuration.
    public static func choosing(
        from candidates: [Candidate], numBeams: Int, chosenOn: String, pairs: Int, metric: String = "bleu"
    ) -> GenerationConfig? {
        guard var best = candidates.first else { return nil }
        for c in candidates.dropFirst() where c.score > best.score { best = c }
        return GenerationConfig(
            numBeams: numBeams, lengthPenalty: best.lengthPenalty, weights: best.weights, chosenOn: chosenOn,
            pairs: pairs, metric: metric, candidates: candidates)
    }
}

extension RunDirectory {
    /// The run's generation_config.json, nil when it has none.
    /// - Throws: an error naming the file when it exists but cannot be read as one.
    public func generationConfig() throws -> GenerationConfig? {
        let url = file(GenerationConfig.fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let config: GenerationConfig
        do { config = try Self.decoder.decode(GenerationConfig.self, from: Data(contentsOf: url)) } catch {
            throw RunDirectoryError(
                message:
                    "\(url.path): not a generation config (\(UserFile.reason(for: error))); delete it or rerun attn tune-decoding"
            )
        }
        guard config.lengthPenalty.isFinite, (0...5).contains(config.lengthPenalty), config.numBeams >= 1,
            !config.weights.isEmpty, !config.weights.contains("/")
        else {
            throw RunDirectoryError(
                message:
                    "\(url.path): length_penalty \(config.lengthPenalty), num_beams \(config.numBeams), weights '\(config.weights)' are not usable (α in 0…5, a beam ≥ 1, a file name in the run)"
            )
        }
        return config
    }

    /// Writes `config` as the run's generation_config.json, atomically.
    public func writeGenerationConfig(_ config: GenerationConfig) throws {
        try write(try Self.encoder.encode(config), to: GenerationConfig.fileName)
    }

    /// The weights inference loads when none is named: generation_config.json's `weights`, else best.safetensors.
    public func defaultWeightsFile() throws -> String { try generationConfig()?.weights ?? "best.safetensors" }

    /// The length penalty decoding uses when none is given: generation_config.json's, else 0.6.
    public func defaultLengthPenalty() throws -> Float {
        try generationConfig()?.lengthPenalty ?? GenerationConfig.defaultLengthPenalty
    }
}

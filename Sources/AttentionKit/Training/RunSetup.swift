import Foundation

/// The learning-rate decay after warmup.
public enum ScheduleKind: String, Codable, CaseIterable, Sendable {
    /// Cosine to 0 at the last optimizer step (`WarmupCosine`).
    case cosine
    /// Vaswani et al.'s inverse square root of the step (`WarmupInverseSqrt`).
    case inverseSqrt = "inverse-sqrt"
    /// The peak rate throughout after the warmup (Adadelta's recipes: Kim 2014).
    case constant
}

/// The optimizer of a recipe, with the hyperparameters that differ between tasks.
public enum OptimizerChoice: Codable, Sendable, Equatable {
    /// AdamW (β₁ 0.9, this β₂, decoupled weight decay).
    case adamw(beta2: Float)
    /// SGD with this momentum (Nesterov when momentum > 0).
    case sgd(momentum: Float)
    /// Adadelta with this ρ (Zeiler 2012; Kim 2014 uses 0.95 at lr 1).
    case adadelta(rho: Float)
}

/// The training recipe every task shares: epochs, optimizer, learning-rate schedule, clipping, accumulation, early
/// stopping, seed. The task's batch shape (`batchSize` or `maxTokens`) lives here too, so that a resume can check it.
public struct TrainingRecipe: Codable, Sendable, Equatable {
    /// Epochs to train.
    public var epochs: Int
    /// The peak learning rate.
    public var lr: Float
    /// SGD, Adam or AdamW.
    public var optimizer: OptimizerChoice
    /// Weight decay (decoupled for AdamW).
    public var weightDecay: Float
    /// The learning-rate schedule after warmup.
    public var schedule: ScheduleKind = .cosine
    /// Optimizer steps of linear warmup; nil: `warmupEpochs`, else `defaultWarmupSteps`, else min(400, total / 5).
    public var warmupSteps: Int? = nil
    /// Warmup in epochs (of optimizer steps), when `warmupSteps` is nil.
    public var warmupEpochs: Int? = nil
    /// The task's warmup without either (cut to the run's length).
    public var defaultWarmupSteps: Int? = nil
    /// The cosine ends at this fraction of the peak rate (nanoGPT's min_lr / learning_rate); nil: 0.
    public var minLRFactor: Float? = nil
    /// Global gradient-norm clipping; 0: none.
    public var clipNorm: Float
    /// Batches whose gradients are summed before one optimizer step.
    public var accumulate = 1
    /// Stop after this many epochs without improvement of the validation metric; 0: never.
    public var patience = 0
    /// Weights, dropout and batch order come from this seed.
    public var seed: UInt64 = 0
    /// Label smoothing of the cross-entropy (0: none).
    public var labelSmoothing: Float = 0
    /// Examples per batch (classification tasks).
    public var batchSize: Int? = nil
    /// Padded tokens per batch (translation).
    public var maxTokens: Int? = nil

    /// A recipe with these values, the rest at their defaults.
    public init(epochs: Int, lr: Float, optimizer: OptimizerChoice, weightDecay: Float, clipNorm: Float) {
        self.epochs = epochs
        self.lr = lr
        self.optimizer = optimizer
        self.weightDecay = weightDecay
        self.clipNorm = clipNorm
    }

    enum CodingKeys: String, CodingKey {
        case epochs, lr, optimizer, schedule, seed, patience, accumulate
        case weightDecay, warmupSteps, warmupEpochs
        case defaultWarmupSteps, clipNorm, labelSmoothing
        case batchSize, maxTokens, minLRFactor
    }

    /// The settings of the recipe a resume must keep: the seed and the batch shape.
    public func resumeSettings() throws -> [RunSetting] {
        var s = [try RunSetting("training.seed", seed, flag: "--seed")]
        if let batchSize { s.append(try RunSetting("training.batch_size", batchSize, flag: "--batch-size")) }
        if let maxTokens { s.append(try RunSetting("training.max_tokens", maxTokens, flag: "--max-tokens")) }
        return s
    }

    /// Checks the values (positive epochs and rate, non-negative decay, warmup, clipping, patience).
    public func validate() throws {
        func fail(_ m: String) -> RunSetupError { RunSetupError(m) }
        guard epochs > 0 else { throw fail("--epochs must be positive") }
        guard epochs <= 1_000_000 else { throw fail("--epochs must be at most 1000000 (got \(epochs))") }
        guard lr > 0, lr.isFinite, lr <= 1e3 else {
            throw fail("--lr must be a positive number up to 1000 (got \(lr))")
        }
        guard (0...100_000_000).contains(warmupSteps ?? 0) else {
            throw fail("--warmup-steps must be in 0…100000000 (got \(warmupSteps ?? 0))")
        }
        guard (0...1_000_000).contains(warmupEpochs ?? 0) else {
            throw fail("--warmup-epochs must be in 0…1000000 (got \(warmupEpochs ?? 0))")
        }
        guard (1...1_000_000).contains(accumulate) else {
            throw fail("--accumulate must be in 1…1000000 (got \(accumulate))")
        }
        if let b = batchSize {
            guard (1...1_000_000).contains(b) else { throw fail("--batch-size must be in 1…1000000 (got \(b))") }
        }
        if let t = maxTokens {
            guard (1...100_000_000).contains(t) else { throw fail("--max-tokens must be in 1…100000000 (got \(t))") }
        }
        guard patience >= 0 else { throw fail("--patience must be non-negative") }
        guard clipNorm >= 0, clipNorm.isFinite else {
            throw fail("--clip-norm must be a finite number ≥ 0 (got \(clipNorm))")
        }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw fail("--weight-decay must be a finite number ≥ 0 (got \(weightDecay))")
        }
        guard (minLRFactor ?? 0) >= 0 && (minLRFactor ?? 0) <= 1 else {
            throw fail("--min-lr-factor must be in [0, 1]")
        }
    }

    /// Optimizer steps in an epoch of `batches` batches: ⌈batches / accumulate⌉.
    public func optimizerSteps(perEpochOf batches: Int) -> Int { (batches + accumulate - 1) / accumulate }

    /// The warmup this recipe gives a run of epochs of `batchesPerEpoch` batches, in optimizer steps: `warmupSteps`,
    /// else `warmupEpochs` epochs, else the task's default, else min(400, total / 5). A warmup longer than half the run
    /// (a short smoke run with the recipe's warmup, `--epochs 1` with one warmup epoch) shrinks to a fifth of the run,
    /// and `note` says so in one line; otherwise `note` is nil.
    /// - Throws: when an epoch has no batch.
    public func warmup(batchesPerEpoch: Int) throws -> (steps: Int, totalSteps: Int, note: String?) {
        guard batchesPerEpoch > 0 else { throw RunSetupError("the training data gives no batch per epoch") }
        let perEpoch = optimizerSteps(perEpochOf: batchesPerEpoch)
        let total = max(1, epochs * perEpoch)
        let asked: Int, source: String
        if let warmupSteps {
            (asked, source) = (warmupSteps, "--warmup-steps \(warmupSteps)")
        } else if let warmupEpochs {
            (asked, source) = (
                warmupEpochs * perEpoch, "--warmup-epochs \(warmupEpochs) (\(warmupEpochs * perEpoch) steps)"
            )
        } else if let defaultWarmupSteps {
            (asked, source) = (defaultWarmupSteps, "the recipe's \(defaultWarmupSteps) warmup steps")
        } else {
            return (min(400, total / 5), total, nil)
        }
        guard asked * 2 > total, asked > 0 else { return (asked, total, nil) }
        let steps = total / 5
        let note =
            "warmup: \(source) would take more than half of this run's \(total) optimizer steps (\(epochs) epoch\(epochs == 1 ? "" : "s") × \(perEpoch)); shortened to \(steps) step\(steps == 1 ? "" : "s"), a fifth of the run"
        return (steps, total, note)
    }

    /// The warmup + decay schedule for epochs of `batchesPerEpoch` batches: cosine over the whole run's optimizer
    /// steps (accumulation counted) to `minLRFactor`, inverse square root, or constant, after `warmup(batchesPerEpoch:)`.
    /// - Throws: when an epoch has no batch.
    public func makeSchedule(batchesPerEpoch: Int) throws -> any LRSchedule {
        let (warmup, total, _) = try self.warmup(batchesPerEpoch: batchesPerEpoch)
        switch schedule {
        case .inverseSqrt: return WarmupInverseSqrt(warmupSteps: max(1, warmup))
        case .constant: return WarmupConstant(warmupSteps: min(warmup, total - 1))
        case .cosine:
            return WarmupCosine(
                warmupSteps: min(warmup, max(total - 1, 0)), totalSteps: total, minFactor: minLRFactor ?? 0)
        }
    }

    /// The optimizer over `model`'s parameters, weight decay on weights only (not biases, norms, position tables).
    public func makeOptimizer(for model: some Module) -> Optimizer {
        makeOptimizer(groups: ParameterGroup.weightDecayGroups(model, weightDecay: weightDecay))
    }

    /// This recipe's optimizer over `groups`.
    public func makeOptimizer(groups: [ParameterGroup]) -> Optimizer {
        switch optimizer {
        case .adamw(let beta2): return AdamW(groups, learningRate: lr, beta2: beta2, weightDecay: weightDecay)
        case .sgd(let momentum): return SGD(groups, learningRate: lr, momentum: momentum, nesterov: momentum > 0)
        case .adadelta(let rho): return Adadelta(groups, learningRate: lr, rho: rho, weightDecay: weightDecay)
        }
    }

    /// The Trainer's options for this recipe, choosing `best.safetensors` by `bestMetric`.
    public func trainerOptions(bestMetric: String, higherIsBetter: Bool) -> TrainerOptions {
        var o = TrainerOptions(epochs: epochs)
        o.accumulationSteps = accumulate
        o.clipNorm = clipNorm > 0 ? clipNorm : nil
        o.bestMetric = bestMetric
        o.higherIsBetter = higherIsBetter
        o.patience = patience > 0 ? patience : nil
        return o
    }
}

/// A run that cannot be set up as asked (a recipe that does not fit the data, a flag that contradicts the run).
public struct RunSetupError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// An error with this message.
    public init(_ description: String) { self.description = description }
}

/// Flag names from Swift property and configuration field names, as ArgumentParser forms them: `feedForward` →
/// `feed-forward`, `confusionPNG` → `confusion-png`.
public enum FlagNames {
    /// A camelCase field name as a kebab-case flag name ("valFraction" → "val-fraction").
    public static func kebab(_ name: String) -> String {
        name.replacingOccurrences(of: "([a-z0-9])([A-Z])", with: "$1-$2", options: .regularExpression)
            .replacingOccurrences(of: "([A-Z])([A-Z][a-z])", with: "$1-$2", options: .regularExpression).lowercased()
    }
}

/// Input that does not fit the run's task (e.g. `--image` for a translation run): a usage error, exit 64 in the CLI.
public struct TaskUsageError: Error, CustomStringConvertible {
    /// What is wrong, naming the flag.
    public let description: String
    /// An error with this message.
    public init(_ description: String) { self.description = description }
}

/// Where and how one training run executes: its directory, whether it resumes, the data-parallel group, and where
/// its lines go. Only the lead process of a distributed run logs and writes files; `log` is silent on the others.
public final class RunContext {
    /// The run directory.
    public let directory: RunDirectory
    /// Whether the run continues from its resume.safetensors.
    public let resume: Bool
    /// The processes training together, if more than one.
    public let dataParallel: DataParallel?
    /// Show the progress bar (stderr) while training.
    public var showProgress = true
    /// Write TensorBoard event files into the run directory (`TrainerOptions.tensorBoard`).
    public var tensorBoard = true
    /// Keep the last N epochs' weights and write their average when the run ends (`TrainerOptions.averageLast`).
    public var averageLast = 0
    private let sink: (String) -> Void
    /// Notes about the data (skipped lines, encodings) go here: stderr by default.
    public var note: (String) -> Void = { FileHandle.standardError.write(Data("note: \($0)\n".utf8)) }

    /// Start anew in a directory that already holds a run of the same task, replacing its files (without it, such a
    /// directory is refused: nothing a user had is replaced unless they said so).
    public let overwrite: Bool
    /// The directory did not exist before this run made it: a run that fails before its first checkpoint removes it.
    private var createdDirectory = false
    private var prepared = false

    /// - Parameters: log: receives the run's lines (the lead process's only).
    public init(
        directory: RunDirectory, resume: Bool = false, overwrite: Bool = false, dataParallel: DataParallel? = nil,
        log: @escaping (String) -> Void = { print($0) }
    ) {
        self.directory = directory
        self.resume = resume
        self.overwrite = overwrite
        self.dataParallel = dataParallel
        sink = log
    }

    /// Runs a task's training in this context: prepares the directory first (`prepareDirectory`) and, when the body
    /// fails before the run wrote its first checkpoint, removes the directory it made (no half-made run stays behind;
    /// an interrupted or resumable run is kept).
    public func execute<T>(task: String, _ body: () throws -> T) throws -> T {
        try prepareDirectory(task: task)
        do { return try body() } catch {
            abandon()
            throw error
        }
    }

    /// Checks and creates the run directory before anything is written to it (lead process; once).
    /// - resume: the directory must hold a run of `task` (checked by `checkResume`).
    /// - new: the directory must not exist, be empty, hold a run of the same task that never wrote a checkpoint (one
    ///   killed while starting), or (with `overwrite`) any run of the same task; that run's files are then removed. A
    ///   file, a directory holding other things or a run of another task is refused, naming it. Every task writes
    ///   config.json before its other files, so that a run killed while starting is always recognised as one.
    public func prepareDirectory(task: String) throws {
        guard !prepared, isLead, !resume else { return }
        prepared = true
        let fm = FileManager.default, path = directory.path
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            try directory.create()
            createdDirectory = true
            return
        }
        guard isDir.boolValue else {
            throw RunSetupError("\(path) exists and is not a directory: choose another --out")
        }
        let visible = try OutputDirectory.visibleEntries(of: directory.url)
        if visible.isEmpty { return }
        guard visible.contains("config.json"), let found = try? directory.task() else {
            throw RunSetupError(
                "\(path) exists and holds \(OutputDirectory.summary(visible)) that are not an attn run: choose another --out (nothing was written)"
            )
        }
        guard found == task else {
            throw RunSetupError(
                "\(path) holds \(RunDirectory.article(found)) run, not \(RunDirectory.article(task)) run: choose another --out (nothing was written)"
            )
        }
        // A run killed before its first checkpoint left only its configuration: starting it again loses nothing.
        let checkpoints = visible.filter { $0.hasSuffix(".safetensors") }
        guard overwrite || checkpoints.isEmpty else {
            throw RunSetupError(
                "\(path) already holds \(RunDirectory.article(task)) run: --resume continues it, --overwrite starts it anew (replacing its files), or choose another --out"
            )
        }
        for name in directory.trainingFiles() {
            do { try fm.removeItem(atPath: directory.file(name).path) } catch {
                throw RunSetupError(
                    "\(directory.file(name).path): cannot remove it to start anew (\(UserFile.reason(for: error)))")
            }
        }
    }

    /// Removes the directory this run made when the run failed before writing resume.safetensors.
    func abandon() {
        guard createdDirectory, isLead,
            !FileManager.default.fileExists(atPath: directory.file("resume.safetensors").path)
        else { return }
        try? FileManager.default.removeItem(at: directory.url)
        createdDirectory = false
    }

    /// True on the process that validates, logs and writes the run directory (the only one without data parallelism).
    public var isLead: Bool { dataParallel?.isLead ?? true }
    /// This process's part of every global batch.
    public var shard: Shard { dataParallel?.shard ?? .whole }
    /// Logs a line (on the lead process only).
    public func log(_ line: String) { if isLead { sink(line) } }

    /// The data-parallel group of a `--distributed` run (nil without it; starts MPI once). A run that an MPI launcher
    /// started as several processes without `distributed` is refused: each would train alone and write the same files.
    public static func dataParallel(distributed: Bool) throws -> DataParallel? {
        guard distributed else {
            let n = DistributedRuntime.launchedProcesses
            if n > 1 {
                throw RunSetupError(
                    "started by an MPI launcher as \(n) processes but without --distributed: add --distributed, or run a single process"
                )
            }
            return nil
        }
        do { return DataParallel(try DistributedRuntime.start()) } catch {
            throw RunSetupError("--distributed: \(error)")
        }
    }

    /// Trains `task` by `recipe` in this run's directory — the one Trainer wiring every task uses: the recipe's
    /// schedule, optimizer options and clipping, this context's log, progress and data parallelism, and `--resume`.
    /// - Parameters: bestMetric: the validation metric that picks `best.safetensors` (higher is better unless told).
    /// - Parameters: onEpochStart: called with each epoch (0-based) before its first step (`Trainer.epochStart`).
    public func train<T: TrainingTask>(
        _ task: T, optimizer: Optimizer, recipe: TrainingRecipe, bestMetric: String,
        higherIsBetter: Bool = true, onEpochStart: ((Int) -> Void)? = nil
    ) throws -> TrainingSummary {
        let schedule: any LRSchedule
        do {
            schedule = try recipe.makeSchedule(batchesPerEpoch: task.batchesPerEpoch)
            if let note = try recipe.warmup(batchesPerEpoch: task.batchesPerEpoch).note { log(note) }
        } catch let e as RunSetupError where task.batchesPerEpoch == 0 && dataParallel != nil {
            throw RunSetupError(e.description + " (fewer examples than processes?)")
        }
        var options = recipe.trainerOptions(bestMetric: bestMetric, higherIsBetter: higherIsBetter)
        options.tensorBoard = tensorBoard
        options.averageLast = averageLast
        let trainer = Trainer(
            task: task, optimizer: optimizer, schedule: schedule, options: options, directory: directory.url)
        trainer.log = { [weak self] in self?.log($0) }
        trainer.dataParallel = dataParallel
        trainer.showProgress = showProgress
        trainer.epochStart = onEpochStart
        return try trainer.run(resume: resume)
    }

    /// The end of a finished run: the closing line and, when asked, the attention report of an example written to
    /// RUN/attention by `attention(example, directory)`, which returns how the example reads in the log line
    /// (`"text" → "translation"`, `"text" (label, p)`). Only the lead process logs and writes.
    public func finish(
        _ summary: TrainingSummary, message: String, attentionExample: String?,
        attention: (String, URL) throws -> String
    ) throws -> RunOutcome {
        let outcome = RunOutcome(summary: summary, message: message)
        guard isLead, !summary.interrupted else { return outcome }
        log(message)
        if let attentionExample {
            let out = directory.file("attention")
            let what = try attention(attentionExample, out)
            log("attention report of \(what): \(out.appendingPathComponent("index.html").path)")
        }
        return outcome
    }

    /// Writes the best model's report on the validation data (report.txt, confusion.png) and logs its table.
    public func writeReport(_ report: ClassificationReport) throws {
        guard isLead else { return }
        try directory.write(text: report.table + "\n", to: "report.txt")
        try report.confusionMatrixImage(title: "validation").write(to: directory.file("confusion.png"))
        log(report.table)
    }
}

/// How a training run ended, for the verb's closing line.
public struct RunOutcome {
    /// How the training ended: epochs, best value and epoch, time.
    public var summary: TrainingSummary
    /// The closing line ("best validation accuracy … at epoch …; run directory …").
    public var message: String
    /// Whether Ctrl-C or SIGTERM stopped the run (it can be resumed).
    public var interrupted: Bool { summary.interrupted }
}

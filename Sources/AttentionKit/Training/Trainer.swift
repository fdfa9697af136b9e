import Foundation
import Synchronization

/// What a task (translation, classification, images) hands the `Trainer`: batches, a loss, validation metrics and
/// its data position for resuming. The training loop itself lives once, in `Trainer`.
public protocol TrainingTask: AnyObject {
    associatedtype Batch
    var model: any Module { get }
    /// What throughput counts ("tok", "img", "ex").
    var itemName: String { get }
    /// Batches in one epoch (for the progress bar and schedules).
    var batchesPerEpoch: Int { get }
    /// The next batch of the current epoch, or nil when the epoch is over.
    func nextBatch() -> Batch?
    /// Called when an epoch ends (reshuffle for the next one).
    func startNextEpoch()
    /// The batch's mean loss and its number of items (tokens, images).
    func loss(_ batch: Batch) -> (loss: Tensor, items: Int)
    /// Validation metrics by name (e.g. "val_loss", "bleu"); run in evaluation mode without a graph.
    func evaluate() throws -> [String: Double]
    /// Names of the metrics `evaluate` returns, in the order the logs list them.
    var metricNames: [String] { get }
    /// Position in the data (generator state, epoch order, batch index) as text, for resume.
    var dataState: String { get }
    func restoreDataState(_ text: String) throws
    /// Writes the model (weights and whatever rebuilds it) to `url`.
    func saveModel(to url: URL) throws
}

extension TrainingTask {
    /// Writes the model (weights and whatever rebuilds it) to `url`.
    public func saveModel(to url: URL) throws { try Checkpoint.saveWeights(model, to: url) }
}

/// Options of the training loop.
public struct TrainerOptions: Sendable {
    /// Epochs to train (in total, counting those a resumed run already did).
    public var epochs: Int
    /// Batches whose gradients are summed before one optimizer step.
    public var accumulationSteps = 1
    /// Global gradient-norm clipping (nil: none; the norm is still checked for NaN/Inf).
    public var clipNorm: Float? = 1
    /// The validation metric that picks `best.safetensors` and drives early stopping. A task that does not report it
    /// (no validation set) keeps its last epoch as `best.safetensors`.
    public var bestMetric = "val_loss"
    /// Whether a larger `bestMetric` is better (accuracy, BLEU) or a smaller one (loss).
    public var higherIsBetter = false
    /// Stop after this many epochs without improvement of `bestMetric` (nil: never).
    public var patience: Int? = nil
    /// Finish the current step, save a resumable checkpoint and stop on SIGINT (Ctrl-C).
    public var handleInterrupts = true
    /// Also write TensorBoard event files into the run directory (`tensorboard --logdir runs/` compares runs).
    public var tensorBoard = true
    /// Checkpoint averaging: keep the last N epochs' weights (`epoch-K.safetensors`) and, when the run ends, write
    /// their mean as `averaged.safetensors` and log its validation metrics (`CheckpointAveraging`); 0: off.
    public var averageLast = 0
    /// Options for a run of `epochs` epochs, the rest at their defaults.
    public init(epochs: Int) { self.epochs = epochs }
}

/// How a run ended.
public struct TrainingSummary: Sendable {
    /// Epochs finished.
    public var epochsCompleted: Int
    /// The best value of the best-epoch metric.
    public var bestValue: Double
    /// The epoch it was reached at (1-based).
    public var bestEpoch: Int
    /// Whether early stopping ended the run.
    public var stoppedEarly: Bool
    /// Whether Ctrl-C or SIGTERM ended the run (resumable).
    public var interrupted: Bool
    /// Training time in seconds.
    public var seconds: Double
    /// The last epoch's metrics.
    public var lastMetrics: [String: Double]
}

/// A non-finite loss met in training.
public struct NonFiniteLossError: Error, CustomStringConvertible {
    public let step: Int, loss: Float
    /// The step and loss, and what to do.
    public var description: String { "loss is \(loss) at step \(step): training diverged (lower the learning rate)" }
}

/// Set by the SIGINT handler the trainer installs; read after every step.
let interruptRequested = Atomic<Bool>(false)

/// The one training loop (llm.c / nanoGPT style, top to bottom): epochs over the task's batches; per batch forward,
/// loss, backward; every `accumulationSteps` batches the `beforeOptimizerStep` hook (gradient synchronisation),
/// clipping, the scheduled learning rate and the optimizer step. After each epoch: validation, `metrics.jsonl` and
/// `metrics.csv`, `curves.png`, `best.safetensors` (by `bestMetric`), `last.safetensors` and `resume.safetensors`
/// (weights, optimizer, generators, data position, best so far). Early stopping by patience; a NaN/Inf loss or
/// gradient stops with the step named; Ctrl-C finishes the step, saves `resume.safetensors` and reports
/// `interrupted` (the CLI exits 130). `run(resume: true)` continues from `resume.safetensors` bit for bit.
/// TensorBoard event files (`options.tensorBoard`): per step the batch loss and learning rate (`step/loss`,
/// `step/lr`), per epoch every metrics row value (`epoch/…`, at the epoch number), config.json as text.
/// With `dataParallel` set, the same loop runs on every process of a distributed run (see `DataParallel`).
public final class Trainer<Task: TrainingTask> {
    /// The task: model, data and loss.
    public let task: Task
    /// The optimizer.
    public let optimizer: Optimizer
    /// The learning-rate schedule (nil: constant).
    public let schedule: (any LRSchedule)?
    /// Epochs, accumulation, clipping, early stopping.
    public let options: TrainerOptions
    /// The run directory for checkpoints, metrics and curves.
    public let directory: URL
    /// Called before each optimizer step with the parameters (after the data-parallel gradient average, if any).
    public var beforeOptimizerStep: ((Optimizer) throws -> Void)?
    /// Data-parallel training (`DataParallel`): gradients averaged over the processes before each step, BatchNorm
    /// statistics averaged before each evaluation; the lead process alone validates, logs and writes files; an
    /// interrupt on any process stops all of them at the same step. The task must give each process its own slice of
    /// every global batch (`shard` of the batch iterators).
    public var dataParallel: DataParallel?
    /// Receives one line per epoch (and resume/stop notices).
    public var log: (String) -> Void = { print($0) }
    /// Show a progress bar on stderr.
    public var showProgress = true
    /// Called with each epoch (0-based) before its first step, and with the epoch a resumed run continues (e.g.
    /// `TransferRecipe.unfreezing`).
    public var epochStart: ((Int) -> Void)?
    /// The run's TensorBoard event file while `run` runs (the lead process).
    var tensorBoardWriter: TensorBoardWriter?

    /// A trainer of `task` writing into `directory`.
    public init(task: Task, optimizer: Optimizer, schedule: (any LRSchedule)?, options: TrainerOptions, directory: URL)
    {
        self.task = task
        self.optimizer = optimizer
        self.schedule = schedule
        self.options = options
        self.directory = directory
    }

    var resumeURL: URL { directory.appendingPathComponent("resume.safetensors") }
    var isLead: Bool { dataParallel?.isLead ?? true }

    /// Where the run is: the epoch and batch, the running loss sums, the best epoch so far.
    struct Progress {
        var epoch = 0, batchInEpoch = 0
        var best: Double, bestEpoch = 0, badEpochs = 0
        var lossSum = 0.0, items = 0
        var last: [String: Double] = [:]
        let started = Date()
    }

    /// Runs the training loop (restore, then per epoch: steps, validate, save, stop) and reports how it ended.
    public func run(resume: Bool = false) throws -> TrainingSummary {
        if isLead { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        var progress = try restore(resume: resume)
        let keys = ["epoch", "step", "lr", "train_loss", "\(task.itemName)_per_s", "epoch_seconds"] + task.metricNames
        let metrics =
            isLead
            ? try MetricsLog(directory: directory, keys: keys, append: resume, keepingEpochs: progress.epoch) : nil
        if let dropped = metrics?.droppedRows, dropped > 0 {
            log(
                "metrics: \(dropped) row(s) logged after the checkpoint (or cut short) removed; the resumed epochs log them again"
            )
        }
        if isLead { AtomicFile.removeStaleTemporaries(in: directory) }
        if isLead && options.tensorBoard {
            let board = try TensorBoardWriter(directory: directory)
            let config = directory.appendingPathComponent("config.json")
            if let text = try? String(contentsOf: config, encoding: .utf8) {
                try board.text("config", "```\n" + text + "\n```", step: 0)
            }
            tensorBoardWriter = board
        }
        defer { try? tensorBoardWriter?.flush(); tensorBoardWriter = nil }
        let restoreSignals = installInterruptHandlers()
        defer { restoreSignals() }

        for epoch in progress.epoch..<options.epochs {
            progress.epoch = epoch
            epochStart?(epoch)
            // resume.safetensors holds the position
            guard case .finished(let seconds) = try trainEpoch(&progress) else {
                return summary(progress, epochsCompleted: epoch, interrupted: true)
            }
            if try endEpoch(&progress, seconds: seconds, metrics: metrics, keys: keys) {
                try writeAverage(&progress)
                return summary(progress, epochsCompleted: epoch + 1, stoppedEarly: true)
            }
        }
        try writeAverage(&progress)
        return summary(progress, epochsCompleted: options.epochs)
    }

    /// After the last epoch with `averageLast`: `averaged.safetensors` from the kept epoch files, its validation
    /// metrics logged and stored in the summary (`averaged_` + metric). The model gets its last weights back.
    func writeAverage(_ p: inout Progress) throws {
        guard isLead, options.averageLast > 0 else { return }
        let kept = CheckpointAveraging.epochFiles(in: directory).suffix(options.averageLast)
        guard kept.count > 1 else { return }
        let model = task.model
        let lastWeights = model.stateDict().map { ($0.name, $0.tensor.copy()) }
        let averaged = try CheckpointAveraging.average(
            kept.map(\.url), to: directory.appendingPathComponent(CheckpointAveraging.averagedFile))
        try model.loadStateDict(averaged)
        model.eval()
        BufferCache.shared.releaseForPhaseChange()
        let values = try withNoGrad { try task.evaluate() }
        BufferCache.shared.releaseForPhaseChange()
        model.assignStateDict(Dictionary(uniqueKeysWithValues: lastWeights))
        for (k, v) in values { p.last["averaged_" + k] = v }
        log(
            "averaged epochs \(kept.first!.epoch)–\(kept.last!.epoch) (\(CheckpointAveraging.averagedFile)): "
                + task.metricNames.map { String(format: "%@ %.4g", $0, values[$0] ?? .nan) }.joined(separator: "  "))
    }

    func summary(_ p: Progress, epochsCompleted: Int, stoppedEarly: Bool = false, interrupted: Bool = false)
        -> TrainingSummary
    {
        TrainingSummary(
            epochsCompleted: epochsCompleted, bestValue: p.best, bestEpoch: p.bestEpoch, stoppedEarly: stoppedEarly,
            interrupted: interrupted, seconds: Date().timeIntervalSince(p.started), lastMetrics: p.last)
    }

    /// The starting point: fresh (every process gets the lead's weights), or from resume.safetensors (weights,
    /// optimizer, generators, data position, loss sums and best so far), everything checked before anything changes.
    func restore(resume: Bool) throws -> Progress {
        let model = task.model, dp = dataParallel
        var p = Progress(best: options.higherIsBetter ? -Double.infinity : Double.infinity)
        guard resume else {
            if let dp {
                try dp.broadcastState(of: model)
                dp.decorrelateRandomModules(of: model)
            }
            return p
        }
        if isLead {
            guard FileManager.default.fileExists(atPath: resumeURL.path) else {
                throw CheckpointError.invalidState("\(resumeURL.path) does not exist: nothing to resume")
            }
            // A resumed run keeps best.safetensors until an epoch beats it: a damaged one would outlive the resume.
            let best = directory.appendingPathComponent("best.safetensors")
            if FileManager.default.fileExists(atPath: best.path) {
                do { try ModelFile.checkFinite(try Safetensors.read(from: best).tensors, file: best.path) } catch {
                    throw CheckpointError.invalidFile(
                        "\(ErrorText.message(for: error)); a resumed run would keep it as its best model: restore it, or start the run anew with --overwrite"
                    )
                }
            }
        }
        // The lead reads the checkpoint; in a distributed run it sends the bytes, so the other processes need no
        // shared filesystem.
        var bytes = isLead ? try Safetensors.bytes(of: resumeURL) : Data()
        if let dp { bytes = try dp.broadcast(bytes) }
        let (meta, apply) = try Checkpoint.prepareTrainingState(
            model: model, optimizer: optimizer, bytes: bytes, file: resumeURL)
        // Everything is checked before anything changes: the file's tensors and generators (above), the counts
        // (below), the data position (restoreDataState checks before it assigns); then it is all installed.
        func number(_ k: String) throws -> Double {
            guard let t = meta["trainer." + k], let v = Double(t) else {
                throw CheckpointError.invalidState(
                    "\(resumeURL.path): metadata 'trainer.\(k)' is missing or not a number")
            }
            return v
        }
        /// A count: a whole number in 0...2⁴⁰ (a corrupt value must not trap in Int(_:)).
        func count(_ k: String) throws -> Int {
            let v = try number(k)
            guard v.isFinite, v >= 0, v <= 1_099_511_627_776, v == v.rounded() else {
                throw CheckpointError.invalidState("\(resumeURL.path): metadata 'trainer.\(k)' = \(v) is not a count")
            }
            return Int(v)
        }
        p.epoch = try count("epoch"); p.batchInEpoch = try count("batch")
        p.best = try number("best"); p.bestEpoch = try count("best_epoch"); p.badEpochs = try count("bad_epochs")
        p.lossSum = try number("loss_sum"); p.items = try count("items")
        guard p.batchInEpoch <= task.batchesPerEpoch else {
            throw CheckpointError.invalidState(
                "\(resumeURL.path): batch \(p.batchInEpoch) is past the epoch's \(task.batchesPerEpoch) batches (was --batch-size or the data changed?)"
            )
        }
        if !isLead { p.lossSum = 0; p.items = 0 }  // the checkpoint holds the sums over every process
        guard p.epoch <= options.epochs else {
            throw CheckpointError.invalidState(
                "\(resumeURL.path): the run has finished \(p.epoch) epochs, more than --epochs \(options.epochs); resume with --epochs \(p.epoch) or more"
            )
        }
        let applyProcessState = try dp.map { try prepareProcessState(meta, dp: $0) }
        do { try task.restoreDataState(meta["trainer.data"] ?? "") } catch let e as CheckpointError {
            throw CheckpointError.inFile(resumeURL.path, e)
        }
        apply()
        applyProcessState?()
        // The rate of the last step taken, as the uninterrupted run has it (logged if the epoch ends at once).
        if let schedule, optimizer.stepCount > 0 {
            optimizer.setLearningRateFactor(schedule.factor(step: optimizer.stepCount - 1))
        }
        if isLead { log("resumed from \(resumeURL.path) at epoch \(p.epoch + 1), batch \(p.batchInEpoch)") }
        return p
    }

    /// Ctrl-C and SIGTERM (what `kill`, `timeout`, a job scheduler and `mpirun` send to stop a process) set the flag
    /// read after every step. Returns what puts the previous handlers back.
    func installInterruptHandlers() -> () -> Void {
        guard options.handleInterrupts else { return {} }
        let signals = [SIGINT, SIGTERM]
        interruptRequested.store(false, ordering: .relaxed)
        let previous = signals.map { signal($0) { _ in interruptRequested.store(true, ordering: .relaxed) } }
        return { for (s, h) in zip(signals, previous) { signal(s, h) } }
    }

    /// How an epoch of steps ended.
    enum EpochEnd { case finished(seconds: Double), interrupted }

    /// One epoch of steps from where `p` stands; an interrupt saves resume.safetensors and ends it early.
    func trainEpoch(_ p: inout Progress) throws -> EpochEnd {
        task.model.train()
        let t0 = Date(), showBar = showProgress && isLead
        var bar = ProgressBar(
            total: task.batchesPerEpoch, label: "epoch \(p.epoch + 1)/\(options.epochs)", unit: task.itemName)
        var pending = 0, pendingItems = 0  // batches (and their items) accumulated since the last step
        var pendingLoss = 0.0  // their summed loss × items, for TensorBoard's per-step curve
        while let batch = task.nextBatch() {
            let (loss, n) = task.loss(batch)
            let value = loss.item()
            guard value.isFinite else { throw NonFiniteLossError(step: optimizer.stepCount + 1, loss: value) }
            (options.accumulationSteps > 1 ? loss / Float(options.accumulationSteps) : loss).backward()
            p.lossSum += Double(value) * Double(n)
            p.items += n
            p.batchInEpoch += 1
            pending += 1
            pendingItems += n
            pendingLoss += Double(value) * Double(n)
            var stopRequested = false
            if pending == options.accumulationSteps || p.batchInEpoch == task.batchesPerEpoch {
                stopRequested = try step(items: pendingItems)
                try tensorBoardWriter?.scalars(
                    [
                        ("step/loss", pendingLoss / Double(max(pendingItems, 1))),
                        ("step/lr", Double(optimizer.learningRate))
                    ],
                    step: optimizer.stepCount)
                pendingLoss = 0
                pending = 0
                pendingItems = 0
            }
            if showBar {
                // items × processes: about the global batches' items
                bar.update(
                    p.batchInEpoch, items: p.items * (dataParallel?.size ?? 1),
                    suffix: String(
                        format: "loss %.4f  lr %.2e", p.lossSum / Double(max(p.items, 1)), optimizer.learningRate))
            }
            if stopRequested {
                if showBar { bar.finish() }
                try saveResume(p, batch: p.batchInEpoch)
                if isLead {
                    log(
                        "interrupted at epoch \(p.epoch + 1), batch \(p.batchInEpoch): \(resumeURL.path) resumes the run"
                    )
                }
                return .interrupted
            }
        }
        if showBar { bar.finish() }
        task.startNextEpoch()
        return .finished(seconds: Date().timeIntervalSince(t0))
    }

    /// One optimizer step over the accumulated gradients: the data-parallel average, the hook, clipping, the
    /// scheduled rate, the update. Returns whether an interrupt asks the run to stop (on any process).
    func step(items: Int) throws -> Bool {
        let stop: Bool
        if let dp = dataParallel {
            stop = try dp.averageGradients(
                optimizer.allParameters, items: items, flag: interruptRequested.load(ordering: .relaxed)
            ).flag
        } else {
            stop = interruptRequested.load(ordering: .relaxed)
        }
        try beforeOptimizerStep?(optimizer)
        try clipGradientNorm(
            optimizer.allParameters, maxNorm: options.clipNorm ?? .infinity, step: optimizer.stepCount + 1)
        if let schedule { optimizer.setLearningRateFactor(schedule.factor(step: optimizer.stepCount)) }
        optimizer.step()
        optimizer.zeroGrad()
        return stop
    }

    /// The end of an epoch: validation, the metrics row and log line, curves.png, best/last.safetensors (the lead),
    /// then resume.safetensors (every process) and the early-stopping verdict. Returns true to stop.
    func endEpoch(_ p: inout Progress, seconds: Double, metrics: MetricsLog?, keys: [String]) throws -> Bool {
        let model = task.model, dp = dataParallel
        model.eval()
        var epochLoss = p.lossSum, epochItems = p.items
        if let dp {
            try dp.averageBuffers(of: model)
            try dp.verifyReplicas(of: model)
            let s = try dp.sum([p.lossSum, Double(p.items)])
            (epochLoss, epochItems) = (s[0], Int(s[1].rounded()))
        }
        // The lead alone validates, logs and writes the epoch's files; every process then saves the resume state
        // together (it gathers their streams) and follows the lead's verdict on early stopping.
        var stop = false
        if isLead, let metrics {
            // Evaluation batches have other sizes than training's: start and end it without the other phase's
            // cached buffers, so the run's peak memory stays near one phase's working set.
            BufferCache.shared.releaseForPhaseChange()
            var values = try withNoGrad { try task.evaluate() }
            BufferCache.shared.releaseForPhaseChange()
            values["epoch"] = Double(p.epoch + 1)
            values["step"] = Double(optimizer.stepCount)
            values["lr"] = Double(optimizer.learningRate)
            values["train_loss"] = epochLoss / Double(max(epochItems, 1))
            values["\(task.itemName)_per_s"] = Double(epochItems) / max(seconds, 1e-9)
            values["epoch_seconds"] = seconds
            try metrics.write(values)
            if let board = tensorBoardWriter {
                try board.scalars(
                    keys.filter { $0 != "epoch" }.compactMap { k in values[k].map { ("epoch/" + k, $0) } },
                    step: p.epoch + 1)
                try board.flush()
            }
            p.last = values
            log(
                "epoch \(p.epoch + 1)/\(options.epochs)  "
                    + keys.dropFirst(3).map { k in
                        String(format: "%@ %.4g", k, values[k] ?? .nan)
                    }.joined(separator: "  ")
                    + (dp.map {
                        String(
                            format: "  (%d processes; per step: allreduce %.2f ms, waiting for the slowest %.2f ms)",
                            $0.size,
                            1000 * $0.allreduceSeconds / Double(max($0.allreduceCalls, 1)),
                            1000 * $0.waitSeconds / Double(max($0.allreduceCalls, 1)))
                    } ?? ""))
            try TrainingCurves.write(
                metricsCSV: metrics.csv, to: directory.appendingPathComponent("curves.png"),
                metric: options.bestMetric == "val_loss"
                    ? task.metricNames.first { $0 != "val_loss" } : options.bestMetric,
                selection: task.metricNames.contains(options.bestMetric)
                    ? (options.bestMetric, options.higherIsBetter) : nil)
            // Without validation (e.g. `--val-fraction 0`) there is no metric to choose by: the last epoch is kept.
            let current = values[options.bestMetric] ?? .nan
            let improved =
                task.metricNames.contains(options.bestMetric)
                ? (options.higherIsBetter ? current > p.best : current < p.best) : true
            if improved {
                p.best = current
                p.bestEpoch = p.epoch + 1
                p.badEpochs = 0
                try task.saveModel(to: directory.appendingPathComponent("best.safetensors"))
            } else {
                p.badEpochs += 1
            }
            try task.saveModel(to: directory.appendingPathComponent("last.safetensors"))
            if options.averageLast > 0 {
                try task.saveModel(to: directory.appendingPathComponent(CheckpointAveraging.epochFile(p.epoch + 1)))
                for old in CheckpointAveraging.epochFiles(in: directory).dropLast(options.averageLast) {
                    try FileManager.default.removeItem(at: old.url)
                }
            }
            stop = options.patience.map { p.badEpochs >= $0 } ?? false
        }
        p.lossSum = 0; p.items = 0; p.batchInEpoch = 0
        try saveResume(p, epoch: p.epoch + 1, batch: 0)
        if let dp { stop = try dp.broadcast(Data([stop ? 1 : 0])).first == 1 }
        if stop, isLead, let patience = options.patience {
            log(
                "early stopping: \(options.bestMetric) has not improved for \(patience) epochs (best \(String(format: "%.4g", p.best)) at epoch \(p.bestEpoch))"
            )
        }
        return stop
    }

    /// Saves resume.safetensors (lead only). With data parallelism every process calls it at the same point: the
    /// loss sums are summed over the processes and every process's dropout streams are gathered.
    func saveResume(_ p: Progress, epoch: Int? = nil, batch: Int) throws {
        var sums = (p.lossSum, p.items), streams: [String: String] = [:]
        if let dp = dataParallel {
            let s = try dp.sum([p.lossSum, Double(p.items)])
            sums = (s[0], Int(s[1].rounded()))
            streams = try gatherProcessStreams(dp)
        }
        guard isLead else { return }
        try Checkpoint.saveTrainingState(
            model: task.model, optimizer: optimizer,
            metadata: [
                "trainer.epoch": String(epoch ?? p.epoch), "trainer.batch": String(batch),
                "trainer.best": String(p.best),
                "trainer.best_epoch": String(p.bestEpoch), "trainer.bad_epochs": String(p.badEpochs),
                "trainer.loss_sum": String(sums.0),
                "trainer.items": String(sums.1), "trainer.data": task.dataState
            ].merging(streams) { a, _ in a }, to: resumeURL)
    }

    /// Every process's own state as checkpoint metadata, so that a resumed distributed run continues each process
    /// exactly: its dropout streams ("rng.process.R.module.PATH" for processes R > 0; the lead's are the usual
    /// "rng.module.PATH") and, mid-epoch, its BatchNorm running statistics ("buffers.process.R", base64 of the float
    /// buffers in `namedBuffers` order; they are averaged over the processes only at the end of each epoch).
    func gatherProcessStreams(_ dp: DataParallel) throws -> [String: String] {
        var out: [String: String] = [:]
        for r in 1..<max(dp.size, 1) {
            var bytes: [UInt8] = []
            if dp.rank == r {
                var mine = Dictionary(
                    uniqueKeysWithValues: task.model.randomModules().map {
                        ("rng.process.\(r).module.\($0.path)", $0.module.generator.serialized)
                    })
                let flat = DataParallel.flatten(DataParallel.floatBuffers(of: task.model))
                if !flat.isEmpty {
                    mine["buffers.process.\(r)"] = flat.withUnsafeBytes { Data($0) }.base64EncodedString()
                }
                bytes = [UInt8](try JSONEncoder().encode(mine))
            }
            try dp.communicator.broadcast(&bytes, root: r)
            guard dp.isLead else { continue }
            out.merge(try JSONDecoder().decode([String: String].self, from: Data(bytes))) { a, _ in a }
        }
        return out
    }

    /// This process's dropout streams and mid-epoch buffers from a checkpoint's metadata (the lead's come with the
    /// model), checked now and installed by the returned closure after the model state; a checkpoint written with
    /// fewer processes gives the others streams derived from the lead's.
    func prepareProcessState(_ meta: [String: String], dp: DataParallel) throws -> () -> Void {
        guard dp.rank > 0 else { return {} }
        let modules = task.model.randomModules()
        var generators: [(any RandomModule, RandomGenerator)]? = nil
        if modules.allSatisfy({ meta["rng.process.\(dp.rank).module.\($0.path)"] != nil }) {
            generators = try modules.map { path, m in
                guard let g = RandomGenerator(serialized: meta["rng.process.\(dp.rank).module.\(path)"]!) else {
                    throw CheckpointError.invalidState(
                        "\(resumeURL.path): metadata 'rng.process.\(dp.rank).module.\(path)' is malformed")
                }
                return (m, g)
            }
        }
        let buffers = DataParallel.floatBuffers(of: task.model)
        var values: [Float]? = nil
        if let text = meta["buffers.process.\(dp.rank)"] {
            guard let flat = Data(base64Encoded: text), flat.count == buffers.reduce(0, { $0 + $1.count }) * 4 else {
                throw CheckpointError.invalidState(
                    "\(resumeURL.path): metadata 'buffers.process.\(dp.rank)' does not fit the model's buffers")
            }
            var v = [Float](repeating: 0, count: flat.count / 4)
            _ = v.withUnsafeMutableBytes { flat.copyBytes(to: $0) }
            values = v
        }
        return { [model = task.model] in
            if let generators {
                for (m, g) in generators { m.generator = g }
            } else {
                dp.decorrelateRandomModules(of: model)
            }
            values?.withUnsafeBufferPointer { DataParallel.scatter($0, into: buffers) }
        }
    }
}

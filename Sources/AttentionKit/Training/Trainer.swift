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
    public func saveModel(to url: URL) throws { try Checkpoint.saveWeights(model, to: url) }
}

/// Options of the training loop.
public struct TrainerOptions: Sendable {
    public var epochs: Int
    /// Batches whose gradients are summed before one optimizer step.
    public var accumulationSteps = 1
    /// Global gradient-norm clipping (nil: none; the norm is still checked for NaN/Inf).
    public var clipNorm: Float? = 1
    /// The validation metric that picks `best.safetensors` and drives early stopping. A task that does not report it
    /// (no validation set) keeps its last epoch as `best.safetensors`.
    public var bestMetric = "val_loss"
    public var higherIsBetter = false
    /// Stop after this many epochs without improvement of `bestMetric` (nil: never).
    public var patience: Int? = nil
    /// Finish the current step, save a resumable checkpoint and stop on SIGINT (Ctrl-C).
    public var handleInterrupts = true
    public init(epochs: Int) { self.epochs = epochs }
}

/// How a run ended.
public struct TrainingSummary: Sendable {
    public var epochsCompleted: Int
    public var bestValue: Double
    public var bestEpoch: Int
    public var stoppedEarly: Bool
    public var interrupted: Bool
    public var seconds: Double
    public var lastMetrics: [String: Double]
}

/// A non-finite loss met in training.
public struct NonFiniteLossError: Error, CustomStringConvertible {
    public let step: Int, loss: Float
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
/// With `dataParallel` set, the same loop runs on every process of a distributed run (see `DataParallel`).
public final class Trainer<Task: TrainingTask> {
    public let task: Task
    public let optimizer: Optimizer
    public let schedule: (any LRSchedule)?
    public let options: TrainerOptions
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

    public init(task: Task, optimizer: Optimizer, schedule: (any LRSchedule)?, options: TrainerOptions, directory: URL) {
        self.task = task
        self.optimizer = optimizer
        self.schedule = schedule
        self.options = options
        self.directory = directory
    }

    var resumeURL: URL { directory.appendingPathComponent("resume.safetensors") }

    public func run(resume: Bool = false) throws -> TrainingSummary {
        let dp = dataParallel, lead = dp?.isLead ?? true
        if lead { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        let model = task.model
        var startEpoch = 0, batchInEpoch = 0, best = options.higherIsBetter ? -Double.infinity : Double.infinity
        var bestEpoch = 0, badEpochs = 0, lossSum = 0.0, items = 0
        if resume {
            if lead {
                guard FileManager.default.fileExists(atPath: resumeURL.path) else {
                    throw CheckpointError.invalidState("\(resumeURL.path) does not exist: nothing to resume")
                }
            }
            // The lead reads the checkpoint; in a distributed run it sends the bytes, so the other processes need no
            // shared filesystem.
            var bytes = lead ? try Safetensors.bytes(of: resumeURL) : Data()
            if let dp { bytes = try dp.broadcast(bytes) }
            let (meta, apply) = try Checkpoint.prepareTrainingState(model: model, optimizer: optimizer, bytes: bytes, file: resumeURL)
            // Everything is checked before anything changes: the file's tensors and generators (above), the counts
            // (below), the data position (restoreDataState checks before it assigns); then it is all installed.
            func number(_ k: String) throws -> Double {
                guard let t = meta["trainer." + k], let v = Double(t) else {
                    throw CheckpointError.invalidState("\(resumeURL.path): metadata 'trainer.\(k)' is missing or not a number")
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
            startEpoch = try count("epoch"); batchInEpoch = try count("batch")
            best = try number("best"); bestEpoch = try count("best_epoch"); badEpochs = try count("bad_epochs")
            lossSum = try number("loss_sum"); items = try count("items")
            guard batchInEpoch <= task.batchesPerEpoch else {
                throw CheckpointError.invalidState("\(resumeURL.path): batch \(batchInEpoch) is past the epoch's \(task.batchesPerEpoch) batches (was --batch-size or the data changed?)")
            }
            if !lead { lossSum = 0; items = 0 }   // the checkpoint holds the sums over every process
            guard startEpoch <= options.epochs else {
                throw CheckpointError.invalidState("\(resumeURL.path): the run has finished \(startEpoch) epochs, more than --epochs \(options.epochs); resume with --epochs \(startEpoch) or more")
            }
            let applyProcessState = try dp.map { try prepareProcessState(meta, dp: $0) }
            do { try task.restoreDataState(meta["trainer.data"] ?? "") } catch let e as CheckpointError { throw CheckpointError.inFile(resumeURL.path, e) }
            apply()
            applyProcessState?()
            // The rate of the last step taken, as the uninterrupted run has it (logged if the epoch ends at once).
            if let schedule, optimizer.stepCount > 0 { optimizer.setLearningRateFactor(schedule.factor(step: optimizer.stepCount - 1)) }
            if lead { log("resumed from \(resumeURL.path) at epoch \(startEpoch + 1), batch \(batchInEpoch)") }
        } else if let dp {
            try dp.broadcastState(of: model)
            dp.decorrelateRandomModules(of: model)
        }
        let keys = ["epoch", "step", "lr", "train_loss", "\(task.itemName)_per_s", "epoch_seconds"] + task.metricNames
        let metrics = lead ? try MetricsLog(directory: directory, keys: keys, append: resume, keepingEpochs: startEpoch) : nil
        if let dropped = metrics?.droppedRows, dropped > 0 {
            log("metrics: \(dropped) row(s) logged after the checkpoint (or cut short) removed; the resumed epochs log them again")
        }
        if lead { AtomicFile.removeStaleTemporaries(in: directory) }
        /// Saves resume.safetensors (lead only). With data parallelism every process calls it at the same point: the
        /// loss sums are summed over the processes and every process's dropout streams are gathered.
        func saveResume(epoch: Int, batch: Int) throws {
            var sums = (lossSum, items), streams: [String: String] = [:]
            if let dp {
                let s = try dp.sum([lossSum, Double(items)])
                sums = (s[0], Int(s[1].rounded()))
                streams = try gatherProcessStreams(dp)
            }
            guard lead else { return }
            try Checkpoint.saveTrainingState(model: model, optimizer: optimizer, metadata: [
                "trainer.epoch": String(epoch), "trainer.batch": String(batch), "trainer.best": String(best),
                "trainer.best_epoch": String(bestEpoch), "trainer.bad_epochs": String(badEpochs), "trainer.loss_sum": String(sums.0),
                "trainer.items": String(sums.1), "trainer.data": task.dataState].merging(streams) { a, _ in a }, to: resumeURL)
        }
        // Ctrl-C; in a distributed run also SIGTERM, which is what `mpirun` sends every process when it is interrupted
        // (followed by SIGKILL after its `odls_base_sigkill_timeout`).
        let signals = dp == nil ? [SIGINT] : [SIGINT, SIGTERM]
        var previousHandlers: [sig_t?] = []
        if options.handleInterrupts {
            interruptRequested.store(false, ordering: .relaxed)
            previousHandlers = signals.map { signal($0) { _ in interruptRequested.store(true, ordering: .relaxed) } }
        }
        defer { if options.handleInterrupts { for (s, h) in zip(signals, previousHandlers) { signal(s, h) } } }

        let started = Date()
        var last: [String: Double] = [:]
        let showBar = showProgress && lead
        for epoch in startEpoch..<options.epochs {
            model.train()
            let t0 = Date()
            var bar = ProgressBar(total: task.batchesPerEpoch, label: "epoch \(epoch + 1)/\(options.epochs)", unit: task.itemName)
            var pending = 0, pendingItems = 0   // batches (and their items) accumulated since the last step
            var stopRequested = false
            while let batch = task.nextBatch() {
                let (loss, n) = task.loss(batch)
                let value = loss.item()
                guard value.isFinite else { throw NonFiniteLossError(step: optimizer.stepCount + 1, loss: value) }
                (options.accumulationSteps > 1 ? loss / Float(options.accumulationSteps) : loss).backward()
                lossSum += Double(value) * Double(n)
                items += n
                batchInEpoch += 1
                pending += 1
                pendingItems += n
                if pending == options.accumulationSteps || batchInEpoch == task.batchesPerEpoch {
                    if let dp {
                        stopRequested = try dp.averageGradients(optimizer.allParameters, items: pendingItems,
                                                                flag: interruptRequested.load(ordering: .relaxed)).flag
                    } else {
                        stopRequested = interruptRequested.load(ordering: .relaxed)
                    }
                    try beforeOptimizerStep?(optimizer)
                    try clipGradientNorm(optimizer.allParameters, maxNorm: options.clipNorm ?? .infinity, step: optimizer.stepCount + 1)
                    if let schedule { optimizer.setLearningRateFactor(schedule.factor(step: optimizer.stepCount)) }
                    optimizer.step()
                    optimizer.zeroGrad()
                    pending = 0
                    pendingItems = 0
                }
                if showBar {
                    // items × processes: about the global batches' items
                    bar.update(batchInEpoch, items: items * (dp?.size ?? 1), suffix: String(format: "loss %.4f  lr %.2e", lossSum / Double(max(items, 1)), optimizer.learningRate))
                }
                if stopRequested && pending == 0 {
                    if showBar { bar.finish() }
                    try saveResume(epoch: epoch, batch: batchInEpoch)
                    if lead { log("interrupted at epoch \(epoch + 1), batch \(batchInEpoch): \(resumeURL.path) resumes the run") }
                    return TrainingSummary(epochsCompleted: epoch, bestValue: best, bestEpoch: bestEpoch, stoppedEarly: false,
                                           interrupted: true, seconds: Date().timeIntervalSince(started), lastMetrics: last)
                }
            }
            if showBar { bar.finish() }
            task.startNextEpoch()
            let seconds = Date().timeIntervalSince(t0)
            model.eval()
            var epochLoss = lossSum, epochItems = items
            if let dp {
                try dp.averageBuffers(of: model)
                try dp.verifyReplicas(of: model)
                let s = try dp.sum([lossSum, Double(items)])
                (epochLoss, epochItems) = (s[0], Int(s[1].rounded()))
            }
            // The lead alone validates, logs and writes the epoch's files; every process then saves the resume state
            // together (it gathers their streams) and follows the lead's verdict on early stopping.
            var stop = false
            if lead {
                // Evaluation batches have other sizes than training's: start and end it without the other phase's
                // cached buffers, so the run's peak memory stays near one phase's working set.
                BufferCache.shared.releaseForPhaseChange()
                var values = try withNoGrad { try task.evaluate() }
                BufferCache.shared.releaseForPhaseChange()
                values["epoch"] = Double(epoch + 1)
                values["step"] = Double(optimizer.stepCount)
                values["lr"] = Double(optimizer.learningRate)
                values["train_loss"] = epochLoss / Double(max(epochItems, 1))
                values["\(task.itemName)_per_s"] = Double(epochItems) / max(seconds, 1e-9)
                values["epoch_seconds"] = seconds
                try metrics!.write(values)
                last = values
                log("epoch \(epoch + 1)/\(options.epochs)  " + keys.dropFirst(3).map { k in
                    String(format: "%@ %.4g", k, values[k] ?? .nan)
                }.joined(separator: "  ") + (dp.map { String(format: "  (%d processes; per step: allreduce %.2f ms, waiting for the slowest %.2f ms)", $0.size,
                                         1000 * $0.allreduceSeconds / Double(max($0.allreduceCalls, 1)), 1000 * $0.waitSeconds / Double(max($0.allreduceCalls, 1))) } ?? ""))
                try TrainingCurves.write(metricsCSV: metrics!.csv, to: directory.appendingPathComponent("curves.png"),
                                         metric: options.bestMetric == "val_loss" ? task.metricNames.first { $0 != "val_loss" } : options.bestMetric)
                // Without validation (e.g. `--val-fraction 0`) there is no metric to choose by: the last epoch is kept.
                let current = values[options.bestMetric] ?? .nan
                let improved = task.metricNames.contains(options.bestMetric) ? (options.higherIsBetter ? current > best : current < best) : true
                if improved {
                    best = current
                    bestEpoch = epoch + 1
                    badEpochs = 0
                    try task.saveModel(to: directory.appendingPathComponent("best.safetensors"))
                } else {
                    badEpochs += 1
                }
                try task.saveModel(to: directory.appendingPathComponent("last.safetensors"))
                stop = options.patience.map { badEpochs >= $0 } ?? false
            }
            lossSum = 0; items = 0; batchInEpoch = 0
            try saveResume(epoch: epoch + 1, batch: 0)
            if let dp { stop = try dp.broadcast(Data([stop ? 1 : 0])).first == 1 }
            if stop {
                if lead, let patience = options.patience {
                    log("early stopping: \(options.bestMetric) has not improved for \(patience) epochs (best \(String(format: "%.4g", best)) at epoch \(bestEpoch))")
                }
                return TrainingSummary(epochsCompleted: epoch + 1, bestValue: best, bestEpoch: bestEpoch, stoppedEarly: true,
                                       interrupted: false, seconds: Date().timeIntervalSince(started), lastMetrics: last)
            }
        }
        return TrainingSummary(epochsCompleted: options.epochs, bestValue: best, bestEpoch: bestEpoch, stoppedEarly: false,
                               interrupted: false, seconds: Date().timeIntervalSince(started), lastMetrics: last)
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
                var mine = Dictionary(uniqueKeysWithValues: task.model.randomModules().map { ("rng.process.\(r).module.\($0.path)", $0.module.generator.serialized) })
                let flat = DataParallel.flatten(DataParallel.floatBuffers(of: task.model))
                if !flat.isEmpty { mine["buffers.process.\(r)"] = flat.withUnsafeBytes { Data($0) }.base64EncodedString() }
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
                    throw CheckpointError.invalidState("\(resumeURL.path): metadata 'rng.process.\(dp.rank).module.\(path)' is malformed")
                }
                return (m, g)
            }
        }
        let buffers = DataParallel.floatBuffers(of: task.model)
        var values: [Float]? = nil
        if let text = meta["buffers.process.\(dp.rank)"] {
            guard let flat = Data(base64Encoded: text), flat.count == buffers.reduce(0, { $0 + $1.count }) * 4 else {
                throw CheckpointError.invalidState("\(resumeURL.path): metadata 'buffers.process.\(dp.rank)' does not fit the model's buffers")
            }
            var v = [Float](repeating: 0, count: flat.count / 4)
            _ = v.withUnsafeMutableBytes { flat.copyBytes(to: $0) }
            values = v
        }
        return { [model = task.model] in
            if let generators { for (m, g) in generators { m.generator = g } } else { dp.decorrelateRandomModules(of: model) }
            values?.withUnsafeBufferPointer { DataParallel.scatter($0, into: buffers) }
        }
    }
}

/// Training curves from a metrics CSV: loss (train and validation) and, optionally, one validation metric.
public enum TrainingCurves {
    public static func write(metricsCSV: URL, to png: URL, metric: String?) throws {
        let lines = try String(contentsOf: metricsCSV, encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first, lines.count > 1 else { return }
        func column(_ name: String) -> [Double] {
            guard let i = header.firstIndex(of: name) else { return [] }
            return lines.dropFirst().map { i < $0.count ? Double($0[i]) ?? .nan : .nan }
        }
        let epoch = column("epoch"), p = LineChart.palette
        let panels = metric.map { header.contains($0) } ?? false ? 2 : 1
        var image = RGBImage(width: 480 * panels, height: 360)
        LineChart(title: "loss", xLabel: "epoch", series: [
            .init(name: "train", x: epoch, y: column("train_loss"), color: p[0]),
            .init(name: "val", x: epoch, y: column("val_loss"), color: p[1]),
        ]).draw(into: &image, x0: 0, y0: 0, width: 480, height: 360)
        if panels == 2, let metric {
            LineChart(title: metric, xLabel: "epoch", series: [.init(name: "val", x: epoch, y: column(metric), color: p[1])],
                      legendAtTop: false).draw(into: &image, x0: 480, y0: 0, width: 480, height: 360)
        }
        try image.writePNG(to: png)
    }
}

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
public final class Trainer<Task: TrainingTask> {
    public let task: Task
    public let optimizer: Optimizer
    public let schedule: (any LRSchedule)?
    public let options: TrainerOptions
    public let directory: URL
    /// Called before each optimizer step with the parameters (data-parallel training averages gradients here).
    public var beforeOptimizerStep: ((Optimizer) throws -> Void)?
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
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let model = task.model
        var startEpoch = 0, batchInEpoch = 0, best = options.higherIsBetter ? -Double.infinity : Double.infinity
        var bestEpoch = 0, badEpochs = 0, lossSum = 0.0, items = 0
        if resume {
            guard FileManager.default.fileExists(atPath: resumeURL.path) else {
                throw CheckpointError.invalidState("\(resumeURL.path) does not exist: nothing to resume")
            }
            let meta = try Checkpoint.loadTrainingState(model: model, optimizer: optimizer, from: resumeURL)
            try task.restoreDataState(meta["trainer.data"] ?? "")
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
            guard startEpoch <= options.epochs else {
                throw CheckpointError.invalidState("\(resumeURL.path): the run has finished \(startEpoch) epochs, more than --epochs \(options.epochs); resume with --epochs \(startEpoch) or more")
            }
            log("resumed from \(resumeURL.path) at epoch \(startEpoch + 1), batch \(batchInEpoch)")
        }
        let keys = ["epoch", "step", "lr", "train_loss", "\(task.itemName)_per_s", "epoch_seconds"] + task.metricNames
        let metrics = try MetricsLog(directory: directory, keys: keys, append: resume)
        func saveResume(epoch: Int, batch: Int) throws {
            try Checkpoint.saveTrainingState(model: model, optimizer: optimizer, metadata: [
                "trainer.epoch": String(epoch), "trainer.batch": String(batch), "trainer.best": String(best),
                "trainer.best_epoch": String(bestEpoch), "trainer.bad_epochs": String(badEpochs), "trainer.loss_sum": String(lossSum),
                "trainer.items": String(items), "trainer.data": task.dataState], to: resumeURL)
        }
        var previousHandler: sig_t? = nil
        if options.handleInterrupts {
            interruptRequested.store(false, ordering: .relaxed)
            previousHandler = signal(SIGINT) { _ in interruptRequested.store(true, ordering: .relaxed) }
        }
        defer { if options.handleInterrupts { signal(SIGINT, previousHandler) } }

        let started = Date()
        var last: [String: Double] = [:]
        for epoch in startEpoch..<options.epochs {
            model.train()
            let t0 = Date()
            var bar = ProgressBar(total: task.batchesPerEpoch, label: "epoch \(epoch + 1)/\(options.epochs)", unit: task.itemName)
            var pending = 0   // batches accumulated since the last step
            while let batch = task.nextBatch() {
                let (loss, n) = task.loss(batch)
                let value = loss.item()
                guard value.isFinite else { throw NonFiniteLossError(step: optimizer.stepCount + 1, loss: value) }
                (options.accumulationSteps > 1 ? loss / Float(options.accumulationSteps) : loss).backward()
                lossSum += Double(value) * Double(n)
                items += n
                batchInEpoch += 1
                pending += 1
                if pending == options.accumulationSteps || batchInEpoch == task.batchesPerEpoch {
                    try beforeOptimizerStep?(optimizer)
                    try clipGradientNorm(optimizer.allParameters, maxNorm: options.clipNorm ?? .infinity, step: optimizer.stepCount + 1)
                    if let schedule { optimizer.setLearningRateFactor(schedule.factor(step: optimizer.stepCount)) }
                    optimizer.step()
                    optimizer.zeroGrad()
                    pending = 0
                }
                if showProgress {
                    bar.update(batchInEpoch, items: items, suffix: String(format: "loss %.4f  lr %.2e", lossSum / Double(max(items, 1)), optimizer.learningRate))
                }
                if interruptRequested.load(ordering: .relaxed) && pending == 0 {
                    if showProgress { bar.finish() }
                    try saveResume(epoch: epoch, batch: batchInEpoch)
                    log("interrupted at epoch \(epoch + 1), batch \(batchInEpoch): \(resumeURL.path) resumes the run")
                    return TrainingSummary(epochsCompleted: epoch, bestValue: best, bestEpoch: bestEpoch, stoppedEarly: false,
                                           interrupted: true, seconds: Date().timeIntervalSince(started), lastMetrics: last)
                }
            }
            if showProgress { bar.finish() }
            task.startNextEpoch()
            let seconds = Date().timeIntervalSince(t0)
            model.eval()
            var values = try withNoGrad { try task.evaluate() }
            values["epoch"] = Double(epoch + 1)
            values["step"] = Double(optimizer.stepCount)
            values["lr"] = Double(optimizer.learningRate)
            values["train_loss"] = lossSum / Double(max(items, 1))
            values["\(task.itemName)_per_s"] = Double(items) / max(seconds, 1e-9)
            values["epoch_seconds"] = seconds
            try metrics.write(values)
            last = values
            log("epoch \(epoch + 1)/\(options.epochs)  " + keys.dropFirst(3).map { k in
                String(format: "%@ %.4g", k, values[k] ?? .nan)
            }.joined(separator: "  "))
            try TrainingCurves.write(metricsCSV: metrics.csv, to: directory.appendingPathComponent("curves.png"),
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
            lossSum = 0; items = 0; batchInEpoch = 0
            try saveResume(epoch: epoch + 1, batch: 0)
            if let patience = options.patience, badEpochs >= patience {
                log("early stopping: \(options.bestMetric) has not improved for \(patience) epochs (best \(String(format: "%.4g", best)) at epoch \(bestEpoch))")
                return TrainingSummary(epochsCompleted: epoch + 1, bestValue: best, bestEpoch: bestEpoch, stoppedEarly: true,
                                       interrupted: false, seconds: Date().timeIntervalSince(started), lastMetrics: last)
            }
        }
        return TrainingSummary(epochsCompleted: options.epochs, bestValue: best, bestEpoch: bestEpoch, stoppedEarly: false,
                               interrupted: false, seconds: Date().timeIntervalSince(started), lastMetrics: last)
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

import ArgumentParser
import AttentionKit
import Foundation

/// Flags every training verb shares: the recipe's overrides, the run directory, resume and data parallelism.
struct CommonTrainingOptions: ParsableArguments {
    @Option(help: "Run directory: metrics, curves, checkpoints, config and tokenizers (default: runs/TASK).")
    var out: String?
    @Option(
        name: .customLong("config"),
        help: """
            Replay a run's recipe: RUN/config.json (or RUN). Its data, model, tokenizer and training settings are used, \
            and the flags given here override them (e.g. --config runs/a/config.json --epochs 30 --seed 1 --out runs/b): \
            the training flags (--epochs, --lr, --seed, --batch-size, …) always, the others when their value differs \
            from the verb's default. A line names what was overridden.
            """)
    var configFile: String?
    @Option(parsing: .unconditional, help: "Number of epochs (default: the verb's recipe).")
    var epochs: Int?
    @Option(parsing: .unconditional, help: "Peak learning rate (default: the verb's recipe).")
    var lr: Float?
    @Option(
        name: .customLong("warmup-steps"), parsing: .unconditional,
        help: "Optimizer steps of linear warmup before the decay (default: the verb's recipe).")
    var warmupSteps: Int?
    @Option(
        help:
            "Learning-rate decay after warmup: cosine (to 0 at the last step; the default unless the verb's recipe says), inverse-sqrt (Vaswani et al.) or constant (none)."
    )
    var schedule: ScheduleKind?
    @Option(
        name: .customLong("min-lr-factor"), parsing: .unconditional,
        help:
            "With cosine: the rate at the last step as a fraction of the peak (default: the verb's recipe; 0 unless said)."
    )
    var minLRFactor: Float?
    @Option(
        name: .customLong("weight-decay"), parsing: .unconditional,
        help: "Weight decay, not applied to biases, norms and position tables (default: the verb's recipe).")
    var weightDecay: Float?
    @Option(
        name: .customLong("clip-norm"), parsing: .unconditional,
        help: "Clip the global gradient norm to this value, 0: no clipping (default: the verb's recipe).")
    var clipNorm: Float?
    @Option(
        name: .customLong("accumulate"), parsing: .unconditional,
        help: "Batches whose gradients are summed before one optimizer step.")
    var accumulate = 1
    @Option(
        parsing: .unconditional,
        help: "Stop after this many epochs without improvement of the validation metric (0: never).")
    var patience = 0
    @Option(parsing: .unconditional, help: "Random seed (weights, dropout, batch order).")
    var seed: UInt64 = 0
    @Flag(
        inversion: .prefixedNo,
        help:
            "Write TensorBoard event files into --out (per step: loss and learning rate; per epoch: every metric; config.json as text). See them with `tensorboard --logdir runs/`."
    )
    var tensorboard = true
    @Option(
        name: .customLong("average-last"), parsing: .unconditional,
        help: """
            Checkpoint averaging: keep the last N epochs' weights (epoch-K.safetensors) and, when training ends, write \
            their element-wise mean as averaged.safetensors and log its validation metrics (use it with --weights \
            averaged; `attn average` re-averages fewer). Give it again with --resume. 0: off (the default unless the \
            verb's recipe says).
            """)
    var averageLastOption: Int?
    @Flag(help: "Continue the run in --out from resume.safetensors, bit for bit.")
    var resume = false
    @Flag(
        help:
            "Start anew in an --out that already holds a run of this task, replacing its files (without it, such an --out is refused)."
    )
    var overwrite = false
    @Flag(
        help: """
            Data-parallel training under an MPI launcher (`mpirun -np N attn train … --distributed`): each process takes \
            its slice of every global batch (--batch-size or the token budget is per process), gradients are averaged \
            before each step, process 0 prints, validates and writes the run directory. Needs a build with `--traits MPI`.
            """)
    var distributed = false

    func validate() throws {
        if let averageLastOption, !(0...1000).contains(averageLastOption) {
            throw ValidationError("--average-last must be in 0…1000 (got \(averageLastOption))")
        }
        if resume && overwrite {
            throw ValidationError("--resume continues the run in --out and --overwrite replaces it: give one")
        }
        do {
            try applied(
                to: TrainingRecipe(epochs: 1, lr: 1, optimizer: .adamw(beta2: 0.999), weightDecay: 0, clipNorm: 0)
            ).validate()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The verb's default recipe with these flags applied (each flag given replaces the default).
    func applied(to defaults: TrainingRecipe) -> TrainingRecipe {
        var r = defaults
        if let epochs { r.epochs = epochs }
        if let lr { r.lr = lr }
        if let warmupSteps { r.warmupSteps = warmupSteps }
        if let weightDecay { r.weightDecay = weightDecay }
        if let clipNorm { r.clipNorm = clipNorm }
        if let minLRFactor { r.minLRFactor = minLRFactor }
        if let schedule { r.schedule = schedule }
        r.accumulate = accumulate
        r.patience = patience
        r.seed = seed
        return r
    }

    /// The run configuration: `fromFlags` without --config; with it, config.json's, overridden by the values that
    /// `fromFlags` sets differently from `defaults(file)` (the verb parsed with --config alone). Says what it did.
    func resolve<C: RunConfiguration>(_ fromFlags: @autoclosure () throws -> C, defaults: (String) throws -> C) throws
        -> C
    {
        guard let configFile else { return try fromFlags() }
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: configFile, isDirectory: &isDirectory)
        let run = RunDirectory(
            exists && isDirectory.boolValue
                ? URL(fileURLWithPath: configFile) : URL(fileURLWithPath: configFile).deletingLastPathComponent())
        guard exists else {
            throw RunDirectoryError(
                message: "\(configFile): not found (--config takes a run's config.json or its directory)")
        }
        // the recipe flags given with their default value (the diff cannot see them) still override
        let given = Set(CommandLine.arguments.filter { $0.hasPrefix("--") }.map { String($0.prefix { $0 != "=" }) })
        let forced = [
            ("--epochs", "training.epochs"), ("--lr", "training.lr"), ("--warmup-steps", "training.warmup_steps"),
            ("--schedule", "training.schedule"), ("--min-lr-factor", "training.min_lr_factor"),
            ("--weight-decay", "training.weight_decay"),
            ("--clip-norm", "training.clip_norm"), ("--accumulate", "training.accumulate"),
            ("--patience", "training.patience"),
            ("--seed", "training.seed"), ("--batch-size", "training.batch_size"),
            ("--max-tokens", "training.max_tokens"),
            ("--label-smoothing", "training.label_smoothing"), ("--warmup-epochs", "training.warmup_epochs")
        ].filter { given.contains($0.0) }.map(\.1)
        let (c, overridden) = try run.replay(changing: try defaults(configFile), to: try fromFlags(), forcing: forced)
        say(
            "config: the recipe of \(run.configURL.path)"
                + (overridden.isEmpty ? "" : ", with \(overridden.joined(separator: ", ")) from the flags"))
        return c
    }

    /// The run's context: --out (or `runs/TASK`), --resume, --distributed, --average-last (else the recipe's
    /// `averageLast`); lines go to stdout on the lead process.
    func context(task: String, averageLast: Int = 0) throws -> RunContext {
        let dp = try RunContext.dataParallel(distributed: distributed)
        let context = RunContext(
            directory: RunDirectory(path: out ?? "runs/\(task)"), resume: resume, overwrite: overwrite,
            dataParallel: dp, log: say)
        context.tensorBoard = tensorboard
        context.averageLast = averageLastOption ?? averageLast
        return context
    }
}

/// Runs a training verb's library call; an interrupted run exits 130 (resume.safetensors continues it).
func finish(_ outcome: RunOutcome) throws {
    if outcome.interrupted { throw ExitCode(130) }
}

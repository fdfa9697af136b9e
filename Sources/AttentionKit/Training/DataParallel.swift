import Foundation

#if MPI
    import CMPI
#endif

/// The processes of a data-parallel run and the collective operations training needs (MPI's vocabulary: every
/// process calls each operation in the same order; `rank` 0 is the one that prints and writes files).
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// The element-wise sum over every process, in place.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Returns when every process has called it.
    func barrier() throws
    /// `root`'s bytes to every process (the others' `bytes` are replaced).
    func broadcast(_ bytes: inout [UInt8], root: Int) throws
    /// Ends every process of the run with `code` (after an error on one of them, so the others do not wait forever).
    func abort(code: Int32) -> Never
}

/// A collective operation that failed.
public struct DistributedError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// An error with this message.
    public init(_ d: String) { description = d }
}

/// Data-parallel training as PyTorch's DistributedDataParallel does it: every process holds the whole model, takes
/// its own slice of each global batch, and before each optimizer step the gradients are averaged over the processes
/// in one flattened buffer (one `MPI_Allreduce` per step), so every process applies the same update and the weights
/// stay identical. Each process's gradient is weighted by the items (tokens, images, examples) it saw, which makes
/// the average the gradient of the whole global batch's mean loss — two processes with batch B compute what one
/// process with batch 2B does, up to float re-association.
public final class DataParallel {
    /// How the processes talk (MPI, or one process alone).
    public let communicator: any Communicator
    /// This process's index (0 is the lead).
    public var rank: Int { communicator.rank }
    /// Number of processes.
    public var size: Int { communicator.size }
    /// Whether this is process 0, the one that writes files and prints.
    public var isLead: Bool { communicator.rank == 0 }
    /// This process's part of each global batch.
    public var shard: Shard { Shard(rank: rank, of: size) }
    /// Time spent in the gradient allreduce, and how many there were (for the overhead in the run's log).
    public private(set) var allreduceSeconds = 0.0
    /// Gradient all-reduces performed so far.
    public private(set) var allreduceCalls = 0
    /// Time spent before each allreduce waiting for the slowest process (load imbalance, not communication): a barrier
    /// first separates the two.
    public private(set) var waitSeconds = 0.0
    private var buffer: [Float] = []

    /// Data parallelism over `communicator`'s processes.
    public init(_ communicator: any Communicator) { self.communicator = communicator }

    /// The trainable parameters whose gradients are synchronised: those that require a gradient, in the optimizer's
    /// order (the same on every process).
    static func synchronised(_ parameters: [Tensor]) -> [Tensor] { parameters.filter(\.requiresGrad) }

    /// Averages the gradients of `parameters` over the processes, weighted by each one's `items`; a parameter without
    /// a gradient here counts as zeros and receives the average. `flag` rides along (any process's `true` comes back
    /// as `true`: an interrupt on one process stops all of them at the same step). Returns the items of the global
    /// batch and the combined flag.
    public func averageGradients(_ parameters: [Tensor], items: Int, flag: Bool = false) throws -> (
        items: Int, flag: Bool
    ) {
        let params = Self.synchronised(parameters)
        let total = params.reduce(0) { $0 + $1.count }
        if buffer.count != total + 2 { buffer = [Float](repeating: 0, count: total + 2) }
        let weight = Float(items)
        try buffer.withUnsafeMutableBufferPointer { buf in
            var offset = 0
            for p in params {
                let n = p.count
                if let g = p.grad {
                    guard g.dtype == .float32 else {
                        throw DistributedError("data-parallel training needs float32 gradients, not \(g.dtype)")
                    }
                    g.withUnsafeFloats { src in for i in 0..<n { buf[offset + i] = src[i] * weight } }
                } else {
                    for i in 0..<n { buf[offset + i] = 0 }
                }
                offset += n
            }
            buf[total] = weight
            buf[total + 1] = flag ? 1 : 0
            let t0 = DispatchTime.now().uptimeNanoseconds
            try communicator.barrier()
            let t1 = DispatchTime.now().uptimeNanoseconds
            try communicator.allReduceSum(buf)
            waitSeconds += Double(t1 - t0) / 1e9
            allreduceSeconds += Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
            allreduceCalls += 1
            let all = buf[total]
            guard all > 0 else { throw DistributedError("no process had items in this step") }
            let scale = 1 / all
            offset = 0
            for p in params {
                let n = p.count
                if p.grad == nil { p.grad = Tensor.zeros(p.shape) }
                p.grad!.withUnsafeMutableFloats { dst in for i in 0..<n { dst[i] = buf[offset + i] * scale } }
                offset += n
            }
        }
        return (Int(buffer[total].rounded()), buffer[total + 1] > 0)
    }

    /// Sums a few numbers over the processes (losses, counts for the log).
    public func sum(_ values: [Double]) throws -> [Double] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        return v
    }

    /// The lead process's bytes on every process.
    public func broadcast(_ data: Data) throws -> Data {
        var bytes = [UInt8](data)
        try communicator.broadcast(&bytes, root: 0)
        return Data(bytes)
    }

    /// Copies the lead process's parameters and buffers to every process (DDP does this when it wraps a model), so a
    /// run starts identical everywhere whatever each process initialised.
    public func broadcastState(of model: any Module) throws {
        for (name, t) in model.stateDict() where t.dtype == .float32 {
            var bytes = t.withUnsafeFloats { Array(UnsafeRawBufferPointer($0)) }
            try communicator.broadcast(&bytes, root: 0)
            guard bytes.count == t.count * 4 else {
                throw DistributedError("\(name): the processes disagree about its shape")
            }
            t.withUnsafeMutableFloats { dst in
                bytes.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(dst).copyMemory(from: src)
                }
            }
        }
    }

    /// Averages the model's floating-point buffers over the processes: BatchNorm's running mean and variance, which
    /// each process gathered from its own slices (the statistics of the global batch's halves, averaged), so that
    /// evaluation and checkpoints see one set everywhere. Run before evaluation.
    public func averageBuffers(of model: any Module) throws {
        let buffers = Self.floatBuffers(of: model)
        var flat = Self.flatten(buffers)
        guard !flat.isEmpty, size > 1 else { return }
        try flat.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        flat.withUnsafeBufferPointer { Self.scatter($0, into: buffers, scale: 1 / Float(size)) }
    }

    /// The model's float32 buffers (BatchNorm's running statistics), in `namedBuffers` order: what each process keeps
    /// of its own between the epoch-end averages.
    static func floatBuffers(of model: any Module) -> [Tensor] {
        model.namedBuffers().map(\.tensor).filter { $0.dtype == .float32 }
    }

    /// The values of float32 `tensors`, end to end.
    static func flatten(_ tensors: [Tensor]) -> [Float] {
        var flat: [Float] = []
        flat.reserveCapacity(tensors.reduce(0) { $0 + $1.count })
        for t in tensors { t.withUnsafeFloats { flat.append(contentsOf: $0) } }
        return flat
    }

    /// Writes `flat` (as `flatten` laid it out) back into `tensors`, each value × `scale`.
    static func scatter(_ flat: UnsafeBufferPointer<Float>, into tensors: [Tensor], scale: Float = 1) {
        var offset = 0
        for t in tensors {
            t.withUnsafeMutableFloats { dst in for i in 0..<dst.count { dst[i] = flat[offset + i] * scale } }
            offset += t.count
        }
    }

    /// Checks that every process holds the lead's weights (bit for bit: a 64-bit FNV-1a hash of the parameters and
    /// buffers, compared on every process); throws on every process if one differs. The trainer runs it after each
    /// epoch, so a replica that drifted (a nondeterministic kernel, a different binary) stops the run early and loudly.
    public func verifyReplicas(of model: any Module) throws {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for (_, t) in model.stateDict() where t.dtype == .float32 {
            t.withUnsafeFloats { b in
                for v in b { hash = (hash ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01B3 }
            }
        }
        var bytes = withUnsafeBytes(of: hash) { Array($0) }
        try communicator.broadcast(&bytes, root: 0)
        let lead = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        let differing = try sum([lead == hash ? 0 : 1])[0]
        guard differing == 0 else {
            throw DistributedError(
                "the weights of \(Int(differing)) of \(size) processes differ from process 0's: the replicas drifted apart (is every process running the same attn build?)"
            )
        }
    }

    /// Gives each process its own dropout streams: process r > 0 reseeds every random module from the module's state
    /// and r, so that the processes do not drop the same units of different examples (the lead keeps its streams, so
    /// a one-process run is unchanged).
    public func decorrelateRandomModules(of model: any Module) {
        guard rank > 0 else { return }
        for (_, m) in model.randomModules() {
            var g = m.generator
            m.generator = RandomGenerator(seed: g.next() ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(rank)))
        }
    }
}

/// Starting and ending the processes of a distributed run (Open MPI when AttentionKit is built with `--traits MPI`).
public enum DistributedRuntime {
    /// Whether this build has Open MPI.
    public static var isAvailable: Bool {
        #if MPI
            return true
        #else
            return false
        #endif
    }

    /// The number of processes `mpirun` (or another MPI launcher) started, read from the environment; 1 outside one.
    public static var launchedProcesses: Int {
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"] {
            if let v = getenv(key), let n = Int(String(cString: v)), n > 0 { return n }
        }
        return 1
    }

    /// Processes of this run on this machine (for the default thread count), 1 outside a launcher.
    public static var localProcesses: Int {
        if let v = getenv("OMPI_COMM_WORLD_LOCAL_SIZE"), let n = Int(String(cString: v)), n > 0 { return n }
        return 1
    }

    nonisolated(unsafe) private static var started: (any Communicator)?

    /// The run's communicator (MPI_Init on first use). Fails with instructions in a build without MPI.
    public static func start() throws -> any Communicator {
        if let started { return started }
        #if MPI
            let c = try MPICommunicator()
            started = c
            return c
        #else
            throw DistributedError(
                """
                this build of AttentionKit has no Open MPI: install it (scripts/install-deps.sh --mpi, or apt-get install \
                libopenmpi-dev openmpi-bin) and build with `swift build -c release --traits MPI`
                """)
        #endif
    }

    /// The communicator if a distributed run started one.
    public static var current: (any Communicator)? { started }

    /// Ends MPI cleanly (every process calls it once at the end of a successful run).
    public static func finish() {
        #if MPI
            if started != nil { MPI_Finalize(); started = nil }
        #endif
    }
}

#if MPI
    /// MPI_COMM_WORLD of Open MPI.
    public final class MPICommunicator: Communicator {
        /// This process's rank in `MPI_COMM_WORLD`.
        public let rank: Int
        /// Number of processes in `MPI_COMM_WORLD`.
        public let size: Int

        init() throws {
            var provided: Int32 = 0
            // Only one thread calls MPI at a time (the training loop); the compute threads never do.
            try Self.check(MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided), "MPI_Init_thread")
            var r: Int32 = 0, s: Int32 = 0
            try Self.check(MPI_Comm_rank(cmpi_comm_world(), &r), "MPI_Comm_rank")
            try Self.check(MPI_Comm_size(cmpi_comm_world(), &s), "MPI_Comm_size")
            rank = Int(r)
            size = Int(s)
        }

        static func check(_ code: Int32, _ call: String) throws {
            guard code != MPI_SUCCESS else { return }
            var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
            var length: Int32 = 0
            MPI_Error_string(code, &text, &length)
            throw DistributedError(
                "\(call) failed: \(String(decoding: text.prefix(Int(max(length, 0))).map { UInt8(bitPattern: $0) }, as: UTF8.self))"
            )
        }

        /// Buffers go in pieces of at most 2³⁰ elements (MPI counts are 32-bit).
        static let chunk = 1 << 30

        /// Sums `buffer` over all processes in place (`MPI_Allreduce`).
        public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
            for start in stride(from: 0, to: buffer.count, by: Self.chunk) {
                let n = min(Self.chunk, buffer.count - start)
                try Self.check(
                    MPI_Allreduce(
                        cmpi_in_place(), buffer.baseAddress! + start, Int32(n), cmpi_float(), cmpi_sum(),
                        cmpi_comm_world()), "MPI_Allreduce")
            }
        }

        /// Sums `buffer` over all processes in place (`MPI_Allreduce`).
        public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
            for start in stride(from: 0, to: buffer.count, by: Self.chunk) {
                let n = min(Self.chunk, buffer.count - start)
                try Self.check(
                    MPI_Allreduce(
                        cmpi_in_place(), buffer.baseAddress! + start, Int32(n), cmpi_double(), cmpi_sum(),
                        cmpi_comm_world()), "MPI_Allreduce")
            }
        }

        /// Sends `bytes` from `root` to every process (`MPI_Bcast`, length first).
        public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
            var count = Int64(bytes.count)
            try Self.check(MPI_Bcast(&count, 1, cmpi_int64(), Int32(root), cmpi_comm_world()), "MPI_Bcast")
            if rank != root { bytes = [UInt8](repeating: 0, count: Int(count)) }
            try bytes.withUnsafeMutableBytes { raw in
                for start in stride(from: 0, to: raw.count, by: Self.chunk) {
                    let n = min(Self.chunk, raw.count - start)
                    try Self.check(
                        MPI_Bcast(raw.baseAddress! + start, Int32(n), cmpi_byte(), Int32(root), cmpi_comm_world()),
                        "MPI_Bcast")
                }
            }
        }

        /// Waits until every process arrives (`MPI_Barrier`).
        public func barrier() throws { try Self.check(MPI_Barrier(cmpi_comm_world()), "MPI_Barrier") }

        /// Ends every process with `code` (`MPI_Abort`).
        public func abort(code: Int32) -> Never {
            MPI_Abort(cmpi_comm_world(), code)
            exit(code)
        }
    }
#endif

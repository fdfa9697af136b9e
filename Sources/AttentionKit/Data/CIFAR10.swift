import Foundation

/// Why a CIFAR-10 directory or file was rejected; each case names the file (and record and byte offset).
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case missing(path: String, hint: String)
    case unreadable(path: String, reason: String)
    case truncatedRecord(file: String, record: Int, offset: Int, bytesLeft: Int)
    case badLabel(file: String, record: Int, offset: Int, label: Int)
    case badLine(file: String, line: Int, reason: String)
    /// A file that was read but holds something unusable (the reason says what).
    case invalid(path: String, reason: String)

    /// The error as one line, naming the file.
    public var description: String {
        switch self {
        case .missing(let p, let h): return "\(p): not found (\(h))"
        case .unreadable(let p, let r): return "\(p): cannot read: \(r)"
        case .truncatedRecord(let f, let r, let o, let n):
            return
                "\(f): record \(r) at byte offset \(o) is truncated (\(n) of 3073 bytes): file size is not a multiple of 3073"
        case .badLabel(let f, let r, let o, let l):
            return "\(f): record \(r) at byte offset \(o) has label \(l), expected 0…9"
        case .badLine(let f, let l, let r): return "\(f):\(l): \(r)"
        case .invalid(let p, let r): return "\(p): \(r)"
        }
    }
}

/// CIFAR-10 in the official binary format: records of 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B,
/// row-major 32×32). Reads any number of records per file (the full set has 10,000 per batch file).
///
/// The same struct holds images of any square side (`side`; 32 for CIFAR-10 itself): image folders read at
/// `--image-size` 224 for an ImageNet backbone are N×3×224×224 bytes.
public struct CIFAR10 {
    /// Pixels, N×3×side×side bytes (planar RGB per image).
    public var pixels: [UInt8]
    /// The images' side in pixels (32 for CIFAR-10).
    public var side = 32
    /// Bytes of one image: 3 × side².
    public var bytesPerImage: Int { 3 * side * side }
    /// Class index per image.
    public var labels: [Int]
    /// Class names from `batches.meta.txt` (the standard ten if the file is absent).
    public var classNames: [String]
    /// Number of images.
    public var count: Int { labels.count }
    /// Bytes per record in the binary format: one label byte and the image.
    public static let recordBytes = 3073
    /// Bytes per 32×32 RGB image (channel planes, row-major).
    public static let imageBytes = 3072

    /// Which files of the official release to read: `data_batch_*` or `test_batch`.
    public enum Split: Sendable { case train, test }

    /// Loads `data_batch_*.bin` (train) or `test_batch.bin` (test) from `directory`.
    public init(directory: URL, split: Split = .train) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir) else {
            throw DatasetError.missing(path: directory.path, hint: "expected the cifar-10-batches-bin directory")
        }
        guard isDir.boolValue else {
            throw DatasetError.unreadable(
                path: directory.path,
                reason: "not a directory (expected the cifar-10-batches-bin directory of data_batch_*.bin files)")
        }
        let names: [String]
        switch split {
        case .train:
            let all = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
            names = all.filter { $0.hasPrefix("data_batch_") && $0.hasSuffix(".bin") }.sorted {
                (Int($0.dropFirst(11).dropLast(4)) ?? 0, $0) < (Int($1.dropFirst(11).dropLast(4)) ?? 0, $1)
            }
            guard !names.isEmpty else {
                throw DatasetError.missing(
                    path: directory.appendingPathComponent("data_batch_*.bin").path, hint: "no training batch files")
            }
        case .test:
            names = ["test_batch.bin"]
        }
        pixels = []
        labels = []
        for name in names {
            try Self.appendRecords(from: directory.appendingPathComponent(name), pixels: &pixels, labels: &labels)
        }
        classNames = try Self.classNames(in: directory)
    }

    /// Images already in memory: `pixels` holds `labels.count` planar `side`×`side` RGB images (3,072 bytes each
    /// at 32).
    public init(pixels: [UInt8], labels: [Int], classNames: [String] = CIFAR10.standardClassNames, side: Int = 32) {
        precondition(
            side > 0 && pixels.count == labels.count * 3 * side * side,
            "CIFAR10: \(pixels.count) pixel bytes for \(labels.count) images of \(side)×\(side)")
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
        self.side = side
    }

    /// The images resized (bilinear) to `side` × `side`, on all cores: CIFAR-10 upscaled for a backbone trained at
    /// another input size.
    public func resized(to side: Int) -> CIFAR10 {
        guard side != self.side else { return self }
        let from = bytesPerImage, to = 3 * side * side, n = count
        var out = [UInt8](repeating: 0, count: n * to)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                // each chunk writes only its own images
                parallelFor(n, costPerItem: Parallel.grain) { range in
                    for i in range {
                        let image = RGBImage(
                            planar: Array(UnsafeBufferPointer(start: s + i * from, count: from)), width: self.side,
                            height: self.side)
                        let planar = image.resized(width: side, height: side).planar
                        for k in 0..<to { d[i * to + k] = planar[k] }
                    }
                }
            }
        }
        return CIFAR10(pixels: out, labels: labels, classNames: classNames, side: side)
    }

    /// The ten class names in label order, as in `batches.meta.txt`.
    public static let standardClassNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
    ]

    /// Reads labelled images from a path a user gives: one `.bin` batch file (e.g. `test_batch.bin`), or a
    /// directory, whose `test_batch.bin` is read when present and otherwise its `data_batch_*.bin` files
    /// (`note` says which). Class names come from `batches.meta.txt` beside the files.
    public static func read(path: String, note: ((String) -> Void)? = nil) throws -> CIFAR10 {
        let url = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DatasetError.missing(
                path: path, hint: "expected a CIFAR-10 .bin file or a cifar-10-batches-bin directory")
        }
        if isDir.boolValue {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("test_batch.bin").path) {
                note?("reading \(url.appendingPathComponent("test_batch.bin").path)")
                return try CIFAR10(directory: url, split: .test)
            }
            note?("\(path) has no test_batch.bin: reading its data_batch_*.bin files")
            return try CIFAR10(directory: url, split: .train)
        }
        var pixels: [UInt8] = [], labels: [Int] = []
        try appendRecords(from: url, pixels: &pixels, labels: &labels)
        guard !labels.isEmpty else { throw DatasetError.unreadable(path: path, reason: "the file holds no records") }
        return CIFAR10(pixels: pixels, labels: labels, classNames: try classNames(in: url.deletingLastPathComponent()))
    }

    /// The class names of `batches.meta.txt` in `directory`, one per line (the standard ten if it is absent): ten
    /// different names, one per label 0…9, or an error naming the file.
    static func classNames(in directory: URL) throws -> [String] {
        let url = directory.appendingPathComponent("batches.meta.txt")
        guard FileManager.default.fileExists(atPath: url.path) else { return standardClassNames }
        let text: String
        do { text = try UserFile.text(url, maxBytes: 1 << 20) } catch {
            throw DatasetError.unreadable(path: url.path, reason: UserFile.reason(for: error))
        }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        guard names.count == standardClassNames.count else {
            throw DatasetError.invalid(
                path: url.path, reason: "lists \(names.count) class names; CIFAR-10's labels 0…9 need ten, one per line"
            )
        }
        if let twice = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw DatasetError.invalid(path: url.path, reason: "lists the class name '\(twice)' twice")
        }
        return names
    }

    /// Parses one batch file, validating size and labels.
    public static func appendRecords(from url: URL, pixels: inout [UInt8], labels: inout [Int]) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DatasetError.missing(path: url.path, hint: "CIFAR-10 batch file")
        }
        let data: Data
        do { data = try UserFile.read(url) } catch {
            throw DatasetError.unreadable(path: url.path, reason: UserFile.reason(for: error))
        }
        let full = data.count / recordBytes
        if data.count % recordBytes != 0 {
            throw DatasetError.truncatedRecord(
                file: url.path, record: full, offset: full * recordBytes, bytesLeft: data.count % recordBytes)
        }
        pixels.reserveCapacity(pixels.count + full * imageBytes)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            for r in 0..<full {
                let off = r * recordBytes
                labels.append(Int(b[off]))
                pixels.append(contentsOf: b[(off + 1)..<(off + recordBytes)])
            }
        }
        for r in (labels.count - full)..<labels.count where labels[r] > 9 {
            let local = r - (labels.count - full)
            throw DatasetError.badLabel(file: url.path, record: local, offset: local * recordBytes, label: labels[r])
        }
    }

    /// Splits off a validation set: a seeded permutation, the last `fraction` of it held out.
    public func split(validationFraction fraction: Double, seed: UInt64) -> (train: CIFAR10, validation: CIFAR10) {
        let (t, v) = splitIndices(validationFraction: fraction, seed: seed)
        return (subset(t), subset(v))
    }

    /// The indices behind `split`: a seeded permutation, the last `fraction` held out for validation.
    public func splitIndices(validationFraction fraction: Double, seed: UInt64) -> (train: [Int], validation: [Int]) {
        var g = RandomGenerator(seed: seed)
        var order = Array(0..<count)
        order.shuffle(using: &g)
        let nVal = Int((Double(count) * fraction).rounded())
        return (Array(order[..<(count - nVal)]), Array(order[(count - nVal)...]))
    }

    /// The images at `indices`, in that order.
    public func subset(_ indices: [Int]) -> CIFAR10 {
        var p: [UInt8] = []
        let b = bytesPerImage
        p.reserveCapacity(indices.count * b)
        for i in indices { p.append(contentsOf: pixels[(i * b)..<((i + 1) * b)]) }
        var s = self
        s.pixels = p
        s.labels = indices.map { labels[$0] }
        return s
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1].
    public func channelStatistics() -> (mean: [Float], std: [Float]) {
        var sum = [Double](repeating: 0, count: 3), sq = [Double](repeating: 0, count: 3)
        let plane = side * side
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<count {
                for c in 0..<3 {
                    let base = (i * 3 + c) * plane
                    for k in 0..<plane { let v = Double(p[base + k]) / 255; sum[c] += v; sq[c] += v * v }
                }
            }
        }
        let n = Double(count * plane)
        let mean = sum.map { $0 / n }
        return (mean.map(Float.init), (0..<3).map { Float((sq[$0] / n - mean[$0] * mean[$0]).squareRoot()) })
    }
}

/// Image augmentation and normalisation for [3, S, S] images, seeded.
public struct ImageAugmentation: Sendable {
    /// Zero padding before a random S×S crop (0: no crop; 4 for CIFAR's 32 pixels, side/8 in general).
    public var cropPadding: Int
    /// Flip left–right with probability ½.
    public var horizontalFlip: Bool
    /// One TrivialAugment operation per image before the crop and flip (`TrivialAugment`).
    public var trivialAugment = false
    /// Random crops after zero padding of `cropPadding` pixels per side, and random horizontal flips.
    public init(cropPadding: Int = 4, horizontalFlip: Bool = true, trivialAugment: Bool = false) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
        self.trivialAugment = trivialAugment
    }
    /// No augmentation (evaluation).
    public static let none = ImageAugmentation(cropPadding: 0, horizontalFlip: false)
    /// Random crops padded by side/8 (4 pixels at 32) and flips: the CIFAR recipe at any input size.
    public static func standard(side: Int) -> ImageAugmentation {
        ImageAugmentation(cropPadding: max(1, side / 8), horizontalFlip: true)
    }
}

/// Batches of (images [B, 3, S, S] normalised (S: the data's `side`), labels [B]) in a seeded shuffled order, with augmentation.
///
/// The iterator's position (epoch, next index, generator state) can be saved and restored for resumable training.
public struct CIFARBatches {
    /// The images and labels batched.
    public let data: CIFAR10
    /// Images per batch (per process when sharded).
    public let batchSize: Int
    public let mean: [Float], std: [Float]
    /// Random crops and flips applied to each training image.
    public var augmentation: ImageAugmentation
    /// Whether each epoch visits the images in a new seeded random order.
    public let shuffle: Bool
    /// Whether a last batch smaller than `batchSize` is left out.
    public let dropLast: Bool
    /// Generator for shuffling and augmentation.
    public var generator: RandomGenerator
    /// Epochs started so far.
    public private(set) var epoch = 0
    /// Index in this epoch's order of the next image.
    public private(set) var position = 0
    private var order: [Int]
    /// Data-parallel training: global batches of `batchSize` × processes, this process's slice of each. The
    /// augmentation of the whole global batch is drawn on every process (the generators stay equal everywhere).
    public var shard = Shard.whole

    /// Batches of `data` normalised with per-channel `mean` and `std`, in an order drawn from `seed`.
    public init(
        _ data: CIFAR10, batchSize: Int, mean: [Float], std: [Float], augmentation: ImageAugmentation = .none,
        shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0
    ) {
        precondition(batchSize > 0, "CIFARBatches: batch size must be positive")
        self.data = data
        self.batchSize = batchSize
        self.mean = mean
        self.std = std
        self.augmentation = augmentation
        self.shuffle = shuffle
        self.dropLast = dropLast
        generator = RandomGenerator(seed: seed)
        order = Array(0..<data.count)
        if shuffle { order.shuffle(using: &generator) }
    }

    /// Batches per epoch.
    public var batchesPerEpoch: Int {
        let global = batchSize * shard.count, full = data.count / global, rest = data.count % global
        return full + (!dropLast && rest >= shard.count ? 1 : 0)
    }

    /// The next batch of this epoch, or nil at its end (then `startNextEpoch()`).
    public mutating func next() -> (images: Tensor, labels: Tensor)? {
        let remaining = data.count - position, global = batchSize * shard.count
        guard remaining > 0, !(dropLast && remaining < global), remaining >= shard.count else { return nil }
        let n = Swift.min(global, remaining)
        let idx = Array(order[position..<(position + n)])
        position += n
        let mine = shard.range(of: n)
        return (images(idx, keeping: mine), Tensor(idx[mine].map { Float(data.labels[$0]) }, shape: [mine.count]))
    }

    /// Reshuffles (if shuffling) and starts the next epoch.
    public mutating func startNextEpoch() {
        epoch += 1
        position = 0
        order = Array(0..<data.count)
        if shuffle { order.shuffle(using: &generator) }
    }

    /// Saved position: "epoch,position,generator" (restored with `restore`).
    public var savedState: String {
        "\(epoch),\(position),\(generator.serialized)|" + order.map(String.init).joined(separator: ",")
    }

    /// Restores a state from `savedState`.
    public mutating func restore(_ text: String) throws {
        let halves = text.split(separator: "|", maxSplits: 1).map(String.init)
        let head = halves.first?.split(separator: ",").map(String.init) ?? []
        guard halves.count == 2, head.count == 3, let e = Int(head[0]), let p = Int(head[1]),
            let g = RandomGenerator(serialized: head[2])
        else {
            throw CheckpointError.invalidState("data position '\(text.prefix(80))' is malformed")
        }
        let o = halves[1].split(separator: ",").compactMap { Int($0) }
        guard o.count == data.count, Set(o).count == data.count, p >= 0, p <= data.count else {
            throw CheckpointError.invalidState("data order does not match a dataset of \(data.count) images")
        }
        epoch = e
        position = p
        generator = g
        order = o
    }

    /// Normalised (and augmented) images for `indices`: [n, 3, S, S]; with `keeping`, only those positions'
    /// images [keeping.count, 3, S, S] (the augmentation of every index is still drawn).
    mutating func images(_ indices: [Int], keeping: Range<Int>? = nil) -> Tensor {
        let kept = keeping ?? 0..<indices.count
        let side = data.side, plane = side * side
        // every element is written below
        let out = Tensor(shape: [kept.count, 3, side, side], dtype: .float32, zeroed: false)
        let pad = augmentation.cropPadding
        let scale = (0..<3).map { 1 / (255 * std[$0]) }, shift = (0..<3).map { -mean[$0] / std[$0] }
        // the augmentation is drawn in order (the generator is sequential), the pixels are filled on all cores
        var draws: [(dy: Int, dx: Int, flip: Bool)] = []
        var trivial: [TrivialAugment.Draw] = []
        draws.reserveCapacity(indices.count)
        for _ in indices {
            if augmentation.trivialAugment { trivial.append(.random(using: &generator)) }
            let dy = pad > 0 ? Int(generator.next() % UInt64(2 * pad + 1)) - pad : 0
            let dx = pad > 0 ? Int(generator.next() % UInt64(2 * pad + 1)) - pad : 0
            let flip = augmentation.horizontalFlip && generator.next() & 1 == 1
            draws.append((dy, dx, flip))
        }
        out.withUnsafeMutableFloats { dstBuffer in
            data.pixels.withUnsafeBufferPointer { srcBuffer in
                let dst = dstBuffer.baseAddress!, src = srcBuffer.baseAddress!
                // each image of the batch writes only its own [3, S, S] slice
                parallelFor(kept.count, costPerItem: 3 * plane) { range in
                    // TrivialAugment works on a copy of the image
                    let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: trivial.isEmpty ? 0 : 6 * plane)
                    defer { copy.deallocate() }
                    for local in range {
                        let k = kept.lowerBound + local, (dy, dx, flip) = draws[k]
                        var image = src + indices[k] * 3 * plane
                        if !trivial.isEmpty {
                            copy.update(from: image, count: 3 * plane)
                            TrivialAugment.apply(trivial[k], to: copy, side: side, scratch: copy + 3 * plane)
                            image = UnsafePointer(copy)
                        }
                        for c in 0..<3 {
                            let s = c * plane, d = (local * 3 + c) * plane
                            let sc = scale[c], sh = shift[c]
                            // output column x reads source column x + dx (flipped: side − 1 − x + dx); columns
                            // outside the source are zero pixels, normalised like any other
                            let lo = flip ? Swift.max(0, dx) : Swift.max(0, -dx),
                                hi = flip ? Swift.min(side, side + dx) : Swift.min(side, side - dx)
                            for y in 0..<side {
                                let sy = y + dy, row = dst + d + y * side
                                guard sy >= 0 && sy < side && lo < hi else {
                                    for x in 0..<side { row[x] = sh }
                                    continue
                                }
                                let srow = image + s + sy * side
                                for x in 0..<lo { row[x] = sh }
                                if flip {
                                    let from = srow + side - 1 + dx
                                    for x in lo..<hi { row[x] = Float(from[-x]) * sc + sh }
                                } else {
                                    let from = srow + dx
                                    for x in lo..<hi { row[x] = Float(from[x]) * sc + sh }
                                }
                                for x in hi..<side { row[x] = sh }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

import Foundation

/// What to do with a file in an image folder that cannot be decoded.
public enum BadImagePolicy: String, Codable, Sendable, CaseIterable {
    /// Leave it out and name it in a note.
    case skip
    /// Refuse the folder, naming the file.
    case stop
}

/// Images in class folders, the layout of torchvision's `ImageFolder`: `DIR/CLASS_NAME/*.png|jpg|jpeg`. Class
/// names are the sub-folder names, sorted (their indices are the labels); files are taken in sorted order. Each
/// image is decoded (libpng, libjpeg-turbo) on all cores, resized so its shorter side is `side` and centre-cropped
/// to `side` × `side` (torchvision's `Resize(side)` + `CenterCrop(side)`; 32 by default, 224 for an ImageNet
/// backbone), and stored in the layout the image pipeline trains on (planar RGB bytes).
public enum ImageFolder {
    /// The file extensions read as images (lowercased).
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Whether `url` is a folder of class folders (and not a CIFAR-10 binary directory).
    public static func isImageFolder(_ url: URL) -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) else { return false }
        return !names.contains { $0.hasSuffix(".bin") } && !subfolders(of: url, among: names).isEmpty
    }

    /// The visible sub-folders among `names` (entries of `directory`), sorted.
    static func subfolders(of directory: URL, among names: [String]) -> [String] {
        names.filter { name in
            var isDir: ObjCBool = false
            return !name.hasPrefix(".")
                && FileManager.default.fileExists(
                    atPath: directory.appendingPathComponent(name).path, isDirectory: &isDir)
                && isDir.boolValue
        }.sorted()
    }

    /// The class folders of `directory` and their image files, sorted.
    /// - Throws: naming the folder when it has no class folder, or a class folder has no image.
    public static func listing(_ directory: URL) throws -> [(name: String, files: [URL])] {
        let fm = FileManager.default
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: directory.path) } catch {
            throw DatasetError.unreadable(path: directory.path, reason: UserFile.reason(for: error))
        }
        let classes = subfolders(of: directory, among: names)
        guard !classes.isEmpty else {
            throw DatasetError.invalid(
                path: directory.path, reason: "has no class folders (expected DIR/CLASS_NAME/*.png|jpg)")
        }
        return try classes.map { name in
            let folder = directory.appendingPathComponent(name)
            let files = ((try? fm.contentsOfDirectory(atPath: folder.path)) ?? []).filter {
                extensions.contains(($0 as NSString).pathExtension.lowercased()) && !$0.hasPrefix(".")
            }
            .sorted().map { folder.appendingPathComponent($0) }
            guard !files.isEmpty else {
                throw DatasetError.invalid(
                    path: folder.path, reason: "class folder '\(name)' holds no .png or .jpg image")
            }
            return (name, files)
        }
    }

    /// Reads every image of `directory` at `side` × `side`.
    /// - Parameters: badFiles: skip undecodable files (each named through `note`) or stop at the first one.
    /// - Throws: naming the file that cannot be decoded (`.stop`), or the folder when nothing is left.
    public static func read(
        _ directory: URL, side: Int = 32, badFiles: BadImagePolicy = .stop, classNames expected: [String]? = nil,
        note: (String) -> Void = { _ in }
    ) throws -> CIFAR10 {
        precondition(side > 0, "ImageFolder.read: the side must be positive")
        let classes = try listing(directory)
        if let expected, expected != classes.map(\.name) {
            throw DatasetError.invalid(
                path: directory.path,
                reason:
                    "its class folders (\(classes.map(\.name).joined(separator: ", "))) are not the run's classes (\(expected.joined(separator: ", ")))"
            )
        }
        let files = classes.enumerated().flatMap { label, c in c.files.map { (url: $0, label: label) } }
        let bytes = side * side * 3
        var pixels = [UInt8](repeating: 0, count: files.count * bytes)
        var failures = [String?](repeating: nil, count: files.count)
        pixels.withUnsafeMutableBufferPointer { out in
            failures.withUnsafeMutableBufferPointer { fail in
                let base = out.baseAddress!, failBase = fail.baseAddress!
                // each chunk of files writes only its own images' bytes and failure slots
                parallelFor(files.count, costPerItem: Parallel.grain) { range in
                    for i in range {
                        do {
                            let image = try ImageDecoding.read(contentsOf: files[i].url)
                            let planar = centreCropped(image, side: side)
                            for k in 0..<bytes { base[i * bytes + k] = planar[k] }
                        } catch {
                            failBase[i] = "\(error)"
                        }
                    }
                }
            }
        }
        var keep: [Int] = []
        for i in files.indices {
            if let reason = failures[i] {
                if badFiles == .stop {
                    throw DatasetError.unreadable(
                        path: files[i].url.path, reason: "\(reason) (--bad-files skip leaves such files out)")
                }
                note("skipped \(files[i].url.path): \(reason)")
            } else {
                keep.append(i)
            }
        }
        guard !keep.isEmpty else {
            throw DatasetError.invalid(
                path: directory.path, reason: "none of its \(files.count) images could be decoded")
        }
        var kept = [UInt8]()
        kept.reserveCapacity(keep.count * bytes)
        for i in keep { kept.append(contentsOf: pixels[(i * bytes)..<((i + 1) * bytes)]) }
        return CIFAR10(pixels: kept, labels: keep.map { files[$0].label }, classNames: classes.map(\.name), side: side)
    }

    /// `image` resized so its shorter side is `side`, centre-cropped to a square, as planar RGB bytes (R plane,
    /// G plane, B plane).
    public static func centreCropped(_ image: RGBImage, side: Int) -> [UInt8] {
        let scale = Double(side) / Double(min(image.width, image.height))
        let w = max(side, Int((Double(image.width) * scale).rounded())),
            h = max(side, Int((Double(image.height) * scale).rounded()))
        return image.resizedCrop(width: w, height: h, x0: (w - side) / 2, y0: (h - side) / 2, side: side)
    }

    /// A seeded validation split that keeps each class's share: per class, a seeded shuffle and the last
    /// `fraction` (rounded, at least one when the class has two or more images) held out.
    public static func stratifiedSplit(labels: [Int], fraction: Double, seed: UInt64) -> (
        train: [Int], validation: [Int]
    ) {
        var g = RandomGenerator(seed: seed)
        var validation = Set<Int>()
        for c in Set(labels).sorted() {
            var mine = labels.indices.filter { labels[$0] == c }
            mine.shuffle(using: &g)
            var n = Int((Double(mine.count) * fraction).rounded())
            if fraction > 0 && n == 0 && mine.count >= 2 { n = 1 }
            validation.formUnion(mine.suffix(n))
        }
        return (labels.indices.filter { !validation.contains($0) }, labels.indices.filter { validation.contains($0) })
    }
}

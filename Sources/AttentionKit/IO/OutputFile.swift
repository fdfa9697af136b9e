import Foundation

/// The one way AttentionKit writes a file a user named or a run keeps: checked first, then replaced atomically.
///
/// - A regular file (or a new name) is replaced atomically: a temporary file beside it, fsync, rename over it, fsync
///   of the directory. Readers see the old file or the new one, never a partial one; a failed write leaves the old
///   file and no temporary behind.
/// - A FIFO, a terminal or a character device (`/dev/stdout`, `/dev/null`, `<(…)`) is written into as a stream, as
///   any Unix tool writes it: it is never replaced by a regular file. A write error (`/dev/full`: disk full) is an error.
/// - A symbolic link is followed: the file it points to is replaced, the link stays.
/// - A directory, a socket or a block device is refused, as is an empty path; nothing is deleted.
public enum AtomicFile {
    /// Removes the temporary files (`.NAME.tmp-PID-N`) that writes interrupted by a kill left in `directory`; files of
    /// processes that are still running are left alone. Returns the names removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: URL) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(".") {
            guard let r = name.range(of: ".tmp-", options: .backwards) else { continue }
            let parts = name[r.upperBound...].split(separator: "-")
            guard parts.count == 2, let pid = Int32(parts[0]), UInt32(parts[1]) != nil else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // its writer is alive (this process included)
            if unlink(directory.appendingPathComponent(name).path) == 0 { removed.append(name) }
        }
        return removed
    }

    /// What writing to `url` would do: replace a regular file (or create one), or stream into a special file.
    public enum Target: Equatable { case file(URL), stream(URL) }

    /// Checks that `url` can be written without destroying anything: not empty, not a directory, socket or block
    /// device, its directory exists. Returns where the bytes go (symbolic links followed).
    public static func target(_ url: URL) throws -> Target {
        let path = url.path
        guard !path.isEmpty else { throw UserFileError(path: "''", reason: "an empty path names no file") }
        var st = stat()
        if stat(path, &st) == 0 {  // follows links
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                let real = URL(fileURLWithPath: path).resolvingSymlinksInPath()
                return .file(real)
            case S_IFIFO, S_IFCHR: return .stream(url)
            case S_IFDIR:
                throw UserFileError(path: path, reason: "is a directory; name a file to write (nothing was written)")
            default:
                throw UserFileError(
                    path: path, reason: "is a socket or a block device, not a file to write (nothing was written)")
            }
        }
        if errno != ENOENT { throw UserFileError(path: path, reason: "cannot write: " + UserFile.reason(errno: errno)) }
        var dst = stat()
        let lst = lstat(path, &dst) == 0
        if lst && (dst.st_mode & S_IFMT) == S_IFLNK {
            throw UserFileError(
                path: path, reason: "is a symbolic link to a missing file; remove it or name another file")
        }
        let dir = url.deletingLastPathComponent().path
        var ds = stat()
        guard stat(dir, &ds) == 0 else {
            throw UserFileError(
                path: path,
                reason: "cannot write: its directory \(dir) "
                    + (errno == ENOENT ? "does not exist" : UserFile.reason(errno: errno)))
        }
        guard (ds.st_mode & S_IFMT) == S_IFDIR else {
            throw UserFileError(path: path, reason: "cannot write: \(dir) is not a directory")
        }
        return .file(url)
    }

    /// Throws when `output` is the same file as one of `inputs` (writing it would destroy what is being read).
    public static func checkDistinct(_ output: URL, from inputs: [URL], flag: String) throws {
        var o = stat()
        guard stat(output.path, &o) == 0 else { return }
        for input in inputs {
            var i = stat()
            if stat(input.path, &i) == 0 && i.st_dev == o.st_dev && i.st_ino == o.st_ino
                && (o.st_mode & S_IFMT) == S_IFREG
            {
                throw UserFileError(
                    path: output.path,
                    reason: "\(flag) names the input \(input.path); writing it would destroy it (name another file)")
            }
        }
    }

    /// Writes `data` to `url` (see the type's rules).
    public static func write(_ data: Data, to url: URL) throws {
        switch try target(url) {
        case .stream(let u): try stream(data, to: u)
        case .file(let u): try replace(u, with: data)
        }
    }

    static func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                let r = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if r < 0 { if errno == EINTR { continue }; return false }
                done += r
            }
            return true
        }
    }

    static func stream(_ data: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_NOCTTY)
        guard fd >= 0 else {
            throw UserFileError(path: url.path, reason: "cannot write: " + UserFile.reason(errno: errno))
        }
        defer { close(fd) }
        guard writeAll(fd, data) else {
            throw UserFileError(path: url.path, reason: "cannot write: " + UserFile.reason(errno: errno))
        }
    }

    static func replace(_ url: URL, with data: Data) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw UserFileError(path: url.path, reason: "cannot write: " + UserFile.reason(errno: errno))
        }
        var ok = false
        defer { if !ok { unlink(tmp.path) } }
        let synced = writeAll(fd, data) && fsync(fd) == 0
        let code = errno
        close(fd)
        guard synced else {
            throw UserFileError(path: url.path, reason: "cannot write: " + UserFile.reason(errno: code))
        }
        guard rename(tmp.path, url.path) == 0 else {
            throw UserFileError(path: url.path, reason: "cannot write: " + UserFile.reason(errno: errno))
        }
        ok = true
        let dfd = open(dir.path, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

/// A directory a command writes its files into (an attention report, a comparison): created when missing; an
/// existing one must be empty or already hold this kind of output (its `marker` file), so that writing never
/// replaces files of something else. A file in its place is refused.
public enum OutputDirectory {
    /// Creates `url` or checks that it is empty or holds `marker` (from an earlier run of this kind, described as `what` in errors).
    /// Entries for which `alsoAllowed` is true (given their name) do not count against it.
    public static func prepare(
        _ url: URL, marker: String, holding what: String, alsoAllowed: (String) -> Bool = { _ in false }
    ) throws {
        let fm = FileManager.default, path = url.path
        guard !path.isEmpty else { throw UserFileError(path: "''", reason: "an empty path names no directory") }
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw UserFileError(
                    path: path,
                    reason: "exists and is not a directory; name a directory for \(what) (nothing was written)")
            }
            let visible = try visibleEntries(of: url).filter { !alsoAllowed($0) }
            guard visible.isEmpty || visible.contains(marker) else {
                throw UserFileError(
                    path: path,
                    reason:
                        "holds \(summary(visible)) that are not \(what); name a new or empty directory (nothing was written)"
                )
            }
            return
        }
        do { try fm.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw UserFileError(path: path, reason: "cannot create the directory (\(UserFile.reason(for: error)))")
        }
    }

    /// The entries of the directory `url` that are not hidden (an interrupted write's temporaries are), sorted.
    public static func visibleEntries(of url: URL) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw UserFileError(path: url.path, reason: "cannot read the directory (\(UserFile.reason(for: error)))")
        }
    }

    /// "3 file(s) (a, b, c)", naming at most three, for messages about what a directory holds.
    public static func summary(_ names: [String]) -> String {
        "\(names.count) file(s) (\(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? ", …" : ""))"
    }
}

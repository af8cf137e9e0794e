#if canImport(Glibc)
@preconcurrency import Glibc
#endif
public import Foundation
public import TokenCache

/// A plain MSAL JSON file, in the layout of msal-extensions' `FilePersistence`, so MSAL
/// Python apps read and write the same file.
///
/// Writes are atomic and durable: a temporary file in the same folder, created 0600, is
/// written and synced, renamed over the cache, and the folder is synced. A missing folder
/// is created 0700. A cache path that is a symbolic link, or owned by another user, is
/// refused.
public struct FileStorage: PiecewiseCacheStorage {
    /// The cache file's path.
    public let path: String
    public var location: String { path }
    public var isEncrypted: Bool { false }
    /// `true`: the file is on this machine's disk.
    public var answersLocally: Bool { true }

    /// Creates a store for the file at `path` (a leading `~` is expanded).
    public init(path: String) {
        self.path = (path as NSString).expandingTildeInPath
    }

    public func load() throws -> Data? {
        try withOpenFile { fd in try POSIX.readAll(fd, path: path) }
    }

    /// Runs `body` on the cache file opened for reading; `nil` when there is no file.
    private func withOpenFile<R>(_ body: (Int32) throws -> R) throws -> R? {
        try checkPath()
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw POSIX.error(errno, path, "open the cache for reading")
        }
        defer { close(fd) }
        return try body(fd)
    }

    public func readInPieces<R>(_ body: (_ read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> R) throws -> R? {
        try withOpenFile { fd in
            try body { buffer in
                try POSIX.retrying(path, "read") { read(fd, buffer.baseAddress, buffer.count) }
            }
        }
    }

    /// The first `count` bytes of the file (fewer when it is shorter); `nil` when there is
    /// no file.
    func loadPrefix(_ count: Int) throws -> [UInt8]? {
        try withOpenFile { fd in
            var bytes = [UInt8](repeating: 0, count: count)
            let got = try bytes.withUnsafeMutableBytes { buffer in
                try POSIX.retrying(path, "read") { pread(fd, buffer.baseAddress!, count, 0) }
            }
            return Array(bytes.prefix(got))
        }
    }

    /// ``load()`` into memory that is wiped when released (for encrypted content, which is
    /// decrypted in place).
    func loadWiping() throws -> Data? {
        try withOpenFile(readWiping)
    }

    private func readWiping(_ fd: Int32) throws -> Data {
        var info = stat()
        _ = try POSIX.retrying(path, "inspect") { fstat(fd, &info) }
        var data = OpenSSL.wipingBuffer(count: Int(info.st_size))
        let total = try data.withUnsafeMutableBytes { buffer -> Int in
            var total = 0
            while total < buffer.count {
                let got = try POSIX.retrying(path, "read") { read(fd, buffer.baseAddress! + total, buffer.count - total) }
                if got == 0 { break }
                total += got
            }
            return total
        }
        return total == data.count ? data : data.prefix(total)
    }

    public func save(_ data: Data) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try POSIX.makeDirectory(folder.isEmpty ? "." : folder)
        try checkPath()
        let name = (path as NSString).lastPathComponent
        let temporary = (folder.isEmpty ? "" : folder + "/") + ".\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw POSIX.error(errno, temporary, "create a temporary file beside the cache") }
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            try POSIX.writeAll(fd, data, path: temporary)
            _ = try POSIX.retrying(temporary, "flush to disk") { fsync(fd) }
        }
        _ = try POSIX.retrying(path, "replace the cache") { rename(temporary, path) }
        renamed = true
        let dirfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    public func changeToken() throws -> StorageChangeToken? {
        guard let info = try POSIX.lstatIfPresent(path) else { return nil }
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return StorageChangeToken([
            Int64(info.st_dev), Int64(info.st_ino), Int64(info.st_size),
            Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec),
            Int64(info.st_ctim.tv_sec), Int64(info.st_ctim.tv_nsec),
        ], modifiedAt: modified)
    }

    public func moveAside(reason: String) throws -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)
        // A second move in the same second gets a name of its own: rename replaces a file.
        var target = "\(path).\(reason)-\(stamp)"
        var suffix = 1
        while (try? POSIX.lstatIfPresent(target)) != nil {
            suffix += 1
            target = "\(path).\(reason)-\(stamp)-\(suffix)"
        }
        _ = try POSIX.retrying(path, "move the cache aside") { rename(path, target) }
        return target
    }

    public func remove() throws {
        if unlink(path) != 0, errno != ENOENT { throw POSIX.error(errno, path, "delete the cache") }
    }

    private func checkPath() throws(CacheStorageError) {
        _ = try POSIX.checkTrusted(path)
    }
}

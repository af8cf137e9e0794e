#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Thin wrappers over the POSIX calls the file stores use. Every call retries `EINTR` and
/// turns a failure into a ``CacheStorageError`` that names the path.
enum POSIX {
    static func error(_ code: Int32, _ path: String, _ action: String) -> CacheStorageError {
        let message = String(cString: strerror(code))
        switch code {
        case EACCES, EPERM:
            return CacheStorageError(code: .permissionDenied, location: path, reason: "cannot \(action): \(message). Check the owner and mode of the file and its folder", errno: code)
        case EISDIR:
            return CacheStorageError(code: .invalidSpec, location: path, reason: "cannot \(action): it is a folder, not a file. Name the cache file itself in the SPEC", errno: code)
        case ENOSPC, EDQUOT, EROFS:
            return CacheStorageError(code: .unavailable, location: path, reason: "cannot \(action): \(message). Free space or choose a writable location", errno: code)
        default:
            return CacheStorageError(code: .ioFailure, location: path, reason: "cannot \(action): \(message)", errno: code)
        }
    }

    /// Calls `body` until it does not fail with `EINTR`; throws for any other failure.
    static func retrying<T: BinaryInteger>(_ path: String, _ action: String, _ body: () -> T) throws(CacheStorageError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw error(code, path, action)
        }
    }

    /// `lstat`, or `nil` when the path does not exist. The corresponding C function is `lstat`.
    static func lstatIfPresent(_ path: String) throws(CacheStorageError) -> stat? {
        var info = stat()
        if lstat(path, &info) == 0 { return info }
        if Glibc.errno == ENOENT { return nil }
        throw error(Glibc.errno, path, "inspect the path")
    }

    /// Refuses a cache path that is a symbolic link or belongs to another user; returns its
    /// `lstat`, or `nil` when it does not exist.
    static func checkTrusted(_ path: String) throws(CacheStorageError) -> stat? {
        guard let info = try lstatIfPresent(path) else { return nil }
        if isSymlink(info) {
            throw CacheStorageError(code: .insecurePath, location: path, reason: "the cache path is a symbolic link, which is refused so tokens cannot be redirected. Point the store at the real file")
        }
        if info.st_uid != geteuid() {
            throw CacheStorageError(code: .insecurePath, location: path, reason: "the cache file belongs to another user (uid \(info.st_uid)). Use your own cache file")
        }
        return info
    }

    static func isSymlink(_ info: stat) -> Bool { (info.st_mode & S_IFMT) == S_IFLNK }
    static func isDirectory(_ info: stat) -> Bool { (info.st_mode & S_IFMT) == S_IFDIR }

    /// The name of the user `uid`, or `uid` itself when it has none.
    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "\(uid)" }
        return String(cString: name)
    }

    /// `path` with its folder's symbolic links resolved (the last component kept as it
    /// is), or `path` itself when the folder cannot be resolved.
    static func resolvingFolder(of path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        guard let resolved = realpath(folder.isEmpty ? "." : folder, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + (path as NSString).lastPathComponent
    }

    /// Creates `path` and its missing parents with mode 0700 (whatever the umask).
    static func makeDirectory(_ path: String) throws(CacheStorageError) {
        if let info = try lstatIfPresent(path) {
            if isDirectory(info) { return }
            // A symbolic link to a folder of this user's is followed, for writes as for reads.
            var target = stat()
            if (info.st_mode & S_IFMT) == S_IFLNK, stat(path, &target) == 0, isDirectory(target) {
                guard target.st_uid == geteuid() else {
                    throw CacheStorageError(code: .insecurePath, location: path, reason: "the cache folder is a symbolic link to a folder of another user (uid \(target.st_uid)); use a folder of your own")
                }
                return
            }
            throw CacheStorageError(code: .unavailable, location: path, reason: "the cache folder exists but is not a folder (nor a link to one)")
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try makeDirectory(parent) }
        if mkdir(path, 0o700) != 0, Glibc.errno != EEXIST { throw error(Glibc.errno, path, "create the folder") }
        _ = chmod(path, 0o700)
    }

    /// Writes all of `data` to `fd`.
    static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let written = try retrying(path, "write") { write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
                offset += written
            }
        }
    }

    /// Reads the whole file open at `fd`.
    static func readAll(_ fd: Int32, path: String) throws -> Data {
        var info = stat()
        _ = try retrying(path, "inspect") { fstat(fd, &info) }
        // One allocation of the file's size, not zero-filled, and no growth unless the file
        // grew while it was read.
        var capacity = max(Int(info.st_size), 0)
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
        var total = 0
        do {
            while true {
                if total == capacity {
                    var probe: UInt8 = 0
                    let got = try retrying(path, "read") { read(fd, &probe, 1) }
                    if got == 0 { break }
                    let larger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2 + 4096, alignment: 16)
                    larger.copyMemory(from: buffer, byteCount: total)
                    buffer.deallocate()
                    buffer = larger
                    capacity = capacity * 2 + 4096
                    buffer.storeBytes(of: probe, toByteOffset: total, as: UInt8.self)
                    total += 1
                    continue
                }
                let got = try retrying(path, "read") { read(fd, buffer + total, capacity - total) }
                if got == 0 { break }
                total += got
            }
        } catch {
            buffer.deallocate()
            throw error
        }
        return Data(bytesNoCopy: buffer, count: total, deallocator: .custom { pointer, _ in pointer.deallocate() })
    }
}

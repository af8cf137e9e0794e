#if canImport(Glibc)
@preconcurrency import Glibc
#endif
public import Foundation
public import TokenCache

/// The cross-process lock MSAL's libraries share: the file `<cache>.lockfile`.
///
/// It excludes, and is excluded by, both msal-extensions lock variants and MSAL .NET:
/// the file is created exclusively (`O_CREAT|O_EXCL`, which msal-extensions without
/// portalocker relies on) and then `flock`ed (which portalocker and .NET rely on); it holds
/// `"<pid> <program>"`; after locking, the file at the path must still be the one locked;
/// on release it is unlinked.
///
/// A lock file whose owner is provably gone (its process no longer runs, is a zombie, or
/// started after the lock file was written, so the pid was reused) is broken at once when
/// it was written in this PID namespace (this library records it); one written elsewhere
/// (a container sharing the folder) or by a library that does not record it only once it
/// is also 60 seconds old, since its pid means nothing here; and so
/// is an empty one (its creator died before writing its pid) older than two seconds that
/// nobody `flock`s. A live holder is never broken: the wait ends once one holder has kept the
/// lock for ``timeout`` (or, while writers take turns, after ``busyLimit``), in a
/// ``CacheStorageError`` with code `lockTimeout` that names the holder. Threads of this
/// process are serialized in front of the file lock.
///
/// It also holds the stores' refresh claims (``tryClaim(_:)``): one lock file per account
/// beside this one, so that one process refreshes an account while the others wait for
/// its token, without holding up writers of the cache meanwhile.
public struct FileLock: RefreshClaimingLock {
    /// The lock file's path.
    public let path: String
    /// How long one holder may keep the lock before a waiter gives up. The default is 5
    /// seconds, as in msal-extensions.
    public let timeout: Duration
    /// How long to wait in all while the lock keeps changing hands (many writers at once,
    /// each quick): four times ``timeout``. Progress is not a reason to give up, but a
    /// waiter that every other one overtakes stops after this.
    public var busyLimit: Duration { timeout * 4 }

    /// Creates a lock on `path` (usually the cache path plus `.lockfile`).
    public init(path: String, timeout: Duration = .seconds(5)) {
        self.path = path
        self.timeout = timeout
    }

    /// The lock for the cache file at `cachePath`: `<cachePath>.lockfile`.
    public init(forCacheAt cachePath: String, timeout: Duration = .seconds(5)) {
        self.init(path: cachePath + ".lockfile", timeout: timeout)
    }

    public func withLock<R>(_ body: () throws -> R) throws -> R {
        if FileLock.heldByTask.contains(path) { return try body() }
        var wait = Wait(timeout: timeout, busyLimit: busyLimit)
        let local = ProcessLocks.checkOut(path)
        defer { ProcessLocks.checkIn(path) }
        guard local.lock(timeout: timeout, latest: wait.latest) else { throw busyInProcess(wait) }
        defer { local.unlock() }
        wait.extend()
        var backoff = Backoff()
        while true {
            if let held = try attempt() {
                defer { release(held) }
                return try body()
            }
            guard !wait.isOver(path) else { throw timeoutError(wait) }
            try? Task.checkCancellation()
            Thread.sleep(forTimeInterval: backoff.next().timeInterval)
        }
    }

    /// Runs `body` while holding the lock, suspending the calling task while another thread,
    /// task or process holds it: no thread waits. While `body` runs, the task's own
    /// ``withLock(_:)`` calls on this path run at once.
    public func withLockSuspending<R: Sendable>(_ body: @Sendable () throws -> R) async throws -> R {
        if FileLock.heldByTask.contains(path) { return try body() }
        var wait = Wait(timeout: timeout, busyLimit: busyLimit)
        let local = ProcessLocks.checkOut(path)
        defer { ProcessLocks.checkIn(path) }
        var backoff = Backoff()
        var turns = local.turns
        while !local.tryLock() {
            if local.turns != turns {
                // Other threads or tasks of this process take turns: keep waiting.
                turns = local.turns
                wait.handedOver()
            }
            guard ContinuousClock.now < wait.deadline else { throw busyInProcess(wait) }
            try await Task.sleep(for: backoff.next())
        }
        defer { local.unlock() }
        wait.extend()
        while true {
            if let held = try attempt() {
                defer { release(held) }
                return try FileLock.$heldByTask.withValue(FileLock.heldByTask.union([path])) { try body() }
            }
            guard !wait.isOver(path) else { throw timeoutError(wait) }
            try await Task.sleep(for: backoff.next())
        }
    }

    /// The lock paths the current task holds through ``withLockSuspending(_:)``.
    @TaskLocal static var heldByTask: Set<String> = []

    private func busyInProcess(_ wait: Wait) -> CacheStorageError {
        guard busyLimit > timeout, ContinuousClock.now >= wait.latest else {
            return CacheStorageError(code: .lockTimeout, location: path, reason: "another thread of this process held the lock for more than \(timeout); try again")
        }
        return CacheStorageError(code: .lockTimeout, location: path, reason: "the cache lock stayed busy for \(ContinuousClock.now - wait.started) while other threads of this process took turns with it; try again")
    }

    // MARK: - Acquiring

    /// One waiter's deadline: ``timeout`` after the lock last changed hands (a new lock file
    /// at the path), and never later than ``busyLimit`` after the wait began.
    private struct Wait {
        let timeout: Duration
        let started = ContinuousClock.now
        let latest: ContinuousClock.Instant
        private(set) var deadline: ContinuousClock.Instant
        /// The lock file as last seen (inode and modification time): a new holder writes a new one.
        private var holder: [Int]?
        /// How many times the lock changed hands while this waiter waited.
        private(set) var handovers = 0

        init(timeout: Duration, busyLimit: Duration) {
            self.timeout = timeout
            deadline = started + timeout
            latest = started + max(timeout, busyLimit)
        }

        /// Whether the wait is over, after noting whether the lock changed hands.
        mutating func isOver(_ path: String) -> Bool {
            var info = stat()
            if lstat(path, &info) == 0 {
                let seen = [Int(info.st_ino), info.st_mtim.tv_sec, info.st_mtim.tv_nsec]
                if let holder, holder != seen { handedOver() }
                holder = seen
            }
            return ContinuousClock.now >= deadline
        }

        /// The lock changed hands: the next holder may keep it for ``timeout`` from now.
        mutating func handedOver() {
            handovers += 1
            extend()
        }

        /// Gives the current holder ``timeout`` from now (also when this waiter's turn among
        /// the threads of its process came), never past ``latest``.
        mutating func extend() {
            deadline = min(max(deadline, ContinuousClock.now + timeout), latest)
        }

        /// Whether the wait ended at ``busyLimit`` rather than at one holder's ``timeout``.
        var endedBusy: Bool { handovers > 0 && deadline == latest }
    }

    private struct Held {
        let fd: Int32
        let device: UInt64
        let inode: UInt64
    }

    /// The pauses between tries at a lock: from 5 ms, doubling up to 100 ms, with a few
    /// milliseconds of jitter so waiters do not retry in step.
    private struct Backoff {
        var pause: Duration = .milliseconds(5)

        mutating func next() -> Duration {
            defer { pause = min(pause * 2, .milliseconds(100)) }
            return pause + .milliseconds(Int.random(in: 0...5))
        }
    }

    /// One try at the lock file: the lock when it was free (or its holder provably gone),
    /// `nil` when a live holder has it or another library won a race for it.
    private func attempt() throws -> Held? {
        var createdFolder = false
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd >= 0 { return try claim(fd) }
            let code = errno
            switch code {
            case EEXIST:
                if try breakIfStale() { continue }
                return nil
            case ENOENT where !createdFolder:
                createdFolder = true
                try POSIX.makeDirectory((path as NSString).deletingLastPathComponent)
                continue
            case EACCES, EPERM, EINTR:
                return nil  // contention or a transient refusal: the caller tries again
            default:
                throw POSIX.error(code, path, "create the lock file")
            }
        }
    }

    /// Takes the `flock` on a lock file this process just created and writes the owner.
    /// Returns `nil` when another library grabbed the new file first.
    private func claim(_ fd: Int32) throws -> Held? {
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            // MSAL .NET opens the path with "open or create" and may have locked our new
            // file already; it deletes it when done.
            close(fd)
            return nil
        }
        let owner = "\(getpid()) \(FileLock.programName)\(LockOwner.currentNamespace.map { " " + $0 } ?? "")"
        _ = ftruncate(fd, 0)
        do {
            try POSIX.writeAll(fd, Data(owner.utf8), path: path)
        } catch {
            // A full disk or a quota: give the lock file up rather than keep it flocked.
            unlink(path)
            flock(fd, LOCK_UN)
            close(fd)
            throw error
        }
        var mine = stat()
        var current = stat()
        guard fstat(fd, &mine) == 0, lstat(path, &current) == 0,
              mine.st_dev == current.st_dev, mine.st_ino == current.st_ino else {
            // Someone removed or replaced the file while we were locking it.
            close(fd)
            return nil
        }
        return Held(fd: fd, device: UInt64(mine.st_dev), inode: UInt64(mine.st_ino))
    }

    private func release(_ held: Held) {
        var current = stat()
        if lstat(path, &current) == 0, UInt64(current.st_dev) == held.device, UInt64(current.st_ino) == held.inode {
            unlink(path)
        }
        flock(held.fd, LOCK_UN)
        close(held.fd)
    }

    // MARK: - Refresh claims

    /// Tries once to take the refresh claim `name` of the cache this lock guards: the lock
    /// file `<cache>.refresh-<name>.lockfile` beside this one, held and broken by the
    /// same rules (a claim whose process died is broken at once). Threads and tasks of
    /// this process are excluded by the caller, not here.
    public func tryClaim(_ name: String) throws -> RefreshClaim? {
        let claim = FileLock(path: claimPath(name), timeout: timeout)
        guard let held = try claim.attempt() else { return nil }
        return RefreshClaim(release: { claim.release(held) })
    }

    /// The lock file of the refresh claim `name`.
    func claimPath(_ name: String) -> String {
        let base = path.hasSuffix(".lockfile") ? String(path.dropLast(".lockfile".count)) : path
        return "\(base).refresh-\(name).lockfile"
    }

    // MARK: - Stale locks

    /// Breaks the lock file when its owner is provably gone; returns whether it did.
    ///
    /// An empty lock file names no owner: its creator died between creating and writing it
    /// (every library writes its pid at once). It counts as stale only once it is older
    /// than ``emptyLockGrace`` and nobody holds a `flock` on it.
    private func breakIfStale() throws -> Bool {
        let owner = LockOwner.load(path)
        if let owner {
            guard !owner.isAlive else { return false }
        } else {
            guard let age = LockOwner.emptyFileAge(path), age > FileLock.emptyLockGrace else { return false }
        }
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return errno == ENOENT }
        defer { close(fd) }
        // A live flock holder (portalocker, .NET) means the file is in use after all.
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        defer { flock(fd, LOCK_UN) }
        var opened = stat()
        var current = stat()
        guard fstat(fd, &opened) == 0, lstat(path, &current) == 0,
              opened.st_ino == current.st_ino, opened.st_dev == current.st_dev,
              LockOwner.load(path)?.pid == owner?.pid else { return false }
        unlink(path)
        return true
    }

    private func timeoutError(_ wait: Wait) -> CacheStorageError {
        var info = stat()
        if lstat(path, &info) == 0, info.st_uid != geteuid() {
            // Another user's lock file: this user can neither read who holds it nor tell
            // whether that process is gone, so it is never broken here.
            let holder = LockOwner.load(path).map { ", naming process \($0.pid) (\($0.program))" } ?? ""
            return CacheStorageError(code: .permissionDenied, location: path, reason: "the lock file belongs to user \(POSIX.userName(info.st_uid)) (uid \(info.st_uid))\(holder), and this user can neither check nor remove its holder. If no process of that user is writing the cache, ask that user (or root) to remove it")
        }
        if wait.endedBusy {
            let holder = LockOwner.load(path).map { " (process \($0.pid), \($0.program), holds it now)" } ?? ""
            let waited = Int((ContinuousClock.now - wait.started).timeInterval.rounded())
            return CacheStorageError(code: .lockTimeout, location: path, reason: "the cache lock stayed busy for \(waited) s: it changed hands \(wait.handovers) times while this process waited\(holder), so many processes are writing the cache at once. Try again")
        }
        guard let owner = LockOwner.load(path) else {
            return CacheStorageError(code: .lockTimeout, location: path, reason: "another process held the cache lock for more than \(timeout); it is still running, so the lock was not broken. Try again, or stop that process")
        }
        if !owner.isOurs, !owner.runsHere {
            return CacheStorageError(code: .lockTimeout, location: path, reason: "process \(owner.pid) (\(owner.program)) held the cache lock for more than \(timeout). It does not run in this PID namespace, so it may run in another one (a container sharing the folder): the lock is broken only once it is \(Int(LockOwner.foreignLockGrace.components.seconds)) s old. Try again, or remove the lock file if no process holds it")
        }
        return CacheStorageError(code: .lockTimeout, location: path, reason: "process \(owner.pid) (\(owner.program)) held the cache lock for more than \(timeout); it is still running, so the lock was not broken. Try again, or stop that process")
    }

    // MARK: - Diagnosis

    /// Who holds the lock, as the lock file tells, for diagnostics (`tokencache doctor`).
    public enum Status: Equatable, Sendable {
        /// There is no lock file: nobody is writing.
        case free
        /// A running process holds the lock (`pid` is 0 when the file names none, as with a
        /// lock held through `flock` alone).
        case held(pid: Int32, program: String)
        /// The lock file names a process that is gone (killed while writing). This library
        /// breaks such a lock at once; other MSAL libraries wait for it until they time out.
        case abandoned(pid: Int32, program: String)
        /// An empty lock file that nobody holds, older than the grace period: its creator
        /// died before writing its pid.
        case abandonedEmpty
    }

    /// What the lock file says now. It only reads: an abandoned lock is left in place.
    public func status() -> Status {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .free }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        let flocked: Bool
        if fd >= 0 {
            flocked = flock(fd, LOCK_SH | LOCK_NB) != 0
            if !flocked { flock(fd, LOCK_UN) }
            close(fd)
        } else {
            flocked = false
        }
        if let owner = LockOwner.load(path) {
            return owner.isAlive || flocked ? .held(pid: owner.pid, program: owner.program) : .abandoned(pid: owner.pid, program: owner.program)
        }
        if flocked { return .held(pid: 0, program: "?") }
        guard let age = LockOwner.emptyFileAge(path), age > FileLock.emptyLockGrace else { return .held(pid: 0, program: "?") }
        return .abandonedEmpty
    }

    /// How old an empty lock file must be before it counts as abandoned.
    static let emptyLockGrace: Duration = .seconds(2)

    static let programName: String = {
        let name = (CommandLine.arguments.first ?? "swift") as NSString
        return name.lastPathComponent
    }()
}

/// The owner a lock file names: `"<pid> <program>"`, as every MSAL library writes it; this
/// library adds where the pid is valid, `@<boot id>/<pid namespace inode>`, after the
/// program (MSAL libraries read no further than the pid).
struct LockOwner {
    let pid: pid_t
    let program: String
    /// When the lock file was last written, in nanoseconds since the epoch.
    let writtenAt: Int64
    /// The boot and PID namespace the pid belongs to, when the writer recorded them.
    var namespace: String? = nil

    static func load(_ path: String) -> LockOwner? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        let parts = text.split(separator: " ", maxSplits: 1)
        guard let first = parts.first, let pid = pid_t(first.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        var program = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespacesAndNewlines) : "?"
        var namespace: String?
        if let last = program.split(separator: " ").last, last.hasPrefix("@"), last.contains("/") {
            namespace = String(last)
            program = String(program.dropLast(last.count)).trimmingCharacters(in: .whitespaces)
        }
        return LockOwner(pid: pid, program: program.isEmpty ? "?" : program,
                         writtenAt: modifiedAt(info), namespace: namespace)
    }

    /// How long ago an empty lock file was written, or `nil` if it is missing or not empty.
    static func emptyFileAge(_ path: String) -> Duration? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_size == 0 else { return nil }
        return age(since: modifiedAt(info))
    }

    /// A file's modification time, in nanoseconds since the epoch.
    static func modifiedAt(_ info: stat) -> Int64 {
        Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }

    /// How long ago `time` (nanoseconds since the epoch, by the real-time clock) was.
    static func age(since time: Int64) -> Duration {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return .nanoseconds(Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - time)
    }

    /// Whether the owner may still hold the lock: its process runs, is not a zombie, and
    /// started before the lock file was written (otherwise the pid was reused).
    var isAlive: Bool {
        if isOurs { return runsHere }
        // Written in another PID namespace, or by a library that does not say: a pid that
        // does not run here proves nothing until the lock is older than any peer's wait.
        return runsHere || age < LockOwner.foreignLockGrace
    }

    /// Whether the process the pid names here runs, is not a zombie, and started before the
    /// lock file was written (otherwise the pid was reused).
    var runsHere: Bool {
        if kill(pid, 0) != 0, errno == ESRCH { return false }
        guard let process = ProcessStatus(pid: pid) else { return true }  // cannot tell: assume alive
        if process.state == "Z" || process.state == "X" { return false }
        if let started = process.startedAt, started > writtenAt + 1_000_000_000 { return false }
        return true
    }

    /// Whether the lock file was written in this PID namespace on this boot of this
    /// machine, so its pid means what it means here.
    var isOurs: Bool { namespace != nil && namespace == LockOwner.currentNamespace }

    /// How long ago the lock file was written.
    var age: Duration { LockOwner.age(since: writtenAt) }

    /// How old a lock file from another (or an unknown) PID namespace must be before a pid
    /// that does not run here counts as dead: longer than any MSAL library waits for a
    /// lock, so a live holder in a container that shares the folder is never broken.
    static let foreignLockGrace: Duration = .seconds(60)

    /// This process's PID namespace and boot, as lock files record it after the program:
    /// `@<boot id>/<pid namespace inode>`. `nil` when /proc does not tell.
    static let currentNamespace: String? = {
        guard let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return nil }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/self/ns/pid", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let link = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)  // pid:[4026531836]
        let inode = link.filter(\.isNumber)
        guard !inode.isEmpty else { return nil }
        return "@\(boot.trimmingCharacters(in: .whitespacesAndNewlines))/\(inode)"
    }()
}

/// What `/proc/<pid>/stat` says about a process.
struct ProcessStatus {
    let state: Character
    /// The process start time, in nanoseconds since the epoch.
    let startedAt: Int64?

    init?(pid: pid_t) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let first = fields[0].first else { return nil }
        state = first
        // Field 22 of the file (index 19 after the command) is the start time in clock ticks
        // since boot.
        if let ticks = Int64(fields[19]), let boot = ProcessStatus.bootTime {
            let hertz = Int64(sysconf(Int32(_SC_CLK_TCK)))
            startedAt = (boot * hertz + ticks) * (1_000_000_000 / max(hertz, 1))
        } else {
            startedAt = nil
        }
    }

    static let bootTime: Int64? = {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Int64(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }()
}

/// One in-process lock per lock-file path, so threads and tasks queue here before the file
/// lock. An entry lives while someone uses it, so the table holds only the paths in use.
enum ProcessLocks {
    private struct Entry {
        let lock: PathLock
        var users: Int
    }

    private static let registry = Locked<[String: Entry]>([:])

    /// The lock of `path`, counted as used until ``checkIn(_:)``.
    static func checkOut(_ path: String) -> PathLock {
        registry.withLock { locks in
            if let entry = locks[path] {
                locks[path]?.users += 1
                return entry.lock
            }
            let created = PathLock()
            locks[path] = Entry(lock: created, users: 1)
            return created
        }
    }

    /// Gives back a lock of ``checkOut(_:)``; the entry goes when nobody uses it.
    static func checkIn(_ path: String) {
        registry.withLock { locks in
            guard let entry = locks[path] else { return }
            if entry.users <= 1 { locks[path] = nil } else { locks[path]?.users -= 1 }
        }
    }

    /// The number of paths in the table (for tests).
    static var count: Int { registry.withLock { $0.count } }
}

/// A lock that is held, not owned by a thread: a task may take it on one thread and give it
/// up on another after a suspension. Threads wait on a condition; tasks try and suspend.
final class PathLock: @unchecked Sendable {
    // @unchecked: `held` is only touched with `condition` locked.
    private let condition = NSCondition()
    private var held = false

    /// How many times the lock was given up: a waiter that sees it move knows the lock
    /// changes hands.
    var turns: Int {
        condition.lock()
        defer { condition.unlock() }
        return released
    }
    private var released = 0

    /// Takes the lock, waiting while other threads take turns: until `timeout` passes
    /// without it changing hands, or until `latest`. `false` when it did not come free.
    func lock(timeout: Duration, latest: ContinuousClock.Instant) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        var seen = released
        var deadline = min(ContinuousClock.now + timeout, latest)
        while held {
            if released != seen {
                seen = released
                deadline = min(ContinuousClock.now + timeout, latest)
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            _ = condition.wait(until: Date(timeIntervalSinceNow: left.timeInterval))
        }
        held = true
        return true
    }

    /// Takes the lock if it is free.
    func tryLock() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !held else { return false }
        held = true
        return true
    }

    /// Gives the lock up.
    func unlock() {
        condition.lock()
        held = false
        released &+= 1
        condition.signal()
        condition.unlock()
    }
}

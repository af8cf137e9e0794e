@testable import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

@Suite("FileLock")
struct FileLockTests {
    @Test("A task waits for the lock by suspending and holds it re-entrantly; threads and tasks exclude each other; the in-process table keeps no path nobody uses")
    func suspendingAndBounded() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let shared = folder.appendingPathComponent("shared.lockfile").path
            let counter = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        let lock = FileLock(path: shared, timeout: .seconds(20))
                        let body: @Sendable () throws -> Void = {
                            #expect(counter.increment() == 1, "one holder at a time")
                            Thread.sleep(forTimeInterval: 0.001)
                            counter.decrement()
                        }
                        if index.isMultiple(of: 2) {
                            try await lock.withLockSuspending {
                                try lock.withLock(body)  // the task holds it: runs at once
                            }
                        } else {
                            try await Task.detached { try lock.withLock(body) }.value
                        }
                    }
                }
                try await group.waitForAll()
            }
            for index in 0..<50 {
                let lock = FileLock(path: folder.appendingPathComponent("c\(index).lockfile").path)
                if index.isMultiple(of: 2) { try lock.withLock {} } else { try await lock.withLockSuspending {} }
            }
            #expect(ProcessLocks.count == 0, "\(ProcessLocks.count) paths left in the in-process table")
        }
    }

    @Test("The lock file exists while held, names this process, and is gone afterwards")
    func holdAndRelease() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json.lockfile").path
            let lock = FileLock(path: path)
            try lock.withLock {
                let content = try String(contentsOfFile: path, encoding: .utf8)
                #expect(content.hasPrefix("\(getpid()) "))
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("A lock file left by a dead process of this PID namespace is broken at once; one that does not say where it was written (or says another namespace) only once it is 60 s old")
    func deadOwner() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.lockfile").path
            let dead = try BackgroundProcess("/bin/true", [])
            let pid = dead.pid
            dead.wait()
            // Written by this library in this namespace: the pid's death is proof.
            try FileLock(path: path).withLock {
                let written = try String(contentsOfFile: path, encoding: .utf8)
                try Data(written.replacingOccurrences(of: "\(getpid()) ", with: "\(pid) ").utf8).write(to: URL(fileURLWithPath: path + ".ours"))
            }
            try FileManager.default.moveItem(atPath: path + ".ours", toPath: path)
            var started = Date()
            try FileLock(path: path, timeout: .seconds(5)).withLock {}
            #expect(Date().timeIntervalSince(started) < 1)

            // msal-extensions' form, or another namespace's: not proof while it is young.
            for content in ["\(pid) python", "\(pid) tokencache @00000000-0000-0000-0000-000000000000/4026531999"] {
                try Data(content.utf8).write(to: URL(fileURLWithPath: path))
                #expect { try FileLock(path: path, timeout: .milliseconds(300)).withLock {} } throws: { error in
                    (error as? CacheStorageError)?.description.contains("another one") == true
                }
                #expect(FileLock(path: path).status() == .held(pid: pid, program: content.hasSuffix("python") ? "python" : "tokencache"))
                var old = [timespec(tv_sec: time(nil) - 61, tv_nsec: 0), timespec(tv_sec: time(nil) - 61, tv_nsec: 0)]
                #expect(utimensat(AT_FDCWD, path, &old, 0) == 0)
                started = Date()
                try FileLock(path: path, timeout: .seconds(5)).withLock {}
                #expect(Date().timeIntervalSince(started) < 1)
            }
        }
    }

    @Test("A lock file naming a pid that now belongs to a younger process is broken (pid reuse)")
    func reusedPid() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.lockfile").path
            let younger = try BackgroundProcess("/bin/sleep", ["30"])
            defer { younger.send(SIGKILL); younger.wait() }
            try Data("\(younger.pid) python".utf8).write(to: URL(fileURLWithPath: path))
            // The lock file was written an hour before that process started.
            var times = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), timespec(tv_sec: time(nil) - 3600, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
            let started = Date()
            try FileLock(path: path, timeout: .seconds(5)).withLock {}
            #expect(Date().timeIntervalSince(started) < 1)
        }
    }

    @Test("A claim whose owner line cannot be written (the file size limit, as a full disk would) fails, and gives the lock file up: the next claim in the same process succeeds at once")
    func failedOwnerWrite() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.lockfile").path
            let lock = FileLock(path: path, timeout: .seconds(3))
            signal(SIGXFSZ, SIG_IGN)
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
            var none = limit
            none.rlim_cur = 0
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &none)
            #expect(throws: (any Error).self) { try lock.withLock {} }
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
            #expect(!FileManager.default.fileExists(atPath: path), "the failed claim removed its lock file")
            let started = Date()
            try lock.withLock {}
            #expect(Date().timeIntervalSince(started) < 1)
        }
    }

    @Test("A live owner is never broken: the wait ends in a lockTimeout naming it")
    func liveOwner() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.lockfile").path
            let owner = try BackgroundProcess("/bin/sleep", ["30"])
            defer { owner.send(SIGKILL); owner.wait() }
            try Data("\(owner.pid) python".utf8).write(to: URL(fileURLWithPath: path))
            #expect { try FileLock(path: path, timeout: .milliseconds(300)).withLock {} } throws: { error in
                guard let error = error as? CacheStorageError else { return false }
                return error.code == .lockTimeout && error.description.contains("\(owner.pid)")
            }
            #expect(FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("A waiter keeps waiting while the lock changes hands (many quick writers), past its timeout; one that every other overtakes stops at the busy limit with a message that says so")
    func turnsTaken() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.lockfile").path
            let owner = try BackgroundProcess("/bin/sleep", ["30"])
            defer { owner.send(SIGKILL); owner.wait() }
            /// Other processes' holds: a new lock file (a new inode) every 100 ms for `seconds`,
            /// then none.
            func holders(for seconds: Double) -> Thread {
                let thread = Thread {
                    let end = Date().addingTimeInterval(seconds)
                    while Date() < end {
                        // Renamed over the last holder's file, so the path is never free
                        // between two holders (the waiter must not slip in there).
                        try? Data("\(owner.pid) python".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                    unlink(path)
                }
                thread.start()
                return thread
            }
            let lock = FileLock(path: path, timeout: .seconds(1))
            _ = holders(for: 2.5)
            Thread.sleep(forTimeInterval: 0.05)
            var started = Date()
            try lock.withLock {}
            #expect(Date().timeIntervalSince(started) > 2, "it waited for the writers, beyond its 1 s timeout")

            _ = holders(for: 7)
            Thread.sleep(forTimeInterval: 0.05)
            started = Date()
            #expect { try lock.withLock {} } throws: { error in
                guard let error = error as? CacheStorageError else { return false }
                return error.code == .lockTimeout && error.description.contains("changed hands") && error.description.contains("\(owner.pid)")
            }
            let waited = Date().timeIntervalSince(started)
            #expect(waited >= 3.8 && waited < 6.5, "the busy limit is 4 × 1 s; waited \(waited) s")
            Thread.sleep(forTimeInterval: 3.5)
        }
    }

    // A timing test: its holds must add up to more than the timeout and less than the busy
    // limit (4 × timeout), which a slowdown past 3× breaks. So its name keeps it out of the
    // thread-sanitizer step (whose slowdown under parallel load passed 20× once); the race
    // checks of the same lock run there as `threadsTakeTurns`.
    @Test("Threads of one process taking turns keep each other waiting past the timeout, not failing: 8 holds of 150 ms (1.2 s in all) under a 1 s timeout all succeed")
    func turnsPastTimeout() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let lock = FileLock(path: folder.appendingPathComponent("c.lockfile").path, timeout: .seconds(1))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        if index.isMultiple(of: 2) {
                            try await Task.detached { try lock.withLock { Thread.sleep(forTimeInterval: 0.15) } }.value
                        } else {
                            try await lock.withLockSuspending { Thread.sleep(forTimeInterval: 0.15) }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("A fresh empty lock file (its owner is still writing it) is waited for; an old one is abandoned")
    func emptyLockFiles() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.lockfile").path
            try Data().write(to: URL(fileURLWithPath: path))
            #expect(throws: CacheStorageError.self) { try FileLock(path: path, timeout: .milliseconds(200)).withLock {} }
            #expect(FileManager.default.fileExists(atPath: path))
            var times = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
            let started = Date()
            try FileLock(path: path, timeout: .seconds(5)).withLock {}
            #expect(Date().timeIntervalSince(started) < 1)
        }
    }

    @Test("Threads of one process take turns: critical sections never overlap")
    func threadsTakeTurns() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let lock = FileLock(path: folder.appendingPathComponent("c.lockfile").path, timeout: .seconds(30))
            let inside = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        for _ in 0..<10 {
                            try lock.withLock {
                                #expect(inside.increment() == 1)
                                usleep(200)
                                inside.decrement()
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}

final class Counter: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() -> Int { lock.withLock { count += 1; return count } }
    func decrement() { lock.withLock { count -= 1 } }
}

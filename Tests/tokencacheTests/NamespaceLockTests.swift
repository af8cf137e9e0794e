import Foundation
import Testing
import TokenCacheTesting

/// A devcontainer and its host share `~/.azure`: a lock holder may run in another PID
/// namespace, where its pid means nothing here. Its lock must not be broken as stale.
@Suite("Lock holders in another PID namespace", .enabled(if: getuid() == 0 || PythonPeer.isCI, "unshare --pid needs root"))
struct NamespaceLockTests {
    /// A pid that runs in no process of this namespace, for the holder to get in its own.
    static func unusedPID() throws -> Int32 {
        for candidate in stride(from: Int32(30_001), to: 2_000, by: -997) where kill(candidate, 0) != 0 && errno == ESRCH {
            return candidate
        }
        throw PeerError(message: "no unused pid found")
    }

    /// Runs `command` as the first child of a new PID namespace, with the pid `pid` there.
    static func inNewNamespace(_ command: String, pid: Int32) throws -> BackgroundProcess {
        try BackgroundProcess("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", "sh", "-c",
                                                   "echo \(pid - 1) > /proc/sys/kernel/ns_last_pid && \(command); status=$?; exit $status"])
    }

    @Test("A holder in another PID namespace, through msal-extensions (no portalocker) and through with-lock, keeps its lock for 8 s: no Swift writer enters before it releases")
    func foreignHolder() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let python = "\(PythonPeer.python) \(PythonPeer.script("persisted_peer.py")) hold-lock \(path) 8"
            let ours = "\(CLIProcess.executable) with-lock --store file:\(path) -- sh -c 'echo locked; sleep 8'"
            for holderCommand in [python, ours] {
                let pid = try Self.unusedPID()
                let holder = try Self.inNewNamespace(holderCommand, pid: pid)
                #expect(holder.waitForOutput("locked", timeout: 20), "\(holder.currentErrors())")
                let lockfile = try String(contentsOfFile: path + ".lockfile", encoding: .utf8)
                #expect(lockfile.hasPrefix("\(pid) "), "the holder has pid \(pid) in its namespace: \(lockfile)")
                let started = Date()
                let writer = try CLIProcess.run(["with-lock", "--store", "file:" + path, "--timeout", "20", "--", "true"])
                #expect(writer.status == 0, "\(writer.stderr)")
                #expect(Date().timeIntervalSince(started) > 6.5, "the writer entered while the holder held the lock")
                #expect(holder.wait().status == 0)
            }
        }
    }
}

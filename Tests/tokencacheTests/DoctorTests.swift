import Foundation
import Testing
import TokenCacheTesting

/// `tokencache doctor --store` on stores that carry each problem it knows: a cache others
/// can read in a folder others can write, a lock file left by a killed writer, an empty one
/// left by a writer killed sooner, entries that break MSAL's rules, a file that is no cache,
/// a wrong key, a damaged SQLite database. Its store report is compared with golden files in
/// `Tests/Fixtures/doctor` (run with `TOKENCACHE_UPDATE_GOLDEN=1` to rewrite them after a
/// deliberate change).
@Suite("doctor")
struct DoctorTests {
    static let fixtures = PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures")

    /// One store set up with a problem, and what doctor must say about it.
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let status: Int32
        let prepare: @Sendable (URL) throws -> String
        var description: String { name }
    }

    static func copy(_ fixture: String, to folder: URL, as name: String = "c.json", mode: mode_t = 0o600) throws -> String {
        let path = folder.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent(fixture).path, toPath: path)
        chmod(path, mode)
        return path
    }

    /// The pid of a process that has exited.
    static func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    static let cases: [Case] = [
        Case(name: "healthy", status: 0) { folder in
            "file:" + (try copy("doctor/healthy.json", to: folder))
        },
        Case(name: "exposed", status: 1) { folder in
            let path = try copy("doctor/healthy.json", to: folder, mode: 0o644)
            chmod(folder.path, 0o777)
            // Written long ago by a process that is gone: abandoned, whatever namespace it ran in.
            try Data("\(try deadPID()) az\n".utf8).write(to: URL(fileURLWithPath: path + ".lockfile"))
            var old = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
            utimensat(AT_FDCWD, path + ".lockfile", &old, 0)
            return "file:" + path
        },
        Case(name: "entries", status: 1) { folder in
            let path = try copy("inspect/problems.json", to: folder)
            // Process 1 always runs: the lock is held, which is no problem.
            try Data("1 az\n".utf8).write(to: URL(fileURLWithPath: path + ".lockfile"))
            return "file:" + path
        },
        Case(name: "not-a-cache", status: 65) { folder in
            let path = try copy("malformed/json-truncated.json", to: folder)
            let lock = path + ".lockfile"
            FileManager.default.createFile(atPath: lock, contents: nil)
            var old = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
            utimensat(AT_FDCWD, lock, &old, 0)
            return "file:" + path
        },
        Case(name: "wrong-key", status: 77) { folder in
            let path = try copy("encrypted/key-file.bin", to: folder, as: "c.bin")
            let key = folder.appendingPathComponent("other.key").path
            FileManager.default.createFile(atPath: key, contents: Data(repeating: 7, count: 32), attributes: [.posixPermissions: 0o600])
            return "encrypted:\(path)?key-file=\(key)"
        },
        Case(name: "damaged-sqlite", status: 65) { folder in
            let json = try copy("doctor/healthy.json", to: folder)
            let path = folder.appendingPathComponent("c.db").path
            let copied = try CLIProcess.run(["copy", "--from", "file:" + json, "--to", "sqlite:" + path])
            guard copied.status == 0 else { throw PeerError(message: copied.stderr) }
            // Scramble the header of an index page (the database's pages are 16 KiB).
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            try handle.seek(toOffset: 16384 * 8 + 8)
            handle.write(Data(repeating: 0xFF, count: 16))
            try handle.close()
            return "sqlite:" + path
        },
    ]

    @Test("doctor --store names each problem with the command that fixes it, and exits with its documented status", arguments: cases)
    func storeReport(_ testCase: Case) throws {
        try withTemporaryDirectory { folder in
            chmod(folder.path, 0o700)
            let spec = try testCase.prepare(folder)
            let result = try CLIProcess.run(["doctor", "--store", spec])
            #expect(result.status == testCase.status, "\(result.stdout)\(result.stderr)")
            let report = result.stdout.components(separatedBy: "This machine\n")[0]
            let normalized = report.replacingOccurrences(of: folder.path, with: "<dir>")
                .replacingOccurrences(of: #"process \d+ \(az\), which is no longer"#, with: "process <pid> (az), which is no longer", options: .regularExpression)
            let golden = Self.fixtures.appendingPathComponent("doctor/\(testCase.name).txt")
            if ProcessInfo.processInfo.environment["TOKENCACHE_UPDATE_GOLDEN"] != nil {
                try Data(normalized.utf8).write(to: golden)
            }
            #expect(normalized == (try String(contentsOf: golden, encoding: .utf8)))
            #expect(result.stdout.contains("This machine\n"), "the machine's checks follow")
            let problems = normalized.components(separatedBy: "  problem: ").count - 1
            let fixes = normalized.components(separatedBy: "    fix: ").count - 1
            #expect(problems == fixes, "every problem comes with a fix")
            #expect(!["rt-secret", "at-secret", "id-secret"].contains { result.stdout.contains($0) }, "no secret is printed")
        }
    }

    @Test("Without a session bus, doctor says the keyring is unavailable, why, and the command that starts one (exit 69)")
    func keyringUnreachable() throws {
        let result = try CLIProcess.runProcess(CLIProcess.executable, ["doctor"], unsetting: ["DBUS_SESSION_BUS_ADDRESS", "DISPLAY"])
        #expect(result.status == 69)
        #expect(result.stdout.contains("  keyring: unavailable\n"))
        #expect(result.stdout.contains("  libsecret: ok"))
        #expect(result.stdout.contains("problem: there is no D-Bus session bus"))
        #expect(result.stdout.contains("fix: run inside a desktop session, or start one with a keyring: dbus-run-session"))
        // A file store does not need the keyring: checking one exits 0 all the same.
        try withTemporaryDirectory { folder in
            chmod(folder.path, 0o700)
            let path = try Self.copy("doctor/healthy.json", to: folder)
            let store = try CLIProcess.runProcess(CLIProcess.executable, ["doctor", "--store", "file:" + path], unsetting: ["DBUS_SESSION_BUS_ADDRESS", "DISPLAY"])
            #expect(store.status == 0, "\(store.stdout)")
        }
    }
}

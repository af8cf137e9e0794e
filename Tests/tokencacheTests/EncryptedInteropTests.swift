import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// The encrypted file shared with MSAL Python through python/tokencache_encrypted.py and
/// msal-extensions' PersistedTokenCache.
@Suite("Encrypted file shared with MSAL Python", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
struct EncryptedInteropTests {
    static let passphrase = "a shared test passphrase"
    static let environment = ["TOKENCACHE_TEST_PASSPHRASE": passphrase]

    static func store(_ path: String) -> String { "encrypted:\(path)?passphrase-env=TOKENCACHE_TEST_PASSPHRASE" }

    static func run(_ arguments: [String]) throws -> CLIProcess.Result {
        try CLIProcess.runProcess(CLIProcess.executable, arguments, environment: environment)
    }

    static func pythonAccounts(_ path: String) throws -> Set<String> {
        let output = try PythonPeer.run([PythonPeer.script("encrypted_peer.py"), "accounts", path], environment: environment)
        guard case .array(let ids) = try JSONValue(parsing: Data(output.utf8)) else { return [] }
        return Set(ids.compactMap(\.stringValue))
    }

    @Test("The committed envelope vectors decrypt with the independent Python implementation")
    func vectorsDecryptInPython() throws {
        let folder = PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures/encrypted")
        for (name, kind) in [("passphrase.bin", "passphrase"), ("key-file.bin", "key")] {
            let plain = try PythonPeer.run([PythonPeer.script("encrypted_peer.py"), "decrypt", folder.appendingPathComponent(name).path, kind])
            #expect(plain == "{\n    \"AccessToken\": {}\n}")
        }
    }

    @Test("MSAL Python writes, we read; we write, MSAL Python reads; the Python side derives the key before any lock and refuses a huge scrypt; wrong passphrase 77, tampering 65")
    func bothWays() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.bin").path
            try PythonPeer.run([PythonPeer.script("encrypted_peer.py"), "write", path, "a", "2", "1700000000"], environment: EncryptedInteropTests.environment)
            let listed = try EncryptedInteropTests.run(["accounts", "--store", EncryptedInteropTests.store(path), "--json"])
            #expect(listed.status == 0, "\(listed.stderr)")
            #expect(listed.stdout.contains("epa-0.tenant") && listed.stdout.contains("epa-1.tenant"))

            let response = folder.appendingPathComponent("r.json")
            try Data(PersistenceInteropTests.signIn("swift-user").utf8).write(to: response)
            let added = try EncryptedInteropTests.run(PersistenceInteropTests.addArguments(store: EncryptedInteropTests.store(path), response: response.path))
            #expect(added.status == 0, "\(added.stderr)")
            #expect(try EncryptedInteropTests.pythonAccounts(path) == ["epa-0.tenant", "epa-1.tenant", "swift-user.tenant"])
            let warm = try PythonPeer.run([PythonPeer.script("encrypted_peer.py"), "warmcheck", path], environment: EncryptedInteropTests.environment)
            #expect(warm.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(warm)")

            let wrong = try CLIProcess.runProcess(CLIProcess.executable, ["accounts", "--store", EncryptedInteropTests.store(path)], environment: ["TOKENCACHE_TEST_PASSPHRASE": "not it"])
            #expect(wrong.status == 77)
            #expect(!wrong.stderr.contains("not it") && !wrong.stderr.contains(EncryptedInteropTests.passphrase))
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[bytes.count / 2] ^= 0x80
            try bytes.write(to: URL(fileURLWithPath: path))
            let tampered = try EncryptedInteropTests.run(["accounts", "--store", EncryptedInteropTests.store(path)])
            #expect(tampered.status == 65)
        }
    }

    /// The SPEC and the peer's environment for a file keyed by `key`: `passphrase`, or
    /// `kernel` (a data key in the kernel keyring).
    static func keyed(_ key: String, _ path: String) -> (store: String, environment: [String: String]) {
        key == "kernel" ? ("encrypted:\(path)?key=kernel", ["TOKENCACHE_TEST_KEY": "kernel"]) : (store(path), environment)
    }

    @Test("A kernel-keyed file: MSAL Python writes, we read; we write, MSAL Python reads")
    func kernelBothWays() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.bin").path
            defer { _ = try? KernelKeys.unlink(path) }
            let (store, environment) = EncryptedInteropTests.keyed("kernel", path)
            try PythonPeer.run([PythonPeer.script("encrypted_peer.py"), "write", path, "k", "2", "1700000000"], environment: environment)
            #expect(try KernelKeyringTests.keySource(path) == 4)
            let listed = try CLIProcess.runProcess(CLIProcess.executable, ["accounts", "--store", store, "--json"])
            #expect(listed.status == 0, "\(listed.stderr)")
            #expect(listed.stdout.contains("epk-0.tenant") && listed.stdout.contains("epk-1.tenant"))
            let response = folder.appendingPathComponent("r.json")
            try Data(PersistenceInteropTests.signIn("swift-kernel").utf8).write(to: response)
            let added = try CLIProcess.runProcess(CLIProcess.executable, PersistenceInteropTests.addArguments(store: store, response: response.path))
            #expect(added.status == 0, "\(added.stderr)")
            let output = try PythonPeer.run([PythonPeer.script("encrypted_peer.py"), "accounts", path], environment: environment)
            for user in ["epk-0.tenant", "epk-1.tenant", "swift-kernel.tenant"] { #expect(output.contains(user), "\(output)") }
        }
    }

    @Test("10 Swift and 10 MSAL Python writers on one encrypted file lose nothing", arguments: ["passphrase", "kernel"])
    func mixedWriters(key: String) throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.bin").path
            defer { if key == "kernel" { _ = try? KernelKeys.unlink(path) } }
            let (store, environment) = EncryptedInteropTests.keyed(key, path)
            var swiftWriters: [BackgroundProcess] = []
            for writer in 0..<10 {
                var script = ""
                for index in 0..<2 {
                    let response = folder.appendingPathComponent("r\(writer)-\(index).json")
                    try Data(PersistenceInteropTests.signIn("es\(writer)-\(index)").utf8).write(to: response)
                    let arguments = PersistenceInteropTests.addArguments(store: store, response: response.path).map { "'\($0)'" }.joined(separator: " ")
                    script += "'\(CLIProcess.executable)' \(arguments) || exit 1\n"
                }
                swiftWriters.append(try BackgroundProcess("/bin/sh", ["-c", script], environment: environment))
            }
            let pythonWriters = try (0..<10).map { writer in
                try BackgroundProcess(PythonPeer.python, [PythonPeer.script("encrypted_peer.py"), "write", path, String(writer), "2", "1700000000"], environment: environment)
            }
            for failure in BackgroundProcess.failures(swiftWriters + pythonWriters) {
                Issue.record("a writer failed: \(failure.stderr.suffix(400))")
            }
            let expected = PersistenceInteropTests.writtenAccounts(prefixes: ["es", "ep"], writers: 10, perWriter: 2)
            let output = try PythonPeer.run([PythonPeer.script("encrypted_peer.py"), "accounts", path], environment: environment)
            guard case .array(let ids) = try JSONValue(parsing: Data(output.utf8)) else { throw PeerError(message: "not a list: \(output.prefix(200))") }
            let found = Set(ids.compactMap(\.stringValue))
            #expect(expected.subtracting(found).isEmpty, "lost: \(expected.subtracting(found).sorted())")
        }
    }
}

@testable import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

@Suite("EncryptedFileStorage")
struct EncryptedFileStorageTests {
    static let passphraseVariable = "TOKENCACHE_UNIT_PASSPHRASE"
    static let vectors = PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures/encrypted")
    static let plaintext = Data("{\n    \"AccessToken\": {}\n}".utf8)
    static let fixedSalt: [UInt8] = Array(0..<16)
    static let fixedNonce: [UInt8] = Array(100..<112)

    init() {
        setenv(EncryptedFileStorageTests.passphraseVariable, "correct horse battery staple", 1)
    }

    static func keyFile(in folder: URL) throws -> String {
        let path = folder.appendingPathComponent("key").path
        try Data((0..<32).map { UInt8($0) }).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        return path
    }

    @Test("Both key sources pass the storage conformance checks")
    func conformance() throws {
        try withTemporaryDirectory { folder in
            #expect(StorageConformance.check(EncryptedFileStorage(path: folder.appendingPathComponent("p.bin").path, keySource: .passphraseEnvironment(EncryptedFileStorageTests.passphraseVariable))) == [])
            let key = try EncryptedFileStorageTests.keyFile(in: folder)
            #expect(StorageConformance.check(EncryptedFileStorage(path: folder.appendingPathComponent("k.bin").path, keySource: .keyFile(key))) == [])
        }
    }

    @Test("Each write uses a fresh nonce, and the plaintext never reaches the disk")
    func freshNonces() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.bin").path
            let storage = EncryptedFileStorage(path: path, keySource: .passphraseEnvironment(EncryptedFileStorageTests.passphraseVariable))
            let secret = Data("{\"AccessToken\": {\"k\": {\"secret\": \"TOP-SECRET-TOKEN\"}}}".utf8)
            try storage.save(secret)
            let first = try Data(contentsOf: URL(fileURLWithPath: path))
            try storage.save(secret)
            let second = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(first != second)
            #expect(first.range(of: Data("TOP-SECRET".utf8)) == nil)
            #expect(try storage.load() == secret)
        }
    }

    @Test("Changing any single byte of a small file is rejected: wrong key (77) or damaged (65), never read")
    func everyByteIsProtected() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.bin").path
            try EncryptedFileStorage(path: path, keySource: .passphraseEnvironment(EncryptedFileStorageTests.passphraseVariable)).save(EncryptedFileStorageTests.plaintext)
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            let reader = EncryptedFileStorage(path: path, keySource: .passphraseEnvironment(EncryptedFileStorageTests.passphraseVariable))
            for index in 0..<original.count {
                var changed = original
                changed[index] ^= 0x01
                try changed.write(to: URL(fileURLWithPath: path))
                do {
                    _ = try reader.load()
                    Issue.record("byte \(index) changed, yet the file was accepted")
                } catch let error as CacheStorageError {
                    #expect([.damaged, .wrongKey].contains(error.code), "byte \(index): \(error)")
                }
            }
            // Truncations are rejected too.
            for length in [0, 3, 4, 10, 20, original.count - 1] {
                try original.prefix(length).write(to: URL(fileURLWithPath: path))
                #expect(throws: CacheStorageError.self) { try reader.load() }
            }
        }
    }

    @Test("A wrong passphrase or key is wrongKey, distinct from damage; key files must be 0600")
    func wrongKeys() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("c.bin").path
            try EncryptedFileStorage(path: path, keySource: .passphraseEnvironment(EncryptedFileStorageTests.passphraseVariable)).save(EncryptedFileStorageTests.plaintext)
            setenv("TOKENCACHE_UNIT_WRONG", "Tr0ub4dor&3", 1)
            #expect { try EncryptedFileStorage(path: path, keySource: .passphraseEnvironment("TOKENCACHE_UNIT_WRONG")).load() } throws: { ($0 as? CacheStorageError)?.code == .wrongKey }
            let key = try EncryptedFileStorageTests.keyFile(in: folder)
            #expect { try EncryptedFileStorage(path: path, keySource: .keyFile(key)).load() } throws: { ($0 as? CacheStorageError)?.code == .wrongKey }
            #expect { try EncryptedFileStorage(path: path, keySource: .passphraseEnvironment("TOKENCACHE_UNIT_UNSET_VARIABLE")).load() } throws: { ($0 as? CacheStorageError)?.code == .keyUnavailable }
            let loose = try EncryptedFileStorageTests.keyFile(in: folder)
            chmod(loose, 0o644)
            #expect { try EncryptedFileStorage(path: folder.appendingPathComponent("k.bin").path, keySource: .keyFile(loose)).save(EncryptedFileStorageTests.plaintext) } throws: { ($0 as? CacheStorageError)?.code == .insecurePath }
            // No error message carries the passphrase.
            do { _ = try EncryptedFileStorage(path: path, keySource: .passphraseEnvironment("TOKENCACHE_UNIT_WRONG")).load() } catch {
                #expect(!"\(error)".contains("Tr0ub4dor"))
            }
        }
    }

    @Test("Golden envelope vectors: fixed inputs give the committed bytes, which decrypt to the plaintext")
    func goldenVectors() throws {
        try withTemporaryDirectory { folder in
            let cases: [(String, EncryptionKeySource)] = [
                ("passphrase.bin", .passphraseEnvironment(EncryptedFileStorageTests.passphraseVariable)),
                ("key-file.bin", .keyFile(try EncryptedFileStorageTests.keyFile(in: folder))),
            ]
            for (name, source) in cases {
                let path = folder.appendingPathComponent(name).path
                let storage = EncryptedFileStorage(path: path, keySource: source)
                try storage.save(EncryptedFileStorageTests.plaintext, nonce: EncryptedFileStorageTests.fixedNonce, salt: name == "passphrase.bin" ? EncryptedFileStorageTests.fixedSalt : [])
                if ProcessInfo.processInfo.environment["TOKENCACHE_WRITE_VECTORS"] != nil {
                    try FileManager.default.createDirectory(at: EncryptedFileStorageTests.vectors, withIntermediateDirectories: true)
                    try Data(contentsOf: URL(fileURLWithPath: path)).write(to: EncryptedFileStorageTests.vectors.appendingPathComponent(name))
                }
                let golden = try Data(contentsOf: EncryptedFileStorageTests.vectors.appendingPathComponent(name))
                #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == golden, "\(name) differs from the committed vector")
                try golden.write(to: URL(fileURLWithPath: path))
                #expect(try EncryptedFileStorage(path: path, keySource: source).load() == EncryptedFileStorageTests.plaintext)
            }
        }
    }

    /// An encrypted store that, right after a writer's first lock-free read of the file, lets
    /// another process's write land (a new file, so a new salt), and counts the loads that
    /// derived a key while the lock file existed.
    final class RacedStorage: CacheStorage, @unchecked Sendable {
        // @unchecked: the fields are only touched under `guardLock`.
        let inner: EncryptedFileStorage
        let lockPath: String
        let otherWrite: () throws -> Void
        private let guardLock = NSLock()
        private var raced = false
        private var _lockedLoads = 0
        private var _loads = 0

        init(_ inner: EncryptedFileStorage, otherWrite: @escaping () throws -> Void) {
            self.inner = inner
            lockPath = inner.path + ".lockfile"
            self.otherWrite = otherWrite
        }

        var loads: (all: Int, locked: Int) { guardLock.withLock { (_loads, _lockedLoads) } }
        var location: String { inner.location }
        var isEncrypted: Bool { true }
        var answersLocally: Bool { true }
        func load() throws -> Data? {
            let locked = FileManager.default.fileExists(atPath: lockPath) && inner.loadWouldDeriveKey()
            let first = guardLock.withLock { () -> Bool in
                _loads += 1
                if locked { _lockedLoads += 1 }
                defer { raced = true }
                return !raced
            }
            let data = try inner.load()
            if first { try otherWrite() }
            return data
        }
        func save(_ data: Data) throws { try inner.save(data) }
        func changeToken() throws -> StorageChangeToken? { try inner.changeToken() }
        func remove() throws { try inner.remove() }
        func moveAside(reason: String) throws -> String { try inner.moveAside(reason: reason) }
        func loadWouldDeriveKey() -> Bool { inner.loadWouldDeriveKey() }
    }

    @Test("A writer never stretches a passphrase while it holds the lock: a file created with a new salt after its first look is read without the lock, then written under it", arguments: [false, true])
    func slowKeyOutsideLock(suspending: Bool) async throws {
        try await withTemporaryDirectoryAsync { folder in
            let path = folder.appendingPathComponent("c.bin").path
            let source = EncryptionKeySource.passphraseEnvironment(EncryptedFileStorageTests.passphraseVariable)
            let other = PersistentTokenCache(storage: EncryptedFileStorage(path: path, keySource: source), lock: FileLock(forCacheAt: path))
            let storage = RacedStorage(EncryptedFileStorage(path: path, keySource: source)) {
                _ = try other.add(response: PersistentTokenCacheTests.response("other"), context: PersistentTokenCacheTests.context())
            }
            let cache = PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: path))
            #expect(!storage.inner.loadWouldDeriveKey(), "no file yet")
            if suspending {
                try await cache.perform(.write) {
                    _ = try cache.add(response: PersistentTokenCacheTests.response("mine"), context: PersistentTokenCacheTests.context())
                }
            } else {
                _ = try cache.add(response: PersistentTokenCacheTests.response("mine"), context: PersistentTokenCacheTests.context())
            }
            #expect(storage.loads.all >= 1)
            #expect(storage.loads.locked == 0, "\(storage.loads.locked) keys were derived inside the lock")
            #expect(!storage.inner.loadWouldDeriveKey(), "the key of the file as written is at hand")
            let users = try EncryptedFileStorage(path: path, keySource: source).load().map { String(decoding: $0, as: UTF8.self) } ?? ""
            #expect(users.contains("at-other") && users.contains("at-mine"))
        }
    }
}

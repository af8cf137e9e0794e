@testable import CacheBackends
import Foundation
import Synchronization
import Testing
import TokenCache
import TokenCacheTesting

/// The kernel keyring's data keys inside one process: real keys in this user's keyring.
@Suite("Kernel keyring data keys")
struct KernelDataKeysTests {
    @Test("Sixteen threads making one cache's key at once all get the same key, the one in the keyring")
    func threadsAgree() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.bin").path
            defer { _ = try? KernelKeys.unlink(path) }
            let digests = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 16) { _ in
                let digest = (try? KernelDataKeys(location: path).dataKey(creating: true)).map { key in
                    key.withBytes { SHA256.hash([$0]).map { String(format: "%02x", $0) }.joined() }
                } ?? "failed"
                digests.withLock { $0.append(digest) }
            }
            let stored = try KernelDataKeys(location: path).dataKey(creating: false).withBytes { SHA256.hash([$0]).map { String(format: "%02x", $0) }.joined() }
            #expect(Set(digests.withLock { $0 }) == [stored])
        }
    }

    @Test("A writer that holds the key puts it back when the keyring lost it, and the file stays readable")
    func writerRestoresTheKey() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.bin").path
            defer { _ = try? KernelKeys.unlink(path) }
            let storage = EncryptedFileStorage(path: path, keySource: .kernelKeyring)
            try storage.save(Data("{}".utf8))
            #expect(try KernelKeys.unlink(path))
            try storage.save(Data(#"{"AccessToken": {}}"#.utf8))
            let reader = EncryptedFileStorage(path: path, keySource: .kernelKeyring)
            #expect(try reader.load() == Data(#"{"AccessToken": {}}"#.utf8))
        }
    }

    @Test("A SQLite store keyed in the kernel keyring puts its key back on its next write; a new instance reads it")
    func databaseRestoresTheKey() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.db").path
            defer { _ = try? KernelKeys.unlink(path) }
            let store = SQLiteTokenCache(path: path, keySource: .kernelKeyring)
            let (ann, annContext) = TokenStoreConformance.signIn("ann")
            try store.add(response: ann, context: annContext)
            #expect(try KernelKeys.unlink(path))
            let (bob, bobContext) = TokenStoreConformance.signIn("bob")
            try store.add(response: bob, context: bobContext)
            let reader = SQLiteTokenCache(path: path, keySource: .kernelKeyring)
            #expect(try reader.lookupAccessToken(TokenStoreConformance.query("ann")).token?.secret == "at-ann")
        }
    }

    @Test("Paths are named as Python's os.path.normpath names them")
    func normalizedNames() {
        #expect(KernelDataKeys.normalized("/a/./b//c/../d") == "/a/b/d")
        #expect(KernelDataKeys.normalized("/../x") == "/x")
        #expect(KernelDataKeys.normalized("//x/y") == "//x/y")
        #expect(KernelDataKeys.normalized("///x") == "/x")
        #expect(KernelDataKeys.description(for: "postgres://u@h:5432/db") == "tokencache:data-key:postgres://u@h:5432/db")
    }
}

import CacheBackends
import Foundation
import Testing
@testable import TokenCache
import TokenCacheTesting

/// A store that counts loads and can be told to fail, to observe and inject faults around
/// the real file store.
final class InstrumentedStorage: CacheStorage, @unchecked Sendable {
    // @unchecked: the counters and switches are only touched under `lock`.
    let inner: FileStorage
    private let lock = NSLock()
    private var _loads = 0
    private var _tornLoads = 0
    private var _failSaves = false

    private var holdNextLoad = false
    private var releaseOnNextSave = false
    /// Signalled when a held load has read the file.
    let loaded = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    /// Signal it when what a held load was for is done: the save it waits for goes on.
    let readerDone = DispatchSemaphore(value: 0)

    init(path: String) { inner = FileStorage(path: path) }

    /// Holds the next load after it read the file until the next save begins, and holds
    /// that save until ``readerDone`` is signalled: a lock-free reload of another thread
    /// then ends inside a write.
    func holdLoadThenReleaseOnSave() { lock.withLock { holdNextLoad = true; releaseOnNextSave = true } }

    var loads: Int { lock.withLock { _loads } }
    func tearNextLoads(_ count: Int) { lock.withLock { _tornLoads = count } }
    func failSaves(_ fail: Bool) { lock.withLock { _failSaves = fail } }

    var location: String { inner.location }
    var isEncrypted: Bool { false }
    func load() throws -> Data? {
        let (torn, hold) = lock.withLock { () -> (Bool, Bool) in
            _loads += 1
            defer { holdNextLoad = false }
            guard _tornLoads > 0 else { return (false, holdNextLoad) }
            _tornLoads -= 1
            return (true, holdNextLoad)
        }
        let data = try inner.load()
        if hold {
            loaded.signal()
            _ = go.wait(timeout: .now() + 10)
        }
        guard let data else { return nil }
        return torn ? data.prefix(data.count / 2) : data
    }
    func save(_ data: Data) throws {
        if lock.withLock({ _failSaves }) { throw CacheStorageError(code: .unavailable, location: location, reason: "injected failure") }
        if lock.withLock({ () -> Bool in defer { releaseOnNextSave = false }; return releaseOnNextSave }) {
            go.signal()
            _ = readerDone.wait(timeout: .now() + 10)
        }
        try inner.save(data)
    }
    func changeToken() throws -> StorageChangeToken? { try inner.changeToken() }
    func remove() throws { try inner.remove() }
    func moveAside(reason: String) throws -> String { try inner.moveAside(reason: reason) }
}

@Suite("PersistentTokenCache")
struct PersistentTokenCacheTests {
    static let endpoint = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    static let now: Int64 = 1_700_000_000

    static func response(_ user: String, rt: String? = nil) -> JSONObject {
        let info = Data("{\"uid\":\"\(user)\",\"utid\":\"t\"}".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        return ["access_token": .string("at-\(user)"), "refresh_token": .string(rt ?? "rt-\(user)"), "expires_in": 3600, "client_info": .string(info)]
    }

    static func context(grant: String = "authorization_code") -> TokenResponseContext {
        TokenResponseContext(clientID: "app", requestedScopes: ["User.Read"], tokenEndpoint: endpoint, grantType: grant, now: now)
    }

    static func open(_ path: String, recover: Bool = false) -> PersistentTokenCache {
        PersistentTokenCache(storage: FileStorage(path: path), lock: FileLock(forCacheAt: path, timeout: .seconds(30)), options: .init(recoverCorruptStore: recover))
    }

    @Test("100 concurrent tasks writing through one cache: nothing lost, no lock errors")
    func hundredTasks() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let cache = PersistentTokenCacheTests.open(path)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<100 {
                    group.addTask { try cache.add(response: PersistentTokenCacheTests.response("u\(task)"), context: PersistentTokenCacheTests.context()) }
                }
                try await group.waitForAll()
            }
            let reread = try TokenCache(serialized: try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(reread.accounts(environment: "login.microsoftonline.com").count == 100)
        }
    }

    @Test("Lock-free reads reloading on other threads never undo a write in progress: two instances write 150 sign-ins each while three threads read through one of them, and the file keeps all 300")
    func readersNeverUndoWrites() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let mine = PersistentTokenCacheTests.open(path)
            let other = PersistentTokenCacheTests.open(path)
            let done = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (name, cache) in [("a", mine), ("b", other)] {
                    group.addTask {
                        try await Task.detached {
                            defer { _ = done.increment() }
                            for index in 0..<150 { _ = try cache.add(response: PersistentTokenCacheTests.response("\(name)\(index)"), context: PersistentTokenCacheTests.context()) }
                        }.value
                    }
                }
                for reader in 0..<3 {
                    group.addTask {
                        try await Task.detached {
                            while done.value < 2 {
                                let query = AccessTokenQuery(clientID: "app", environment: "login.microsoftonline.com", realm: "t", homeAccountID: "a\(reader).t", scopes: ["User.Read"], now: PersistentTokenCacheTests.now)
                                _ = try mine.lookupAccessToken(query)
                            }
                        }.value
                    }
                }
                try await group.waitForAll()
            }
            let saved = try TokenCache(serialized: try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(saved.accounts(environment: "login.microsoftonline.com").count == 300)
        }
    }

    @Test("A silent refresh saved after another process signed the account out does not bring it back")
    func signOutWins() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let refresher = PersistentTokenCacheTests.open(path)
            let signOut = PersistentTokenCacheTests.open(path)
            try refresher.add(response: PersistentTokenCacheTests.response("ann"), context: PersistentTokenCacheTests.context())
            let used = try refresher.read { $0.refreshTokenCandidates(clientID: "app", environment: "login.microsoftonline.com", homeAccountID: "ann.t") }.first
            try #require(used != nil)
            // The other process signs out while our refresh is on the wire...
            try signOut.removeAccount(homeAccountID: "ann.t", environment: "login.microsoftonline.com", clientID: "app", now: PersistentTokenCacheTests.now)
            // ...and then our refresh result arrives.
            var refreshed = PersistentTokenCacheTests.response("ann", rt: "rt-rotated")
            refreshed["access_token"] = "at-new"
            let outcome = try refresher.saveRefreshResult(response: refreshed, context: PersistentTokenCacheTests.context(grant: "refresh_token"), refreshTokenKey: used!.key)
            #expect(outcome == .accountRemoved)
            let onDisk = try TokenCache(serialized: try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(onDisk.accounts(environment: "login.microsoftonline.com").isEmpty)
            #expect(onDisk.entries(RefreshToken.self).isEmpty)
            #expect(onDisk.entries(AccessToken.self).isEmpty)
        }
    }

    @Test("A silent refresh rotates the refresh token in place and never creates an Account")
    func refreshUpdatesInPlace() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let cache = PersistentTokenCacheTests.open(path)
            try cache.add(response: PersistentTokenCacheTests.response("bob"), context: PersistentTokenCacheTests.context())
            let used = try #require(try cache.read { $0.entries(RefreshToken.self) }.first)
            var refreshed = PersistentTokenCacheTests.response("bob", rt: "rt-rotated")
            refreshed["access_token"] = "at-new"
            let outcome = try cache.saveRefreshResult(response: refreshed, context: PersistentTokenCacheTests.context(grant: "refresh_token"), refreshTokenKey: used.key)
            guard case .saved = outcome else { Issue.record("not saved: \(outcome)"); return }
            let onDisk = try TokenCache(serialized: try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(onDisk.entries(RefreshToken.self).map(\.secret) == ["rt-rotated"])
            #expect(onDisk.entries(RefreshToken.self).map(\.key) == [used.key])
            #expect(onDisk.entries(AccessToken.self).map(\.secret) == ["at-new"])
            #expect(onDisk.entries(Account.self).count == 1)
        }
    }

    @Test("Reads reload only when the store changed; writes that change nothing do not save")
    func reloadsAndSavesOnlyWhenNeeded() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let storage = InstrumentedStorage(path: path)
            let cache = PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: path))
            try cache.add(response: PersistentTokenCacheTests.response("c"), context: PersistentTokenCacheTests.context())
            usleep(50_000)  // let the file system's clock tick past our own write
            _ = try cache.accounts(environment: "login.microsoftonline.com")
            let loads = storage.loads
            for _ in 0..<20 { _ = try cache.accounts(environment: "login.microsoftonline.com") }
            #expect(storage.loads == loads)
            let token = try storage.changeToken()
            try cache.removeExpiredAccessTokens(now: PersistentTokenCacheTests.now)
            #expect(try storage.changeToken() == token)
            // Another process writes: the next read sees it.
            let other = PersistentTokenCacheTests.open(path)
            try other.add(response: PersistentTokenCacheTests.response("d"), context: PersistentTokenCacheTests.context())
            #expect(try cache.accounts(environment: "login.microsoftonline.com").count == 2)
        }
    }

    @Test("A read that catches a half-written file retries; a failed save leaves the old file and memory in step")
    func tornReadsAndFailedSaves() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            try PersistentTokenCacheTests.open(path).add(response: PersistentTokenCacheTests.response("e"), context: PersistentTokenCacheTests.context())
            let storage = InstrumentedStorage(path: path)
            let cache = PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: path))
            storage.tearNextLoads(2)
            #expect(try cache.accounts(environment: "login.microsoftonline.com").count == 1)
            let fresh = PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: path))
            storage.tearNextLoads(10)
            #expect(throws: TokenCacheError.self) { try fresh.accounts(environment: "login.microsoftonline.com") }
            storage.tearNextLoads(0)

            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            storage.failSaves(true)
            #expect(throws: CacheStorageError.self) { try cache.add(response: PersistentTokenCacheTests.response("f"), context: PersistentTokenCacheTests.context()) }
            storage.failSaves(false)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            #expect(try cache.accounts(environment: "login.microsoftonline.com").count == 1)
        }
    }

    @Test("A corrupt store is a typed error by default, moved aside on request, and sign-out and clear always work")
    func corruptStores() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let garbage = Data("{\"AccessToken\": {\"k\": ".utf8)
            try garbage.write(to: URL(fileURLWithPath: path))
            let strict = PersistentTokenCacheTests.open(path)
            #expect(throws: TokenCacheError.self) { try strict.add(response: PersistentTokenCacheTests.response("g"), context: PersistentTokenCacheTests.context()) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)

            let recovering = PersistentTokenCacheTests.open(path, recover: true)
            try recovering.add(response: PersistentTokenCacheTests.response("g"), context: PersistentTokenCacheTests.context())
            let moved = try #require(recovering.quarantined)
            #expect(moved.hasPrefix(path + ".corrupt-"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: moved)) == garbage)
            #expect(try recovering.accounts(environment: "login.microsoftonline.com").count == 1)

            try garbage.write(to: URL(fileURLWithPath: path))
            try strict.removeAccount(homeAccountID: "g.t", environment: "login.microsoftonline.com", clientID: "app", now: PersistentTokenCacheTests.now)
            #expect(strict.quarantined != nil)

            try garbage.write(to: URL(fileURLWithPath: path))
            try strict.clear()
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }
}

@Suite("PersistentTokenCache reloads beside writes")
struct ReloadBesideWriteTests {
    @Test("A lock-free reload that ends while a write of the same instance is being saved does not install the older file: the write stays in memory, and the file keeps it")
    func reloadInsideWrite() throws {
        func users(_ cache: TokenCache) -> Set<String> {
            Set(cache.accounts(environment: "login.microsoftonline.com").compactMap(\.homeAccountID))
        }
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let other = PersistentTokenCacheTests.open(path)
            _ = try other.add(response: PersistentTokenCacheTests.response("x"), context: PersistentTokenCacheTests.context())
            let storage = InstrumentedStorage(path: path)
            let cache = PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: path, timeout: .seconds(30)))
            _ = try cache.snapshot()
            _ = try other.add(response: PersistentTokenCacheTests.response("y"), context: PersistentTokenCacheTests.context())
            storage.holdLoadThenReleaseOnSave()
            let reader = Thread {
                let query = AccessTokenQuery(clientID: "app", environment: "login.microsoftonline.com", realm: "t", homeAccountID: "x.t", scopes: ["User.Read"], now: PersistentTokenCacheTests.now)
                _ = try? cache.lookupAccessToken(query)
                storage.readerDone.signal()
            }
            reader.start()
            #expect(storage.loaded.wait(timeout: .now() + 10) == .success, "the reader's reload began")
            _ = try cache.add(response: PersistentTokenCacheTests.response("z"), context: PersistentTokenCacheTests.context())
            // What this instance holds now, without the reload its next call makes.
            #expect(users(cache.cache) == ["x.t", "y.t", "z.t"], "the write is in memory, not undone by the reload")
            _ = try cache.add(response: PersistentTokenCacheTests.response("w"), context: PersistentTokenCacheTests.context())
            #expect(users(try TokenCache(serialized: try Data(contentsOf: URL(fileURLWithPath: path)))) == ["x.t", "y.t", "z.t", "w.t"])
        }
    }
}

/// Reloads of a plain file read it in pieces and patch the loaded cache.
@Suite("PersistentTokenCache reloads in pieces")
struct PiecewiseReloadTests {
    @Test("Another writer's changes to a file of entries from 1 KB to 3 MB (across the 1 MB window, larger than it): every reload is a patch read in pieces, and sees what a full parse of the file sees")
    func largeEntries() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let writer = PersistentTokenCacheTests.open(path)
            let reader = PersistentTokenCacheTests.open(path)
            func signIn(_ user: Int, round: Int) throws {
                let size = [1_000, 70_000, 900_000, 1_100_000, 3_000_000][user % 5]
                var response = PersistentTokenCacheTests.response("u\(user)", rt: "rt-\(user)-\(round)")
                response["access_token"] = .string(String(repeating: Character(UnicodeScalar(UInt8(97 + user % 8))), count: size) + "-\(round)")
                _ = try writer.add(response: response, context: PersistentTokenCacheTests.context())
            }
            for user in 0..<12 { try signIn(user, round: 0) }
            _ = try reader.snapshot()
            var random = SeededGenerator(seed: 11)
            for round in 1...12 {
                if round % 4 == 0 {
                    _ = try writer.removeAccount(homeAccountID: "u\(Int.random(in: 0..<12, using: &random)).t", environment: "login.microsoftonline.com", clientID: "app", now: PersistentTokenCacheTests.now)
                } else {
                    try signIn(Int.random(in: 0..<14, using: &random), round: round)
                }
                let seen = try reader.snapshot().serialize()
                let file = try Data(contentsOf: URL(fileURLWithPath: path))
                #expect(seen == Array(file), "round \(round)")
                #expect(try TokenCache(serialized: file).serialize() == seen)
            }
            #expect(reader.patchedReloadCount >= 6, "\(reader.patchedReloadCount) of 12 reloads were patches")
        }
    }
}

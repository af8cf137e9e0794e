@testable import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// The SQLite store: MSAL's behaviour on rows, encryption bound to rows, and refusing what
/// is not its own.
@Suite("SQLite store")
struct SQLiteTokenCacheTests {
    static let passphraseVariable = "TOKENCACHE_SQLITE_PASSPHRASE"

    init() {
        setenv(SQLiteTokenCacheTests.passphraseVariable, "correct horse battery staple", 1)
    }

    /// The stores the shared checks run on.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, file, encryptedFile, encryptedKeyring, encryptedKernel, keyring, sqlite, sqliteKeyFile, sqlitePassphrase, sqliteKeyring, sqliteKernel
        /// Whether the kind needs the Secret Service.
        var usesKeyring: Bool { [.encryptedKeyring, .keyring, .sqliteKeyring].contains(self) }
        var testDescription: String { rawValue }
    }

    static func keyFile(in folder: URL, byte: UInt8 = 7) throws -> String {
        let path = folder.appendingPathComponent("key-\(byte)").path
        try Data(repeating: byte, count: 32).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        return path
    }

    /// A factory of instances of one `kind` of store on one location in `folder`.
    static func factory(_ kind: Kind, in folder: URL) throws -> () throws -> any TokenCacheStore {
        let base = folder.appendingPathComponent("cache").path
        switch kind {
        case .memory:
            let shared = TokenCache()
            return { shared }
        case .file: return { try StoreDescription(spec: "file:\(base).json").open() }
        case .encryptedFile:
            let key = try keyFile(in: folder)
            return { try StoreDescription(spec: "encrypted:\(base).bin?key-file=\(key)").open() }
        case .sqlite: return { try StoreDescription(spec: "sqlite:\(base).db").open() }
        case .sqliteKeyFile:
            let key = try keyFile(in: folder)
            return { try StoreDescription(spec: "sqlite:\(base).db?key-file=\(key)").open() }
        case .sqlitePassphrase: return { try StoreDescription(spec: "sqlite:\(base).db?passphrase-env=\(passphraseVariable)").open() }
        case .sqliteKeyring: return { try StoreDescription(spec: "sqlite:\(base).db?encrypt=keyring").open() }
        case .encryptedKeyring: return { try StoreDescription.encrypted(base + ".bin", key: .keyring).open() }
        case .encryptedKernel: return { try StoreDescription.encrypted(base + ".bin", key: .kernelKeyring).open() }
        case .sqliteKernel: return { try StoreDescription(spec: "sqlite:\(base).db?encrypt=kernel").open() }
        case .keyring:
            let signal = base + ".signal"
            return { try StoreDescription.keyring(.msalExtensions(signalPath: signal), signal: signal).open() }
        }
    }

    @Test("The store conformance checks pass on every kind of store: in memory, file, encrypted file (key file, Secret Service, kernel keyring), keyring item, SQLite (plain, key file, passphrase, Secret Service, kernel keyring)", arguments: Kind.allCases)
    func conformance(kind: Kind) throws {
        if kind.usesKeyring { try #require(PythonPeer.hasPrivateKeyring, "needs the private keyring session of the README's test command") }
        try withTemporaryDirectory { folder in
            let base = folder.appendingPathComponent("cache").path
            defer { if kind == .encryptedKernel || kind == .sqliteKernel { _ = try? KernelKeys.unlink(base + (kind == .sqliteKernel ? ".db" : ".bin")) } }
            let make = try SQLiteTokenCacheTests.factory(kind, in: folder)
            #expect(TokenStoreConformance.check(make) == [])
        }
    }

    @Test("Same bytes and decisions as MSAL Python on SQLite, plain and encrypted, and on the file store", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"), arguments: [Kind.sqlite, .sqliteKeyFile, .file])
    func differential(kind: Kind) throws {
        let scenarios = DifferentialRun.makeScenarios(seed: 20261122, cacheCount: 12, responsesPerCache: 10)
        let expected = try Oracle.run(scenarios)
        try withTemporaryDirectory { folder in
            let outcome = try DifferentialRun.compare(scenarios, expected: expected, makeStore: { index in
                let cacheFolder = folder.appendingPathComponent("cache\(index)")
                try FileManager.default.createDirectory(at: cacheFolder, withIntermediateDirectories: true)
                return try SQLiteTokenCacheTests.factory(kind, in: cacheFolder)()
            }, reopen: { store in
                (store as? SQLiteTokenCache)?.close()
                if let sqlite = store as? SQLiteTokenCache { return SQLiteTokenCache(path: sqlite.path, keySource: sqlite.keySource) }
                return try StoreDescription(spec: "file:" + store.location).open()
            })
            for mismatch in outcome.mismatches { Issue.record(Comment(rawValue: mismatch)) }
            #expect(outcome.comparisons > 1000)
            #expect(outcome.decisions["hit", default: 0] > 50)
        }
    }

    @Test("Encrypted rows: no secret or unknown field on disk, a body moved to another row fails, a wrong key is refused")
    func encryptedRows() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("tokens.db").path
            let key = try SQLiteTokenCacheTests.keyFile(in: folder)
            let store = SQLiteTokenCache(path: path, keySource: .keyFile(key))
            for user in ["ann", "bob"] {
                let (response, context) = TokenStoreConformance.signIn("TOP-SECRET-\(user)")
                try store.add(response: response, context: context)
            }
            store.close()
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
            #expect(bytes.range(of: Data("at-TOP-SECRET".utf8)) == nil)
            #expect(bytes.range(of: Data("rt-TOP-SECRET".utf8)) == nil)
            #expect(bytes.range(of: Data("contoso.com".utf8)) == nil, "usernames are inside the sealed body")
            #expect(bytes.range(of: Data("login.microsoftonline.com".utf8)) != nil, "lookup columns stay in the clear")

            // Swap the two access tokens' bodies: each fails authentication, naming the entry.
            let connection = try SQLiteConnection(path: path, create: false, busyTimeout: .seconds(5))
            let rows = try connection.strings("SELECT seq FROM entries WHERE credential_type = 'AccessToken' ORDER BY seq")
            try connection.execute("UPDATE entries SET body = (SELECT body FROM entries WHERE seq = \(rows[1])) WHERE seq = \(rows[0])")
            connection.close()
            let reopened = SQLiteTokenCache(path: path, keySource: .keyFile(key))
            #expect {
                _ = try reopened.lookupAccessToken(TokenStoreConformance.query("TOP-SECRET-ann"))
            } throws: { error in
                let failure = error as? CacheStorageError
                return failure?.code == .damaged && failure!.reason.contains("moved from another row") && !failure!.description.contains("TOP-SECRET")
            }

            let wrong = SQLiteTokenCache(path: path, keySource: .keyFile(try SQLiteTokenCacheTests.keyFile(in: folder, byte: 9)))
            #expect { _ = try wrong.accounts(environment: TokenStoreConformance.environment) } throws: { ($0 as? CacheStorageError)?.code == .wrongKey }
            let plain = SQLiteTokenCache(path: path)
            #expect { _ = try plain.snapshot() } throws: { ($0 as? CacheStorageError)?.code == .wrongKey }
            let otherSource = SQLiteTokenCache(path: path, keySource: .passphraseEnvironment(SQLiteTokenCacheTests.passphraseVariable))
            #expect { _ = try otherSource.snapshot() } throws: { ($0 as? CacheStorageError)?.code == .wrongKey }
        }
    }

    @Test("A plain store opened with a key is refused, and its lookup columns and bodies are readable JSON")
    func plainStore() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("plain.db").path
            let (response, context) = TokenStoreConformance.signIn("ann")
            try SQLiteTokenCache(path: path).add(response: response, context: context)
            let keyed = SQLiteTokenCache(path: path, keySource: .keyFile(try SQLiteTokenCacheTests.keyFile(in: folder)))
            #expect { _ = try keyed.snapshot() } throws: { ($0 as? CacheStorageError)?.code == .wrongKey }
            let connection = try SQLiteConnection(path: path, create: false, busyTimeout: .seconds(5))
            defer { connection.close() }
            #expect(try connection.strings("SELECT home_account_id FROM entries WHERE credential_type = 'RefreshToken'") == ["ann.tenant"])
            #expect(try connection.scalar("PRAGMA user_version") == Int64(SQLiteDatabase.migrations.count))
            #expect(try connection.text("PRAGMA journal_mode") == "wal")

            // A row whose JSON was damaged is a typed error naming the entry, not a crash.
            try connection.execute("UPDATE entries SET body = CAST('{\"secret\": ' AS BLOB) WHERE credential_type = 'AccessToken'")
            #expect {
                _ = try SQLiteTokenCache(path: path).lookupAccessToken(TokenStoreConformance.query("ann"))
            } throws: { error in
                let failure = error as? CacheStorageError
                return failure?.code == .damaged && failure!.reason.contains("section \"AccessToken\"") && failure!.reason.contains("not valid JSON")
            }
        }
    }

    @Test("Random bytes, another app's database and a newer schema give typed errors and are left byte for byte")
    func foreignFiles() throws {
        try withTemporaryDirectory { folder in
            var random = SeededGenerator(seed: 5)
            let garbage = folder.appendingPathComponent("garbage.db").path
            try Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &random) }).write(to: URL(fileURLWithPath: garbage))

            let foreign = folder.appendingPathComponent("foreign.db").path
            let other = try SQLiteConnection(path: foreign, create: true, busyTimeout: .seconds(5))
            try other.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('keep me')")
            other.close()

            let newer = folder.appendingPathComponent("newer.db").path
            let (response, context) = TokenStoreConformance.signIn("ann")
            let ours = SQLiteTokenCache(path: newer)
            try ours.add(response: response, context: context)
            ours.close()
            let bump = try SQLiteConnection(path: newer, create: false, busyTimeout: .seconds(5))
            try bump.execute("PRAGMA user_version = \(Int64(SQLiteDatabase.migrations.count) + 1)")
            bump.close()

            let cases: [(String, CacheStorageError.Code, String)] = [
                (garbage, .damaged, "not a SQLite database"),
                (foreign, .incompatible, "another application's SQLite database (tables: notes"),
                (newer, .incompatible, "newer version"),
            ]
            for (path, code, words) in cases {
                let files = [path, path + "-wal", path + "-shm"]
                let before = files.map { try? Data(contentsOf: URL(fileURLWithPath: $0)) }
                let store = SQLiteTokenCache(path: path)
                for operation in ["lookup", "add", "clear"] {
                    do {
                        switch operation {
                        case "lookup": _ = try store.lookupAccessToken(TokenStoreConformance.query("ann"))
                        case "add": try store.add(response: response, context: context)
                        default: try store.clear()
                        }
                        Issue.record("\(operation) on \(path) did not fail")
                    } catch let error as CacheStorageError {
                        #expect(error.code == code, "\(operation) on \(path): \(error)")
                        #expect(error.reason.contains(words), "\(operation) on \(path): \(error)")
                    }
                }
                #expect(files.map { try? Data(contentsOf: URL(fileURLWithPath: $0)) } == before, "\(path) was changed")
            }
        }
    }

    @Test("The database and its companions are 0600 in a 0700 folder, whatever the umask; a symlink is refused")
    func fileModes() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("deep/er/tokens.db").path
            let old = umask(0)
            defer { umask(old) }
            let store = SQLiteTokenCache(path: path)
            let (response, context) = TokenStoreConformance.signIn("ann")
            try store.add(response: response, context: context)
            for file in [path, path + "-wal", path + "-shm"] {
                var info = stat()
                #expect(lstat(file, &info) == 0)
                #expect(info.st_mode & 0o777 == 0o600, "\(file) is \(String(info.st_mode & 0o777, radix: 8))")
            }
            var info = stat()
            #expect(lstat((path as NSString).deletingLastPathComponent, &info) == 0 && info.st_mode & 0o777 == 0o700)
            store.close()

            let link = folder.appendingPathComponent("link.db").path
            symlink(path, link)
            #expect { _ = try SQLiteTokenCache(path: link).snapshot() } throws: { ($0 as? CacheStorageError)?.code == .insecurePath }
        }
    }

    @Test("A database is not created by reads, and prune removes expired access tokens in one statement")
    func readsDoNotCreate() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("absent.db").path
            let store = SQLiteTokenCache(path: path)
            #expect(try store.lookupAccessToken(TokenStoreConformance.query("ann")) == .miss(expired: false))
            #expect(try store.removeExpiredAccessTokens(now: 0).isEmpty)
            #expect(try store.health().exists == false)
            #expect(!FileManager.default.fileExists(atPath: path))
            for user in 0..<50 {
                let (response, context) = TokenStoreConformance.signIn("user\(user)", now: TokenStoreConformance.now + Int64(user) * 100)
                try store.add(response: response, context: context)
            }
            // Tokens of users 0..<20 expired before this time (each lives 3600 s).
            let removed = try store.removeExpiredAccessTokens(now: TokenStoreConformance.now + 3600 + 1950)
            #expect(removed.removed.count == 20)
            let health = try store.health(full: true)
            #expect(health.isOK)
            #expect(health.entryCounts[.accessToken] == 30)
            #expect(health.entryCounts[.refreshToken] == 50)
            #expect(health.sizeBytes > 0)
        }
    }

    @Test("Tasks sharing one instance and tasks on a second instance lose nothing")
    func concurrentTasks() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let path = folder.appendingPathComponent("shared.db").path
            let first = SQLiteTokenCache(path: path)
            let second = SQLiteTokenCache(path: path)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    let store = task.isMultiple(of: 2) ? first : second
                    group.addTask {
                        for index in 0..<25 {
                            let (response, context) = TokenStoreConformance.signIn("t\(task)-\(index)")
                            try store.add(response: response, context: context)
                            #expect(try store.lookupAccessToken(TokenStoreConformance.query("t\(task)-\(index)")).token != nil)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try first.accounts(environment: TokenStoreConformance.environment).count == 200)
            #expect(try second.health(full: true).isOK)
        }
    }

    @Test("Keys Swift holds equal but Python keeps apart (k\\u00e9, ke\\u0301) are two rows, as they are two entries of the file: a copy into the store keeps both")
    func keysCompareByCodePoints() throws {
        func account(_ key: String, _ user: String) -> String {
            "        \"\(key)\": {\n            \"environment\": \"login.microsoftonline.com\",\n            \"home_account_id\": \"\(user).t\",\n            \"realm\": \"t\"\n        }"
        }
        let text = "{\n    \"Account\": {\n" + [account("k\\u00e9", "a"), account("ke\\u0301", "b")].joined(separator: ",\n") + "\n    }\n}"
        let file = try TokenCache(serialized: Data(text.utf8))
        #expect(file.entries(Account.self).count == 2)
        try withTemporaryDirectory { folder in
            let store = SQLiteTokenCache(path: folder.appendingPathComponent("c.db").path)
            try store.replaceContents(with: file)
            #expect(try store.snapshot().serialize() == file.serialize())
        }
    }
}

@testable import CachePostgres
import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// The PostgreSQL store against a real server from Debian's packages: MSAL's behaviour on
/// rows, encryption, the L1 and its invalidation, and the faults a caller can meet.
@Suite("PostgreSQL store")
struct PostgresTokenCacheTests {
    static let passphraseVariable = "TOKENCACHE_PG_PASSPHRASE"
    let server: PostgresServer

    init() throws {
        server = try PostgresServer.shared
        setenv("PGPASSWORD", server.password, 1)
        setenv(PostgresTokenCacheTests.passphraseVariable, "correct horse battery staple", 1)
    }

    /// The forms of the store the shared checks run on.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case plain, keyFile, passphrase, keyring, inProcessCache
        var testDescription: String { rawValue }
    }

    static func keyFile(in folder: URL) throws -> String {
        let path = folder.appendingPathComponent("key").path
        try Data(repeating: 9, count: 32).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        return path
    }

    /// A factory of instances of one store (a fresh schema) of `kind`.
    func factory(_ kind: Kind, in folder: URL) throws -> () throws -> any TokenCacheStore {
        let query: String
        switch kind {
        case .plain: query = ""
        case .keyFile: query = "key-file=\(try PostgresTokenCacheTests.keyFile(in: folder))"
        case .passphrase: query = "passphrase-env=\(PostgresTokenCacheTests.passphraseVariable)"
        case .keyring: query = "encrypt=keyring"
        case .inProcessCache: query = "l1=on"
        }
        let spec = server.freshSpec(query)
        return { try PostgresTokenCache(spec: spec) }
    }

    @Test("The store conformance checks pass on PostgreSQL: plain, encrypted (key file, passphrase, keyring), and with the L1", arguments: Kind.allCases)
    func conformance(kind: Kind) throws {
        guard kind != .keyring || PythonPeer.hasPrivateKeyring else { return }
        try withTemporaryDirectory { folder in
            let make = try factory(kind, in: folder)
            #expect(TokenStoreConformance.check(make, synchronize: { store in
                // The L1 learns of the other instance's writes by notification.
                guard try (store as? PostgresTokenCache)?.synchronizeL1() ?? true else { throw L1NotSynchronized() }
            }) == [])
        }
        if kind == .keyring {
            // The data key's signal file goes to the user's cache folder, never to a path
            // spelled like the URL (which made folders named "postgres:" here).
            #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/postgres:"))
        }
    }

    @Test("Same bytes and decisions as MSAL Python on PostgreSQL, plain, encrypted and with the L1", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"), arguments: [Kind.plain, .keyFile, .inProcessCache])
    func differential(kind: Kind) throws {
        let scenarios = DifferentialRun.makeScenarios(seed: 20261123, cacheCount: 12, responsesPerCache: 10)
        let expected = try Oracle.run(scenarios)
        try withTemporaryDirectory { folder in
            let outcome = try DifferentialRun.compare(scenarios, expected: expected, makeStore: { _ in
                try factory(kind, in: folder)()
            }, reopen: { store in
                let postgres = try #require(store as? PostgresTokenCache)
                postgres.close()
                return PostgresTokenCache(endpoint: postgres.endpoint)
            })
            for mismatch in outcome.mismatches { Issue.record(Comment(rawValue: mismatch)) }
            #expect(outcome.comparisons > 1000)
            #expect(outcome.decisions["hit", default: 0] > 50)
        }
    }

    /// A sign-in for `user` whose access token is `secret`.
    static func signIn(_ user: String, secret: String, now: Int64 = TokenStoreConformance.now) -> (JSONObject, TokenResponseContext) {
        var (response, context) = TokenStoreConformance.signIn(user, now: now)
        response["access_token"] = .string(secret)
        return (response, context)
    }

    /// Looks `user` up through `store` until its token is `secret`, for at most a second;
    /// returns how many lookups that took, or `nil`.
    static func lookupsUntil(_ store: PostgresTokenCache, _ user: String, is secret: String) throws -> Int? {
        for attempt in 1...1000 {
            if try store.lookupAccessToken(TokenStoreConformance.query(user)).token?.secret == secret { return attempt }
            Thread.sleep(forTimeInterval: 0.001)
        }
        return nil
    }

    @Test("L1: another instance's write is seen by the next lookups; a dropped notification channel stops the L1 until it listens again")
    func inProcessCacheCoherence() throws {
        let spec = server.freshSpec()
        let writer = try PostgresTokenCache(spec: spec)
        let cached = try PostgresTokenCache(spec: spec + "&l1=on")
        defer { writer.close(); cached.close() }
        let (first, context) = PostgresTokenCacheTests.signIn("ann", secret: "at-1")
        try writer.add(response: first, context: context)
        #expect(try cached.lookupAccessToken(TokenStoreConformance.query("ann")).token?.secret == "at-1")

        // Warm: answered from memory, so the server going quiet does not matter.
        #expect(cached.l1ServingForTests)
        try writer.add(response: PostgresTokenCacheTests.signIn("ann", secret: "at-2").0, context: context)
        let lookups = try PostgresTokenCacheTests.lookupsUntil(cached, "ann", is: "at-2")
        #expect(lookups != nil, "the L1 never saw the other instance's write")

        // Its own writes drop its partitions at once.
        try cached.add(response: PostgresTokenCacheTests.signIn("ann", secret: "at-3").0, context: context)
        #expect(try cached.lookupAccessToken(TokenStoreConformance.query("ann")).token?.secret == "at-3")

        // Cut the notification connection: the L1 must stop serving, so a write made
        // while it cannot hear is still seen.
        try server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        for _ in 0..<200 where cached.l1ServingForTests { Thread.sleep(forTimeInterval: 0.005) }
        #expect(!cached.l1ServingForTests, "the L1 still serves without its notification channel")
        try writer.add(response: PostgresTokenCacheTests.signIn("ann", secret: "at-4").0, context: context)
        #expect(try cached.lookupAccessToken(TokenStoreConformance.query("ann")).token?.secret == "at-4")
        // It listens again within about a second and serves fresh rows.
        Thread.sleep(forTimeInterval: 1.1)
        #expect(try cached.lookupAccessToken(TokenStoreConformance.query("ann")).token?.secret == "at-4")
        #expect(cached.l1ServingForTests, "the L1 did not resynchronize")
        try writer.add(response: PostgresTokenCacheTests.signIn("ann", secret: "at-5").0, context: context)
        #expect(try PostgresTokenCacheTests.lookupsUntil(cached, "ann", is: "at-5") != nil)
    }

    @Test("Encrypted rows: no secret or username in the server's tables, a body moved to another row fails, a wrong key is refused")
    func encryptedRows() throws {
        try withTemporaryDirectory { folder in
            let key = try PostgresTokenCacheTests.keyFile(in: folder)
            let spec = server.freshSpec("key-file=\(key)")
            let schema = try #require(try PostgresEndpoint(spec: spec).schema)
            let store = try PostgresTokenCache(spec: spec)
            let (response, context) = TokenStoreConformance.signIn("ann")
            try store.add(response: response, context: context)
            try store.add(response: TokenStoreConformance.signIn("bob").0, context: TokenStoreConformance.signIn("bob").1)
            let dump = try server.psql("SELECT encode(body, 'escape') FROM \(schema).entries")
            #expect(!dump.contains("at-ann") && !dump.contains("rt-ann") && !dump.contains("ann@contoso.com"))

            // A wrong key file: refused as a wrong key, nothing read.
            let other = folder.appendingPathComponent("other-key").path
            try Data(repeating: 1, count: 32).write(to: URL(fileURLWithPath: other))
            chmod(other, 0o600)
            let wrong = try PostgresTokenCache(spec: spec.replacingOccurrences(of: key, with: other))
            #expect(throws: CacheStorageError.self) { try wrong.lookupAccessToken(TokenStoreConformance.query("ann")) }
            do {
                _ = try wrong.lookupAccessToken(TokenStoreConformance.query("ann"))
            } catch let error as CacheStorageError {
                #expect(error.code == .wrongKey)
            }
            // Opened without a key: refused.
            let plain = try PostgresTokenCache(spec: server.url + "?schema=\(schema)")
            #expect(throws: CacheStorageError.self) { try plain.snapshot() }

            // Ann's access token body moved onto Bob's row: fails its check.
            try server.psql("UPDATE \(schema).entries SET body = (SELECT body FROM \(schema).entries WHERE credential_type = 'AccessToken' AND home_account_id = 'ann.tenant') WHERE credential_type = 'AccessToken' AND home_account_id = 'bob.tenant'")
            let reopened = try PostgresTokenCache(spec: spec)
            do {
                _ = try reopened.lookupAccessToken(TokenStoreConformance.query("bob"))
                Issue.record("a moved body was accepted")
            } catch let error as CacheStorageError {
                #expect(error.code == .damaged)
                #expect(!error.description.contains("at-"))
            }
            #expect(try reopened.lookupAccessToken(TokenStoreConformance.query("ann")).token?.secret == "at-ann")
        }
    }

    @Test("A schema of another application, or of a newer version, is refused and left as it was")
    func foreignSchemas() throws {
        let foreign = "f_" + UUID().uuidString.prefix(8).lowercased()
        try server.psql("CREATE SCHEMA \(foreign); CREATE TABLE \(foreign).orders (id int); INSERT INTO \(foreign).orders VALUES (1)")
        let store = try PostgresTokenCache(spec: server.url + "?schema=\(foreign)")
        for attempt in [{ _ = try store.lookupAccessToken(TokenStoreConformance.query("ann")) }, { try store.add(response: TokenStoreConformance.signIn("ann").0, context: TokenStoreConformance.signIn("ann").1) }, { try store.clear() }] {
            do {
                try attempt()
                Issue.record("another application's schema was used")
            } catch let error as CacheStorageError {
                #expect(error.code == .incompatible)
                #expect(error.reason.contains("orders"))
            }
        }
        #expect(try server.psql("SELECT count(*) FROM \(foreign).orders").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(try server.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '\(foreign)'").trimmingCharacters(in: .whitespacesAndNewlines) == "1")

        let spec = server.freshSpec()
        let schema = try PostgresEndpoint(spec: spec).schema
        let current = try PostgresTokenCache(spec: spec)
        try current.add(response: TokenStoreConformance.signIn("ann").0, context: TokenStoreConformance.signIn("ann").1)
        try server.psql("UPDATE \(schema).meta SET value = convert_to('99', 'UTF8') WHERE name = 'schema_version'")
        let newer = try PostgresTokenCache(spec: spec)
        do {
            _ = try newer.snapshot()
            Issue.record("a newer schema was read")
        } catch let error as CacheStorageError {
            #expect(error.code == .incompatible)
            #expect(error.reason.contains("newer"))
        }
    }

    @Test("SPECs: parts from the libpq variables, the password only from PGPASSWORD or a 0600 password file, never from the SPEC")
    func specs() throws {
        let endpoint = try PostgresEndpoint(spec: "postgres:///?l1=on", environment: ["PGHOST": "db", "PGPORT": "6543", "PGUSER": "app", "PGDATABASE": "tokens", "PGPASSWORD": "pw"])
        #expect(endpoint.location == "postgres://app@db:6543/tokens")
        #expect(endpoint.inProcessCache && endpoint.password == "pw")
        #expect(!String(describing: endpoint).contains("pw") && !String(reflecting: endpoint).contains("\"pw\""))
        do throws(CacheStorageError) {
            _ = try PostgresEndpoint(spec: "postgres://app:hunter2@db/tokens", environment: [:])
            Issue.record("a password in the SPEC was accepted")
        } catch {
            #expect(error.code == .invalidSpec)
            #expect(!error.description.contains("hunter2"))
        }
        for bad in ["postgres://db:port/x", "postgres://db/x?sslmode=maybe", "postgres://db/x?schema=Bad-Name", "postgres://db/x?color=red", "postgres://db/x?encrypt=tpm", "postgres://db:70000/x"] {
            #expect(throws: CacheStorageError.self, "\(bad)") { try PostgresEndpoint(spec: bad, environment: [:]) }
        }
        try withTemporaryDirectory { folder in
            let file = folder.appendingPathComponent("pgpass").path
            try "# comment\nother:5432:*:app:nope\ndb:5432:tokens:app:from\\:file\n".write(toFile: file, atomically: true, encoding: .utf8)
            chmod(file, 0o600)
            #expect(try PostgresEndpoint(spec: "postgres://app@db/tokens", environment: ["PGPASSFILE": file]).password == "from:file")
            chmod(file, 0o644)
            do throws(CacheStorageError) {
                _ = try PostgresEndpoint(spec: "postgres://app@db/tokens", environment: ["PGPASSFILE": file])
                Issue.record("a password file others can read was used")
            } catch {
                #expect(error.code == .insecurePath)
            }
        }
    }

    @Test("Faults: a wrong password, a server that never answers, one that speaks another protocol, a write stuck behind a lock, a stopped server: typed errors and nothing half written")
    func faults() throws {
        let spec = server.freshSpec("connect_timeout=2")
        let schema = try PostgresEndpoint(spec: spec).schema
        let store = try PostgresTokenCache(spec: spec, options: .init(retryFor: .zero))
        try store.add(response: TokenStoreConformance.signIn("ann").0, context: TokenStoreConformance.signIn("ann").1)

        // Wrong password: permission denied, the password in no message.
        let wrong = try PostgresTokenCache(endpoint: PostgresEndpoint(spec: spec, environment: ["PGPASSWORD": "not-the-password"]))
        do {
            _ = try wrong.snapshot()
            Issue.record("a wrong password was accepted")
        } catch let error as CacheStorageError {
            #expect(error.code == .permissionDenied)
            #expect(!error.description.contains("not-the-password"))
        }

        // A listener that accepts and never answers: timed out, within the timeout.
        let (silent, silentPort) = loopbackListener()
        defer { close(silent) }
        let mute = PostgresTokenCache(endpoint: PostgresEndpoint(host: "127.0.0.1", port: silentPort, user: "tokencache", password: "x", database: "tokencache", tlsMode: .disable, timeout: .seconds(1)), options: .init(retryFor: .zero))
        let started = ContinuousClock.now
        do {
            _ = try mute.lookupAccessToken(TokenStoreConformance.query("ann"))
            Issue.record("a mute server answered")
        } catch let error as CacheStorageError {
            #expect(error.code == .timedOut)
        }
        #expect(ContinuousClock.now - started < .seconds(5))

        // Something that answers with bytes that are not PostgreSQL's protocol (here an
        // HTTP server's reply, then noise): a typed error, no crash.
        let (noisy, noisyPort) = loopbackListener()
        defer { close(noisy) }
        let talker = Thread {
            while true {
                let client = accept(noisy, nil, nil)
                guard client >= 0 else { return }
                var reply = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8)
                var generator = SystemRandomNumberGenerator()
                reply += (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
                _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(client)
            }
        }
        talker.start()
        for tls in [PostgresEndpoint.TLSMode.disable, .prefer] {
            let garbled = PostgresTokenCache(endpoint: PostgresEndpoint(host: "127.0.0.1", port: noisyPort, user: "tokencache", password: "x", database: "tokencache", tlsMode: tls, timeout: .seconds(2)), options: .init(retryFor: .zero))
            do {
                _ = try garbled.lookupAccessToken(TokenStoreConformance.query("ann"))
                Issue.record("a server speaking another protocol answered")
            } catch let error as CacheStorageError {
                #expect([.ioFailure, .unavailable].contains(error.code), "\(error)")
            }
        }
        shutdown(noisy, Int32(SHUT_RDWR))

        // A write stuck behind another session's lock: timed out, nothing written, and
        // the store works again once the lock is gone.
        let holder = try BackgroundProcess("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(server.port), "-U", "tokencache", "-d", "tokencache", "-qAt",
                                                              "-c", "BEGIN; LOCK TABLE \(schema).entries IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;"], environment: server.environment)
        Thread.sleep(forTimeInterval: 0.5)
        do {
            try store.add(response: TokenStoreConformance.signIn("bob").0, context: TokenStoreConformance.signIn("bob").1)
            Issue.record("a write went through another session's exclusive lock")
        } catch let error as CacheStorageError {
            #expect(error.code == .timedOut)
        }
        _ = holder.wait()
        #expect(try store.lookupAccessToken(TokenStoreConformance.query("bob")).token == nil)
        #expect(try store.snapshot().entryCounts.values.reduce(0, +) == 5)
        #expect(try store.lookupAccessToken(TokenStoreConformance.query("ann")).token?.secret == "at-ann")
    }

    /// A TCP socket listening on a free loopback port, and the port.
    private func loopbackListener() -> (Int32, Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 8)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// The L1 did not receive a marker notification in time.
struct L1NotSynchronized: Error {}

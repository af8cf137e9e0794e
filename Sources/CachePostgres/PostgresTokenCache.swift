public import CacheBackends
import Foundation
public import TokenCache

/// A token cache shared by many app instances, in a PostgreSQL database: one row per entry,
/// as in the SQLite store, partitioned by account and by app.
///
/// - **Rows.** Each entry's row holds its partition (`user:HOME_ACCOUNT_ID`, or
///   `app:CLIENT_ID` for an app's own tokens and metadata), its lookup columns and its whole
///   JSON, every unknown field included (see `PostgresSchema`). A lookup reads only the
///   rows of the user or app it is for.
/// - **Many writers.** Every change is one transaction of row-level upserts and deletes,
///   never a read-modify-write of a whole blob, so instances writing at once never undo
///   each other's entries. A change that reads before it writes (saving a refresh, signing
///   out) first takes the partition's transaction-scoped advisory lock, so a sign-out and a
///   refresh of the same account take turns instead of resurrecting the account.
/// - **Encryption.** With a key source, each entry's JSON is sealed with AES-256-GCM and
///   bound to its row, exactly as in the SQLite store; the key sources are the same.
/// - **L1.** With ``PostgresEndpoint/inProcessCache`` (`?l1=on`), lookups are answered from
///   an in-process cache of whole partitions, kept coherent with LISTEN/NOTIFY (see
///   `PostgresL1Cache`). Without it, every lookup queries the server.
/// - **Faults.** A call that loses its connection reconnects and runs again while it is
///   safe to (a read, or a write whose effect is the same when applied twice), for up to
///   ``Options/retryFor``; then it fails with `unavailable`. A server that does not answer
///   within the endpoint's timeout fails the call with `timedOut`. A transaction cut short
///   is rolled back by the server, so no partition is ever half written.
///
/// One instance may be shared by many threads; they take turns on its connection.
public final class PostgresTokenCache: TokenCacheStore, @unchecked Sendable {
    // @unchecked: `database` and `link` are only touched while `lock` is held.

    /// How the store retries and caches.
    public struct Options: Sendable {
        /// How long a call keeps reconnecting and retrying after losing the server before it
        /// fails with `unavailable`. The default is 10 seconds; zero disables retries.
        public var retryFor: Duration
        /// The most partitions (users or apps) the L1 keeps.
        public var inProcessCapacity: Int

        /// Creates options.
        public init(retryFor: Duration = .seconds(10), inProcessCapacity: Int = 100_000) {
            self.retryFor = retryFor
            self.inProcessCapacity = inProcessCapacity
        }
    }

    /// Where the store lives.
    public let endpoint: PostgresEndpoint
    /// The options.
    public let options: Options
    private let keys: EncryptionKeys?
    private let lock = NSLock()
    private let link: PostgresLink
    private var codec: RowCodec?
    private let readerSQL: PostgresEntryReader.Statements
    private let writerSQL: PostgresRowWriter.Statements
    private let l1: PostgresL1Cache?
    /// The session that holds this instance's refresh claims (advisory locks), apart from
    /// the one that reads and writes, which must never wait on a claim.
    private let claimLink: PostgresLink
    private let claimLock = NSLock()
    /// The thread the store's calls from async code wait on (see ``perform(_:_:)``).
    private let worker = StoreWorker(label: "tokencache.postgres")

    /// The store's location (`postgres://USER@HOST:PORT/DATABASE`).
    public var location: String { endpoint.location }
    /// Whether each entry is encrypted.
    public var isEncrypted: Bool { endpoint.keySource != nil }

    /// Creates a store; nothing is contacted until the first call.
    public init(endpoint: PostgresEndpoint, options: Options = Options()) {
        self.endpoint = endpoint
        self.options = options
        keys = endpoint.keySource.map { EncryptionKeys(source: $0, location: endpoint.location) }
        link = PostgresLink(endpoint: endpoint, timeout: endpoint.timeout)
        readerSQL = PostgresEntryReader.Statements(schema: endpoint.schema)
        writerSQL = PostgresRowWriter.Statements(schema: endpoint.schema)
        l1 = endpoint.inProcessCache ? PostgresL1Cache(endpoint: endpoint, capacity: options.inProcessCapacity) : nil
        claimLink = PostgresLink(endpoint: endpoint, timeout: endpoint.timeout)
    }

    /// Creates a store from a `postgres://` SPEC (see ``PostgresEndpoint``).
    public convenience init(spec: String, options: Options = Options()) throws(CacheStorageError) {
        self.init(endpoint: try PostgresEndpoint(spec: spec), options: options)
    }

    /// Closes the connections; the next call opens them again.
    public func close() {
        l1?.close()
        claimLock.withLock { claimLink.close() }
        lock.withLock {
            link.close()
            codec = nil
        }
    }

    // MARK: - From async code

    /// Runs `operation` on the store's own thread: the calls wait for the server there (up
    /// to the endpoint's timeout, and the retries of ``Options/retryFor``), never on a
    /// thread of Swift's cooperative pool, and the calling task suspends meanwhile. The
    /// store's calls take turns on its connection anyway, so one thread serves them all.
    public func perform<T: Sendable>(_ access: StoreAccess, _ operation: @escaping @Sendable () throws -> T) async throws -> T {
        try await worker.run(operation)
    }

    // MARK: - Reading

    /// The silent-lookup decision for `query`: from the L1 when it is serving, else one
    /// indexed query of the user's (or app's) partition per environment tried.
    public func lookupAccessToken(_ query: AccessTokenQuery) throws -> AccessTokenLookup {
        if let reader = l1Reader(clientID: query.clientID) {
            return try CacheQueries.lookupAccessToken(query, in: reader)
        }
        return try reading(.miss(expired: false)) { reader throws(CacheStorageError) in try CacheQueries.lookupAccessToken(query, in: reader) }
    }

    /// The refresh tokens a silent request may try, in MSAL Python's order.
    public func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) throws -> [RefreshToken] {
        if let reader = l1Reader(clientID: clientID) {
            return try CacheQueries.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID, in: reader)
        }
        return try reading([]) { reader throws(CacheStorageError) in
            try CacheQueries.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID, in: reader)
        }
    }

    /// The accounts MSAL Python's `get_accounts()` lists (always from the database: they
    /// span partitions).
    public func accounts(environment: String, aliases: [String] = [], username: String? = nil) throws -> [Account] {
        try reading([]) { reader throws(CacheStorageError) in try CacheQueries.accounts(environment: environment, aliases: aliases, username: username, in: reader) }
    }

    /// The whole cache, read in one repeatable-read transaction.
    public func snapshot() throws -> TokenCache {
        let members: [CacheMember]? = try withDatabase(creating: false, retry: .always) { link, codec in
            try link.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? link.run("COMMIT") }
            let reader = PostgresEntryReader(link: link, codec: codec, sql: readerSQL)
            var members: [CacheMember] = []
            for row in try link.query("SELECT name, value FROM \(endpoint.schema).sections ORDER BY position") {
                let name = row.text(0) ?? ""
                // A NULL value is one of the entry sections; a member's JSON is never empty.
                let stored = row.bytes(1)
                if stored.isEmpty {
                    members.append(.entries(CredentialType(rawValue: name), try reader.section(name)))
                } else {
                    let value = try stored.withUnsafeBytes { bytes throws(CacheStorageError) in try codec.value(from: bytes, section: "", key: name) }
                    members.append(.value(name, value))
                }
            }
            return members
        }
        return try TokenCache(members: members ?? [], location: location)
    }

    /// Runs `body` with a reader of the database; `empty` when the store does not exist yet.
    func reading<R>(_ empty: R, _ body: (PostgresEntryReader) throws(CacheStorageError) -> R) throws(CacheStorageError) -> R {
        let result: R?
        do {
            result = try withDatabase(creating: false, retry: .always) { link, codec in
                try body(PostgresEntryReader(link: link, codec: codec, sql: readerSQL))
            }
        } catch let error as CacheStorageError {
            throw error
        } catch {
            throw CacheStorageError(code: .ioFailure, location: location, reason: "\(error)")
        }
        return result ?? empty
    }

    /// Waits until this instance's L1 has received every notification committed before
    /// the call (for tests that read right after another instance's write): sends a marker
    /// on the channel and waits for it to come back. `false` if it did not within
    /// `timeout`; `true` at once without a serving L1.
    func synchronizeL1(timeout: Duration = .seconds(5)) throws -> Bool {
        guard let l1, l1.isServing() else { return true }
        let marker = PostgresL1Cache.markerPrefix + UUID().uuidString
        try lock.withLock { () throws(CacheStorageError) in
            try link.query("SELECT pg_notify($1, $2)", [.text(PostgresSchema.channel), .text(marker)])
        }
        return l1.waitForMarker(marker, timeout: timeout)
    }

    /// Whether the L1 serves now (for tests).
    var l1ServingForTests: Bool { l1?.isServingNow ?? false }

    /// A reader over the L1 when it is serving.
    private func l1Reader(clientID: String) -> PostgresL1Reader? {
        guard let l1, l1.isServing() else { return nil }
        return PostgresL1Reader(clientID: clientID, partition: { partition throws(CacheStorageError) in
            let (cached, token) = l1.rows(partition)
            if let cached { return cached }
            let rows = try self.reading([]) { reader throws(CacheStorageError) in
                try reader.partition(partition).map { PostgresL1Cache.Row(type: $0.type, key: $0.key, columns: RowCodec.columns(of: $0.fields), fields: $0.fields) }
            }
            l1.install(partition, rows: rows, token: token)
            return rows
        }, store: self)
    }

    // MARK: - Refresh claims

    /// Takes the refresh claim for `subject` when no thread of this process and no other
    /// instance on the database holds it: a session-level advisory lock, keyed by the
    /// schema and the subject's fingerprint, on a connection of its own. The server gives
    /// the claim of an instance that dies (or loses its connection) up by itself. Taking
    /// it drops the account's partition from the L1, so the store is read fresh while it
    /// is held.
    public func tryClaimRefresh(_ subject: RefreshClaim.Subject) throws -> RefreshClaim? {
        // Keyed as the writers key their partition locks (hashtextextended of a text), in a
        // text space of its own.
        let name = "refresh-claim:\(endpoint.schema):\(subject.fingerprint)"
        let claim = try InProcessRefreshClaims.tryClaim("\(location) \(name)") { () throws -> RefreshClaim? in
            let taken = try claimLock.withLock { () throws(CacheStorageError) -> Bool in
                try claimLink.query("SELECT CASE WHEN pg_try_advisory_lock(hashtextextended($1, 0)) THEN 1 ELSE 0 END", [.text(name)]).first?.integer(0) == 1
            }
            guard taken else { return nil }
            return RefreshClaim(release: { self.releaseClaim(name) })
        }
        if claim != nil { l1?.invalidate([PostgresSchema.partition(homeAccountID: subject.homeAccountID, clientID: nil)]) }
        return claim
    }

    /// Gives the advisory lock of the claim `name` up (when its connection was lost, the
    /// server already has).
    private func releaseClaim(_ name: String) {
        claimLock.withLock { _ = try? claimLink.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [.text(name)]) }
    }

    // MARK: - Writing

    /// Adds a token response's entries as MSAL Python's `add()` would, in one statement (a
    /// transaction of its own, one round trip to the server).
    @discardableResult
    public func add(response: JSONObject, context: TokenResponseContext) throws -> CacheChange {
        let entries = try TokenResponseEntries.make(response: response, context: context)
        return try writing(retry: .always, empty: CacheChange(), creating: true, oneStatement: true) { writer, _ in
            try writer.upsert(entries, announcing: true)
        }
    }

    /// Saves a refresh-token grant's result update-only, in one transaction holding the
    /// account's partition lock: nothing is written when the refresh token used is gone
    /// (the account was signed out).
    public func saveRefreshResult(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws -> RefreshSaveOutcome {
        let result = try RefreshResult(response: response, context: context, refreshTokenKey: refreshTokenKey)
        return try writing(retry: .beforeCommit, empty: .accountRemoved, creating: false) { writer, reader in
            let used: RefreshToken? = try reader.entry(key: refreshTokenKey)
            if let used { try writer.lock([PostgresSchema.partition(RowCodec.columns(of: used.fields))]) }
            // Read again under the lock: a sign-out may have committed in between.
            let current: RefreshToken? = used == nil ? nil : try reader.entry(key: refreshTokenKey)
            return try result.save(used: current?.fields) { type, key, fields in try writer.upsert(type, key: key, fields: fields) }
        }
    }

    /// Signs an account out of an app with MSAL Python's scope, in one transaction holding
    /// the account's partition lock.
    @discardableResult
    public func removeAccount(homeAccountID: String, environment: String, clientID: String, now: Int64) throws -> CacheChange {
        try writing(retry: .always, empty: CacheChange(), creating: false) { writer, reader in
            try writer.lock([PostgresSchema.partition(homeAccountID: homeAccountID, clientID: nil)])
            return try CacheQueries.removeAccount(homeAccountID: homeAccountID, environment: environment, clientID: clientID, in: reader,
                                                  delete: writer.delete, deleteExpired: { try writer.deleteExpiredAccessTokens(now: now) })
        }
    }

    /// Deletes every access token that expired before `now`, in one statement.
    @discardableResult
    public func removeExpiredAccessTokens(now: Int64) throws -> CacheChange {
        try writing(retry: .always, empty: CacheChange(), creating: false) { writer, _ in
            var change = CacheChange()
            change.removed = try writer.deleteExpiredAccessTokens(now: now)
            return change
        }
    }

    /// Deletes every entry and section; the tables and the key description stay.
    public func clear() throws {
        try writing(retry: .always, empty: (), creating: false) { writer, _ in try writer.deleteAll() }
    }

    /// Replaces the whole content with `cache`'s, in one transaction.
    public func replaceContents(with cache: TokenCache) throws {
        let members = cache.members
        try writing(retry: .always, empty: (), creating: true) { writer, _ in
            try writer.deleteAll()
            for member in members { try writer.append(member) }
        }
    }

    /// Writes every entry and member of `cache` into the store, in one transaction,
    /// replacing entries under the same keys and keeping the rest (a bulk import).
    public func merge(_ cache: TokenCache) throws {
        let members = cache.members
        try writing(retry: .always, empty: (), creating: true) { writer, _ in
            for member in members { try writer.append(member) }
        }
    }

    // MARK: - Health

    /// What ``health()`` found.
    public struct Health: Sendable {
        /// Whether the store's tables exist.
        public var exists: Bool
        /// The server's version, such as `15.18`.
        public var serverVersion: String
        /// The store's schema version.
        public var schemaVersion: Int64
        /// The number of entries in each known section.
        public var entryCounts: [CredentialType: Int]
        /// The number of partitions (users and apps).
        public var partitions: Int
        /// The tables' size on the server, with their indexes, in bytes.
        public var sizeBytes: Int64
    }

    /// Connects, identifies the store and measures it; nothing is created.
    public func health() throws -> Health {
        let schema = endpoint.schema
        let measured: Health? = try withDatabase(creating: false, retry: .always) { link, _ in
            var counts: [CredentialType: Int] = [:]
            for row in try link.query("SELECT credential_type, count(*) FROM \(schema).entries GROUP BY credential_type") {
                counts[CredentialType(rawValue: row.text(0) ?? "")] = Int(row.integer(1) ?? 0)
            }
            let numbers = try link.query("""
                SELECT current_setting('server_version'), (SELECT count(DISTINCT partition) FROM \(schema).entries),
                       pg_total_relation_size('\(schema).entries') + pg_total_relation_size('\(schema).sections') + pg_total_relation_size('\(schema).meta')
                """)
            let version = try link.query("SELECT value FROM \(schema).meta WHERE name = 'schema_version'").first.map { Int64(String(decoding: $0.bytes(0), as: UTF8.self)) ?? 0 } ?? 0
            return Health(exists: true, serverVersion: numbers.first?.text(0) ?? "", schemaVersion: version, entryCounts: counts,
                          partitions: Int(numbers.first?.integer(1) ?? 0), sizeBytes: numbers.first?.integer(2) ?? 0)
        }
        if let measured { return measured }
        let version = try lock.withLock { () throws(CacheStorageError) -> String in
            try link.query("SELECT current_setting('server_version')").first?.text(0) ?? ""
        }
        return Health(exists: false, serverVersion: version, schemaVersion: 0, entryCounts: [:], partitions: 0, sizeBytes: 0)
    }

    /// When a failed call may run again.
    enum RetryPolicy {
        /// Always: the call reads, or applying it twice has the same effect.
        case always
        /// Only when it failed before its COMMIT was sent.
        case beforeCommit
    }

    /// Runs `body` in one write transaction and notifies the partitions it changed at
    /// commit; `empty` without creating anything when the store does not exist and
    /// `creating` is not set (a change of nothing). With `oneStatement`, `body` runs a
    /// single statement that notifies by itself, which is its own transaction.
    private func writing<R>(retry: RetryPolicy, empty: R, creating: Bool, oneStatement: Bool = false, _ body: (PostgresRowWriter, PostgresEntryReader) throws -> R) throws -> R {
        var changed: Set<String> = []
        let result: R? = try withDatabase(creating: creating, retry: retry) { link, codec in
            let writer = PostgresRowWriter(link: link, codec: codec, sql: writerSQL)
            if oneStatement {
                let result = try body(writer, PostgresEntryReader(link: link, codec: codec, sql: readerSQL))
                changed = writer.changed
                return result
            }
            try link.run("BEGIN")
            let result: R
            do {
                result = try body(writer, PostgresEntryReader(link: link, codec: codec, sql: readerSQL))
                if !writer.changed.isEmpty {
                    // Delivered to every listening instance when (and only if) this commits.
                    // A payload has at most 8,000 bytes: a change of many partitions (an
                    // import) is announced as a change of everything.
                    var payload = writer.changed.sorted().joined(separator: "\n")
                    if payload.utf8.count > 7_000 { payload = "*" }
                    try link.query("SELECT pg_notify($1, $2)", [.text(PostgresSchema.channel), .text(payload)])
                }
                committing = true
                try link.run("COMMIT")
            } catch {
                if link.isOpen { _ = try? link.run("ROLLBACK") }
                throw error
            }
            changed = writer.changed
            return result
        }
        l1?.invalidate(changed)
        return result ?? empty
    }

    /// Whether the current attempt has sent its COMMIT.
    private var committing = false

    // MARK: - Connection

    /// Runs `body` on the open connection, opening it and reading the store's key first;
    /// `nil` when the store does not exist and `creating` is not set. Retries after a lost
    /// connection as `retry` allows, for up to ``Options/retryFor``.
    private func withDatabase<R>(creating: Bool, retry: RetryPolicy, _ body: (PostgresLink, RowCodec) throws -> R) throws -> R? {
        lock.lock()
        defer { lock.unlock() }
        let deadline = ContinuousClock.now + options.retryFor
        var pause = Duration.milliseconds(50)
        while true {
            committing = false
            do {
                if codec == nil {
                    guard let opened = try open(creating: creating) else { return nil }
                    codec = opened
                }
                return try body(link, codec!)
            } catch let error as CacheStorageError where error.code == .unavailable || error.code == .lockTimeout {
                link.close()
                codec = nil
                let safe = retry == .always || !committing
                guard safe, ContinuousClock.now + pause < deadline else {
                    if committing {
                        throw CacheStorageError(code: error.code, location: error.location, reason: error.reason + ". The connection was lost while committing, so the change may or may not have been saved: read it back before retrying")
                    }
                    throw error
                }
                Thread.sleep(forTimeInterval: pause.timeInterval)
                pause = min(pause * 2, .seconds(1))
            }
        }
    }

    /// Connects, identifies the schema (creating or upgrading it when `creating`), and
    /// checks the key; `nil` when there is no store and `creating` is not set.
    private func open(creating: Bool) throws -> RowCodec? {
        try link.connect()
        var created: RowKeyMeta.Created?
        switch try PostgresSchema.identify(link) {
        case .empty:
            guard creating else { return nil }
            let made = try RowKeyMeta.create(keys)
            created = made
            try PostgresSchema.prepare(link, meta: made.meta)
        case .tokenCache(let version) where version < PostgresSchema.currentVersion:
            try PostgresSchema.prepare(link, meta: [])
        case .tokenCache:
            break
        }
        let key = try RowKeyMeta.key(from: try PostgresSchema.metaReader(link), keys: keys, created: created, location: location, spec: "postgres://USER@HOST:PORT/DATABASE")
        return RowCodec(key: key, location: location, label: PostgresSchema.rowLabel)
    }
}

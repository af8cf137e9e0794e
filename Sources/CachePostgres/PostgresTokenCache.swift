public import CacheBackends
import Foundation
public import TokenCache

/// A token cache shared by many app instances, in a PostgreSQL database: one row per entry,
/// as in the SQLite store, partitioned by account and by app.
///
/// - **Rows.** Each entry's row holds its partition (`user:HOME_ACCOUNT_ID`, or
///   `app:CLIENT_ID` for an app's own tokens and metadata), its lookup columns and its whole
///   JSON, every unknown field included (see `PostgresDatabase`). A lookup reads only the
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
public final class PostgresTokenCache: RowStoreBacked, @unchecked Sendable {
    // @unchecked: `claimLink` is only touched while `claimLock` is held.

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
    package let rows: RowStore<PostgresDatabase>
    let l1: PostgresL1Cache?
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
        let l1 = endpoint.inProcessCache ? PostgresL1Cache(endpoint: endpoint, capacity: options.inProcessCapacity) : nil
        self.l1 = l1
        // An instance's own writes drop its partitions from the L1 as soon as they commit.
        rows = RowStore(database: PostgresDatabase(endpoint: endpoint), keys: endpoint.keySource.map { EncryptionKeys(source: $0, location: endpoint.location) },
                        retryFor: options.retryFor, committed: { l1?.invalidate($0) })
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
        rows.close()
    }

    // MARK: - From async code

    /// Runs `operation` on the store's own thread: the calls wait for the server there (up
    /// to the endpoint's timeout, and the retries of ``Options/retryFor``), never on a
    /// thread of Swift's cooperative pool, and the calling task suspends meanwhile. The
    /// store's calls take turns on its connection anyway, so one thread serves them all.
    nonisolated(nonsending)
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
        return try rows.lookupAccessToken(query)
    }

    /// The refresh tokens a silent request may try, in MSAL Python's order.
    public func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) throws -> [RefreshToken] {
        if let reader = l1Reader(clientID: clientID) {
            return try CacheQueries.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID, in: reader)
        }
        return try rows.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID)
    }

    /// A reader over the L1 when it is serving.
    private func l1Reader(clientID: String) -> PostgresL1Reader? {
        guard let l1, l1.isServing() else { return nil }
        return PostgresL1Reader(clientID: clientID, partition: { partition throws(CacheStorageError) in
            let (cached, token) = l1.rows(partition)
            if let cached { return cached }
            let read = try self.rows.reading([]) { reader throws(CacheStorageError) in
                try reader.partition(partition).map { PostgresL1Cache.Row(type: $0.type, key: $0.key, columns: RowCodec.columns(of: $0.fields), fields: $0.fields) }
            }
            l1.install(partition, rows: read, token: token)
            return read
        }, store: rows)
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
        if claim != nil { l1?.invalidate([RowSQL.partition(homeAccountID: subject.homeAccountID, clientID: nil)]) }
        return claim
    }

    /// Gives the advisory lock of the claim `name` up (when its connection was lost, the
    /// server already has).
    private func releaseClaim(_ name: String) {
        claimLock.withLock { _ = try? claimLink.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [.text(name)]) }
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
        let measured: Health? = try rows.withDatabase(creating: false, retry: .always) { database, _ in
            let link = database.link
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
        let version = try rows.withConnection { database in
            try database.link.query("SELECT current_setting('server_version')").first?.text(0) ?? ""
        }
        return Health(exists: false, serverVersion: version, schemaVersion: 0, entryCounts: [:], partitions: 0, sizeBytes: 0)
    }
}

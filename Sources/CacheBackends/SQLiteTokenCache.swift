#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
public import TokenCache

/// A token cache kept in a SQLite database, one row per entry, for large and busy caches.
///
/// Unlike a serialized file, the database is never read or written whole: a lookup is one
/// or two indexed queries, and a token response writes only the rows it changes, in one
/// transaction. So a lookup costs the same at a hundred thousand users as at ten, and
/// another process's write is seen by the next lookup without reloading anything.
///
/// - **Format.** The tables are described in `SQLiteDatabase`: every entry keeps every
///   field, known or not, and the cache's order, so `snapshot()` gives back exactly what
///   MSAL Python would write (see `tokencache copy`).
/// - **Encryption.** With a key source, each entry's JSON is sealed with AES-256-GCM under
///   its own nonce and bound to its row; only the lookup columns (credential type, key,
///   home account id, environment, client id, realm, family id, expires_on) stay readable.
///   A wrong key is a ``CacheStorageError`` with code `wrongKey`.
/// - **Concurrency.** WAL mode; every write is one `BEGIN IMMEDIATE` transaction, so
///   writers from many processes queue on the busy timeout instead of failing. One instance
///   may be shared by many threads; they take turns on its connection.
/// - **Files.** The database and its `-wal` and `-shm` files are mode 0600 in a folder
///   created 0700; symbolic links and other users' files are refused. Deleted entries are
///   overwritten on disk (`secure_delete`).
/// - **Safety.** A file that is not a database, another application's database, or a
///   newer schema version gives a typed error, and the file is left untouched.
public final class SQLiteTokenCache: RowStoreBacked, Sendable {
    /// How the store uses SQLite.
    public struct Options: Sendable {
        /// How long a write waits for another process's transaction before failing with
        /// `lockTimeout`. The default is 30 seconds.
        public var busyTimeout: Duration
        /// Whether each commit is flushed to disk before it returns (`PRAGMA synchronous =
        /// FULL`, the default) or only to the operating system (`NORMAL`: a commit survives
        /// the process being killed, but may be lost if the machine loses power).
        public var flushEachCommit: Bool

        /// Creates options.
        public init(busyTimeout: Duration = .seconds(30), flushEachCommit: Bool = true) {
            self.busyTimeout = busyTimeout
            self.flushEachCommit = flushEachCommit
        }
    }

    /// The database file.
    public let path: String
    /// Where the key comes from, or `nil` for a store in the clear.
    public let keySource: EncryptionKeySource?
    /// The options.
    public let options: Options
    package let rows: RowStore<SQLiteDatabase>

    /// The database file.
    public var location: String { path }
    /// Whether each entry is encrypted.
    public var isEncrypted: Bool { keySource != nil }

    /// Creates a store for the database at `path` (created on the first write).
    public init(path: String, keySource: EncryptionKeySource? = nil, options: Options = Options()) {
        let expanded = (path as NSString).expandingTildeInPath
        self.path = expanded
        self.keySource = keySource
        self.options = options
        rows = RowStore(database: SQLiteDatabase(path: expanded, options: options),
                        keys: keySource.map { EncryptionKeys(source: $0, location: expanded) }, retryFor: .zero)
    }

    /// Closes the connection; the next operation opens it again.
    public func close() {
        rows.close()
    }

    // MARK: - The store's calls
    // The row store's, as `RowStoreBacked` gives them, but called on the concrete store so
    // the compiler specializes the engine for SQLite (the generic path costs a tenth more
    // per lookup).

    /// The silent-lookup decision for `query`: one indexed query per environment tried,
    /// decoding only the tokens that could answer it.
    public func lookupAccessToken(_ query: AccessTokenQuery) throws -> AccessTokenLookup { try rows.lookupAccessToken(query) }

    /// The refresh tokens a silent request may try, in MSAL Python's order.
    public func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) throws -> [RefreshToken] {
        try rows.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID)
    }

    /// The accounts MSAL Python's `get_accounts()` lists.
    public func accounts(environment: String, aliases: [String] = [], username: String? = nil) throws -> [Account] {
        try accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: false)
    }

    /// The same, with Azure Cloud Shell's accounts when `includeCloudShell`.
    public func accounts(environment: String, aliases: [String], username: String?, includeCloudShell: Bool) throws -> [Account] {
        try rows.accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: includeCloudShell)
    }

    /// Adds a token response's entries in one transaction, as MSAL Python's `add()` would.
    @discardableResult
    public func add(response: JSONObject, context: TokenResponseContext) throws -> CacheChange { try rows.add(response: response, context: context) }

    /// Saves a refresh-token grant's result update-only, in one transaction.
    public func saveRefreshResult(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws -> RefreshSaveOutcome {
        try rows.saveRefreshResult(response: response, context: context, refreshTokenKey: refreshTokenKey)
    }

    // MARK: - Refresh claims

    /// Takes the refresh claim for `subject` when no thread of this process and no other
    /// process holds it: a lock file per account beside the database
    /// (`<database>.refresh-<fingerprint>.lockfile`, see ``FileLock/tryClaim(_:)``), so a
    /// refresh never holds a database transaction open while it waits for the provider.
    public func tryClaimRefresh(_ subject: RefreshClaim.Subject) throws -> RefreshClaim? {
        try InProcessRefreshClaims.tryClaim("\(path) \(subject.fingerprint)") {
            try FileLock(forCacheAt: path).tryClaim(subject.fingerprint)
        }
    }

    // MARK: - From async code

    /// Runs a lookup or a claim at once (a local read in WAL mode never waits for writers;
    /// a claim is a lock file tried once), and a write on a thread of the library's own,
    /// where it may wait out the busy timeout (and its turn on the connection) without
    /// holding a thread of Swift's cooperative pool.
    nonisolated(nonsending)
    public func perform<T: Sendable>(_ access: StoreAccess, _ operation: @escaping @Sendable () throws -> T) async throws -> T {
        switch access {
        case .lookup, .claim: return try operation()
        case .write: return try await StoreWorker.shared.run(operation)
        }
    }

    // MARK: - Health

    /// The version of the SQLite library in use, such as `3.40.1`.
    public static var libraryVersion: String { SQLiteConnection.libraryVersion }

    /// What ``SQLiteTokenCache/health(full:)`` found.
    public struct Health: Sendable {
        /// `PRAGMA quick_check`'s findings: `["ok"]` for a sound database.
        public var problems: [String]
        /// The database's size on disk, with its write-ahead log, in bytes.
        public var sizeBytes: Int64
        /// The schema version (`PRAGMA user_version`).
        public var schemaVersion: Int64
        /// The number of entries in each known section.
        public var entryCounts: [CredentialType: Int]
        /// Whether the database exists.
        public var exists: Bool
        /// Whether the database is sound.
        public var isOK: Bool { problems == ["ok"] }
    }

    /// Checks the database (`PRAGMA quick_check`, or the slower `integrity_check` with
    /// `full`) and measures it. A missing database is healthy and empty.
    public func health(full: Bool = false) throws -> Health {
        let measured = try rows.withDatabase(creating: false, retry: .always) { database, _ -> Health in
            guard let connection = database.connection else { throw CacheStorageError(code: .unavailable, location: path, reason: "the database is not open") }
            let problems = try connection.strings(full ? "PRAGMA integrity_check" : "PRAGMA quick_check")
            let pages = try connection.scalar("PRAGMA page_count") ?? 0
            let pageSize = try connection.scalar("PRAGMA page_size") ?? 0
            let version = try connection.scalar("PRAGMA user_version") ?? 0
            let counts = try connection.query("SELECT credential_type, count(*) FROM entries GROUP BY credential_type") { statement throws(CacheStorageError) in
                var counts: [CredentialType: Int] = [:]
                while try statement.step() {
                    counts[CredentialType(rawValue: statement.text(0) ?? "")] = Int(statement.integer(1) ?? 0)
                }
                return counts
            }
            var wal = stat()
            let walSize = lstat(path + "-wal", &wal) == 0 ? Int64(wal.st_size) : 0
            return Health(problems: problems, sizeBytes: pages * pageSize + walSize, schemaVersion: version, entryCounts: counts, exists: true)
        }
        return measured ?? Health(problems: ["ok"], sizeBytes: 0, schemaVersion: 0, entryCounts: [:], exists: false)
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
public import Foundation
public import TokenCache

/// A token cache kept in a SQLite database, one row per entry, for large and busy caches.
///
/// Unlike a serialized file, the database is never read or written whole: a lookup is one
/// or two indexed queries, and a token response writes only the rows it changes, in one
/// transaction. So a lookup costs the same at a hundred thousand users as at ten, and
/// another process's write is seen by the next lookup without reloading anything.
///
/// - **Format.** The tables are described in `SQLiteSchema`: every entry keeps every
///   field, known or not, and the cache's order, so ``snapshot()`` gives back exactly what
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
public final class SQLiteTokenCache: TokenCacheStore, @unchecked Sendable {
    // @unchecked: `database` is only touched while `lock` is held, so its connection is
    // used by one thread at a time.

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
    private let keys: EncryptionKeys?
    private let lock = NSLock()
    private let worker = StoreWorker(label: "tokencache.sqlite")
    private var database: (connection: SQLiteConnection, codec: RowCodec)?

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
        keys = keySource.map { EncryptionKeys(source: $0, location: expanded) }
    }

    deinit { database?.connection.close() }

    /// Closes the connection; the next operation opens it again.
    public func close() {
        lock.withLock {
            database?.connection.close()
            database = nil
        }
    }

    // MARK: - Reading

    /// The silent-lookup decision for `query`: one indexed query per environment tried,
    /// decoding only the tokens that could answer it.
    public func lookupAccessToken(_ query: AccessTokenQuery) throws -> AccessTokenLookup {
        try reading(.miss(expired: false)) { reader in try CacheQueries.lookupAccessToken(query, in: reader) }
    }

    /// The refresh tokens a silent request may try, in MSAL Python's order.
    public func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) throws -> [RefreshToken] {
        try reading([]) { reader in try CacheQueries.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID, in: reader) }
    }

    /// The accounts MSAL Python's `get_accounts()` lists.
    public func accounts(environment: String, aliases: [String] = [], username: String? = nil) throws -> [Account] {
        try reading([]) { reader in try CacheQueries.accounts(environment: environment, aliases: aliases, username: username, in: reader) }
    }

    /// The whole cache, read in one transaction.
    public func snapshot() throws -> TokenCache {
        let members = try withDatabase(creating: false) { connection, codec in
            try connection.transaction(writing: false) { try SQLiteTokenCache.members(connection, codec) }
        }
        return try TokenCache(members: members ?? [], location: path)
    }

    private static func members(_ connection: SQLiteConnection, _ codec: RowCodec) throws -> [CacheMember] {
        let reader = SQLiteEntryReader(connection: connection, codec: codec)
        return try connection.query("SELECT name, value FROM sections ORDER BY position") { sections throws(CacheStorageError) in
            var members: [CacheMember] = []
            while try sections.step() {
                let name = sections.text(0) ?? ""
                if sections.isNull(1) {
                    members.append(.entries(CredentialType(rawValue: name), try reader.section(name)))
                } else {
                    let value = try sections.withBytes(1) { bytes throws(CacheStorageError) in try codec.value(from: bytes, section: "", key: name) }
                    members.append(.value(name, value))
                }
            }
            return members
        }
    }

    // MARK: - Writing

    /// Adds a token response's entries in one transaction, as MSAL Python's `add()` would.
    @discardableResult
    public func add(response: JSONObject, context: TokenResponseContext) throws -> CacheChange {
        let entries = try TokenResponseEntries.make(response: response, context: context)
        return try writing(creating: true, empty: CacheChange()) { writer, _ in try writer.upsert(entries) }
    }

    /// Saves a refresh-token grant's result update-only, in one transaction: nothing is
    /// written when the refresh token used is gone (the account was signed out).
    public func saveRefreshResult(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws -> RefreshSaveOutcome {
        let result = try RefreshResult(response: response, context: context, refreshTokenKey: refreshTokenKey)
        return try writing(creating: false, empty: .accountRemoved) { writer, reader in
            let used: RefreshToken? = try reader.entry(key: refreshTokenKey)
            return try result.save(used: used?.fields) { type, key, fields in try writer.upsert(type, key: key, fields: fields) }
        }
    }

    /// Signs an account out of an app with MSAL Python's scope, in one transaction.
    @discardableResult
    public func removeAccount(homeAccountID: String, environment: String, clientID: String, now: Int64) throws -> CacheChange {
        try writing(creating: false, empty: CacheChange()) { writer, reader in
            try CacheQueries.removeAccount(homeAccountID: homeAccountID, environment: environment, clientID: clientID, in: reader,
                                           delete: writer.delete, deleteExpired: { try writer.deleteExpiredAccessTokens(now: now) })
        }
    }

    /// Deletes every access token that expired before `now`, in one statement.
    @discardableResult
    public func removeExpiredAccessTokens(now: Int64) throws -> CacheChange {
        try writing(creating: false, empty: CacheChange()) { writer, _ in
            var change = CacheChange()
            change.removed = try writer.deleteExpiredAccessTokens(now: now)
            return change
        }
    }

    /// Deletes every entry and section; the database and its key description stay.
    public func clear() throws {
        try writing(creating: false, empty: ()) { writer, _ in try writer.deleteAll() }
    }

    /// Replaces the whole content with `cache`'s, in one transaction.
    public func replaceContents(with cache: TokenCache) throws {
        let members = cache.members
        try writing(creating: true, empty: ()) { writer, _ in
            try writer.deleteAll()
            for member in members { try writer.append(member) }
        }
    }

    /// Writes every entry and member of `cache` into the store, in one transaction,
    /// replacing entries under the same keys and keeping the rest (a bulk import).
    public func merge(_ cache: TokenCache) throws {
        let members = cache.members
        try writing(creating: true, empty: ()) { writer, _ in
            for member in members { try writer.append(member) }
        }
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

    /// Runs a lookup at once (a local read in WAL mode never waits for writers), and a
    /// write on the store's own thread, where it may wait out the busy timeout without
    /// holding a thread of Swift's cooperative pool.
    public func perform<T: Sendable>(_ access: StoreAccess, _ operation: @escaping @Sendable () throws -> T) async throws -> T {
        switch access {
        case .lookup: return try operation()
        case .write: return try await worker.run(operation)
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
        let measured = try withDatabase(creating: false) { connection, _ -> Health in
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

    // MARK: - Connection

    private func reading<R>(_ empty: R, _ body: (SQLiteEntryReader) throws -> R) throws -> R {
        try withDatabase(creating: false) { connection, codec in try body(SQLiteEntryReader(connection: connection, codec: codec)) } ?? empty
    }

    /// Runs `body` in one write transaction; returns `empty` without creating anything when
    /// there is no database and `creating` is not set.
    private func writing<R>(creating: Bool, empty: R, _ body: (SQLiteRowWriter, SQLiteEntryReader) throws -> R) throws -> R {
        try withDatabase(creating: creating) { connection, codec in
            try connection.transaction(writing: true) {
                try body(SQLiteRowWriter(connection: connection, codec: codec), SQLiteEntryReader(connection: connection, codec: codec))
            }
        } ?? empty
    }

    /// Runs `body` on the open database, opening it first; `nil` when there is no
    /// database and `creating` is not set.
    private func withDatabase<R>(creating: Bool, _ body: (SQLiteConnection, RowCodec) throws -> R) throws -> R? {
        lock.lock()
        defer { lock.unlock() }
        if database == nil {
            guard let opened = try openDatabase(creating: creating) else { return nil }
            database = opened
        }
        return try body(database!.connection, database!.codec)
    }

    /// The page size of new databases: several entries fit on a page.
    static let pageSize = 16384

    private func openDatabase(creating: Bool) throws -> (connection: SQLiteConnection, codec: RowCodec)? {
        if let info = try POSIX.checkTrusted(path) {
            if info.st_mode & 0o077 != 0 { _ = chmod(path, 0o600) }
        } else {
            guard creating else { return nil }
            let folder = (path as NSString).deletingLastPathComponent
            try POSIX.makeDirectory(folder.isEmpty ? "." : folder)
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 || errno == EEXIST else { throw POSIX.error(errno, path, "create the database") }
            if fd >= 0 { Glibc.close(fd) }
        }
        for companion in [path + "-wal", path + "-shm"] {
            if let info = try POSIX.checkTrusted(companion), info.st_mode & 0o077 != 0 { _ = chmod(companion, 0o600) }
        }
        // SQLite refuses a link anywhere in the path (SQLITE_OPEN_NOFOLLOW); a folder that is
        // a link to one of this user's (checked above) is opened by its real path, so the
        // store reads and writes through it as the file stores do. The file itself must
        // still not be a link.
        let connection = try SQLiteConnection(path: POSIX.resolvingFolder(of: path), create: false, busyTimeout: options.busyTimeout)
        do {
            let kind = try SQLiteSchema.identify(connection)
            if case .empty = kind, !creating {
                connection.close()
                return nil
            }
            if case .empty = kind {
                // Entries are about 2 KB (an access token's JSON): on SQLite's default 4 KB
                // pages only one fits per page, so the file would be twice the JSON's size.
                try connection.execute("PRAGMA page_size = \(SQLiteTokenCache.pageSize)")
            }
            try connection.useWriteAheadLog(timeout: options.busyTimeout)
            try connection.execute("PRAGMA synchronous = \(options.flushEachCommit ? "FULL" : "NORMAL")")
            try connection.execute("PRAGMA secure_delete = ON")
            // Checkpoints copy the log into the database; this keeps the log file from
            // staying as large as the largest transaction ever was.
            try connection.execute("PRAGMA journal_size_limit = \(64 << 20)")
            var created: RowKeyMeta.Created?
            switch kind {
            case .empty:
                created = try RowKeyMeta.create(keys)
                try SQLiteSchema.prepare(connection, meta: created?.meta ?? [("encryption", .text("none"))])
            case .tokenCache(let version) where version < SQLiteSchema.currentVersion:
                try SQLiteSchema.prepare(connection, meta: [])
            case .tokenCache:
                break
            }
            let key = try RowKeyMeta.key(from: SQLiteSchema.metaReader(connection), keys: keys, created: created, location: path, spec: "sqlite:PATH")
            return (connection, RowCodec(key: key, location: path, label: SQLiteSchema.rowLabel))
        } catch {
            connection.close()
            throw error
        }
    }
}

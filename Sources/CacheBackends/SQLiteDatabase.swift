#if canImport(Glibc)
@preconcurrency import Glibc
#endif
package import Foundation
package import TokenCache

/// The SQLite adapter of the row store (``RowStore``): the database file, its tables, and
/// SQLite's SQL.
///
/// | table | holds |
/// |---|---|
/// | `tokencache_meta` | `format` (`tokencache-sqlite`), `encryption` (`none` or `aes-256-gcm`), and for an encrypted store the key source, scrypt salt and parameters, and a key check |
/// | `sections` | the cache's top-level members in file order (`position`); `value` holds a member that is not one of the five entry sections (another SDK's data) |
/// | `entries` | one row per entry of the five known sections, in file order (`seq`), with its lookup columns and its whole JSON in `body` |
///
/// The schema version is `PRAGMA user_version`. A write transaction is `BEGIN IMMEDIATE`,
/// which excludes every other writer, so partitions need no locks of their own.
package final class SQLiteDatabase: RowDatabase {
    package let path: String
    package let options: SQLiteTokenCache.Options
    /// The open connection.
    private(set) var connection: SQLiteConnection?
    package let sql: RowSQL

    package var location: String { path }
    package var isConnected: Bool { connection != nil }

    package init(path: String, options: SQLiteTokenCache.Options) {
        self.path = path
        self.options = options
        sql = SQLiteDatabase.statements
    }

    /// The upsert of one row (a statement of several rows writes more pages here), its
    /// section added first.
    private static let upsert = "INSERT INTO entries (credential_type, key, home_account_id, app_only, environment, client_id, realm, family_id, target, expires_on, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (credential_type, key) DO UPDATE SET home_account_id = excluded.home_account_id, app_only = excluded.app_only, environment = excluded.environment, client_id = excluded.client_id, realm = excluded.realm, family_id = excluded.family_id, target = excluded.target, expires_on = excluded.expires_on, body = excluded.body"

    /// The SQL of every SQLite store, written once per process.
    private static let statements = RowSQL(
        format: "tokencache-sqlite", rowLabel: "tokencache-sqlite v1", specForm: "sqlite:PATH", migrations: migrations,
        isPartitioned: false, upsertAnnounces: false, rowsPerStatement: 1,
        schema: "", metaTable: "tokencache_meta", nullSafeEquals: "IS", placeholder: { _ in "?" },
        // BEGIN IMMEDIATE: two writers queue on the busy timeout instead of failing when one
        // upgrades; it excludes every other writer, so no partition locks.
        beginWrite: "BEGIN IMMEDIATE", beginRead: "BEGIN", lock: nil, announce: nil,
        ensureSection: "INSERT INTO sections (name, position) VALUES (?, (SELECT ifnull(max(position), 0) + 1 FROM sections)) ON CONFLICT (name) DO NOTHING",
        putMember: "INSERT INTO sections (name, position, value) VALUES (?, (SELECT ifnull(max(position), 0) + 1 FROM sections), ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        setVersion: { ("PRAGMA user_version = \($0)", []) })

    deinit { connection?.close() }

    /// `migrations[n]` upgrades a database from version `n` to `n + 1`.
    package static let migrations: [[String]] = [
        [
            "CREATE TABLE tokencache_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
            "CREATE TABLE sections (name TEXT PRIMARY KEY, position INTEGER NOT NULL UNIQUE, value BLOB)",
            """
            CREATE TABLE entries (
                seq INTEGER PRIMARY KEY,
                credential_type TEXT NOT NULL,
                key TEXT NOT NULL,
                home_account_id TEXT,
                app_only INTEGER NOT NULL,
                environment TEXT,
                client_id TEXT,
                realm TEXT,
                family_id TEXT,
                target TEXT,
                expires_on INTEGER,
                body BLOB NOT NULL,
                UNIQUE (credential_type, key)
            )
            """,
            "CREATE INDEX entries_owner ON entries (credential_type, home_account_id, app_only, environment, client_id, realm)",
            "CREATE INDEX entries_environment ON entries (credential_type, environment)",
            "CREATE INDEX entries_expiry ON entries (credential_type, expires_on) WHERE expires_on IS NOT NULL",
        ],
    ]

    /// The page size of new databases: several entries (about 2 KB each) fit on a page.
    package static let pageSize = 16384

    // MARK: - The connection

    /// The open connection, or an error if there is none (a use outside ``RowStore``).
    private func open() throws(CacheStorageError) -> SQLiteConnection {
        guard let connection else { throw CacheStorageError(code: .unavailable, location: path, reason: "the database is not open") }
        return connection
    }

    /// Opens the database file after checking it (this user's, not a link, 0600), creating
    /// it and its folder (0700) when `creating`.
    package func connect(creating: Bool) throws -> Bool {
        if connection != nil { return true }
        if let info = try POSIX.checkTrusted(path) {
            if info.st_mode & 0o077 != 0 { _ = chmod(path, 0o600) }
        } else {
            guard creating else { return false }
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
        connection = try SQLiteConnection(path: POSIX.resolvingFolder(of: path), create: false, busyTimeout: options.busyTimeout)
        return true
    }

    package func configure(isNew: Bool) throws {
        let connection = try open()
        // On SQLite's default 4 KB pages only one entry fits per page, so the file would be
        // twice the JSON's size.
        if isNew { try connection.execute("PRAGMA page_size = \(SQLiteDatabase.pageSize)") }
        try connection.useWriteAheadLog(timeout: options.busyTimeout)
        try connection.execute("PRAGMA synchronous = \(options.flushEachCommit ? "FULL" : "NORMAL")")
        try connection.execute("PRAGMA secure_delete = ON")
        // Checkpoints copy the log into the database; this keeps the log file from staying
        // as large as the largest transaction ever was.
        try connection.execute("PRAGMA journal_size_limit = \(64 << 20)")
    }

    package func disconnect() {
        connection?.close()
        connection = nil
    }

    package func query(_ sql: String, _ values: [RowValue], _ each: (SQLiteStatement) throws(CacheStorageError) -> Void) throws(CacheStorageError) {
        try open().query(sql, values) { statement throws(CacheStorageError) in
            while try statement.step() { try each(statement) }
        }
    }

    @discardableResult
    package func run(_ sql: String, _ values: [RowValue]) throws(CacheStorageError) -> Int {
        let connection = try open()
        try connection.run(sql, values)
        return connection.changes
    }

    package func execute(_ sql: String) throws(CacheStorageError) {
        try open().execute(sql)
    }

    // MARK: - Rows

    package func upsert(_ rows: ArraySlice<EncodedRow>, announcing: Bool) throws(CacheStorageError) -> [String] {
        for row in rows {  // one: rowsPerStatement
            try run(sql.ensureSection, [.text(row.type.rawValue)])
            try run(SQLiteDatabase.upsert, Array(row.values.dropFirst()))  // no partition column
        }
        return []
    }

    // MARK: - The schema

    package func schemaState() throws(CacheStorageError) -> RowSchemaState {
        let connection = try open()
        let version = try connection.scalar("PRAGMA user_version") ?? 0
        let tables = try connection.strings("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        let format = tables.contains("tokencache_meta") ? try connection.text("SELECT value FROM tokencache_meta WHERE name = 'format'") : nil
        return RowSchemaState(tables: tables, format: format, version: version)
    }

    package func foreignSchema(_ state: RowSchemaState) -> String {
        let names = state.tables.prefix(5).joined(separator: ", ")
        return "this is another application's SQLite database (tables: \(names.isEmpty ? "none" : names), user_version \(state.version)), not a token cache. Nothing was changed; choose another path for the token cache"
    }
}

import Foundation
import TokenCache

/// The SQLite store's tables, their versions, and how a database file is recognised.
///
/// | table | holds |
/// |---|---|
/// | `tokencache_meta` | `format` (`tokencache-sqlite`), `encryption` (`none` or `aes-256-gcm`), and for an encrypted store the key source, scrypt salt and parameters, and a key check |
/// | `sections` | the cache's top-level members in file order (`position`); `value` holds a member that is not one of the five entry sections (another SDK's data) |
/// | `entries` | one row per entry of the five known sections, in file order (`seq`), with its lookup columns and its whole JSON in `body` |
///
/// The schema version is `PRAGMA user_version`; ``migrations`` lists, for each version, the
/// statements that upgrade a database from the version before. A database with a higher
/// version than this code knows is refused, never changed.
enum SQLiteSchema {
    static let format = "tokencache-sqlite"
    /// The first part of every sealed row's associated data.
    static let rowLabel = "tokencache-sqlite v1"

    /// `migrations[n]` upgrades a database from version `n` to `n + 1`.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE tokencache_meta (
                name TEXT PRIMARY KEY,
                value BLOB NOT NULL
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE sections (
                name TEXT PRIMARY KEY,
                position INTEGER NOT NULL UNIQUE,
                value BLOB
            )
            """,
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

    /// The version this code writes.
    static var currentVersion: Int64 { Int64(migrations.count) }

    /// What a database file holds.
    enum Kind {
        /// Nothing yet: a new file.
        case empty
        /// A token cache of this format at a schema version.
        case tokenCache(version: Int64)
    }

    /// Identifies the database without writing to it.
    ///
    /// - Throws: ``CacheStorageError`` `incompatible` for another application's database
    ///   or a newer schema, `damaged` for a file that is not a database.
    static func identify(_ connection: SQLiteConnection) throws -> Kind {
        let version = try connection.scalar("PRAGMA user_version") ?? 0
        let tables = try connection.strings("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        if tables.isEmpty, version == 0 { return .empty }
        guard tables.contains("tokencache_meta"),
              try connection.text("SELECT value FROM tokencache_meta WHERE name = 'format'") == format else {
            let names = tables.prefix(5).joined(separator: ", ")
            throw CacheStorageError(code: .incompatible, location: connection.path, reason: "this is another application's SQLite database (tables: \(names.isEmpty ? "none" : names), user_version \(version)), not a token cache. Nothing was changed; choose another path for the token cache")
        }
        guard version <= currentVersion else {
            throw CacheStorageError(code: .incompatible, location: connection.path, reason: "the token cache was written by a newer version of this library (schema \(version); this version knows up to \(currentVersion)). Nothing was changed; use the newer version, or copy the cache to a new path with it")
        }
        return .tokenCache(version: version)
    }

    /// Creates or upgrades the tables inside one write transaction, checking again inside
    /// it, since another process may have done it meanwhile. `meta` is written when the
    /// database is created.
    static func prepare(_ connection: SQLiteConnection, meta: [(String, RowKeyMeta.Value)]) throws {
        try connection.transaction(writing: true) {
            var version: Int64
            switch try identify(connection) {
            case .empty:
                version = 0
            case .tokenCache(let current):
                version = current
            }
            let created = version == 0
            while version < currentVersion {
                for statement in migrations[Int(version)] { try connection.execute(statement) }
                version += 1
            }
            if created {
                try connection.run("INSERT INTO tokencache_meta (name, value) VALUES ('format', ?)", [.text(format)])
                for (name, value) in meta {
                    let stored: SQLiteValue
                    switch value {
                    case .text(let text): stored = .text(text)
                    case .integer(let number): stored = .integer(number)
                    case .blob(let bytes): stored = .blob(Data(bytes))
                    }
                    try connection.run("INSERT INTO tokencache_meta (name, value) VALUES (?, ?)", [.text(name), stored])
                }
            }
            try connection.execute("PRAGMA user_version = \(version)")
        }
    }

    /// The meta table's values, read one by one.
    static func metaReader(_ connection: SQLiteConnection) -> RowKeyMeta.Reader {
        let sql = "SELECT value FROM tokencache_meta WHERE name = ?"
        return RowKeyMeta.Reader(
            text: { name in try connection.text(sql, [.text(name)]) },
            integer: { name in try connection.scalar(sql, [.text(name)]) },
            blob: { name in try connection.blob(sql, [.text(name)]) }
        )
    }
}

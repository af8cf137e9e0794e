import CacheBackends
import Foundation

/// The PostgreSQL store's tables, in their own schema (`tokencache` unless the SPEC names
/// another), their versions, and how a schema is recognised.
///
/// | table | holds |
/// |---|---|
/// | `meta` | `format` (`tokencache-postgres`), `schema_version`, `encryption`, and for an encrypted store the key source, scrypt salt and parameters, and a key check |
/// | `sections` | the cache's top-level members in document order (`position`); `value` holds a member that is not one of the five entry sections |
/// | `entries` | one row per entry, in document order (`seq`): its partition, lookup columns and whole JSON (`body`) |
///
/// **Partitions.** Every entry belongs to one partition: `user:HOME_ACCOUNT_ID` for a
/// user's entries, `app:CLIENT_ID` for an app's own tokens and its app metadata. Lookups
/// go through the `(partition, credential_type, environment)` index, so one user's lookup
/// reads only that user's rows; writers lock the partition they change; notifications name
/// it.
///
/// ``migrations`` lists, for each version, the statements that upgrade the schema from the
/// version before; they run in one transaction under an advisory lock, so instances
/// starting together migrate once. A schema with a higher version than this code knows is
/// refused, never changed.
enum PostgresSchema {
    static let format = "tokencache-postgres"
    /// The first part of every sealed row's associated data.
    static let rowLabel = "tokencache-postgres v1"
    /// The notification channel writers announce changed partitions on.
    static let channel = "tokencache_changes"

    /// `migrations[n]` upgrades a schema from version `n` to `n + 1`; `{schema}` stands
    /// for the schema's name.
    static let migrations: [[String]] = [
        [
            "CREATE SCHEMA IF NOT EXISTS {schema}",
            "CREATE TABLE {schema}.meta (name text PRIMARY KEY, value bytea NOT NULL)",
            "CREATE TABLE {schema}.sections (name text PRIMARY KEY, position bigserial NOT NULL, value bytea)",
            """
            CREATE TABLE {schema}.entries (
                seq bigserial NOT NULL,
                partition text NOT NULL,
                credential_type text NOT NULL,
                key text NOT NULL,
                home_account_id text,
                app_only boolean NOT NULL,
                environment text,
                client_id text,
                realm text,
                family_id text,
                target text,
                expires_on bigint,
                body bytea NOT NULL,
                PRIMARY KEY (credential_type, key)
            )
            """,
            "CREATE INDEX entries_partition ON {schema}.entries (partition, credential_type, environment)",
            "CREATE INDEX entries_environment ON {schema}.entries (credential_type, environment)",
            "CREATE INDEX entries_order ON {schema}.entries (credential_type, seq)",
            "CREATE INDEX entries_expiry ON {schema}.entries (credential_type, expires_on) WHERE expires_on IS NOT NULL",
        ],
    ]

    /// The version this code writes.
    static var currentVersion: Int64 { Int64(migrations.count) }

    /// The partition of a home account's entries, or of an app's own (`nil` home account).
    static func partition(homeAccountID: String?, clientID: String?) -> String {
        homeAccountID.map { "user:" + $0 } ?? "app:" + (clientID ?? "")
    }

    /// The partition of an entry with these lookup columns.
    static func partition(_ columns: RowCodec.Columns) -> String {
        partition(homeAccountID: columns.homeAccountID, clientID: columns.clientID)
    }

    /// What a schema holds.
    enum Kind {
        /// Nothing yet.
        case empty
        /// A token cache of this format at a version.
        case tokenCache(version: Int64)
    }

    /// Identifies the schema without writing to it.
    ///
    /// - Throws: ``CacheStorageError`` `incompatible` when the schema holds another
    ///   application's tables or a newer version.
    static func identify(_ link: PostgresLink) throws -> Kind {
        let schema = link.endpoint.schema
        let tables = try link.query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [.text(schema)]).compactMap { $0.text(0) }
        if tables.isEmpty { return .empty }
        var format: String?
        var version: Int64 = 0
        if tables.contains("meta") {
            for row in try link.query("SELECT name, value FROM \(schema).meta WHERE name IN ('format', 'schema_version')") {
                let value = String(decoding: row.bytes(1), as: UTF8.self)
                if row.text(0) == "format" { format = value } else { version = Int64(value) ?? 0 }
            }
        }
        guard format == PostgresSchema.format else {
            throw CacheStorageError(code: .incompatible, location: link.endpoint.location, reason: "schema \"\(schema)\" holds another application's tables (\(tables.prefix(5).joined(separator: ", "))), not a token cache. Nothing was changed; name another schema with ?schema=NAME")
        }
        guard version <= currentVersion else {
            throw CacheStorageError(code: .incompatible, location: link.endpoint.location, reason: "the store was written by a newer version (schema version \(version); this version knows up to \(currentVersion)). Nothing was changed; use a newer tokencache")
        }
        return .tokenCache(version: version)
    }

    /// Creates or upgrades the schema in one transaction, with `meta` for a new store; a
    /// no-op when another instance got there first.
    static func prepare(_ link: PostgresLink, meta: [(String, RowKeyMeta.Value)]) throws {
        let schema = link.endpoint.schema
        try link.run("BEGIN")
        do {
            try link.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.text("tokencache-schema:" + schema)])
            var version: Int64
            switch try identify(link) {
            case .empty: version = 0
            case .tokenCache(let current): version = current
            }
            let created = version == 0
            while version < currentVersion {
                for statement in migrations[Int(version)] {
                    try link.run(statement.replacingOccurrences(of: "{schema}", with: schema))
                }
                version += 1
            }
            if created {
                let rows: [(String, RowKeyMeta.Value)] = [("format", .text(format))] + meta
                for (name, value) in rows {
                    try link.run("INSERT INTO \(schema).meta (name, value) VALUES ($1, $2)", [.text(name), .bytes(bytes(value))])
                }
            }
            try link.run("INSERT INTO \(schema).meta (name, value) VALUES ('schema_version', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [.bytes(Array(String(version).utf8))])
            try link.run("COMMIT")
        } catch {
            _ = try? link.run("ROLLBACK")
            throw error
        }
    }

    /// How a meta value is stored: text and integers as UTF-8 text, blobs as they are.
    static func bytes(_ value: RowKeyMeta.Value) -> [UInt8] {
        switch value {
        case .text(let text): return Array(text.utf8)
        case .integer(let number): return Array(String(number).utf8)
        case .blob(let bytes): return bytes
        }
    }

    /// The meta table's values, read once.
    static func metaReader(_ link: PostgresLink) throws -> RowKeyMeta.Reader {
        var values: [String: [UInt8]] = [:]
        for row in try link.query("SELECT name, value FROM \(link.endpoint.schema).meta") {
            values[row.text(0) ?? ""] = row.bytes(1)
        }
        return RowKeyMeta.Reader(
            text: { name in values[name].map { String(decoding: $0, as: UTF8.self) } },
            integer: { name in values[name].flatMap { Int64(String(decoding: $0, as: UTF8.self)) } },
            blob: { name in values[name] }
        )
    }
}

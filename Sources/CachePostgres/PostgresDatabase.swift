package import CacheBackends
package import Foundation
package import TokenCache

/// The PostgreSQL adapter of the row store (`RowStore`): one connection to the server, the
/// store's tables in their own schema (`tokencache` unless the SPEC names another), and
/// PostgreSQL's SQL.
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
/// reads only that user's rows; writers lock the partition they change (a
/// transaction-scoped advisory lock); a commit notifies the partitions it changed on
/// ``channel``.
///
/// Migrations run in one transaction under an advisory lock, so instances starting
/// together migrate once.
package final class PostgresDatabase: RowDatabase {
    package let endpoint: PostgresEndpoint
    let link: PostgresLink
    package let sql: RowSQL
    /// The upsert statement for each number of rows, written once.
    private var upserts: [Bool: [Int: String]] = [:]

    /// The notification channel writers announce changed partitions on.
    package static let channel = "tokencache_changes"

    package var location: String { endpoint.location }
    package var isConnected: Bool { link.isOpen }

    package init(endpoint: PostgresEndpoint) {
        self.endpoint = endpoint
        link = PostgresLink(endpoint: endpoint, timeout: endpoint.timeout)
        let schema = endpoint.schema
        sql = RowSQL(format: "tokencache-postgres", rowLabel: "tokencache-postgres v1", specForm: "postgres://USER@HOST:PORT/DATABASE",
                     migrations: PostgresDatabase.migrations.map { $0.map { $0.replacingOccurrences(of: "{schema}", with: schema) } },
                     isPartitioned: true, upsertAnnounces: true, rowsPerStatement: 1_000,
                     schema: schema, metaTable: "meta",
                     nullSafeEquals: "IS NOT DISTINCT FROM", placeholder: { "$\($0)" },
                     // Writers lock the partitions they read before they write; a read is one
                     // repeatable snapshot; a commit notifies the partitions it changed.
                     beginWrite: "BEGIN", beginRead: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                     lock: "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                     announce: "SELECT pg_notify('\(PostgresDatabase.channel)', $1)",
                     ensureSection: "INSERT INTO \(schema).sections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                     putMember: "INSERT INTO \(schema).sections (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                     setVersion: { version in
                         ("INSERT INTO \(schema).meta (name, value) VALUES ('schema_version', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [.blob(Data(String(version).utf8))])
                     })
    }

    /// `migrations[n]` upgrades a schema from version `n` to `n + 1`; `{schema}` stands
    /// for the schema's name.
    package static let migrations: [[String]] = [
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

    // MARK: - The connection

    /// Connects; the schema may be empty, which ``RowStore`` finds out.
    package func connect(creating: Bool) throws -> Bool {
        try link.connect()
        return true
    }

    package func configure(isNew: Bool) {}

    package func disconnect() { link.close() }

    package func query(_ sql: String, _ values: [RowValue], _ each: (PostgresResultRow) throws(CacheStorageError) -> Void) throws(CacheStorageError) {
        for row in try link.query(sql, values) { try each(row) }
    }

    @discardableResult
    package func run(_ sql: String, _ values: [RowValue]) throws(CacheStorageError) -> Int {
        try link.run(sql, values)
    }

    package func execute(_ sql: String) throws(CacheStorageError) {
        try link.run(sql)
    }

    // MARK: - Rows

    package func upsert(_ rows: ArraySlice<EncodedRow>, announcing: Bool) throws(CacheStorageError) -> [String] {
        var seen = Set<String>()
        var values: [RowValue] = [.texts(rows.map(\.type.rawValue).filter { seen.insert($0).inserted })]
        values.reserveCapacity(1 + rows.count * RowSQL.entryColumns.count)
        for row in rows { values += row.values }
        return try link.query(upsertStatement(rows: rows.count, announcing: announcing), values).map { $0.text(0) ?? "" }
    }

    /// One statement that adds the sections named by `$1` (a text array) unless they exist,
    /// then upserts `rows` rows (bound from `$2` on, ``RowSQL/entryColumns`` each: a new row
    /// joins the end of the document order, an existing one keeps its place) and returns
    /// every partition it changed, the rows' previous partitions included. With
    /// `announcing`, it also notifies those partitions, so it can commit on its own.
    private func upsertStatement(rows: Int, announcing: Bool) -> String {
        if let written = upserts[announcing]?[rows] { return written }
        let schema = endpoint.schema
        let columns = RowSQL.entryColumns
        let values = (0..<rows).map { row in
            "(" + (0..<columns.count).map { "$\(2 + row * columns.count + $0)" }.joined(separator: ", ") + ")"
        }.joined(separator: ", ")
        let updates = columns.filter { $0 != "credential_type" && $0 != "key" }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        var statement = """
            WITH sections AS (
                INSERT INTO \(schema).sections (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING
            ), written AS (
                INSERT INTO \(schema).entries AS written_row (\(columns.joined(separator: ", "))) VALUES \(values)
                ON CONFLICT (credential_type, key) DO UPDATE SET \(updates)
                RETURNING written_row.partition AS partition,
                    (SELECT prior.partition FROM \(schema).entries AS prior WHERE prior.credential_type = written_row.credential_type AND prior.key = written_row.key) AS previous
            ), changed AS (
                SELECT partition FROM written UNION SELECT previous FROM written WHERE previous IS NOT NULL
            )
            """
        if announcing {
            // A payload has at most 8,000 bytes: a change of many partitions is announced as
            // a change of everything.
            statement += """
                 SELECT partition, pg_notify('\(PostgresDatabase.channel)', (
                    SELECT CASE WHEN sum(octet_length(partition) + 1) > 7000 THEN '*' ELSE string_agg(partition, E'\\n' ORDER BY partition) END FROM changed
                )) FROM changed
                """
        } else {
            statement += " SELECT partition FROM changed"
        }
        if rows <= 16 { upserts[announcing, default: [:]][rows] = statement }
        return statement
    }

    // MARK: - The schema

    package func schemaState() throws(CacheStorageError) -> RowSchemaState {
        let schema = endpoint.schema
        let tables = try link.query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [.text(schema)]).compactMap { $0.text(0) }
        var format: String?
        var version: Int64 = 0
        if tables.contains("meta") {
            for row in try link.query("SELECT name, value FROM \(schema).meta WHERE name IN ('format', 'schema_version')") {
                let value = String(decoding: row.bytes(1), as: UTF8.self)
                if row.text(0) == "format" { format = value } else { version = Int64(value) ?? 0 }
            }
        }
        return RowSchemaState(tables: tables, format: format, version: version)
    }

    package func foreignSchema(_ state: RowSchemaState) -> String {
        "schema \"\(endpoint.schema)\" holds another application's tables (\(state.tables.prefix(5).joined(separator: ", "))), not a token cache. Nothing was changed; name another schema with ?schema=NAME"
    }
}

extension PostgresResultRow: RowCursor {}

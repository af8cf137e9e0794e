import CacheBackends
import TokenCache

/// The row changes of the PostgreSQL store, made inside a write transaction its caller
/// holds. It remembers the partitions it changed, for the notification sent at commit.
final class PostgresRowWriter {
    let link: PostgresLink
    let codec: RowCodec
    private let sql: Statements
    /// The partitions changed so far; `*` when every partition may have changed.
    private(set) var changed: Set<String> = []

    /// The writer's statements for one schema, written once.
    struct Statements {
        let schema: String
        let ensureSection: String
        let delete: String
        let deleteExpired: String
        let deleteAllEntries: String
        let deleteAllSections: String
        let upsertMember: String

        /// The columns of an entry's row, in the order an upsert binds them.
        static let columns = ["partition", "credential_type", "key", "home_account_id", "app_only", "environment",
                              "client_id", "realm", "family_id", "target", "expires_on", "body"]

        init(schema: String) {
            self.schema = schema
            ensureSection = "INSERT INTO \(schema).sections (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING"
            delete = "DELETE FROM \(schema).entries WHERE credential_type = $1 AND key = $2 RETURNING partition"
            deleteExpired = "DELETE FROM \(schema).entries WHERE credential_type = $1 AND expires_on < $2 RETURNING key, partition"
            deleteAllEntries = "DELETE FROM \(schema).entries"
            deleteAllSections = "DELETE FROM \(schema).sections"
            upsertMember = "INSERT INTO \(schema).sections (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        }

        /// One statement that adds the sections named by `$1` (a text array) unless they
        /// exist, then upserts `rows` rows (bound from `$2` on, ``columns`` each, in order: a
        /// new row joins the end of the document order, an existing one keeps its place) and
        /// returns every partition it changed, the rows' previous partitions included. With
        /// `announcing`, it also notifies those partitions, so it can commit on its own.
        func upsert(rows: Int, announcing: Bool) -> String {
            let width = Statements.columns.count
            let values = (0..<rows).map { row in
                "(" + (0..<width).map { "$\(2 + row * width + $0)" }.joined(separator: ", ") + ")"
            }.joined(separator: ", ")
            let updates = Statements.columns.filter { $0 != "credential_type" && $0 != "key" }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            let changed = """
                WITH sections AS (
                    INSERT INTO \(schema).sections (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING
                ), written AS (
                    INSERT INTO \(schema).entries AS written_row (\(Statements.columns.joined(separator: ", "))) VALUES \(values)
                    ON CONFLICT (credential_type, key) DO UPDATE SET \(updates)
                    RETURNING written_row.partition AS partition,
                        (SELECT prior.partition FROM \(schema).entries AS prior WHERE prior.credential_type = written_row.credential_type AND prior.key = written_row.key) AS previous
                ), changed AS (
                    SELECT partition FROM written UNION SELECT previous FROM written WHERE previous IS NOT NULL
                )
                """
            guard announcing else { return changed + " SELECT partition FROM changed" }
            // A payload has at most 8,000 bytes: a change of many partitions is announced as
            // a change of everything.
            return changed + """
                 SELECT partition, pg_notify('\(PostgresSchema.channel)', (
                    SELECT CASE WHEN sum(octet_length(partition) + 1) > 7000 THEN '*' ELSE string_agg(partition, E'\\n' ORDER BY partition) END FROM changed
                )) FROM changed
                """
        }
    }

    init(link: PostgresLink, codec: RowCodec, sql: Statements) {
        self.link = link
        self.codec = codec
        self.sql = sql
    }

    /// Takes the transaction-scoped lock of each partition, in a fixed order so writers
    /// never wait on each other in a circle.
    func lock(_ partitions: some Sequence<String>) throws {
        for partition in Set(partitions).sorted() {
            try link.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.text(partition)])
        }
    }

    /// Writes a token response's entries under the keys MSAL computes, each in place when
    /// its key exists (an upsert keeps the row's place in document order), in one
    /// statement. With `announcing`, the statement also notifies the partitions it changed,
    /// so it can run as a transaction of its own.
    func upsert(_ entries: [(CredentialType, JSONObject)], announcing: Bool) throws -> CacheChange {
        var rows: [Row] = []
        let change = TokenResponseEntries.write(entries) { type, key, fields in rows.append(Row(type: type, key: key, fields: fields)) }
        try upsert(rows, announcing: announcing)
        return change
    }

    /// Writes one entry, creating its section at the end of the document if needed.
    func upsert(_ type: CredentialType, key: String, fields: JSONObject) throws {
        try upsert([Row(type: type, key: key, fields: fields)], announcing: false)
    }

    /// One entry to write.
    struct Row {
        let type: CredentialType
        let key: String
        let fields: JSONObject
    }

    /// The most rows one statement writes (PostgreSQL binds at most 65,535 values).
    static let rowsPerStatement = 1_000

    /// Writes `rows` (and their sections) in as few statements as the bind limit allows;
    /// a key given twice is written once, with its last fields, in its first place.
    private func upsert(_ rows: [Row], announcing: Bool) throws {
        var unique: [Row] = []
        var index: [EntryReference: Int] = [:]
        for row in rows {
            let reference = EntryReference(type: row.type, key: row.key)
            if let at = index[reference] { unique[at] = row } else {
                index[reference] = unique.count
                unique.append(row)
            }
        }
        var start = 0
        while start < unique.count {
            let chunk = unique[start..<min(start + PostgresRowWriter.rowsPerStatement, unique.count)]
            start += chunk.count
            var seen = Set<String>()
            var values: [PostgresValue] = [.texts(chunk.map(\.type.rawValue).filter { seen.insert($0).inserted })]
            values.reserveCapacity(1 + chunk.count * Statements.columns.count)
            for row in chunk {
                let columns = RowCodec.columns(of: row.fields)
                let body = try codec.body(.object(row.fields), section: row.type.rawValue, key: row.key)
                values += [
                    .text(PostgresSchema.partition(columns)), .text(row.type.rawValue), .text(row.key), .text(columns.homeAccountID),
                    .bool(columns.appOnly), .text(columns.environment), .text(columns.clientID), .text(columns.realm),
                    .text(columns.familyID), .text(columns.target), .integer(columns.expiresOn), .bytes(Array(body)),
                ]
            }
            for changedRow in try link.query(sql.upsert(rows: chunk.count, announcing: announcing), values) {
                changed.insert(changedRow.text(0) ?? "")
            }
        }
    }

    /// Adds section names at the end of the document unless they are there, in order.
    private func ensureSections(_ names: [String]) throws {
        var seen = Set<String>()
        let ordered = names.filter { seen.insert($0).inserted }
        try link.run(sql.ensureSection, [.texts(ordered)])
    }

    /// Deletes one entry; returns whether it was there.
    func delete(_ reference: EntryReference) throws -> Bool {
        let rows = try link.query(sql.delete, [.text(reference.type.rawValue), .text(reference.key)])
        for row in rows { changed.insert(row.text(0) ?? "") }
        return !rows.isEmpty
    }

    /// Deletes every access token whose `expires_on` is before `now`, in one statement.
    func deleteExpiredAccessTokens(now: Int64) throws -> [EntryReference] {
        try link.query(sql.deleteExpired, [.text(CredentialType.accessToken.rawValue), .integer(now)]).map { row in
            changed.insert(row.text(1) ?? "")
            return EntryReference(type: .accessToken, key: row.text(0) ?? "")
        }
    }

    /// Deletes every entry and section.
    func deleteAll() throws {
        try link.run(sql.deleteAllEntries)
        try link.run(sql.deleteAllSections)
        changed.insert("*")
    }

    /// Writes a whole top-level member (an import or a merge): a value replaces the one of
    /// the same name; entries are upserted.
    func append(_ member: CacheMember) throws {
        switch member {
        case .value(let name, let value):
            let body = try codec.body(value, section: "", key: name)
            try link.run(sql.upsertMember, [.text(name), .bytes(Array(body))])
        case .entries(let type, let entries) where entries.isEmpty:
            try ensureSections([type.rawValue])
        case .entries(let type, let entries):
            // The upsert statement adds the section too.
            try upsert(entries.map { Row(type: type, key: $0.key, fields: $0.fields) }, announcing: false)
        }
        changed.insert("*")
    }
}

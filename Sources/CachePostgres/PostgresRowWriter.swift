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
        let upsert: String
        let ensureSection: String
        let delete: String
        let deleteExpired: String
        let deleteAllEntries: String
        let deleteAllSections: String
        let upsertMember: String

        init(schema: String) {
            upsert = """
                INSERT INTO \(schema).entries (partition, credential_type, key, home_account_id, app_only, environment, client_id, realm, family_id, target, expires_on, body)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT (credential_type, key) DO UPDATE SET
                    partition = excluded.partition, home_account_id = excluded.home_account_id, app_only = excluded.app_only,
                    environment = excluded.environment, client_id = excluded.client_id, realm = excluded.realm,
                    family_id = excluded.family_id, target = excluded.target, expires_on = excluded.expires_on, body = excluded.body
                RETURNING (SELECT partition FROM \(schema).entries WHERE credential_type = $2 AND key = $3)
                """
            ensureSection = "INSERT INTO \(schema).sections (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING"
            delete = "DELETE FROM \(schema).entries WHERE credential_type = $1 AND key = $2 RETURNING partition"
            deleteExpired = "DELETE FROM \(schema).entries WHERE credential_type = $1 AND expires_on < $2 RETURNING key, partition"
            deleteAllEntries = "DELETE FROM \(schema).entries"
            deleteAllSections = "DELETE FROM \(schema).sections"
            upsertMember = "INSERT INTO \(schema).sections (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
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
    /// its key exists (an upsert keeps the row's place in document order).
    func upsert(_ entries: [(CredentialType, JSONObject)]) throws -> CacheChange {
        try ensureSections(entries.map(\.0.rawValue))
        return try TokenResponseEntries.write(entries) { type, key, fields in try upsertRow(type, key: key, fields: fields) }
    }

    /// Writes one entry, creating its section at the end of the document if needed.
    func upsert(_ type: CredentialType, key: String, fields: JSONObject) throws {
        try ensureSections([type.rawValue])
        try upsertRow(type, key: key, fields: fields)
    }

    private func upsertRow(_ type: CredentialType, key: String, fields: JSONObject) throws {
        let columns = RowCodec.columns(of: fields)
        let partition = PostgresSchema.partition(columns)
        let body = try codec.body(.object(fields), section: type.rawValue, key: key)
        changed.insert(partition)
        let previous = try link.query(sql.upsert, [
            .text(partition), .text(type.rawValue), .text(key), .text(columns.homeAccountID), .bool(columns.appOnly),
            .text(columns.environment), .text(columns.clientID), .text(columns.realm), .text(columns.familyID), .text(columns.target),
            .integer(columns.expiresOn), .bytes(Array(body)),
        ])
        // An entry rewritten with other owner fields leaves its old partition too.
        if let old = previous.first?.text(0) { changed.insert(old) }
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
        case .entries(let type, let entries):
            try ensureSections([type.rawValue])
            for (key, fields) in entries { try upsertRow(type, key: key, fields: fields) }
        }
        changed.insert("*")
    }
}

import Foundation
package import TokenCache

/// The row changes of a row store, made inside a write transaction its caller holds. It
/// remembers the partitions it changed, for the announcement at commit.
package final class RowWriter<Database: RowDatabase> {
    let database: Database
    let codec: RowCodec
    /// The partitions changed so far; `*` when every partition may have changed.
    package private(set) var changed: Set<String> = []

    package init(database: Database, codec: RowCodec) {
        self.database = database
        self.codec = codec
    }

    /// Writes a token response's entries under the keys MSAL computes, each in place when its
    /// key exists (an upsert keeps the row's place in document order), in as few statements
    /// as the database allows. With `announcing`, the statement announces the change itself.
    package func upsert(_ entries: [(CredentialType, JSONObject)], announcing: Bool = false) throws -> CacheChange {
        var rows: [(CredentialType, String, JSONObject)] = []
        let change = TokenResponseEntries.write(entries) { type, key, fields in rows.append((type, key, fields)) }
        try upsert(rows, announcing: announcing)
        return change
    }

    /// Writes one entry, creating its section at the end of the document if needed.
    package func upsert(_ type: CredentialType, key: String, fields: JSONObject) throws {
        try upsert([(type, key, fields)], announcing: false)
    }

    /// Writes `rows`; a key given twice is written once, with its last fields, in its first
    /// place.
    private func upsert(_ rows: [(type: CredentialType, key: String, fields: JSONObject)], announcing: Bool) throws {
        var unique: [EncodedRow] = []
        var index: [EntryReference: Int] = [:]
        for row in rows {
            let columns = RowCodec.columns(of: row.fields)
            let encoded = EncodedRow(type: row.type, key: row.key, columns: columns, partition: RowSQL.partition(columns),
                                     body: try codec.body(.object(row.fields), section: row.type.rawValue, key: row.key))
            let reference = EntryReference(type: row.type, key: row.key)
            if let at = index[reference] { unique[at] = encoded } else {
                index[reference] = unique.count
                unique.append(encoded)
            }
        }
        let perStatement = database.sql.rowsPerStatement
        var start = 0
        while start < unique.count {
            let chunk = unique[start..<min(start + perStatement, unique.count)]
            start += chunk.count
            changed.formUnion(try database.upsert(chunk, announcing: announcing))
        }
    }

    /// Announces the partitions changed so far, delivered when the transaction commits. A
    /// notification carries at most 8,000 bytes: a change of many partitions (an import) is
    /// announced as a change of everything.
    package func announce() throws {
        guard let statement = database.sql.announce, !changed.isEmpty else { return }
        var payload = changed.sorted().joined(separator: "\n")
        if payload.utf8.count > 7_000 { payload = "*" }
        try database.run(statement, [.text(payload)])
    }

    /// Deletes one entry; returns whether it was there.
    package func delete(_ reference: EntryReference) throws -> Bool {
        var found = false
        try database.query(database.sql.delete, [.text(reference.type.rawValue), .text(reference.key)]) { row in
            found = true
            if let partition = row.text(0) { changed.insert(partition) }
        }
        return found
    }

    /// Deletes every access token whose `expires_on` is before `now`, in one statement.
    package func deleteExpiredAccessTokens(now: Int64) throws -> [EntryReference] {
        var removed: [EntryReference] = []
        try database.query(database.sql.deleteExpired, [.text(CredentialType.accessToken.rawValue), .integer(now)]) { row in
            removed.append(EntryReference(type: .accessToken, key: row.text(0) ?? ""))
            if let partition = row.text(1) { changed.insert(partition) }
        }
        return removed
    }

    /// Deletes every entry and section.
    package func deleteAll() throws {
        try database.run(database.sql.deleteAllEntries, [])
        try database.run(database.sql.deleteAllSections, [])
        changed.insert("*")
    }

    /// Writes a whole top-level member (an import or a merge): a value replaces the one of
    /// the same name; entries are upserted.
    package func append(_ member: CacheMember) throws {
        switch member {
        case .value(let name, let value):
            try database.run(database.sql.putMember, [.text(name), .blob(try codec.body(value, section: "", key: name))])
        case .entries(let type, let entries):
            try database.run(database.sql.ensureSection, [.text(type.rawValue)])
            try upsert(entries.map { (type, $0.key, $0.fields) }, announcing: false)
        }
        changed.insert("*")
    }
}

import CacheBackends
import TokenCache

/// The point lookups of ``CacheQueries`` answered by indexed queries on the PostgreSQL
/// store's `entries` table: a user's or an app's lookups read only its partition.
struct PostgresEntryReader: CacheEntryReader {
    typealias Failure = CacheStorageError

    let link: PostgresLink
    let codec: RowCodec
    let sql: Statements

    /// The reader's statements for one schema, written once.
    struct Statements {
        let slot: String
        let owner: String
        let appOnlyOwner: String
        let environment: String
        let key: String
        let section: String
        let partition: String

        init(schema: String) {
            let entries = "\(schema).entries"
            let selected = "key, body, \(RowCodec.columnList), partition, credential_type"
            slot = "SELECT \(selected) FROM \(entries) WHERE partition = $1 AND credential_type = $2 AND home_account_id IS NOT DISTINCT FROM $3 AND app_only = $4 AND environment = $5 AND client_id = $6 AND realm = $7 ORDER BY seq"
            owner = "SELECT \(selected) FROM \(entries) WHERE partition = $1 AND credential_type = $2 AND home_account_id = $3 AND environment = $4 ORDER BY seq"
            appOnlyOwner = "SELECT \(selected) FROM \(entries) WHERE credential_type = $1 AND app_only AND environment = $2 ORDER BY seq"
            environment = "SELECT \(selected) FROM \(entries) WHERE credential_type = $1 AND environment = $2 ORDER BY seq"
            key = "SELECT \(selected) FROM \(entries) WHERE credential_type = $1 AND key = $2"
            section = "SELECT \(selected) FROM \(entries) WHERE credential_type = $1 ORDER BY seq"
            partition = "SELECT \(selected) FROM \(entries) WHERE partition = $1 ORDER BY seq"
        }
    }

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String) throws(CacheStorageError) -> [AccessToken] {
        try accessTokens(homeAccountID: homeAccountID, environment: environment, clientID: clientID, realm: realm, passing: .everything)
    }

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String, passing filter: AccessTokenFilter) throws(CacheStorageError) -> [AccessToken] {
        let rows = try link.query(sql.slot, [
            .text(PostgresSchema.partition(homeAccountID: homeAccountID, clientID: clientID)), .text(CredentialType.accessToken.rawValue),
            .text(homeAccountID), .bool(homeAccountID == nil), .text(environment), .text(clientID), .text(realm),
        ])
        var found: [AccessToken] = []
        for row in rows {
            // Decode (and decrypt) only the tokens the lookup could choose.
            guard filter.admits(target: row.text(8), expiresOn: row.integer(9)) else { continue }
            let (key, fields) = try decode(row, section: CredentialType.accessToken.rawValue)
            found.append(AccessToken(key: key, fields: fields))
        }
        return found
    }

    func accessToken(key: String) throws(CacheStorageError) -> AccessToken? {
        try entry(key: key)
    }

    func entries<Entry: CacheEntry>(_ type: Entry.Type, homeAccountID: String?, environment: String) throws(CacheStorageError) -> [Entry] {
        let section = Entry.credentialType.rawValue
        guard let homeAccountID else {
            return try rows(sql.appOnlyOwner, [.text(section), .text(environment)])
        }
        return try rows(sql.owner, [.text(PostgresSchema.partition(homeAccountID: homeAccountID, clientID: nil)), .text(section), .text(homeAccountID), .text(environment)])
    }

    func appMetadata(key: String) throws(CacheStorageError) -> AppMetadata? {
        try entry(key: key)
    }

    func accounts(environment: String) throws(CacheStorageError) -> [Account] {
        try rows(sql.environment, [.text(CredentialType.account.rawValue), .text(environment)])
    }

    /// The entry of `Entry`'s section stored under `key`.
    func entry<Entry: CacheEntry>(key: String) throws(CacheStorageError) -> Entry? {
        let found: [Entry] = try rows(sql.key, [.text(Entry.credentialType.rawValue), .text(key)])
        return found.first
    }

    /// Every entry of the section named `section`, in document order, as keys and fields.
    func section(_ section: String) throws(CacheStorageError) -> [(key: String, fields: JSONObject)] {
        try link.query(sql.section, [.text(section)]).map { row throws(CacheStorageError) in try decode(row, section: section) }
    }

    /// Every entry of one partition, in document order.
    func partition(_ partition: String) throws(CacheStorageError) -> [(type: CredentialType, key: String, fields: JSONObject)] {
        try link.query(sql.partition, [.text(partition)]).map { row throws(CacheStorageError) in
            let section = row.text(11) ?? ""
            let (key, fields) = try decode(row, section: section)
            return (CredentialType(rawValue: section), key, fields)
        }
    }

    /// The entries `sql` selects (`key, body`), decoded.
    private func rows<Entry: CacheEntry>(_ sql: String, _ values: [PostgresValue]) throws(CacheStorageError) -> [Entry] {
        try link.query(sql, values).map { row throws(CacheStorageError) in
            let (key, fields) = try decode(row, section: Entry.credentialType.rawValue)
            return Entry(key: key, fields: fields)
        }
    }

    /// The key and fields of a row (`key, body`, the lookup columns, `partition`), the
    /// fields checked against the columns and the partition they make.
    private func decode(_ row: PostgresResultRow, section: String) throws(CacheStorageError) -> (key: String, fields: JSONObject) {
        let key = row.text(0) ?? ""
        let columns = RowCodec.Columns(homeAccountID: row.text(2), appOnly: row.bool(3) ?? false, environment: row.text(4), clientID: row.text(5),
                                       realm: row.text(6), familyID: row.text(7), target: row.text(8), expiresOn: row.integer(9))
        let fields = try row.withBytes(1) { bytes throws(CacheStorageError) in try codec.fields(from: bytes, section: section, key: key, row: columns) }
        guard row.text(10) == PostgresSchema.partition(columns) else {
            throw CacheStorageError(code: .damaged, location: codec.location, reason: "entry \"\(key)\" in section \"\(section)\" does not match its row: the row's partition is not the entry's, so the row was moved to another account or app, or edited outside this library. It is not used. Run tokencache doctor, and restore the database from a backup or remove the entry")
        }
        return (key, fields)
    }
}

package import TokenCache

/// The point lookups of ``CacheQueries`` answered by indexed queries on a row store's
/// `entries` table: each reads only the rows of one account (in a partitioned store, one
/// partition), app or key, and decodes (and decrypts) only what the lookup could use.
package struct RowEntryReader<Database: RowDatabase>: CacheEntryReader {
    package typealias Failure = CacheStorageError

    let database: Database
    let codec: RowCodec
    private var sql: RowSQL { database.sql }

    package init(database: Database, codec: RowCodec) {
        self.database = database
        self.codec = codec
    }

    /// The leading `partition = ?` value of a partitioned store's query.
    private func partition(_ homeAccountID: String?, _ clientID: String?) -> [RowValue] {
        sql.isPartitioned ? [.text(RowSQL.partition(homeAccountID: homeAccountID, clientID: clientID))] : []
    }

    package func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String) throws(CacheStorageError) -> [AccessToken] {
        try accessTokens(homeAccountID: homeAccountID, environment: environment, clientID: clientID, realm: realm, passing: .everything)
    }

    package func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String, passing filter: AccessTokenFilter) throws(CacheStorageError) -> [AccessToken] {
        let values = partition(homeAccountID, clientID) + [
            .text(CredentialType.accessToken.rawValue), .text(homeAccountID), .bool(homeAccountID == nil), .text(environment), .text(clientID), .text(realm),
        ]
        var found: [AccessToken] = []
        try database.query(sql.slot, values) { row throws(CacheStorageError) in
            // Decode (and decrypt) only the tokens the lookup could choose.
            guard filter.admits(target: row.text(8), expiresOn: row.integer(9)) else { return }
            let (key, fields) = try decode(row, section: CredentialType.accessToken.rawValue)
            found.append(AccessToken(key: key, fields: fields))
        }
        return found
    }

    package func accessToken(key: String) throws(CacheStorageError) -> AccessToken? {
        try entry(key: key)
    }

    package func entries<Entry: CacheEntry>(_ type: Entry.Type, homeAccountID: String?, environment: String) throws(CacheStorageError) -> [Entry] {
        let section = Entry.credentialType.rawValue
        guard let homeAccountID else { return try rows(sql.appOwner, [.text(section), .bool(true), .text(environment)]) }
        return try rows(sql.owner, partition(homeAccountID, nil) + [.text(section), .text(homeAccountID), .bool(false), .text(environment)])
    }

    package func appMetadata(key: String) throws(CacheStorageError) -> AppMetadata? {
        try entry(key: key)
    }

    package func accounts(environment: String) throws(CacheStorageError) -> [Account] {
        try rows(sql.environment, [.text(CredentialType.account.rawValue), .text(environment)])
    }

    /// The entry of `Entry`'s section stored under `key`.
    package func entry<Entry: CacheEntry>(key: String) throws(CacheStorageError) -> Entry? {
        let found: [Entry] = try rows(sql.key, [.text(Entry.credentialType.rawValue), .text(key)])
        return found.first
    }

    /// Every entry of the section named `section`, in document order, as keys and fields.
    package func section(_ section: String) throws(CacheStorageError) -> [(key: String, fields: JSONObject)] {
        var found: [(key: String, fields: JSONObject)] = []
        try database.query(sql.section, [.text(section)]) { row throws(CacheStorageError) in found.append(try decode(row, section: section)) }
        return found
    }

    /// Every entry of one partition, in document order (a partitioned store).
    package func partition(_ partition: String) throws(CacheStorageError) -> [(type: CredentialType, key: String, fields: JSONObject)] {
        var found: [(type: CredentialType, key: String, fields: JSONObject)] = []
        try database.query(sql.partition, [.text(partition)]) { row throws(CacheStorageError) in
            let section = row.text(10) ?? ""
            let (key, fields) = try decode(row, section: section)
            found.append((CredentialType(rawValue: section), key, fields))
        }
        return found
    }

    /// The entries `sql` selects, decoded.
    private func rows<Entry: CacheEntry>(_ sql: String, _ values: [RowValue]) throws(CacheStorageError) -> [Entry] {
        var found: [Entry] = []
        try database.query(sql, values) { row throws(CacheStorageError) in
            let (key, fields) = try decode(row, section: Entry.credentialType.rawValue)
            found.append(Entry(key: key, fields: fields))
        }
        return found
    }

    /// The key and fields of a row (``RowSQL/selected``), the fields checked against the
    /// lookup columns and, in a partitioned store, the partition they make: a row moved to
    /// another account or app, or edited in the database, is never served.
    private func decode(_ row: Database.Cursor, section: String) throws(CacheStorageError) -> (key: String, fields: JSONObject) {
        let key = row.text(0) ?? ""
        let columns = RowCodec.Columns(homeAccountID: row.text(2), appOnly: row.bool(3) ?? false, environment: row.text(4), clientID: row.text(5),
                                       realm: row.text(6), familyID: row.text(7), target: row.text(8), expiresOn: row.integer(9))
        let fields = try row.withBytes(1) { bytes throws(CacheStorageError) in try codec.fields(from: bytes, section: section, key: key, row: columns) }
        if sql.isPartitioned, row.text(11) != RowSQL.partition(columns) {
            throw CacheStorageError(code: .damaged, location: codec.location, reason: "entry \"\(key)\" in section \"\(section)\" does not match its row: the row's partition is not the entry's, so the row was moved to another account or app, or edited outside this library. It is not used. Restore the database from a backup, or remove the entry")
        }
        return (key, fields)
    }
}

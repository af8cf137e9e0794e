import TokenCache

/// The point lookups of ``CacheQueries`` answered by indexed queries on the SQLite store's
/// `entries` table: each reads only the rows of one account, app or key.
struct SQLiteEntryReader: CacheEntryReader {
    typealias Failure = CacheStorageError

    let connection: SQLiteConnection
    let codec: RowCodec

    // The statements, written once: the connection caches each prepared statement by its text.
    private static let selected = "key, body, \(RowCodec.columnList)"
    private static let slotQuery = "SELECT \(selected) FROM entries WHERE credential_type = ? AND home_account_id IS ? AND app_only = ? AND environment = ? AND client_id = ? AND realm = ? ORDER BY seq"
    private static let ownerQuery = "SELECT \(selected) FROM entries WHERE credential_type = ? AND home_account_id IS ? AND app_only = ? AND environment = ? ORDER BY seq"
    private static let environmentQuery = "SELECT \(selected) FROM entries WHERE credential_type = ? AND environment = ? ORDER BY seq"
    private static let keyQuery = "SELECT \(selected) FROM entries WHERE credential_type = ? AND key = ?"
    private static let sectionQuery = "SELECT \(selected) FROM entries WHERE credential_type = ? ORDER BY seq"

    /// The `home_account_id IS ? AND app_only = ?` values for a home account, or for an
    /// app's own tokens (`nil`: a JSON null home account id).
    private static func owner(_ homeAccountID: String?) -> [SQLiteValue] {
        [.text(homeAccountID), .integer(homeAccountID == nil ? 1 : 0)]
    }

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String) throws(CacheStorageError) -> [AccessToken] {
        try accessTokens(homeAccountID: homeAccountID, environment: environment, clientID: clientID, realm: realm, passing: .everything)
    }

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String, passing filter: AccessTokenFilter) throws(CacheStorageError) -> [AccessToken] {
        let values = [.text(CredentialType.accessToken.rawValue)] + SQLiteEntryReader.owner(homeAccountID) + [.text(environment), .text(clientID), .text(realm)]
        return try connection.query(SQLiteEntryReader.slotQuery, values) { statement throws(CacheStorageError) in
            var found: [AccessToken] = []
            while try statement.step() {
                // Decode (and decrypt) only the tokens the lookup could choose.
                guard filter.admits(target: statement.text(8), expiresOn: statement.integer(9)) else { continue }
                let (key, fields) = try decode(statement, section: CredentialType.accessToken.rawValue)
                found.append(AccessToken(key: key, fields: fields))
            }
            return found
        }
    }

    func accessToken(key: String) throws(CacheStorageError) -> AccessToken? {
        try entry(key: key)
    }

    func entries<Entry: CacheEntry>(_ type: Entry.Type, homeAccountID: String?, environment: String) throws(CacheStorageError) -> [Entry] {
        try rows(SQLiteEntryReader.ownerQuery, [.text(Entry.credentialType.rawValue)] + SQLiteEntryReader.owner(homeAccountID) + [.text(environment)])
    }

    func appMetadata(key: String) throws(CacheStorageError) -> AppMetadata? {
        try entry(key: key)
    }

    func accounts(environment: String) throws(CacheStorageError) -> [Account] {
        try rows(SQLiteEntryReader.environmentQuery, [.text(CredentialType.account.rawValue), .text(environment)])
    }

    /// The entry of `Entry`'s section stored under `key`.
    func entry<Entry: CacheEntry>(key: String) throws(CacheStorageError) -> Entry? {
        let found: [Entry] = try rows(SQLiteEntryReader.keyQuery, [.text(Entry.credentialType.rawValue), .text(key)])
        return found.first
    }

    /// Every entry of the section named `section`, in file order, as keys and fields.
    func section(_ section: String) throws(CacheStorageError) -> [(key: String, fields: JSONObject)] {
        try fieldRows(SQLiteEntryReader.sectionQuery, [.text(section)], section: section)
    }

    /// The entries `sql` selects (`key, body`), decoded.
    private func rows<Entry: CacheEntry>(_ sql: String, _ values: [SQLiteValue]) throws(CacheStorageError) -> [Entry] {
        try fieldRows(sql, values, section: Entry.credentialType.rawValue).map { Entry(key: $0.key, fields: $0.fields) }
    }

    private func fieldRows(_ sql: String, _ values: [SQLiteValue], section: String) throws(CacheStorageError) -> [(key: String, fields: JSONObject)] {
        try connection.query(sql, values) { statement throws(CacheStorageError) in
            var found: [(key: String, fields: JSONObject)] = []
            while try statement.step() { found.append(try decode(statement, section: section)) }
            return found
        }
    }

    /// The key and fields in the current row (`key, body` and the lookup columns), the
    /// fields checked against the columns.
    private func decode(_ statement: SQLiteStatement, section: String) throws(CacheStorageError) -> (key: String, fields: JSONObject) {
        let key = statement.text(0) ?? ""
        let columns = RowCodec.Columns(homeAccountID: statement.text(2), appOnly: statement.integer(3) == 1, environment: statement.text(4),
                                       clientID: statement.text(5), realm: statement.text(6), familyID: statement.text(7),
                                       target: statement.text(8), expiresOn: statement.integer(9))
        let fields = try statement.withBytes(1) { bytes throws(CacheStorageError) in try codec.fields(from: bytes, section: section, key: key, row: columns) }
        return (key, fields)
    }
}

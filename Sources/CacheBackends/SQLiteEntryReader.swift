import TokenCache

/// The point lookups of ``CacheQueries`` answered by indexed queries on the SQLite store's
/// `entries` table: each reads only the rows of one account, app or key.
struct SQLiteEntryReader: CacheEntryReader {
    typealias Failure = CacheStorageError

    let connection: SQLiteConnection
    let codec: SQLiteRowCodec

    private static let columns = "SELECT key, body FROM entries WHERE credential_type = ?"

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String) throws(CacheStorageError) -> [AccessToken] {
        try rows(SQLiteEntryReader.columns + " AND home_account_id IS ? AND app_only = ? AND environment = ? AND client_id = ? AND realm = ? ORDER BY seq",
                 [.text(CredentialType.accessToken.rawValue), homeAccountID.map(SQLiteValue.text) ?? .null, .integer(homeAccountID == nil ? 1 : 0), .text(environment), .text(clientID), .text(realm)])
    }

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String, passing filter: AccessTokenFilter) throws(CacheStorageError) -> [AccessToken] {
        let statement = try connection.statement("SELECT key, body, target, expires_on FROM entries WHERE credential_type = ? AND home_account_id IS ? AND app_only = ? AND environment = ? AND client_id = ? AND realm = ? ORDER BY seq")
        defer { statement.reset() }
        try statement.bind([.text(CredentialType.accessToken.rawValue), homeAccountID.map(SQLiteValue.text) ?? .null, .integer(homeAccountID == nil ? 1 : 0), .text(environment), .text(clientID), .text(realm)])
        var found: [AccessToken] = []
        while try statement.step() {
            // Decode (and decrypt) only the tokens the lookup could choose.
            guard filter.admits(target: statement.text(2), expiresOn: statement.integer(3)) else { continue }
            found.append(try decode(statement))
        }
        return found
    }

    func accessToken(key: String) throws(CacheStorageError) -> AccessToken? {
        try entry(key: key)
    }

    func entries<Entry: CacheEntry>(_ type: Entry.Type, homeAccountID: String?, environment: String) throws(CacheStorageError) -> [Entry] {
        try rows(SQLiteEntryReader.columns + " AND home_account_id IS ? AND app_only = ? AND environment = ? ORDER BY seq",
                 [.text(Entry.credentialType.rawValue), homeAccountID.map(SQLiteValue.text) ?? .null, .integer(homeAccountID == nil ? 1 : 0), .text(environment)])
    }

    func appMetadata(key: String) throws(CacheStorageError) -> AppMetadata? {
        try entry(key: key)
    }

    func accounts(environment: String) throws(CacheStorageError) -> [Account] {
        try rows(SQLiteEntryReader.columns + " AND environment = ? ORDER BY seq", [.text(CredentialType.account.rawValue), .text(environment)])
    }

    /// The entry of `Entry`'s section stored under `key`.
    func entry<Entry: CacheEntry>(key: String) throws(CacheStorageError) -> Entry? {
        let found: [Entry] = try rows(SQLiteEntryReader.columns + " AND key = ?", [.text(Entry.credentialType.rawValue), .text(key)])
        return found.first
    }

    /// The entries `sql` selects (`key, body`), decoded.
    func rows<Entry: CacheEntry>(_ sql: String, _ values: [SQLiteValue]) throws(CacheStorageError) -> [Entry] {
        let statement = try connection.statement(sql)
        defer { statement.reset() }
        try statement.bind(values)
        let section = Entry.credentialType.rawValue
        var found: [Entry] = []
        while try statement.step() {
            found.append(try decode(statement, section: section))
        }
        return found
    }

    /// The entry in the current row (`key, body, ...`).
    private func decode<Entry: CacheEntry>(_ statement: SQLiteStatement, section: String = Entry.credentialType.rawValue) throws(CacheStorageError) -> Entry {
        let key = statement.text(0) ?? ""
        let fields = try statement.withBytes(1) { bytes throws(CacheStorageError) in try codec.fields(from: bytes, section: section, key: key) }
        return Entry(key: key, fields: fields)
    }
}

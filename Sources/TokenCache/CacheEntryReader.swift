/// The point lookups a cache store answers. The query semantics in ``CacheQueries`` are
/// written against this protocol, so an in-memory cache and a row store (SQLite,
/// PostgreSQL) give the same answers while each fetches only the entries involved.
///
/// ## Implementation requirements
/// - Every method returns entries in the store's file (insertion) order.
/// - An entry matches a field only when it has that field with exactly that string value
///   (or null, for a `nil` home account id); a missing field never matches.
public protocol CacheEntryReader {
    /// The error a lookup can fail with (`Never` for an in-memory cache).
    associatedtype Failure: Error
    /// The access tokens of one home account (or app, for `nil`) for one client in one
    /// environment and realm: exactly those whose four fields equal these values.
    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String) throws(Failure) -> [AccessToken]
    /// The entry stored under `key` in the AccessToken section.
    func accessToken(key: String) throws(Failure) -> AccessToken?
    /// The entries of one section owned by a home account in an environment. Refresh
    /// tokens are looked up on every silent refresh; the other sections only on sign-out.
    func entries<Entry: CacheEntry>(_ type: Entry.Type, homeAccountID: String?, environment: String) throws(Failure) -> [Entry]
    /// The app metadata stored under `key`.
    func appMetadata(key: String) throws(Failure) -> AppMetadata?
    /// The accounts of one environment.
    func accounts(environment: String) throws(Failure) -> [Account]
}

extension CacheDocument: CacheEntryReader {
    typealias Failure = Never

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String) -> [AccessToken] {
        let slot = AccessTokenSlot(homeAccountID: homeAccountID, environment: environment, clientID: clientID, realm: realm)
        return accessTokens.entries(in: slot).map { AccessToken(key: $0.key, storage: $0.entry) }
    }

    func accessToken(key: String) -> AccessToken? {
        accessTokens[key].map { AccessToken(key: key, storage: $0) }
    }

    func entries<Entry: CacheEntry>(_ type: Entry.Type, homeAccountID: String?, environment: String) -> [Entry] {
        let section = section(Entry.credentialType)
        let owner = OwnerKey(environment: environment, homeAccountID: homeAccountID)
        return section.entries(ownedBy: owner).map { Entry(key: $0.key, storage: $0.entry) }
    }

    func appMetadata(key: String) -> AppMetadata? {
        appMetadata[key].map { AppMetadata(key: key, storage: $0) }
    }

    func accounts(environment: String) -> [Account] {
        accounts.entries.compactMap { key, entry in
            entry.string(FieldName.environmentField) == environment ? Account(key: key, storage: entry) : nil
        }
    }
}

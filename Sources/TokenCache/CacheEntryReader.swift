import OrderedCollections
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
    /// ``accessTokens(homeAccountID:environment:clientID:realm:)``, where a store may leave
    /// out tokens `filter` rejects (so it need not decode or decrypt them): the lookup would
    /// pass over them anyway. Returning them is also correct; the default does.
    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String, passing filter: AccessTokenFilter) throws(Failure) -> [AccessToken]
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

extension CacheEntryReader {
    public func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String, passing filter: AccessTokenFilter) throws(Failure) -> [AccessToken] {
        try accessTokens(homeAccountID: homeAccountID, environment: environment, clientID: clientID, realm: realm)
    }
}

/// What a silent lookup passes over without a second look: access tokens already expired,
/// and those whose `target` lacks a requested scope.
public struct AccessTokenFilter: Sendable {
    /// The scopes asked for.
    public let scopes: Set<String>
    /// The current time, in Unix seconds.
    public let now: Int64

    /// A filter for a lookup of `scopes` at `now`.
    public init(scopes: Set<String>, now: Int64) {
        self.scopes = scopes
        self.now = now
    }

    /// The filter that admits every token.
    public static let everything = AccessTokenFilter(scopes: [], now: .min)

    /// Whether a token with this `target` field (`nil` when missing or not a string) and
    /// `expires_on` (`nil` when missing or not a number) may be the answer.
    public func admits(target: String?, expiresOn: Int64?) -> Bool {
        if let expiresOn, expiresOn < now { return false }
        return scopes.isEmpty || PythonText.containsAllWords(target ?? "", scopes)
    }
}

extension CacheDocument: CacheEntryReader {
    typealias Failure = Never

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String) -> [AccessToken] {
        let slot = AccessTokenSlot(homeAccountID: homeAccountID, environment: environment, clientID: clientID, realm: realm)
        return accessTokens.entries(in: slot).map { AccessToken(entryKey: $0.key, storage: $0.entry) }
    }

    func accessToken(key: String) -> AccessToken? {
        accessTokens[key].map { AccessToken(key: key, storage: $0) }
    }

    func entries<Entry: CacheEntry>(_ type: Entry.Type, homeAccountID: String?, environment: String) -> [Entry] {
        let section = section(Entry.credentialType)
        let owner = OwnerKey(environment: environment, homeAccountID: homeAccountID)
        return section.entries(ownedBy: owner).map { Entry.stored($0.key, $0.entry) }
    }

    func appMetadata(key: String) -> AppMetadata? {
        appMetadata[key].map { AppMetadata(key: key, storage: $0) }
    }

    func accounts(environment: String) -> [Account] {
        var found: [Account] = []
        found.reserveCapacity(accounts.count)
        for (key, entry) in accounts.entries where entry.string(FieldName.environmentField) == environment {
            found.append(Account(entryKey: key, storage: entry))
        }
        return found
    }
}

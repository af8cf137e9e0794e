/// A token cache an app signs users in with, wherever it is kept: in memory
/// (``TokenCache``), in a serialized file or keyring item (``PersistentTokenCache``), or in
/// a database whose rows are the cache's entries (the SQLite store).
///
/// Every store gives MSAL Python's answers (``CacheQueries``) and MSAL Python's writes
/// (`TokenCache.add()`), so an app can change where its tokens live without changing what
/// it sees. Each method is one atomic change or one consistent read of the store as other
/// processes leave it.
///
/// ## Implementation requirements
/// - A lookup reflects every change another process has committed before it started.
/// - A write is all or nothing: after an error the store holds what it held before.
/// - ``snapshot()`` followed by ``replaceContents(with:)`` on another store is lossless:
///   every section, entry, field and unknown value survives, in order.
/// - No secret appears in a thrown error's description.
public protocol TokenCacheStore: AnyObject, Sendable {
    /// A path or URI naming the store, for messages.
    var location: String { get }
    /// Whether the tokens are encrypted at rest.
    var isEncrypted: Bool { get }

    /// The silent-lookup decision for `query` (see ``CacheQueries/lookupAccessToken(_:in:)``).
    func lookupAccessToken(_ query: AccessTokenQuery) throws -> AccessTokenLookup
    /// The refresh tokens a silent request may try, in MSAL Python's order.
    func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) throws -> [RefreshToken]
    /// The accounts MSAL Python's `get_accounts()` lists.
    func accounts(environment: String, aliases: [String], username: String?) throws -> [Account]
    /// The same, with Azure Cloud Shell's accounts too when `includeCloudShell` (as MSAL
    /// Python lists them inside Cloud Shell). A store that does not implement it lists
    /// none of Cloud Shell's.
    func accounts(environment: String, aliases: [String], username: String?, includeCloudShell: Bool) throws -> [Account]

    /// Adds the tokens of a token response, as MSAL Python's `TokenCache.add()` does.
    @discardableResult
    func add(response: JSONObject, context: TokenResponseContext) throws -> CacheChange
    /// Saves a refresh-token grant's result update-only (see
    /// ``TokenCache/saveRefreshResult(response:context:refreshTokenKey:)``).
    func saveRefreshResult(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws -> RefreshSaveOutcome
    /// Signs an account out of an app (see
    /// ``TokenCache/removeAccount(homeAccountID:environment:clientID:now:)``).
    @discardableResult
    func removeAccount(homeAccountID: String, environment: String, clientID: String, now: Int64) throws -> CacheChange
    /// Drops every access token that expired before `now`.
    @discardableResult
    func removeExpiredAccessTokens(now: Int64) throws -> CacheChange
    /// Removes the app's own access tokens (those of `acquireTokenForClient`, with no home
    /// account) of `clientID` in `environments`, as MSAL Python's
    /// `remove_tokens_for_client()`; users' tokens stay.
    @discardableResult
    func removeAppTokens(clientID: String, environments: [String]) throws -> CacheChange
    /// Deletes every entry.
    func clear() throws

    /// The whole content, as an in-memory cache (for export, listing and inspection).
    func snapshot() throws -> TokenCache
    /// Replaces the whole content with `cache`'s, in one change (for import).
    func replaceContents(with cache: TokenCache) throws

    /// Tries once, without waiting, to take the refresh claim for `subject`: `nil` when
    /// another caller of this store (a thread or task of this process, another process, or
    /// another app instance, as far as the store can reach) holds it. Callers use
    /// ``claimRefresh(_:timeout:)``, which waits.
    ///
    /// The default excludes the callers of this instance only, which is all an in-memory
    /// cache needs; stores that other processes share also exclude those.
    func tryClaimRefresh(_ subject: RefreshClaim.Subject) throws -> RefreshClaim?

    /// Runs `operation`, made of calls to this store, from async code without holding a
    /// thread of Swift's cooperative pool while the store waits: for a lock another process
    /// holds, a busy database or a server that is slow to answer. The caller's task
    /// suspends meanwhile. Async code (MSALLite does) calls the store through this.
    ///
    /// The default runs `operation` on a thread pool of the library's own. A store whose
    /// lookups never wait (an in-memory cache, a local database read) may run them at once.
    nonisolated(nonsending)
    func perform<T: Sendable>(_ access: StoreAccess, _ operation: @escaping @Sendable () throws -> T) async throws -> T
}

extension TokenCacheStore {
    /// For a store that does not implement it: the app tokens removed from a snapshot that
    /// then replaces the content. Not atomic against other writers; every store of this
    /// library implements it in one transaction or under its lock.
    @discardableResult
    public func removeAppTokens(clientID: String, environments: [String]) throws -> CacheChange {
        let copy = try snapshot()
        let change = copy.removeAppTokens(clientID: clientID, environments: environments)
        if !change.isEmpty { try replaceContents(with: copy) }
        return change
    }

    /// Excludes the other callers of this instance (see the requirement).
    public func tryClaimRefresh(_ subject: RefreshClaim.Subject) throws -> RefreshClaim? {
        InProcessRefreshClaims.tryClaim("\(ObjectIdentifier(self).hashValue) \(subject.fingerprint)")
    }

    /// Runs `operation` on a thread pool of the library's own (see the requirement).
    nonisolated(nonsending)
    public func perform<T: Sendable>(_ access: StoreAccess, _ operation: @escaping @Sendable () throws -> T) async throws -> T {
        try await StoreWorker.shared.run(operation)
    }

    /// The accounts of `environment`, without aliases or a username filter.
    public func accounts(environment: String) throws -> [Account] {
        try accounts(environment: environment, aliases: [], username: nil, includeCloudShell: false)
    }

    /// The accounts MSAL Python's `get_accounts()` lists, without Cloud Shell's.
    public func accounts(environment: String, aliases: [String], username: String?, includeCloudShell: Bool) throws -> [Account] {
        try accounts(environment: environment, aliases: aliases, username: username)
    }
}

/// What kind of work a store is asked to do from async code (see
/// ``TokenCacheStore/perform(_:_:)``): a store can answer lookups at once and send only
/// writes, which may wait for a lock, to a thread of its own.
public enum StoreAccess: Sendable {
    /// A lookup: reads the store.
    case lookup
    /// A change: may wait for a lock another caller holds.
    case write
    /// One try at a refresh claim (``TokenCacheStore/tryClaimRefresh(_:)``): never waits
    /// for the store's lock, but may ask another process or server.
    case claim
}

/// What saving a silent refresh did.
public enum RefreshSaveOutcome: Sendable, Equatable {
    /// The new tokens were written and the refresh token's secret updated.
    case saved(CacheChange)
    /// The account was removed meanwhile (by this or another process): nothing was
    /// written, so the sign-out stands.
    case accountRemoved
}

extension TokenCache: TokenCacheStore {
    /// `memory`: an in-memory cache has no location.
    public var location: String { "memory" }
    /// `false`: an in-memory cache is not encrypted.
    public var isEncrypted: Bool { false }

    /// Deletes every entry and section.
    public func clear() {
        replace(with: TokenCache())
    }

    /// A copy of the cache.
    public func snapshot() -> TokenCache {
        let copy = TokenCache()
        copy.replace(with: self)
        return copy
    }

    /// Replaces the content with a copy of `cache`'s.
    public func replaceContents(with cache: TokenCache) {
        replace(with: cache)
    }

    /// Runs `operation` at once: an in-memory cache never waits.
    nonisolated(nonsending)
    public func perform<T: Sendable>(_ access: StoreAccess, _ operation: @escaping @Sendable () throws -> T) async throws -> T {
        try operation()
    }
}

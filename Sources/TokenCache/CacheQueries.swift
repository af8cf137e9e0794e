/// What to look up for a silent token request.
public struct AccessTokenQuery: Sendable, Hashable {
    /// The app's client id.
    public var clientID: String
    /// The configured authority's host.
    public var environment: String
    /// Other hosts of the same cloud to try, in order, when `environment` has no token.
    public var aliases: [String]
    /// The configured authority's tenant, compared exactly with the stored `realm`.
    public var realm: String
    /// The account's home account id; `nil` asks for an app-only (client credentials) token.
    public var homeAccountID: String?
    /// The scopes asked for; a stored token matches when they are a subset of its target.
    public var scopes: [String]
    /// The request's `key_id` (SSH certificates, PoP), which must then match.
    public var keyID: String?
    /// Extra request fields; those that feed MSAL's extended cache key isolate tokens.
    public var requestData: [String: String]
    /// For an on-behalf-of request: the hash of the user assertion (see
    /// ``CacheKey/userAssertionHash(_:)``), which a token must have been obtained for.
    public var userAssertionHash: String?
    /// The current time, in Unix seconds.
    public var now: Int64

    /// Creates a query.
    public init(clientID: String, environment: String, aliases: [String] = [], realm: String, homeAccountID: String?, scopes: [String], keyID: String? = nil,
                requestData: [String: String] = [:], userAssertionHash: String? = nil, now: Int64) {
        self.clientID = clientID
        self.environment = environment
        self.aliases = aliases
        self.realm = realm
        self.homeAccountID = homeAccountID
        self.scopes = scopes
        self.keyID = keyID
        self.requestData = requestData
        self.userAssertionHash = userAssertionHash
        self.now = now
    }
}

/// The outcome of an access-token lookup, as MSAL Python's `acquire_token_silent` decides it.
public enum AccessTokenLookup: Sendable, Hashable {
    /// A token valid for at least five more minutes and not yet due for refresh.
    case hit(AccessToken)
    /// A usable token whose `refresh_on` has passed: refresh now, and use this one if the
    /// refresh fails.
    case refreshDue(AccessToken)
    /// No usable token. `expired` tells whether a matching token was found that expires
    /// within five minutes.
    case miss(expired: Bool)

    /// The token to use, if any.
    public var token: AccessToken? {
        switch self {
        case .hit(let token), .refreshDue(let token): return token
        case .miss: return nil
        }
    }
}

/// MSAL Python's cache query semantics, over any ``CacheEntryReader``.
public enum CacheQueries {
    /// Tokens closer than this to expiry count as expired (MSAL's 5-minute margin).
    public static let expiryMarginSeconds: Int64 = 300

    /// Finds the access token for a silent request, trying `environment` and then each alias.
    public static func lookupAccessToken<Reader: CacheEntryReader>(_ query: AccessTokenQuery, in reader: Reader) throws(Reader.Failure) -> AccessTokenLookup {
        var sawExpired = false
        for environment in [query.environment] + query.aliases {
            switch try lookupAccessToken(query, environment: PythonText.lower(environment), in: reader) {
            case .miss(let expired): sawExpired = sawExpired || expired
            case let found: return found
            }
        }
        return .miss(expired: sawExpired)
    }

    private static func lookupAccessToken<Reader: CacheEntryReader>(_ query: AccessTokenQuery, environment: String, in reader: Reader) throws(Reader.Failure) -> AccessTokenLookup {
        let extKey = ExtendedCacheKey.compute(query.requestData)
        let requested = Set(query.scopes)
        // MSAL Python scans in file order, skipping tokens already expired...
        var candidates: [AccessToken] = []
        let filter = AccessTokenFilter(scopes: requested, now: query.now)
        for token in try reader.accessTokens(homeAccountID: query.homeAccountID, environment: environment, clientID: query.clientID, realm: query.realm, passing: filter) {
            if let expiresOn = token.expiresOn, expiresOn < query.now { continue }
            guard matches(token, query: query, extKey: extKey, requested: requested) else { continue }
            if !extKey.isEmpty || token.storage.value(FieldName.extCacheKeyField) == nil {
                candidates.append(token)
            }
        }
        // ...but first yields the token stored under the exact key of the request. That
        // order only matters when several tokens match.
        if candidates.count > 1, !query.scopes.isEmpty {
            let key = CacheKey.accessToken(homeAccountID: query.homeAccountID, environment: environment, clientID: query.clientID, realm: query.realm, target: CacheKey.target(scopes: query.scopes), extCacheKey: extKey)
            let exactKey = EntryKey(key)
            if let exact = candidates.firstIndex(where: { $0.entryKey == exactKey }) {
                candidates.insert(candidates.remove(at: exact), at: 0)
            }
        }
        var sawExpired = false
        for token in candidates {
            guard let expiresOn = token.expiresOn, expiresOn - query.now >= expiryMarginSeconds else {
                sawExpired = true
                continue
            }
            if let refreshOn = token.refreshOn, refreshOn < query.now {
                return .refreshDue(token)
            }
            return .hit(token)
        }
        return .miss(expired: sawExpired)
    }

    /// Whether a token the reader returned for the query's account, client, environment
    /// and realm (which it matched exactly) also fits the rest of the query.
    private static func matches(_ token: AccessToken, query: AccessTokenQuery, extKey: String, requested: Set<String>) -> Bool {
        let fields = token.storage
        if let keyID = query.keyID, fields.value(FieldName.keyIDField) != .string(keyID) { return false }
        if let hash = query.userAssertionHash, fields.value(FieldName.userAssertionHashField) != .string(hash) { return false }
        if !extKey.isEmpty, fields.value(FieldName.extCacheKeyField) != .string(extKey) { return false }
        return requested.isEmpty || PythonText.containsAllWords(fields.string(FieldName.targetField) ?? "", requested)
    }

    /// The refresh tokens a silent request may try, in MSAL Python's order without repeats:
    /// family tokens first (FOCI tokens when the app has no metadata yet, or the app's own
    /// family), then the app's own, each group newest first.
    public static func refreshTokenCandidates<Reader: CacheEntryReader>(clientID: String, environment: String, homeAccountID: String, in reader: Reader) throws(Reader.Failure) -> [RefreshToken] {
        let environment = PythonText.lower(environment)
        let owned: [RefreshToken] = try reader.entries(RefreshToken.self, homeAccountID: homeAccountID, environment: environment)
        let metadata = try reader.appMetadata(key: CacheKey.appMetadata(environment: environment, clientID: clientID))
        var groups: [[RefreshToken]] = []
        if metadata == nil {
            groups.append(owned.filter { $0.field(FieldName.familyID) == .string("1") })
        }
        if let metadataFamily = metadata?.field(FieldName.familyID), metadataFamily.isTruthy {
            groups.append(owned.filter { $0.field(FieldName.familyID) == metadataFamily })
        }
        groups.append(owned.filter { $0.field(FieldName.clientID) == .string(clientID) })
        var seen = Set<EntryKey>()
        var ordered: [RefreshToken] = []
        for group in groups {
            for token in newestFirst(group) where seen.insert(token.entryKey).inserted {
                ordered.append(token)
            }
        }
        return ordered
    }

    private static func newestFirst(_ tokens: [RefreshToken]) -> [RefreshToken] {
        // Python's sorted(reverse=True) is stable: equal times keep file order.
        tokens.enumerated().sorted { lhs, rhs in
            let l = lhs.element.lastModificationTime ?? 0
            let r = rhs.element.lastModificationTime ?? 0
            return l != r ? l > r : lhs.offset < rhs.offset
        }.map(\.element)
    }

    /// The accounts MSAL Python's `get_accounts()` lists: MSSTS and ADFS accounts of
    /// `environment`, one per home account (the last entry wins, in first-seen order), or
    /// those of the first alias that has any. `username` filters case-insensitively.
    public static func accounts<Reader: CacheEntryReader>(environment: String, aliases: [String] = [], username: String? = nil, includeCloudShell: Bool = false, in reader: Reader) throws(Reader.Failure) -> [Account] {
        var types: Set<String> = [AuthorityType.adfs, AuthorityType.msSTS]
        if includeCloudShell { types.insert(AuthorityType.cloudShell) }
        var found: [Account] = []
        for candidate in [environment] + aliases {
            var grouped: [String?: Int] = [:]
            found = []
            for account in try reader.accounts(environment: PythonText.lower(candidate)) {
                guard let type = account.authorityType, types.contains(type) else { continue }
                if let position = grouped[account.homeAccountID] {
                    found[position] = account
                } else {
                    grouped[account.homeAccountID] = found.count
                    found.append(account)
                }
            }
            if !found.isEmpty { break }
        }
        if let username {
            let wanted = PythonText.lower(username)
            found = found.filter { PythonText.lower($0.username ?? "") == wanted }
        }
        return found
    }

    /// The entries signing an account out of an app removes, with MSAL Python's scope: in
    /// `environment` (no aliases, any realm), the account's refresh tokens that belong to
    /// `clientID` or to the app's family, and all its access tokens, ID tokens and Account
    /// entries. (MSAL Python also drops every expired access token at the same time.)
    public static func accountEntries<Reader: CacheEntryReader>(homeAccountID: String, environment: String, clientID: String, in reader: Reader) throws(Reader.Failure) -> [EntryReference] {
        let environment = PythonText.lower(environment)
        let family = try reader.appMetadata(key: CacheKey.appMetadata(environment: environment, clientID: clientID))?.field(FieldName.familyID)
        var references: [EntryReference] = []
        for token in try reader.entries(RefreshToken.self, homeAccountID: homeAccountID, environment: environment)
        where token.field(FieldName.clientID) == .string(clientID) || (family?.isTruthy == true && token.field(FieldName.familyID) == family) {
            references.append(EntryReference(type: .refreshToken, key: token.key))
        }
        func add<Entry: CacheEntry>(_ type: Entry.Type) throws(Reader.Failure) {
            references += try reader.entries(type, homeAccountID: homeAccountID, environment: environment).map { EntryReference(type: Entry.credentialType, key: $0.key) }
        }
        try add(AccessToken.self)
        try add(IdToken.self)
        try add(Account.self)
        return references
    }

    /// The app's own access tokens (no home account) of `clientID` in `environments`, which
    /// MSAL Python's `remove_tokens_for_client()` removes: the tokens of
    /// `acquire_token_for_client`, never a user's.
    package static func appTokens<Reader: CacheEntryReader>(clientID: String, environments: [String], in reader: Reader) throws(Reader.Failure) -> [EntryReference] {
        var references: [EntryReference] = []
        for environment in environments {
            references += try reader.entries(AccessToken.self, homeAccountID: nil, environment: environment)
                .filter { $0.clientID == clientID }.map { EntryReference(type: .accessToken, key: $0.key) }
        }
        return references
    }

    /// Signs an account out of an app in a database store, with MSAL Python's scope: the
    /// entries ``accountEntries(homeAccountID:environment:clientID:in:)`` names, through the
    /// store's `delete` (which says whether the entry was there), then every expired access
    /// token through `deleteExpired`. Runs inside the store's write transaction.
    package static func removeAccount<Reader: CacheEntryReader>(homeAccountID: String, environment: String, clientID: String, in reader: Reader,
                                                                delete: (EntryReference) throws -> Bool, deleteExpired: () throws -> [EntryReference]) throws -> CacheChange {
        var change = CacheChange()
        for reference in try accountEntries(homeAccountID: homeAccountID, environment: environment, clientID: clientID, in: reader) where try delete(reference) {
            change.removed.append(reference)
        }
        change.removed += try deleteExpired()
        return change
    }
}

public import Foundation
public import TokenCache

/// The behaviour every ``TokenCache/TokenCacheStore`` must show, whatever it keeps tokens
/// in: MSAL's answers, atomic writes, changes seen by other instances, lossless export and
/// import. A store's tests call ``check(_:)`` with a factory of instances on one fresh,
/// empty location and expect no problems.
public enum TokenStoreConformance {
    /// The app the checks sign in to.
    public static let client = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    /// The authority host of the sign-ins.
    public static let environment = "login.microsoftonline.com"
    /// The time of the sign-ins, in Unix seconds.
    public static let now: Int64 = 1_700_000_000

    /// A sign-in response for `user` (home account `user.tenant`) with its context.
    public static func signIn(_ user: String, client: String = client, now: Int64 = now, refreshToken: Bool = true) -> (JSONObject, TokenResponseContext) {
        var response: JSONObject = [
            "token_type": "Bearer", "expires_in": 3600, "access_token": .string("at-\(user)"),
            "client_info": .string(ResponseGenerator.base64url("{\"uid\":\"\(user)\",\"utid\":\"tenant\"}")),
            "id_token": .string(ResponseGenerator.jwt(["sub": .string(user), "oid": .string(user), "preferred_username": .string("\(user)@contoso.com")])),
            "scope": "User.Read openid profile offline_access",
        ]
        if refreshToken { response["refresh_token"] = .string("rt-\(user)") }
        let context = TokenResponseContext(clientID: client, requestedScopes: ["User.Read"], tokenEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/token", grantType: "authorization_code", now: now)
        return (response, context)
    }

    /// The silent lookup of `user`'s User.Read token at `now`.
    public static func query(_ user: String, now: Int64 = now) -> AccessTokenQuery {
        AccessTokenQuery(clientID: client, environment: environment, realm: "common", homeAccountID: "\(user).tenant", scopes: ["User.Read"], now: now)
    }

    /// A cache with another SDK's section, unknown fields and values of every JSON type.
    public static let foreignText = """
    {"AccessToken": {"k1": {"credential_type": "AccessToken", "secret": "at-x", "home_account_id": "x.tenant", "environment": "login.microsoftonline.com", "client_id": "c", "target": "User.Read", "realm": "common", "expires_on": "1700003600", "cached_at": 1700000000, "kid": {"nested": [1, 2.5, -0.0, true, null, "\\u00e9"]}}},
     "Unknown": {"x": 1}, "Version": 7, "RefreshToken": {}, "AppMetadata": {"appmetadata-login.microsoftonline.com-c": {"client_id": "c", "environment": "login.microsoftonline.com", "family_id": null}}}
    """

    /// Runs every check on the store `make` opens (a new instance on the same location
    /// each call; it must start empty) and returns the problems found.
    ///
    /// `synchronize` runs on an instance before it reads what the other one just wrote:
    /// for a store whose instances learn of each other's writes by notification (the
    /// PostgreSQL L1), it waits until every notification sent so far has arrived, so the
    /// read must then see the write. Stores that read the shared state directly need none.
    public static func check(_ make: () throws -> any TokenCacheStore, synchronize: (any TokenCacheStore) throws -> Void = { _ in }) -> [String] {
        var found = ProblemList()
        func seen(_ store: any TokenCacheStore) throws -> any TokenCacheStore {
            try synchronize(store)
            return store
        }
        func secret(_ store: any TokenCacheStore, _ user: String, now: Int64 = now) throws -> String? {
            try store.lookupAccessToken(query(user, now: now)).token?.secret
        }
        func entryCount(_ store: any TokenCacheStore) throws -> Int {
            try store.snapshot().entryCounts.values.reduce(0, +)
        }
        let first: any TokenCacheStore
        let second: any TokenCacheStore
        do {
            first = try make()
            second = try make()
        } catch {
            return ["the store could not be opened: \(error)"]
        }

        // An empty store answers without failing.
        found.expect(try first.lookupAccessToken(query("ann")) == .miss(expired: false), "an empty store misses")
        found.expect(try first.accounts(environment: environment).isEmpty, "an empty store has no accounts")
        found.expect(try entryCount(first) == 0, "an empty store exports nothing")
        found.expect(try first.removeExpiredAccessTokens(now: now).isEmpty, "pruning an empty store changes nothing")

        // Writes are MSAL Python's and are seen by the other instance.
        let (annResponse, annContext) = signIn("ann")
        found.expect(try first.add(response: annResponse, context: annContext).written.count == 5, "a sign-in writes AT, Account, IdToken, RT and AppMetadata")
        found.expect(try secret(first, "ann") == "at-ann", "the writer finds its access token")
        found.expect(try secret(seen(second), "ann") == "at-ann", "another instance finds the access token")
        let (bobResponse, bobContext) = signIn("bob")
        found.expect(try { try second.add(response: bobResponse, context: bobContext); return true }(), "the second instance can write")
        found.expect(try first.accounts(environment: environment).compactMap(\.homeAccountID) == ["ann.tenant", "bob.tenant"], "both accounts are listed, in order")
        found.expect(try first.refreshTokenCandidates(clientID: client, environment: environment, homeAccountID: "ann.tenant").map(\.secret) == ["rt-ann"], "the refresh token is a candidate")
        found.expect(try secret(first, "ann", now: now + 3600 - 200) == nil, "a token within five minutes of expiry is not used")

        // A silent refresh rotates in place and never creates an account.
        do {
            let used = try first.refreshTokenCandidates(clientID: client, environment: environment, homeAccountID: "ann.tenant")[0]
            var refreshed = signIn("ann", now: now + 100).0
            refreshed["access_token"] = "at-ann-2"
            refreshed["refresh_token"] = "rt-ann-2"
            let outcome = try first.saveRefreshResult(response: refreshed, context: signIn("ann", now: now + 100).1, refreshTokenKey: used.key)
            found.expect(outcome != .accountRemoved, "a refresh of a present account is saved")
            found.expect(try seen(second).refreshTokenCandidates(clientID: client, environment: environment, homeAccountID: "ann.tenant").map(\.secret) == ["rt-ann-2"], "the rotated refresh token replaces the old one")
            found.expect(try secret(seen(second), "ann") == "at-ann-2", "the refreshed access token is found")

            // Sign-out removes the account; a late refresh does not bring it back.
            let removed = try second.removeAccount(homeAccountID: "ann.tenant", environment: environment, clientID: client, now: now)
            found.expect(removed.removed.count == 4, "sign-out removes the account's AT, RT, IdToken and Account (removed \(removed.removed.count))")
            found.expect(try secret(seen(first), "ann") == nil, "a signed-out account's token is gone for the other instance")
            let late = try first.saveRefreshResult(response: refreshed, context: signIn("ann", now: now + 100).1, refreshTokenKey: used.key)
            found.expect(late == .accountRemoved, "a refresh saved after sign-out is dropped")
            found.expect(try first.accounts(environment: environment).compactMap(\.homeAccountID) == ["bob.tenant"], "the signed-out account stays gone")
        } catch {
            found.record("refresh and sign-out: threw \(error)")
        }

        // A bad response changes nothing.
        do {
            let before = try first.snapshot().serialize()
            var bad = signIn("carol").0
            bad["client_info"] = "not base64 json"
            if (try? first.add(response: bad, context: signIn("carol").1)) != nil { found.record("a malformed response is refused") }
            found.expect(try first.snapshot().serialize() == before, "a refused response leaves the store unchanged")
        } catch {
            found.record("bad response: threw \(error)")
        }

        // Expired access tokens are pruned; refresh tokens and accounts stay.
        found.expect(try first.removeExpiredAccessTokens(now: now + 7200).removed.count == 1, "pruning removes the expired access token")
        found.expect(try seen(second).refreshTokenCandidates(clientID: client, environment: environment, homeAccountID: "bob.tenant").count == 1, "pruning keeps refresh tokens")

        // An app's own tokens are removed; another app's and a user's of the same app stay.
        do {
            let endpoint = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
            for daemon in ["daemon-a", "daemon-b"] {
                let context = TokenResponseContext(clientID: daemon, requestedScopes: ["https://graph.example/.default"], tokenEndpoint: endpoint,
                                                   grantType: "client_credentials", now: now)
                try first.add(response: ["token_type": "Bearer", "expires_in": 3600, "access_token": .string("at-\(daemon)")], context: context)
            }
            let (daveResponse, daveContext) = signIn("dave", client: "daemon-a")
            try first.add(response: daveResponse, context: daveContext)
            found.expect(try second.removeAppTokens(clientID: "daemon-a", environments: [environment]).removed.count == 1, "removing an app's tokens removes its one app token")
            func appToken(_ daemon: String) throws -> String? {
                try seen(first).lookupAccessToken(AccessTokenQuery(clientID: daemon, environment: environment, realm: "common", homeAccountID: nil,
                                                                   scopes: ["https://graph.example/.default"], now: now)).token?.secret
            }
            found.expect(try appToken("daemon-a") == nil, "the removed app token is gone for the other instance")
            found.expect(try appToken("daemon-b") == "at-daemon-b", "another app's token stays")
            let dave = AccessTokenQuery(clientID: "daemon-a", environment: environment, realm: "common", homeAccountID: "dave.tenant", scopes: ["User.Read"], now: now)
            found.expect(try first.lookupAccessToken(dave).token?.secret == "at-dave", "a user's token of the same app stays")
        } catch {
            found.record("removing an app's tokens: threw \(error)")
        }

        // Export and import keep everything, in order.
        do {
            let foreign = try TokenCache(serialized: Data(foreignText.utf8))
            try first.replaceContents(with: foreign)
            found.expect(try second.snapshot().serialize() == foreign.serialize(), "an imported cache exports the same bytes")
            found.expect(try second.accounts(environment: environment).isEmpty, "an import replaces what was there")
        } catch {
            found.record("import and export: threw \(error)")
        }

        // Clearing empties the store for everyone.
        found.expect(try { try second.clear(); return true }(), "clear succeeds")
        found.expect(try entryCount(first) == 0, "a cleared store is empty for the other instance")
        found.expect(try seen(first).lookupAccessToken(query("bob")) == .miss(expired: false), "a cleared store misses")
        found.expect(!first.location.isEmpty, "a store names its location")
        return found.problems
    }
}

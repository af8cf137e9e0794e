public import TokenCache
import Logging

/// An application that can keep a secret: a web app, a web API or a daemon. It acquires
/// tokens for itself (client credentials), on behalf of the user who called it, or signs
/// users in with the authorization code flow (see ``ClientApplication``).
public final class ConfidentialClientApplication: ClientApplication, @unchecked Sendable {
    /// Creates an application.
    ///
    /// - Parameters:
    ///   - clientID: The application (client) id of the app registration.
    ///   - authority: A tenant's authority, such as
    ///     `https://login.microsoftonline.com/TENANT_ID`.
    ///   - credential: The client's secret, or a callback returning a signed assertion.
    ///   - cache: Any token cache of this library.
    ///   - options: HTTP, logging and discovery settings.
    public init(clientID: String, authority: String, credential: ClientCredential, cache: any TokenCacheStore = TokenCache(),
                options: ApplicationOptions = ApplicationOptions()) throws(MSALError) {
        super.init(core: try ClientCore(clientID: clientID, authority: authority, cache: cache, options: options, credential: credential))
    }

    /// Creates an application of any OpenID Connect provider, as MSAL Python's
    /// `oidc_authority` (see ``PublicClientApplication/init(clientID:oidcAuthority:cache:options:)``).
    public init(clientID: String, oidcAuthority: String, credential: ClientCredential, cache: any TokenCacheStore = TokenCache(),
                options: ApplicationOptions = ApplicationOptions()) throws(MSALError) {
        super.init(core: try ClientCore(clientID: clientID, authority: oidcAuthority, cache: cache, options: options, credential: credential, oidc: true))
    }

    /// A token for the app itself (the client credentials grant): from the cache when one
    /// fits, else from the provider, then cached.
    ///
    /// - Parameters:
    ///   - scopes: One scope ending in `/.default`.
    ///   - forceRefresh: Skip the cached token and ask the provider.
    ///   - claimsChallenge: The claims a resource asked for (its `WWW-Authenticate`
    ///     challenge); the provider is asked, never the cache.
    ///
    /// It runs on the caller's executor (`nonisolated(nonsending)`): a token served from the
    /// cache costs no hop to another thread.
    nonisolated(nonsending)
    public func acquireTokenForClient(scopes: [String], forceRefresh: Bool = false, claimsChallenge: String? = nil) async throws(MSALError) -> AuthenticationResult {
        try ClientCore.validate(scopes, forClient: true)
        let claimsChallenge = ClientCore.challenge(claimsChallenge)
        var query: AccessTokenQuery?
        // A claims challenge is answered by the provider, never by the cache (as MSAL Python).
        if !forceRefresh, claimsChallenge == nil {
            query = AccessTokenQuery(clientID: core.clientID, environment: core.authority.host, realm: try await core.realm(of: core.authority),
                                     homeAccountID: nil, scopes: scopes, now: ClientCore.now())
        }
        return try await core.cachedOrAcquired(query, claimsChallenge: claimsChallenge) { reason throws(MSALError) in
            let regional = try await self.core.regionalAuthority()
            return try await self.core.acquire(grantType: "client_credentials", [], scopes: scopes, sentScopes: scopes, reason: reason, claimsChallenge: claimsChallenge,
                                               requestAuthority: regional)
        }
    }

    /// Removes the app's own tokens (those of ``acquireTokenForClient(scopes:forceRefresh:claimsChallenge:)``)
    /// from the cache, in the authority's environment and its aliases, as MSAL Python's
    /// `remove_tokens_for_client()`; users' tokens stay.
    public func removeTokensForClient() async throws(MSALError) {
        let environments = [core.authority.host] + (try await core.discovery.aliases(of: core.authority))
        let clientID = core.clientID
        _ = try await core.cached(.write) { try $0.removeAppTokens(clientID: clientID, environments: environments) }
    }

    /// A token for a downstream API on behalf of the user whose token (`userAssertion`)
    /// called this API (the on-behalf-of flow). The result is cached with the assertion's
    /// hash (`user_assertion_hash`, as MSAL .NET records it), and a later call with the same
    /// assertion and scopes is served from the cache, as MSAL .NET and
    /// Microsoft.Identity.Web serve it. MSAL Python always asks the provider.
    ///
    /// - Parameters:
    ///   - userAssertion: The caller's access token, as received.
    ///   - scopes: The downstream API's scopes.
    ///   - forceRefresh: Ask the provider even when a cached token fits.
    ///   - claimsChallenge: The claims a downstream API asked for; the provider is asked,
    ///     never the cache.
    nonisolated(nonsending)
    public func acquireTokenOnBehalfOf(userAssertion: String, scopes: [String], forceRefresh: Bool = false, claimsChallenge: String? = nil) async throws(MSALError) -> AuthenticationResult {
        try ClientCore.validate(scopes, forClient: false)
        let claimsChallenge = ClientCore.challenge(claimsChallenge)
        let hash = CacheKey.userAssertionHash(userAssertion)
        var query: AccessTokenQuery?
        // The cached token sits in the user's partition: the assertion's oid.tid is the home
        // account id Entra's client_info gives.
        if !forceRefresh, claimsChallenge == nil, let claims = ClientCore.claims(of: userAssertion), let oid = claims.string("oid"), let tid = claims.string("tid") {
            query = AccessTokenQuery(clientID: core.clientID, environment: core.authority.host, realm: try await core.realm(of: core.authority),
                                     homeAccountID: "\(oid).\(tid)", scopes: scopes, userAssertionHash: hash, now: ClientCore.now())
        }
        return try await core.cachedOrAcquired(query, claimsChallenge: claimsChallenge) { reason throws(MSALError) in
            try await self.core.acquire(grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                        [("assertion", userAssertion), ("requested_token_use", "on_behalf_of"), ("client_info", "1")],
                                        scopes: scopes, sentScopes: self.core.decorated(scopes), requestData: [FieldName.userAssertionHash: hash],
                                        reason: reason, claimsChallenge: claimsChallenge)
        }
    }
}

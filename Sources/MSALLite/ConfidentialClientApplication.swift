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
        var reason: AuthenticationResult.RefreshReason = claimsChallenge != nil ? .claims : .forceRefresh
        var fallback: AccessToken?
        // A claims challenge is answered by the provider, never by the cache (as MSAL Python).
        if !forceRefresh, claimsChallenge == nil {
            let query = AccessTokenQuery(clientID: core.clientID, environment: core.authority.host, realm: try await core.realm(of: core.authority),
                                         homeAccountID: nil, scopes: scopes, now: ClientCore.now())
            switch try await core.cached(.lookup, { try $0.lookupAccessToken(query) }) {
            case .hit(let token):
                return ClientCore.result(cached: token, account: nil)
            case .refreshDue(let token):
                reason = .proactiveRefresh
                fallback = token
            case .miss(let expired):
                reason = expired ? .expired : .noCachedToken
            }
        }
        do {
            let regional = try await core.regionalAuthority()
            return try await core.acquire(grantType: "client_credentials", [], scopes: scopes, sentScopes: scopes, reason: reason, claimsChallenge: claimsChallenge,
                                          requestAuthority: regional)
        } catch {
            // A proactive refresh that failed: the cached token is still valid.
            guard let fallback else { throw error }
            core.logger.info("client credentials: the proactive refresh failed; the cached token is still valid", metadata: ["error": "\(error.code)"])
            return ClientCore.result(cached: fallback, account: nil)
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
    /// called this API (the on-behalf-of flow). As in MSAL Python the cache is not consulted
    /// first; the result is cached.
    public func acquireTokenOnBehalfOf(userAssertion: String, scopes: [String], claimsChallenge: String? = nil) async throws(MSALError) -> AuthenticationResult {
        try ClientCore.validate(scopes, forClient: false)
        return try await core.acquire(grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                      [("assertion", userAssertion), ("requested_token_use", "on_behalf_of"), ("client_info", "1")],
                                      scopes: scopes, sentScopes: core.decorated(scopes), claimsChallenge: claimsChallenge)
    }
}

public import Foundation
public import TokenCache

/// What public and confidential applications share: the accounts in the cache, silent
/// acquisition, signing out, and the authorization code flow. Use
/// ``PublicClientApplication`` or ``ConfidentialClientApplication``.
///
/// The usual pattern, as in MSAL:
/// 1. ``accounts(username:)`` lists the accounts the cache knows;
/// 2. ``acquireTokenSilent(scopes:account:forceRefresh:claimsChallenge:data:)`` answers from
///    the cache, refreshing with a cached refresh token when needed;
/// 3. only when that returns `nil` (or throws `interactionRequired`), sign the user in
///    with a flow.
public class ClientApplication: @unchecked Sendable {
    // @unchecked: every stored property is immutable and Sendable; the class is only
    // subclassed inside this module.
    let core: ClientCore

    init(core: ClientCore) {
        self.core = core
    }

    /// The application (client) id.
    public var clientID: String { core.clientID }
    /// The authority the application signs in through.
    public var authority: Authority { core.authority }
    /// The token cache.
    public var cache: any TokenCacheStore { core.cache }

    /// The accounts signed in to this authority's cloud, optionally only `username`'s, as
    /// MSAL Python's `get_accounts()` lists them.
    nonisolated(nonsending)
    public func accounts(username: String? = nil) async throws(MSALError) -> [Account] {
        let aliases = try await core.discovery.aliases(of: core.authority)
        let environment = core.authority.host
        let cloudShell = core.isInCloudShell
        return try await core.cached { try $0.accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: cloudShell) }
    }

    /// A token for `scopes` without user interaction: a cached access token when one fits,
    /// else one obtained with a cached refresh token (family tokens first, then the app's
    /// own, newest first; a refused refresh token is kept and the next one tried).
    ///
    /// - Returns: `nil` when the cache has nothing usable for `account`: sign in with a flow.
    /// - Throws: ``MSALError`` `interactionRequired` (with the provider's answer) when every
    ///   refresh token was refused; `network` or `timedOut` when the provider is unreachable
    ///   and no cached token can stand in.
    ///
    /// It runs on the caller's executor (`nonisolated(nonsending)`): a token served from the
    /// cache costs no hop to another thread.
    nonisolated(nonsending)
    public func acquireTokenSilent(scopes: [String], account: Account, forceRefresh: Bool = false, claimsChallenge: String? = nil,
                                   data: [String: String] = [:]) async throws(MSALError) -> AuthenticationResult? {
        try await core.acquireTokenSilent(scopes: scopes, account: account, forceRefresh: forceRefresh, claimsChallenge: claimsChallenge, data: data)
    }

    /// Signs `account` out of this app: its tokens for this app (and its family) and its
    /// account entries go, with MSAL Python's scope.
    ///
    /// It waits for the store (a lock, a database) without blocking a thread of Swift's
    /// cooperative pool.
    public func removeAccount(_ account: Account) async throws(MSALError) {
        guard let homeAccountID = account.homeAccountID else { return }
        let environment = account.environment ?? core.authority.host
        let clientID = core.clientID
        _ = try await core.cached(.write) { try $0.removeAccount(homeAccountID: homeAccountID, environment: environment, clientID: clientID, now: ClientCore.now()) }
    }

    /// Signs a user in with a username and password (OAuth's resource owner password
    /// grant). Not recommended: it bypasses multi-factor authentication and consent, and
    /// fails for federated and MFA-protected accounts. Prefer the device code flow (public
    /// clients) or the authorization code flow.
    ///
    /// - Parameters:
    ///   - username: The user's sign-in name.
    ///   - password: The user's password; it is sent once and never logged or kept.
    ///   - scopes: The scopes to ask for; `openid`, `profile` and `offline_access` are added.
    ///   - claimsChallenge: The claims a resource asked for, if any.
    ///   - data: Extra fields of the token request, as MSAL Python's `data` (for example an
    ///     SSH certificate's `token_type`, `req_cnf` and `key_id`); recorded with the token.
    public func acquireToken(byUsername username: String, password: String, scopes: [String], claimsChallenge: String? = nil,
                             data: [String: String] = [:]) async throws(MSALError) -> AuthenticationResult {
        try ClientCore.validate(scopes, forClient: false)
        return try await core.acquire(grantType: "password", [("username", username), ("password", password), ("client_info", "1")],
                                      scopes: scopes, sentScopes: core.decorated(scopes), requestData: ["username": username], username: username,
                                      claimsChallenge: claimsChallenge, data: data)
    }

    /// Imports a refresh token obtained elsewhere (a migration from another library): it
    /// is redeemed once, and the answer (account, tokens, the new refresh token) cached.
    ///
    /// - Parameters:
    ///   - refreshToken: The refresh token to import.
    ///   - scopes: The scopes to ask for; `openid`, `profile` and `offline_access` are added.
    ///   - claimsChallenge: The claims a resource asked for, if any.
    ///   - data: Extra fields of the token request, as MSAL Python's `data`.
    public func acquireToken(byRefreshToken refreshToken: String, scopes: [String], claimsChallenge: String? = nil,
                             data: [String: String] = [:]) async throws(MSALError) -> AuthenticationResult {
        try ClientCore.validate(scopes, forClient: false)
        return try await core.acquire(grantType: "refresh_token", [("refresh_token", refreshToken), ("client_info", "1")],
                                      scopes: scopes, sentScopes: core.decorated(scopes), claimsChallenge: claimsChallenge, data: data)
    }

    /// The URL of an authorization request alone, as MSAL Python's
    /// `get_authorization_request_url`: no PKCE, and the `state` and `nonce` are the app's
    /// to choose and check. Redeem the code with
    /// ``acquireToken(byAuthorizationCode:scopes:redirectURI:nonce:claimsChallenge:)``.
    /// Prefer ``initiateAuthCodeFlow(scopes:redirectURI:loginHint:prompt:claimsChallenge:domainHint:maxAge:responseMode:state:)``,
    /// which does both checks and PKCE for you.
    ///
    /// - Parameters:
    ///   - scopes: The scopes to ask for; `openid`, `profile` and `offline_access` are added.
    ///   - redirectURI: The redirect URI registered for the app.
    ///   - state: The `state` to send, if any (recommended: a random value the app checks).
    ///   - nonce: The `nonce` the ID token must carry, if any.
    ///   - loginHint: The username to prefill, if known.
    ///   - prompt: The `prompt` parameter, if any.
    ///   - domainHint: The user's home domain (`domain_hint`), if known.
    ///   - claimsChallenge: The claims a resource asked for.
    ///   - responseMode: `.formPost` to receive the code in a posted form.
    public func authorizationRequestURL(scopes: [String], redirectURI: String, state: String? = nil, nonce: String? = nil, loginHint: String? = nil,
                                        prompt: String? = nil, domainHint: String? = nil, claimsChallenge: String? = nil,
                                        responseMode: AuthCodeFlow.ResponseMode = .query) async throws(MSALError) -> URL {
        try await core.authorizationURL(scopes: scopes, redirectURI: redirectURI, state: state, nonce: nonce, pkceChallenge: nil, loginHint: loginHint,
                                        prompt: prompt, claimsChallenge: claimsChallenge, domainHint: domainHint, maxAge: nil, responseMode: responseMode)
    }

    /// Starts an authorization code flow with PKCE, `state` and `nonce`: send the user's
    /// browser to the returned flow's ``AuthCodeFlow/authorizationURL``, keep the flow (it
    /// is `Codable`, for a web app's session), and pass the redirect's query to
    /// ``acquireToken(byAuthCodeFlow:response:)``.
    ///
    /// - Parameters:
    ///   - scopes: The scopes to ask for; `openid`, `profile` and `offline_access` are added.
    ///   - redirectURI: The redirect URI registered for the app.
    ///   - loginHint: The username to prefill on the sign-in page, if known.
    ///   - prompt: The `prompt` parameter (`select_account`, `login`, `consent`), if any.
    ///   - claimsChallenge: The claims a resource asked for, sent on the sign-in page's
    ///     request and with the code.
    ///   - domainHint: The user's home domain (`domain_hint`), to skip the account picker's
    ///     first page, as `contoso.com` or `consumers`.
    ///   - maxAge: The most seconds since the user last authenticated that the sign-in may
    ///     rely on (`max_age`); a redeemed ID token whose `auth_time` is older fails with
    ///     `authenticationTooOld`.
    ///   - responseMode: `.formPost` to receive the code in a posted form (web apps).
    ///   - state: The `state` to send, as MSAL Python's `state`: for an app that keeps its
    ///     own value in it (a return URL's key). It must be unguessable, as the check
    ///     against forged redirects relies on it; by default a random one.
    public func initiateAuthCodeFlow(scopes: [String], redirectURI: String, loginHint: String? = nil, prompt: String? = nil,
                                     claimsChallenge: String? = nil, domainHint: String? = nil, maxAge: Int? = nil,
                                     responseMode: AuthCodeFlow.ResponseMode = .query, state: String? = nil) async throws(MSALError) -> AuthCodeFlow {
        if let state, state.utf8.count < 16 {
            throw MSALError(code: .invalidArgument, reason: "the state must be at least 16 characters of unguessable text: it is what tells a real redirect from a forged one")
        }
        return try await core.initiateAuthCodeFlow(scopes: scopes, redirectURI: redirectURI, loginHint: loginHint, prompt: prompt, claimsChallenge: claimsChallenge,
                                                   domainHint: domainHint, maxAge: maxAge, responseMode: responseMode, state: state ?? AuthCodeFlow.randomText(bytes: 16))
    }

    /// Completes an authorization code flow with the redirect's query parameters: checks
    /// `state`, redeems the code with the PKCE verifier, checks the ID token's `nonce`, and
    /// caches the tokens.
    public func acquireToken(byAuthCodeFlow flow: AuthCodeFlow, response: [String: String]) async throws(MSALError) -> AuthenticationResult {
        try await core.redeem(flow, response: response)
    }

    /// Redeems an authorization code the app obtained itself, as MSAL's
    /// `acquire_token_by_authorization_code` (deprecated there in favour of the flow above,
    /// but still used): the code is sent without a PKCE verifier, and the redirect's `state`
    /// is the app's to check. The tokens are cached.
    ///
    /// - Parameters:
    ///   - code: The code from the redirect.
    ///   - scopes: The scopes the authorization request asked for.
    ///   - redirectURI: The redirect URI of the authorization request.
    ///   - nonce: The `nonce` the request sent, checked against the ID token's when given.
    ///   - claimsChallenge: The claims challenge the sign-in answered.
    public func acquireToken(byAuthorizationCode code: String, scopes: [String], redirectURI: String, nonce: String? = nil,
                             claimsChallenge: String? = nil) async throws(MSALError) -> AuthenticationResult {
        try await core.redeem(code: code, scopes: scopes, redirectURI: redirectURI, nonce: nonce, claimsChallenge: claimsChallenge)
    }
}

import Foundation
public import TokenCache

/// A token an application acquired, from the cache or from the identity provider.
///
/// Its description never shows the tokens.
public struct AuthenticationResult: Sendable, CustomStringConvertible {
    /// Where the token came from.
    public enum TokenSource: String, Sendable {
        /// The token cache; no request was sent.
        case cache
        /// The identity provider, just now.
        case identityProvider = "identity_provider"
        /// The platform, on the user's behalf: Azure Cloud Shell's token endpoint (MSAL
        /// Python's `broker` source).
        case broker
    }

    /// Why the identity provider was asked although the app asked silently first.
    public enum RefreshReason: String, Sendable {
        /// The cache had no access token for the request.
        case noCachedToken = "no_cached_access_token"
        /// The cached access token expires within five minutes.
        case expired
        /// The cached token's `refresh_on` has passed (a proactive refresh).
        case proactiveRefresh = "proactive_refresh"
        /// The caller forced a refresh.
        case forceRefresh = "force_refresh"
        /// The caller passed a claims challenge.
        case claims
    }

    /// The access token, to send as `Authorization: Bearer ...`.
    public let accessToken: String
    /// The token type, usually `Bearer`.
    public let tokenType: String
    /// When the access token expires, in Unix seconds.
    public let expiresOn: Int64
    /// When the app should refresh it ahead of expiry (`refresh_on`), if the provider said.
    public let refreshOn: Int64?
    /// The scopes the token grants.
    public var scopes: [String] { scopeText.split(separator: " ").map(String.init) }
    /// The scopes as the cache keeps them, space-separated (split only when asked for: a
    /// result served from the cache stays cheap).
    let scopeText: String
    /// The raw ID token, for flows that sign a user in.
    public let idToken: String?
    /// The ID token's claims, decoded without validation (as MSAL does).
    public let idTokenClaims: JSONObject?
    /// The signed-in account's home account id (`uid.utid`), for user flows.
    public let homeAccountID: String?
    /// The signed-in user's name (`preferred_username`), when known.
    public let username: String?
    /// Where the token came from.
    public let tokenSource: TokenSource
    /// Why the provider was asked, when a silent request went to it.
    public let refreshReason: RefreshReason?
    /// The request's correlation id, to quote to the provider's support.
    public let correlationID: String?

    public var description: String {
        "AuthenticationResult(source: \(tokenSource.rawValue), scopes: \(scopeText), expiresOn: \(expiresOn), account: \(homeAccountID ?? "none")\(refreshReason.map { ", refreshReason: \($0.rawValue)" } ?? ""), token: <redacted>)"
    }

    init(accessToken: String, tokenType: String, expiresOn: Int64, refreshOn: Int64?, scopeText: String, idToken: String?,
         idTokenClaims: JSONObject?, homeAccountID: String?, username: String?, tokenSource: TokenSource,
         refreshReason: RefreshReason?, correlationID: String?) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.expiresOn = expiresOn
        self.refreshOn = refreshOn
        self.scopeText = scopeText
        self.idToken = idToken
        self.idTokenClaims = idTokenClaims
        self.homeAccountID = homeAccountID
        self.username = username
        self.tokenSource = tokenSource
        self.refreshReason = refreshReason
        self.correlationID = correlationID
    }
}

import Foundation
import TokenCache

/// An authorization code flow in progress: where to send the browser, and what the
/// redirect must be checked against. Keep it until the redirect arrives (it is `Codable`,
/// so a web app can keep it in the user's server-side session); it holds the PKCE verifier,
/// so never send it to the browser.
public struct AuthCodeFlow: Sendable, Codable {
    /// The URL to open in the user's browser.
    public let authorizationURL: String
    /// The redirect URI registered for the app.
    public let redirectURI: String
    /// The scopes asked for (without MSAL's reserved ones).
    public let scopes: [String]
    /// The `state` the redirect must carry back.
    public let state: String
    /// The `nonce` the ID token must carry.
    public let nonce: String
    let codeVerifier: String
    /// The claims challenge the sign-in answers, sent again when the code is redeemed.
    let claimsChallenge: String?
    /// The most seconds since the user last authenticated that the sign-in accepts
    /// (`max_age`), checked against the ID token's `auth_time`.
    let maxAge: Int?
    /// Extra fields of the code's redemption, as MSAL Python's `data` (an SSH
    /// certificate's `token_type`, `req_cnf` and `key_id`); `nil` for none.
    var data: [String: String]? = nil

    /// How the authorization endpoint hands the code back.
    public enum ResponseMode: String, Sendable, Codable {
        /// In the redirect's query (the default; what the loopback sign-in of desktop apps
        /// receives).
        case query
        /// In a form the browser posts to the redirect URI (`form_post`): the code never
        /// appears in a URL, browser history or a proxy's log. Recommended for web apps;
        /// pass the posted fields to ``ClientApplication/acquireToken(byAuthCodeFlow:response:)``.
        case formPost = "form_post"
    }

    /// A random URL-safe string of `bytes` random bytes.
    static func randomText(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

extension ClientCore {
    func initiateAuthCodeFlow(scopes: [String], redirectURI: String, loginHint: String?, prompt: String?, claimsChallenge: String? = nil,
                              domainHint: String? = nil, maxAge: Int? = nil, responseMode: AuthCodeFlow.ResponseMode = .query,
                              state: String = AuthCodeFlow.randomText(bytes: 16), extraScopesToConsent: [String] = [],
                              data: [String: String] = [:]) async throws(MSALError) -> AuthCodeFlow {
        _ = try ClientCore.extraFields(data)  // refused now rather than after the sign-in
        if let maxAge, !(0...ClientCore.longestMaxAge).contains(maxAge) {
            throw MSALError(code: .invalidArgument, reason: "maxAge is a number of seconds, from 0 to \(ClientCore.longestMaxAge) (a hundred years)")
        }
        let verifier = AuthCodeFlow.randomText(bytes: 32)
        let nonce = AuthCodeFlow.randomText(bytes: 16)
        let url = try await authorizationURL(scopes: scopes, redirectURI: redirectURI, state: state, nonce: nonce,
                                             pkceChallenge: Base64URL.encode(SHA256.hash(Array(verifier.utf8))), loginHint: loginHint, prompt: prompt,
                                             claimsChallenge: claimsChallenge, domainHint: domainHint, maxAge: maxAge, responseMode: responseMode,
                                             extraScopesToConsent: extraScopesToConsent)
        return AuthCodeFlow(authorizationURL: url.absoluteString, redirectURI: redirectURI, scopes: scopes, state: state, nonce: nonce, codeVerifier: verifier,
                            claimsChallenge: claimsChallenge, maxAge: maxAge, data: data.isEmpty ? nil : data)
    }

    /// The authorization endpoint's URL for a sign-in: MSAL Python's authorization request
    /// (the scope with MSAL's reserved scopes and any extra ones to consent to, and each
    /// option given).
    func authorizationURL(scopes: [String], redirectURI: String, state: String?, nonce: String?, pkceChallenge: String?, loginHint: String?,
                          prompt: String?, claimsChallenge: String?, domainHint: String?, maxAge: Int?, responseMode: AuthCodeFlow.ResponseMode,
                          extraScopesToConsent: [String] = []) async throws(MSALError) -> URL {
        try ClientCore.validate(scopes, forClient: false)
        guard let redirect = URL(string: redirectURI), redirect.scheme != nil else {
            throw MSALError(code: .invalidArgument, reason: "the redirect URI is not an absolute URL; pass the one registered for the app")
        }
        let endpoints = try await discovery.endpoints(of: authority)
        var components = URLComponents(url: endpoints.authorizationEndpoint, resolvingAgainstBaseURL: false)
        var items = components?.queryItems ?? []
        var scope = decorated(scopes)
        scope += extraScopesToConsent.filter { !scope.contains($0) }
        items += [
            URLQueryItem(name: "client_id", value: clientID), URLQueryItem(name: "response_type", value: "code"),
            URLQueryItem(name: "redirect_uri", value: redirectURI), URLQueryItem(name: "scope", value: scope.joined(separator: " ")),
        ]
        if let state { items.append(URLQueryItem(name: "state", value: state)) }
        if let nonce { items.append(URLQueryItem(name: "nonce", value: nonce)) }
        if let pkceChallenge {
            items += [URLQueryItem(name: "code_challenge", value: pkceChallenge), URLQueryItem(name: "code_challenge_method", value: "S256")]
        }
        if let loginHint { items.append(URLQueryItem(name: "login_hint", value: loginHint)) }
        if let prompt { items.append(URLQueryItem(name: "prompt", value: prompt)) }
        if let claims = try claimsParameter(claimsChallenge) { items.append(URLQueryItem(name: "claims", value: claims)) }
        if let domainHint { items.append(URLQueryItem(name: "domain_hint", value: domainHint)) }
        if let maxAge { items.append(URLQueryItem(name: "max_age", value: String(maxAge))) }
        if responseMode != .query { items.append(URLQueryItem(name: "response_mode", value: responseMode.rawValue)) }
        components?.queryItems = items
        guard let url = components?.url else {
            throw MSALError(code: .invalidResponse, reason: "the discovered authorization endpoint does not make a valid URL")
        }
        return url
    }

    func redeem(_ flow: AuthCodeFlow, response: [String: String]) async throws(MSALError) -> AuthenticationResult {
        guard response["state"] == flow.state else {
            throw MSALError(code: .stateMismatch, reason: "the redirect's state is not this flow's: it answers another sign-in, or was forged. Start a new flow")
        }
        if let error = response["error"] {
            let server = MSALError.ServerError(error: error, errorDescription: response["error_description"], suberror: response["suberror"], correlationID: response["correlation_id"], httpStatus: 302)
            let code: MSALError.Code = error == "access_denied" ? .cancelled : .serverError
            throw MSALError(code: code, reason: "the sign-in ended with an error instead of a code. \(ProviderConnection.advice(for: server))", server: server)
        }
        guard let code = response["code"], !code.isEmpty else {
            throw MSALError(code: .invalidResponse, reason: "the redirect carries neither a code nor an error; pass all of its query parameters")
        }
        return try await acquire(grantType: "authorization_code", [("code", code), ("redirect_uri", flow.redirectURI), ("code_verifier", flow.codeVerifier), ("client_info", "1")],
                                 scopes: flow.scopes, sentScopes: decorated(flow.scopes), claimsChallenge: flow.claimsChallenge,
                                 data: flow.data ?? [:]) { answer, correlationID throws(MSALError) in
            guard let idToken = answer.string("id_token"), let claims = ClientCore.claims(of: idToken) else {
                throw MSALError(code: .invalidResponse, reason: "the token endpoint answered without a readable id_token, so the nonce cannot be checked (correlation id \(correlationID)). Nothing was cached")
            }
            guard claims.string("nonce") == flow.nonce else {
                throw MSALError(code: .nonceMismatch, reason: "the ID token's nonce is not this flow's: the tokens may have been replayed. Nothing was cached; start a new flow")
            }
            if let maxAge = flow.maxAge { try ClientCore.checkAuthenticationAge(claims, maxAge: maxAge) }
        }
    }

    /// MSAL Python's `max_age` check: the ID token must carry `auth_time`, no more than
    /// `maxAge` seconds ago (with two minutes of clock skew).
    static func checkAuthenticationAge(_ claims: JSONObject, maxAge: Int, now: Int64 = ClientCore.now()) throws(MSALError) {
        guard let authTime = claims["auth_time"].flatMap(PythonText.int) else {
            throw MSALError(code: .invalidResponse, reason: "the ID token has no auth_time, which a sign-in with maxAge must carry. Nothing was cached")
        }
        // No sum of the provider's number can overflow: maxAge is at most a century.
        let skew: Int64 = 120
        if authTime < now - skew - Int64(min(maxAge, longestMaxAge)) {
            throw MSALError(code: .authenticationTooOld, reason: "the ID token's auth_time (\(authTime)) is more than maxAge (\(maxAge) s) ago. Nothing was cached; sign the user in again with prompt \"login\"")
        }
    }

    /// The longest `maxAge` accepted: a hundred years, in seconds.
    static let longestMaxAge = 3_155_760_000

    /// Redeems an authorization code obtained without a flow of this library (MSAL's
    /// `acquire_token_by_authorization_code`): no PKCE verifier, no `state` check; the ID
    /// token's `nonce` is checked when `nonce` is given.
    func redeem(code: String, scopes: [String], redirectURI: String, nonce: String?, claimsChallenge: String?) async throws(MSALError) -> AuthenticationResult {
        try ClientCore.validate(scopes, forClient: false)
        return try await acquire(grantType: "authorization_code", [("code", code), ("redirect_uri", redirectURI), ("client_info", "1")],
                                 scopes: scopes, sentScopes: decorated(scopes), claimsChallenge: claimsChallenge) { answer, correlationID throws(MSALError) in
            guard let nonce else { return }
            guard let idToken = answer.string("id_token"), let claims = ClientCore.claims(of: idToken), claims.string("nonce") == nonce else {
                throw MSALError(code: .nonceMismatch, reason: "the ID token's nonce is not the one given (correlation id \(correlationID)). Nothing was cached")
            }
        }
    }
}

import _CryptoExtras
import Crypto
public import Foundation
public import Hummingbird
public import MSALLite
public import TokenCache

/// Protects a Hummingbird web API with the provider's access tokens, and calls other APIs
/// on behalf of the caller, as Microsoft.Identity.Web's `AddMicrosoftIdentityWebApi` and
/// `ITokenAcquisition` do:
///
/// - ``authenticate(_:)`` checks the request's bearer token: an RS256 signature by one of
///   the provider's published keys (fetched again when a token names a key not seen yet, at
///   most once per ``Options/keyRefreshInterval``), the issuer from the provider's
///   discovery document (a tenant's GUID even when the authority names its domain), one of
///   the API's audiences, the validity period with a clock skew, and a required scope;
/// - ``tokenOnBehalfOf(_:scopes:claims:)`` exchanges the caller's token for one for a
///   downstream API (cached per caller token).
///
/// A rejected token throws ``BearerTokenError``, which Hummingbird answers with 401 (403
/// for a missing scope) and a `WWW-Authenticate` header naming the problem.
public final class WebAPIAuthentication: Sendable {
    /// What a token must carry.
    public struct Options: Sendable {
        /// The API's identifiers a token's `aud` may name: its client id, and its App ID
        /// URI (`api://...`) when tokens may name that.
        public var audiences: [String]
        /// Scopes (`scp`) of which a user's token must carry at least one; empty to accept
        /// any. App tokens (no `scp`) are refused when this is not empty.
        public var requiredScopes: [String] = []
        /// The clock skew allowed on `exp` and `nbf`, in seconds (5 minutes, as
        /// Microsoft.IdentityModel allows).
        public var clockSkew: Int64 = 300
        /// The least time between two fetches of the provider's keys caused by tokens that
        /// name an unknown key (so forged tokens cannot make the API hammer the provider).
        public var keyRefreshInterval: Duration = .seconds(300)
        /// How long fetched keys are used before they are fetched again anyway.
        public var keyLifetime: Duration = .seconds(24 * 3600)

        /// Options for an API known by `audiences`, asking for one of `requiredScopes`.
        public init(audiences: [String], requiredScopes: [String] = []) {
            self.audiences = audiences
            self.requiredScopes = requiredScopes
        }
    }

    /// The API's client: it discovers the provider and, when it is a
    /// `ConfidentialClientApplication`, makes the on-behalf-of exchanges.
    public let application: ClientApplication
    /// The options.
    public let options: Options
    private let keys = Locked<KeyState>(KeyState())

    /// Protects an API registered as `application`'s client (a public client will do for
    /// an API that calls no other API on behalf of its callers).
    public init(application: ClientApplication, options: Options) {
        self.application = application
        self.options = options
    }

    // MARK: - Validation

    /// The request's bearer token, checked.
    ///
    /// - Throws: ``BearerTokenError``: 401 when the token is missing, malformed, signed by
    ///   an unknown key, for another issuer or audience, expired or not yet valid; 403 when
    ///   it lacks the required scope; 503 when the provider's keys cannot be fetched.
    public func authenticate(_ request: Request) async throws(BearerTokenError) -> ValidatedToken {
        try await validate(authorization: request.headers[.authorization])
    }

    /// `authorization` (an `Authorization` header's value) checked as a bearer token.
    public func validate(authorization: String?, now: Date = Date()) async throws(BearerTokenError) -> ValidatedToken {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            throw BearerTokenError(.missing, "no bearer token was sent")
        }
        let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(String(parts[0])), let payloadBytes = Base64URL.decode(String(parts[1])),
              let signature = Base64URL.decode(String(parts[2])),
              let header = (try? JSONValue(parsing: headerBytes))?.objectValue, let claims = (try? JSONValue(parsing: payloadBytes))?.objectValue else {
            throw BearerTokenError(.invalidToken, "the token is not a signed JWT")
        }
        guard header.string("alg") == "RS256" else {
            throw BearerTokenError(.invalidToken, "the token is not signed with RS256")
        }
        guard let kid = header.string("kid") else {
            throw BearerTokenError(.invalidToken, "the token names no signing key (kid)")
        }
        let key = try await signingKey(kid)
        let signed = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        guard key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: signed, padding: .insecurePKCS1v1_5) else {
            throw BearerTokenError(.invalidToken, "the token's signature does not verify")
        }
        try await checkIssuer(claims)
        let audience = claims["aud"]
        let audiences = audience?.stringValue.map { [$0] } ?? (audience?.items ?? []).compactMap(\.stringValue)
        guard audiences.contains(where: options.audiences.contains) else {
            throw BearerTokenError(.invalidToken, "the token is for another audience")
        }
        let seconds = Int64(now.timeIntervalSince1970)
        guard let expiry = WebAPIAuthentication.numericDate(claims["exp"]) else {
            throw BearerTokenError(.invalidToken, "the token has no expiry (exp)")
        }
        guard expiry + options.clockSkew > seconds else {
            throw BearerTokenError(.invalidToken, "the token has expired")
        }
        if let notBefore = WebAPIAuthentication.numericDate(claims["nbf"]), notBefore - options.clockSkew > seconds {
            throw BearerTokenError(.invalidToken, "the token is not valid yet (nbf)")
        }
        let validated = ValidatedToken(rawValue: token, claims: claims)
        // An access token carries delegated scopes or app roles; an ID token (same issuer,
        // keys and audience) carries neither, and is refused as Microsoft.Identity.Web does.
        guard claims["scp"] != nil || claims["roles"] != nil else {
            throw BearerTokenError(.invalidToken, "the token carries neither scp nor roles: it is not an access token")
        }
        if !options.requiredScopes.isEmpty, !validated.scopes.contains(where: options.requiredScopes.contains) {
            throw BearerTokenError(.insufficientScope, "the token carries none of the scopes this API requires", scope: options.requiredScopes.joined(separator: " "))
        }
        return validated
    }

    /// A JWT NumericDate (seconds, possibly with a fraction), or `nil` when `value` is not a
    /// finite number.
    static func numericDate(_ value: JSONValue?) -> Int64? {
        guard case .number(let number)? = value, let seconds = number.doubleValue, seconds.isFinite, abs(seconds) < 1e15 else { return nil }
        return Int64(seconds.rounded(.down))
    }

    /// The issuer check: `iss` must be the discovery document's issuer (whose `{tenantid}`,
    /// for a multi-tenant authority, is the token's `tid`).
    private func checkIssuer(_ claims: JSONObject) async throws(BearerTokenError) {
        let expected: String?
        do {
            expected = try await application.providerMetadata().issuer
        } catch {
            throw BearerTokenError(.keysUnavailable, "the provider's discovery document could not be read: \(error.reason)")
        }
        guard let expected else {
            throw BearerTokenError(.keysUnavailable, "the provider's discovery document names no issuer, so no token can be checked")
        }
        let issuer = claims.string("iss")
        if issuer == expected { return }
        if expected.contains("{tenantid}"), let tenant = claims.string("tid"), issuer == expected.replacingOccurrences(of: "{tenantid}", with: tenant) { return }
        throw BearerTokenError(.invalidToken, "the token was issued by another issuer")
    }

    /// The provider's key `kid`: from the keys fetched, else fetched again (at most once
    /// per refresh interval for unknown keys).
    private func signingKey(_ kid: String) async throws(BearerTokenError) -> _RSA.Signing.PublicKey {
        let now = ContinuousClock.now
        let known = keys.withLock { state -> (key: _RSA.Signing.PublicKey?, fetch: Bool) in
            let fresh = state.fetchedAt.map { now - $0 < options.keyLifetime } ?? false
            if fresh, let key = state.keys[kid] { return (key, false) }
            let mayFetch = !fresh || state.lastUnknownFetch.map { now - $0 >= options.keyRefreshInterval } ?? true
            if mayFetch, fresh { state.lastUnknownFetch = now }
            return (state.keys[kid], mayFetch)
        }
        if let key = known.key, !known.fetch { return key }
        if known.fetch {
            let document: JSONObject
            do {
                document = try await application.signingKeys()
            } catch {
                if let key = known.key { return key }
                throw BearerTokenError(.keysUnavailable, "the provider's signing keys could not be fetched: \(error.reason)")
            }
            var found: [String: _RSA.Signing.PublicKey] = [:]
            for item in document["keys"]?.items ?? [] {
                guard let jwk = item.objectValue, jwk.string("kty") == "RSA", jwk.string("use") ?? "sig" == "sig", let id = jwk.string("kid"),
                      let n = jwk.string("n").flatMap(Base64URL.decode), let e = jwk.string("e").flatMap(Base64URL.decode),
                      let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { continue }
                found[id] = key
            }
            // A set with no usable key is the provider's trouble, not a rotation: the keys
            // already fetched stay.
            if !found.isEmpty {
                keys.withLock { state in
                    state.keys = found
                    state.fetchedAt = now
                }
            }
            if let key = found.isEmpty ? known.key : found[kid] { return key }
        }
        throw BearerTokenError(.invalidToken, "the token is signed with a key the provider does not publish")
    }

    // MARK: - On behalf of the caller

    /// A token for `scopes` of a downstream API, for the caller of `token` (the
    /// on-behalf-of exchange; cached per caller token, so a repeated call sends nothing).
    ///
    /// - Parameters:
    ///   - token: The caller's token, as ``authenticate(_:)`` checked it.
    ///   - scopes: The downstream API's scopes.
    ///   - claims: A claims challenge the downstream API answered with, if any.
    /// - Throws: ``BearerTokenError`` `insufficientClaims` (401 with the claims challenge,
    ///   for the caller to pass to its user's next sign-in) when the provider needs the user;
    ///   `downstreamUnavailable` (503) when the provider failed or could not be reached.
    public func tokenOnBehalfOf(_ token: ValidatedToken, scopes: [String], claims: String? = nil) async throws(BearerTokenError) -> AuthenticationResult {
        guard let application = application as? ConfidentialClientApplication else {
            throw BearerTokenError(.downstreamUnavailable, "the API's application is not a confidential client, so it cannot call other APIs on behalf of its callers")
        }
        do {
            return try await application.acquireTokenOnBehalfOf(userAssertion: token.rawValue, scopes: scopes, claimsChallenge: claims)
        } catch where error.code == .interactionRequired || error.server?.error == "interaction_required" || error.server?.claims != nil {
            throw BearerTokenError(.insufficientClaims, "the downstream API needs the user to sign in again", claims: error.server?.claims ?? claims)
        } catch {
            throw BearerTokenError(.downstreamUnavailable, "no token for the downstream API: \(error.reason)")
        }
    }

    /// What the API answers when a downstream API asked for `claims` (its
    /// `WWW-Authenticate` challenge): 401 with the same claims, for the caller's user to
    /// sign in again with them.
    public func claimsChallenge(_ claims: String) -> BearerTokenError {
        BearerTokenError(.insufficientClaims, "the downstream API asks for more claims than the token carries", claims: claims)
    }

    private struct KeyState: Sendable {
        var keys: [String: _RSA.Signing.PublicKey] = [:]
        var fetchedAt: ContinuousClock.Instant?
        var lastUnknownFetch: ContinuousClock.Instant?
    }
}

/// A bearer token that passed ``WebAPIAuthentication/authenticate(_:)``.
public struct ValidatedToken: Sendable, CustomStringConvertible {
    /// The token as sent, for the on-behalf-of exchange. Never log it.
    public let rawValue: String
    /// Its claims.
    public let claims: JSONObject

    /// The caller's object id (`oid`), for a user's or an app's token.
    public var objectID: String? { claims.string("oid") }
    /// The tenant the token was issued in (`tid`).
    public var tenantID: String? { claims.string("tid") }
    /// The user's sign-in name (`preferred_username`), for a user's token.
    public var username: String? { claims.string("preferred_username") }
    /// The delegated scopes (`scp`, without the API's prefix).
    public var scopes: [String] { (claims.string("scp") ?? "").split(separator: " ").map(String.init) }
    /// The authentication context class references the sign-in met (`acrs`).
    public var authenticationContexts: [String] { (claims["acrs"]?.items ?? []).compactMap(\.stringValue) }

    public var description: String { "ValidatedToken(oid: \(objectID ?? "none"), scopes: \(scopes.joined(separator: " ")), token: <redacted>)" }
}

/// Why a request's bearer token was refused, answered as RFC 6750 says: the status, and a
/// `WWW-Authenticate: Bearer` header naming the error. Its description never holds the
/// token.
public struct BearerTokenError: HTTPResponseError, CustomStringConvertible {
    /// The kinds of refusal.
    public enum Code: String, Sendable {
        /// No bearer token (401, no error code, as RFC 6750 asks).
        case missing
        /// Malformed, badly signed, for another issuer or audience, expired (401
        /// `invalid_token`).
        case invalidToken = "invalid_token"
        /// Valid, but without a required scope (403 `insufficient_scope`).
        case insufficientScope = "insufficient_scope"
        /// The user must sign in again to meet a downstream API's claims (401
        /// `insufficient_claims`, with the claims).
        case insufficientClaims = "insufficient_claims"
        /// The provider's keys could not be fetched: nothing is wrong with the token yet
        /// (503).
        case keysUnavailable
        /// No downstream token could be obtained because the provider failed (503).
        case downstreamUnavailable
    }

    /// What kind of refusal this is.
    public let code: Code
    /// Why, in one line (sent as `error_description`).
    public let reason: String
    /// The claims challenge to pass on, for `insufficientClaims`.
    public let claims: String?
    /// The scopes required, for `insufficientScope`.
    public let scope: String?

    init(_ code: Code, _ reason: String, claims: String? = nil, scope: String? = nil) {
        self.code = code
        self.reason = reason
        self.claims = claims
        self.scope = scope
    }

    public var status: HTTPResponse.Status {
        switch code {
        case .missing, .invalidToken, .insufficientClaims: return .unauthorized
        case .insufficientScope: return .forbidden
        case .keysUnavailable, .downstreamUnavailable: return .serviceUnavailable
        }
    }

    /// The `WWW-Authenticate` value sent with a 401 or 403.
    public var wwwAuthenticate: String? {
        switch code {
        case .missing: return "Bearer"
        case .invalidToken: return "Bearer error=\"invalid_token\", error_description=\"\(ClaimsChallenge.quoted(reason))\""
        case .insufficientScope: return "Bearer error=\"insufficient_scope\", error_description=\"\(ClaimsChallenge.quoted(reason))\"\(scope.map { ", scope=\"\(ClaimsChallenge.quoted($0))\"" } ?? "")"
        case .insufficientClaims: return claims.map { ClaimsChallenge.header(claims: $0, description: reason) } ?? "Bearer error=\"invalid_token\", error_description=\"\(ClaimsChallenge.quoted(reason))\""
        case .keysUnavailable, .downstreamUnavailable: return nil
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        if let wwwAuthenticate { headers[.wwwAuthenticate] = wwwAuthenticate }
        if status == .serviceUnavailable { headers[.retryAfter] = "5" }
        var body = JSONObject()
        body["error"] = .string(code.rawValue)
        body["error_description"] = .string(reason)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: JSONValue.object(body).pythonCompactJSONText)))
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}

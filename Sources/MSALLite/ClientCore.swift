import Foundation
import Logging
import TokenCache

/// How a confidential client proves who it is at the token endpoint.
public enum ClientCredential: Sendable {
    /// A client secret.
    case secret(String)
    /// A signed JWT the caller supplies for each request (`client_assertion`), such as a
    /// federated workload identity token.
    case assertion(@Sendable () async throws -> String)
    /// A certificate: each request carries a fresh RS256 assertion signed with its private
    /// key, naming the certificate by its thumbprints (`x5t`, `x5t#S256`).
    case certificate(CertificateCredential)
}

/// A certificate and its private key, for ``ClientCredential/certificate(_:)``.
public struct CertificateCredential: Sendable {
    let signer: CertificateSigner

    /// Reads an RSA private key and its certificate from PEM text.
    ///
    /// - Parameters:
    ///   - privateKeyPEM: The RSA private key, PEM.
    ///   - certificatePEM: The certificate registered for the app, PEM.
    ///   - passphrase: The key's passphrase, if the PEM is encrypted.
    /// - Throws: ``MSALError`` `invalidArgument` when either cannot be read or they do not
    ///   belong together (the message never quotes the key).
    public init(privateKeyPEM: String, certificatePEM: String, passphrase: String? = nil) throws(MSALError) {
        signer = try CertificateSigner(privateKeyPEM: privateKeyPEM, certificatePEM: certificatePEM, passphrase: passphrase)
    }

    /// A client assertion for `audience` (the token endpoint), valid for ten minutes.
    func assertion(clientID: String, audience: String, now: Int64) throws(MSALError) -> String {
        let header = ["alg": "RS256", "typ": "JWT", "x5t": Base64URL.encode(signer.sha1Thumbprint), "x5t#S256": Base64URL.encode(signer.sha256Thumbprint)]
        let claims: [String: Any] = ["aud": audience, "iss": clientID, "sub": clientID, "jti": UUID().uuidString.lowercased(),
                                     "nbf": now, "iat": now, "exp": now + 600]
        func part(_ object: Any) -> String {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return Base64URL.encode(Array(data))
        }
        let signingInput = part(header) + "." + part(claims)
        return signingInput + "." + Base64URL.encode(try signer.signRS256(Array(signingInput.utf8)))
    }
}

/// What public and confidential applications share: the configuration, discovery, the
/// token requests and their caching, and silent acquisition with MSAL Python's decisions.
final class ClientCore: Sendable {
    let clientID: String
    let authority: Authority
    let cache: any TokenCacheStore
    let options: ApplicationOptions
    let credential: ClientCredential?
    let connection: ProviderConnection
    let discovery: AuthorityDiscovery

    /// The scopes MSAL adds to every user sign-in.
    static let reservedScopes: Set<String> = ["openid", "profile", "offline_access"]

    init(clientID: String, authority: String, cache: any TokenCacheStore, options: ApplicationOptions, credential: ClientCredential?) throws(MSALError) {
        guard !clientID.isEmpty else { throw MSALError(code: .invalidArgument, reason: "the client id is empty; pass the application (client) id of your app registration") }
        self.clientID = clientID
        do {
            self.authority = try Authority(authority, allowingLoopbackHTTP: options.http.allowsPlainHTTPOnLoopback)
        } catch {
            throw MSALError(code: .invalidArgument, reason: error.reason)
        }
        self.cache = cache
        self.options = options
        self.credential = credential
        connection = ProviderConnection(options: options.http, logger: options.logger)
        discovery = AuthorityDiscovery(connection: connection, instanceDiscovery: options.instanceDiscovery)
        if let url = URL(string: self.authority.url) { try connection.check(url) }
    }

    var logger: Logger { options.logger }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// `scopes` with MSAL's reserved scopes added, sorted and without repeats (the scope
    /// list a user flow sends).
    static func decorated(_ scopes: [String]) -> [String] {
        Array(Set(scopes).union(reservedScopes)).sorted()
    }

    /// Refuses a scope list MSAL would refuse: empty entries, or reserved scopes asked for
    /// by name (they are always added).
    static func validate(_ scopes: [String], forClient: Bool) throws(MSALError) {
        if scopes.contains(where: { $0.isEmpty || $0.contains(" ") }) {
            throw MSALError(code: .invalidArgument, reason: "a scope is empty or contains a space; pass each scope as its own string")
        }
        if forClient, scopes.count != 1 || !(scopes.first?.hasSuffix("/.default") ?? false) {
            throw MSALError(code: .invalidArgument, reason: "a client credential request asks for exactly one scope ending in /.default, such as https://graph.microsoft.com/.default")
        }
    }

    // MARK: - Token requests

    /// The body fields that authenticate a confidential client.
    func clientAuthentication(tokenEndpoint: URL) async throws(MSALError) -> [(String, String)] {
        switch credential {
        case nil:
            return []
        case .certificate(let certificate):
            let assertion = try certificate.assertion(clientID: clientID, audience: tokenEndpoint.absoluteString, now: ClientCore.now())
            return [("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", assertion)]
        case .secret(let secret):
            return [("client_secret", secret)]
        case .assertion(let make):
            let assertion: String
            do {
                assertion = try await make()
            } catch {
                throw MSALError(code: .invalidArgument, reason: "the client assertion callback failed (\(type(of: error))); it must return a signed JWT")
            }
            return [("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", assertion)]
        }
    }

    /// Sends one token request to `authority`'s token endpoint and returns the answer,
    /// checked to carry an access token.
    func requestToken(_ form: [(String, String)], authority: Authority, headers: [String: String] = [:]) async throws(MSALError) -> (JSONObject, correlationID: String, tokenEndpoint: URL) {
        let endpoints = try await discovery.endpoints(of: authority)
        let body = [("client_id", clientID)] + form + (try await clientAuthentication(tokenEndpoint: endpoints.tokenEndpoint))
        let (answer, correlationID) = try await connection.postForm(endpoints.tokenEndpoint, form: body, headers: headers, what: "the token endpoint")
        guard case .string(let token)? = answer["access_token"], !token.isEmpty else {
            throw MSALError(code: .invalidResponse, reason: "the token endpoint answered without an access_token (correlation id \(correlationID)). Nothing was cached; retry, and report it to the provider if it persists")
        }
        if let expiresIn = answer["expires_in"], expiresIn.wholeNumber == nil {
            throw MSALError(code: .invalidResponse, reason: "the token endpoint's expires_in is \(expiresIn.typeName), not a number of seconds (correlation id \(correlationID)). Nothing was cached")
        }
        return (answer, correlationID, endpoints.tokenEndpoint)
    }

    /// The context MSAL Python's `add()` receives for a response of `grantType`.
    func context(scopes: [String], tokenEndpoint: URL, authority: Authority, grantType: String, skipAccountCreation: Bool = false,
                 requestData: [String: String] = [:], username: String? = nil, now: Int64) -> TokenResponseContext {
        // The cache derives the realm and environment from an https URL; a loopback http
        // endpoint (tests) gives the same ones.
        var endpoint = tokenEndpoint.absoluteString
        if endpoint.lowercased().hasPrefix("http://") { endpoint = "https://" + endpoint.dropFirst(7) }
        return TokenResponseContext(clientID: clientID, requestedScopes: scopes, tokenEndpoint: endpoint, environment: authority.host,
                                    grantType: grantType, requestData: requestData, skipAccountCreation: skipAccountCreation,
                                    username: username, now: now)
    }

    /// Writes a response into the cache; a cache failure is reported with the store's reason
    /// (the token itself is still returned by the caller's flow only if this succeeds).
    func store(_ response: JSONObject, context: TokenResponseContext) throws(MSALError) {
        do {
            try cache.add(response: response, context: context)
        } catch let error as TokenCacheError {
            throw MSALError(code: .invalidResponse, reason: "the token response cannot be cached: \(error.reason). Nothing was cached")
        } catch {
            throw MSALError(code: .cacheFailure, reason: "the token was acquired but could not be cached: \(error)")
        }
    }

    /// Sends a token request of `grantType` with `fields` and (unless `scopeInRequest` is
    /// off, as for a device code, whose scopes the provider remembers) the scope
    /// `sentScopes`, runs `check` on the answer, caches it as MSAL Python's `add()` would
    /// with `sentScopes` as the requested ones, and returns it as a result for `scopes`.
    func acquire(grantType: String, _ fields: [(String, String)], scopes: [String], sentScopes: [String], scopeInRequest: Bool = true,
                 requestData: [String: String] = [:], username: String? = nil, reason: AuthenticationResult.RefreshReason? = nil,
                 checking check: (JSONObject, _ correlationID: String) throws(MSALError) -> Void = { _, _ in }) async throws(MSALError) -> AuthenticationResult {
        let now = ClientCore.now()
        let form = [("grant_type", grantType)] + fields + (scopeInRequest ? [("scope", sentScopes.joined(separator: " "))] : [])
        let (answer, correlationID, endpoint) = try await requestToken(form, authority: authority)
        try check(answer, correlationID)
        try store(answer, context: context(scopes: sentScopes, tokenEndpoint: endpoint, authority: authority, grantType: grantType,
                                           requestData: requestData, username: username, now: now))
        let acquired = result(answer, scopes: scopes, now: now, correlationID: correlationID, reason: reason)
        logger.debug("tokens cached", metadata: ["grant_type": "\(grantType)", "account": personal(acquired.homeAccountID),
                                                 "username": personal(acquired.username), "correlation_id": "\(correlationID)"])
        return acquired
    }

    /// `value` for a log line when the app opted in to personal data
    /// (``ApplicationOptions/logsPersonalData``), else a placeholder.
    func personal(_ value: String?) -> Logger.MetadataValue {
        options.logsPersonalData ? "\(value ?? "none")" : "<personal data hidden>"
    }

    /// Saves a refresh grant's answer update-only (see `TokenCacheStore.saveRefreshResult`).
    private func saveRefresh(_ answer: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws(MSALError) {
        do {
            _ = try cache.saveRefreshResult(response: answer, context: context, refreshTokenKey: refreshTokenKey)
        } catch let error as TokenCacheError {
            throw MSALError(code: .invalidResponse, reason: "the refresh answer cannot be cached: \(error.reason). Nothing was cached")
        } catch {
            throw MSALError(code: .cacheFailure, reason: "the refreshed token could not be cached: \(error)")
        }
    }

    /// The result of a response just received.
    func result(_ response: JSONObject, scopes: [String], now: Int64, correlationID: String, reason: AuthenticationResult.RefreshReason?) -> AuthenticationResult {
        let idToken = response.string("id_token")
        let claims = idToken.flatMap(ClientCore.claims(of:))
        let expiresIn = response["expires_in"]?.wholeNumber ?? 600
        let granted = response.string("scope").map { $0.split(separator: " ").map(String.init) } ?? scopes
        return AuthenticationResult(
            accessToken: response.string("access_token") ?? "", tokenType: response.string("token_type") ?? "Bearer",
            expiresOn: now + expiresIn, refreshOn: response["refresh_in"]?.wholeNumber.map { now + $0 }, scopeText: granted.joined(separator: " "),
            idToken: idToken, idTokenClaims: claims, homeAccountID: ClientCore.homeAccountID(response: response, claims: claims),
            username: claims?.string("preferred_username") ?? claims?.string("upn"), tokenSource: .identityProvider,
            refreshReason: reason, correlationID: correlationID)
    }

    /// The result of a cached access token.
    func result(cached token: AccessToken, account: Account?) -> AuthenticationResult {
        AuthenticationResult(
            accessToken: token.secret ?? "", tokenType: token.tokenType ?? "Bearer", expiresOn: token.expiresOn ?? 0,
            refreshOn: token.refreshOn, scopeText: token.target ?? "", idToken: nil, idTokenClaims: nil,
            homeAccountID: token.homeAccountID, username: account?.username, tokenSource: .cache, refreshReason: nil, correlationID: nil)
    }

    /// The claims of a JWT, decoded without validation; `nil` if it is not one.
    static func claims(of jwt: String) -> JSONObject? {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, let bytes = Base64URL.decode(String(parts[1])) else { return nil }
        return (try? JSONValue(parsing: bytes))?.objectValue
    }

    /// The home account id MSAL derives: `uid.utid` from client_info, else the ID token's `sub`.
    static func homeAccountID(response: JSONObject, claims: JSONObject?) -> String? {
        if let info = response.string("client_info"), let bytes = Base64URL.decode(info),
           let object = (try? JSONValue(parsing: bytes))?.objectValue, let uid = object.string("uid"), let utid = object.string("utid") {
            return "\(uid).\(utid)"
        }
        return claims?.string("sub")
    }

    // MARK: - Silent acquisition

    /// What one silent attempt in one environment came to.
    private enum SilentOutcome {
        case token(AuthenticationResult)
        case refreshFailed(MSALError)
        case nothing
    }

    /// MSAL Python's `acquire_token_silent_with_error`: the cache first, then each refresh
    /// token in MSAL's order, then the same in each alias environment that holds refresh
    /// tokens. `nil` when the cache holds nothing usable; throws `interactionRequired` (with
    /// the provider's last answer) when every refresh was refused.
    nonisolated(nonsending)
    func acquireTokenSilent(scopes: [String], account: Account, forceRefresh: Bool, claimsChallenge: String?) async throws(MSALError) -> AuthenticationResult? {
        try ClientCore.validate(scopes, forClient: false)
        guard let homeAccountID = account.homeAccountID else {
            throw MSALError(code: .invalidArgument, reason: "the account has no home_account_id; pass an account from accounts()")
        }
        var lastFailure: MSALError?
        switch try await silent(in: authority, scopes: scopes, homeAccountID: homeAccountID, account: account, forceRefresh: forceRefresh, claims: claimsChallenge) {
        case .token(let result): return result
        case .refreshFailed(let error): lastFailure = error
        case .nothing: break
        }
        for alias in try await discovery.aliases(of: authority) {
            // MSAL tries an alias only where the cache holds a refresh token.
            let refreshTokens = try cached { try cache.refreshTokenCandidates(clientID: clientID, environment: alias, homeAccountID: homeAccountID) }
            guard !refreshTokens.isEmpty else { continue }
            let aliased: Authority
            do {
                aliased = try Authority("https://\(alias)/\(authority.tenant)")
            } catch { continue }
            logger.debug("silent: trying alias environment", metadata: ["environment": "\(alias)"])
            switch try await silent(in: aliased, scopes: scopes, homeAccountID: homeAccountID, account: account, forceRefresh: forceRefresh, claims: claimsChallenge) {
            case .token(let result): return result
            case .refreshFailed(let error): lastFailure = error
            case .nothing: break
            }
        }
        if let lastFailure {
            throw MSALError(code: .interactionRequired, reason: "no refresh token in the cache was accepted; sign the user in again (\(lastFailure.reason))", server: lastFailure.server)
        }
        return nil
    }

    private func query(scopes: [String], environment: String, homeAccountID: String?) -> AccessTokenQuery {
        AccessTokenQuery(clientID: clientID, environment: environment, realm: authority.tenant, homeAccountID: homeAccountID, scopes: scopes, now: ClientCore.now())
    }

    /// Runs a cache read, turning its failure into ``MSALError``.
    func cached<T>(_ read: () throws -> T) throws(MSALError) -> T {
        do {
            return try read()
        } catch {
            throw MSALError(code: .cacheFailure, reason: "the token cache cannot be read: \(error)")
        }
    }

    nonisolated(nonsending)
    private func silent(in authority: Authority, scopes: [String], homeAccountID: String, account: Account, forceRefresh: Bool, claims: String?) async throws(MSALError) -> SilentOutcome {
        var fallback: AccessToken?
        let reason: AuthenticationResult.RefreshReason
        if forceRefresh {
            reason = .forceRefresh
        } else if claims != nil {
            reason = .claims
        } else {
            switch try cached({ try cache.lookupAccessToken(query(scopes: scopes, environment: authority.host, homeAccountID: homeAccountID)) }) {
            case .hit(let token):
                logger.debug("silent: served from the cache", metadata: ["account": personal(homeAccountID)])
                return .token(result(cached: token, account: account))
            case .refreshDue(let token):
                fallback = token
                reason = .proactiveRefresh
            case .miss(let expired):
                reason = expired ? .expired : .noCachedToken
            }
        }
        let candidates = try cached { try cache.refreshTokenCandidates(clientID: clientID, environment: authority.host, homeAccountID: homeAccountID) }
        var lastFailure: MSALError?
        var familyRefused = false
        for candidate in candidates {
            guard let secret = candidate.secret else { continue }
            if familyRefused, candidate.familyID != nil, candidate.clientID != clientID { continue }
            var form: [(String, String)] = [("grant_type", "refresh_token"), ("refresh_token", secret),
                                            ("scope", ClientCore.decorated(scopes).joined(separator: " ")), ("client_info", "1")]
            if let claims { form.append(("claims", claims)) }
            var headers: [String: String] = [:]
            let uidUtid = homeAccountID.split(separator: ".")
            if uidUtid.count == 2 { headers["X-AnchorMailbox"] = "Oid:\(uidUtid[0])@\(uidUtid[1])" }
            let now = ClientCore.now()
            do {
                let (answer, correlationID, tokenEndpoint) = try await requestToken(form, authority: authority, headers: headers)
                let context = context(scopes: ClientCore.decorated(scopes), tokenEndpoint: tokenEndpoint, authority: authority,
                                      grantType: "refresh_token", skipAccountCreation: true, now: now)
                try saveRefresh(answer, context: context, refreshTokenKey: candidate.key)
                logger.debug("silent: refreshed", metadata: ["reason": "\(reason.rawValue)", "correlation_id": "\(correlationID)"])
                return .token(result(answer, scopes: scopes, now: now, correlationID: correlationID, reason: reason))
            } catch where error.code == .serverError || error.code == .invalidResponse {
                // MSAL keeps a refused refresh token and tries the next one.
                logger.info("silent: a refresh token was refused", metadata: ["error": "\(error.server?.error ?? error.code.description)"])
                lastFailure = error
                if error.server?.suberror == "client_mismatch" { familyRefused = true }
            } catch {
                // The provider could not be reached: an aging token in hand is still good.
                if let fallback { return .token(result(cached: fallback, account: account)) }
                throw error
            }
        }
        if let fallback { return .token(result(cached: fallback, account: account)) }
        if let lastFailure { return .refreshFailed(lastFailure) }
        return .nothing
    }
}


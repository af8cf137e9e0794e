public import Foundation
import Logging
import TokenCache

/// How a confidential client proves who it is at the token endpoint.
public enum ClientCredential: Sendable {
    /// A client secret.
    case secret(String)
    /// A signed JWT the caller supplies for each request (`client_assertion`), such as a
    /// federated workload identity token.
    case assertion(@Sendable () async throws -> String)
    /// A certificate: each request carries a fresh assertion (RS256 or PS256) signed with
    /// its private key, naming the certificate by its thumbprints (`x5t`, `x5t#S256`) and,
    /// when asked, carrying its chain (`x5c`).
    case certificate(CertificateCredential)
}

/// A certificate and its private key, for ``ClientCredential/certificate(_:)``: each token
/// request carries a fresh client assertion signed with the key.
public struct CertificateCredential: Sendable {
    /// How a client assertion is signed.
    public enum Algorithm: String, Sendable {
        /// RSASSA-PKCS1-v1_5 with SHA-256: what every Entra tenant accepts (the default).
        case rs256 = "RS256"
        /// RSASSA-PSS with SHA-256 and a 32-byte salt.
        case ps256 = "PS256"
    }

    let signer: CertificateSigner
    /// How assertions are signed.
    public var algorithm: Algorithm
    /// Whether each assertion carries the certificate and the certificates that issued it
    /// (`x5c`), for subject name and issuer authentication: the app is registered with its
    /// certificate's subject and issuer instead of the certificate itself, so a renewed
    /// certificate needs no new registration.
    public var sendsCertificateChain: Bool
    /// Claims added to each assertion, as MSAL Python's `client_claims`; `aud`, `iss`,
    /// `sub`, `jti`, `nbf`, `iat` and `exp` keep the values the library sets.
    public var extraClaims: [String: String]

    /// Reads an RSA private key and its certificate from PEM text.
    ///
    /// - Parameters:
    ///   - privateKeyPEM: The RSA private key, PEM.
    ///   - certificatePEM: The certificate registered for the app, PEM, optionally followed
    ///     by the certificates that issued it (sent with ``sendsCertificateChain``).
    ///   - passphrase: The key's passphrase, if the PEM is encrypted.
    ///   - algorithm: How assertions are signed.
    ///   - sendsCertificateChain: Whether assertions carry the chain (`x5c`).
    ///   - extraClaims: Claims added to each assertion.
    /// - Throws: ``MSALError`` `invalidArgument` when either cannot be read or they do not
    ///   belong together (the message never quotes the key).
    public init(privateKeyPEM: String, certificatePEM: String, passphrase: String? = nil, algorithm: Algorithm = .rs256,
                sendsCertificateChain: Bool = false, extraClaims: [String: String] = [:]) throws(MSALError) {
        signer = try CertificateSigner(privateKeyPEM: privateKeyPEM, certificatePEM: certificatePEM, passphrase: passphrase)
        self.algorithm = algorithm
        self.sendsCertificateChain = sendsCertificateChain
        self.extraClaims = extraClaims
    }

    /// Reads the key, the certificate and the certificates that issued it from a PKCS#12
    /// (PFX) file's bytes, as MSAL Python's `private_key_pfx_path`.
    ///
    /// - Parameters:
    ///   - pkcs12: The `.pfx` or `.p12` file's bytes.
    ///   - passphrase: Its passphrase; `nil` for none.
    ///   - algorithm: How assertions are signed.
    ///   - sendsCertificateChain: Whether assertions carry the chain (`x5c`).
    ///   - extraClaims: Claims added to each assertion.
    /// - Throws: ``MSALError`` `invalidArgument` for a file that is not PKCS#12, a wrong
    ///   passphrase, or a key that does not belong to the certificate.
    public init(pkcs12: Data, passphrase: String? = nil, algorithm: Algorithm = .rs256, sendsCertificateChain: Bool = false,
                extraClaims: [String: String] = [:]) throws(MSALError) {
        signer = try CertificateSigner(pkcs12: pkcs12, passphrase: passphrase)
        self.algorithm = algorithm
        self.sendsCertificateChain = sendsCertificateChain
        self.extraClaims = extraClaims
    }

    /// A private key whose certificate is named only by its SHA-1 thumbprint (the `x5t` of
    /// each assertion), as MSAL Python's `{"private_key": ..., "thumbprint": ...}`. Its
    /// assertions are RS256, as MSAL Python signs them with a SHA-1 thumbprint.
    ///
    /// - Parameters:
    ///   - privateKeyPEM: The RSA private key, PEM.
    ///   - thumbprint: The certificate's SHA-1 thumbprint, 40 hexadecimal digits.
    ///   - passphrase: The key's passphrase, if the PEM is encrypted.
    ///   - extraClaims: Claims added to each assertion.
    public init(privateKeyPEM: String, thumbprint: String, passphrase: String? = nil, extraClaims: [String: String] = [:]) throws(MSALError) {
        signer = try CertificateSigner(privateKeyPEM: privateKeyPEM, thumbprint: thumbprint, passphrase: passphrase)
        self.algorithm = .rs256
        self.sendsCertificateChain = false
        self.extraClaims = extraClaims
    }

    /// A client assertion for `audience` (the token endpoint), valid for ten minutes.
    func assertion(clientID: String, audience: String, now: Int64) throws(MSALError) -> String {
        var header: [String: Any] = ["alg": algorithm.rawValue, "typ": "JWT", "x5t": Base64URL.encode(signer.sha1Thumbprint)]
        if let sha256 = signer.sha256Thumbprint { header["x5t#S256"] = Base64URL.encode(sha256) }
        if sendsCertificateChain { header["x5c"] = signer.chain.map { Data($0).base64EncodedString() } }
        var claims: [String: Any] = extraClaims
        for (name, value) in [("aud", audience), ("iss", clientID), ("sub", clientID), ("jti", UUID().uuidString.lowercased())] as [(String, Any)] {
            claims[name] = value
        }
        for (name, value) in [("nbf", now), ("iat", now), ("exp", now + 600)] { claims[name] = value }
        func part(_ object: Any) -> String {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return Base64URL.encode(Array(data))
        }
        let signingInput = part(header) + "." + part(claims)
        return signingInput + "." + Base64URL.encode(try signer.sign(Array(signingInput.utf8), pss: algorithm == .ps256))
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
    /// What ``detectedRegion()`` found (`.some(nil)`: no region), once it looked.
    let detectedRegionName = Locked<String??>(nil)

    /// The scopes MSAL adds to every user sign-in.
    static let reservedScopes: Set<String> = ["openid", "profile", "offline_access"]

    init(clientID: String, authority: String, cache: any TokenCacheStore, options: ApplicationOptions, credential: ClientCredential?,
         oidc: Bool = false) throws(MSALError) {
        guard !clientID.isEmpty else { throw MSALError(code: .invalidArgument, reason: "the client id is empty; pass the application (client) id of your app registration") }
        guard !options.excludeScopes.contains("openid") else {
            throw MSALError(code: .invalidArgument, reason: "excludeScopes may not hold openid, without which no ID token, account or sign-in check is had; as in MSAL Python, exclude offline_access or profile only")
        }
        self.clientID = clientID
        do {
            self.authority = try Authority(authority, allowingLoopbackHTTP: options.http.allowsPlainHTTPOnLoopback, oidc: oidc)
        } catch {
            throw MSALError(code: .invalidArgument, reason: error.reason)
        }
        _ = try ClientCore.configuredRegion(options, confidential: credential != nil)
        self.cache = cache
        self.options = options
        self.credential = credential
        connection = ProviderConnection(options: options.http, logger: options.logger, appName: options.appName, appVersion: options.appVersion)
        discovery = AuthorityDiscovery(connection: connection, instanceDiscovery: options.instanceDiscovery, validatesAuthority: options.validateAuthority)
        if let url = URL(string: self.authority.url) { try connection.check(url) }
    }

    var logger: Logger { options.logger }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// `scopes` with MSAL's reserved scopes added, sorted and without repeats (the scope
    /// list a user flow sends).
    func decorated(_ scopes: [String]) -> [String] {
        Array(Set(scopes).union(ClientCore.reservedScopes).subtracting(options.excludeScopes)).sorted()
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
    /// A regional request's assertion names `audienceAuthority`'s token endpoint (the
    /// central one), as MSAL Python signs it; others name the endpoint they are sent to.
    func requestToken(_ form: [(String, String)], authority: Authority, audienceAuthority: Authority? = nil,
                      headers: [String: String] = [:]) async throws(MSALError) -> (JSONObject, correlationID: String, tokenEndpoint: URL) {
        let endpoints = try await discovery.endpoints(of: authority)
        var audience = endpoints.tokenEndpoint
        if let audienceAuthority { audience = try await discovery.endpoints(of: audienceAuthority).tokenEndpoint }
        let body = [("client_id", clientID)] + form + (try await clientAuthentication(tokenEndpoint: audience))
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
        // The cache derives the realm and environment from an https URL.
        TokenResponseContext(clientID: clientID, requestedScopes: scopes, tokenEndpoint: ClientCore.cacheText(of: tokenEndpoint), environment: authority.host,
                                    grantType: grantType, requestData: requestData, skipAccountCreation: skipAccountCreation,
                                    username: username, now: now)
    }

    /// Writes a response into the cache; a cache failure is reported with the store's reason
    /// (the token itself is still returned by the caller's flow only if this succeeds).
    nonisolated(nonsending)
    func store(_ response: JSONObject, context: TokenResponseContext) async throws(MSALError) {
        _ = try await write("the token response", failure: "the token was acquired but could not be cached") { try $0.add(response: response, context: context) }
    }

    /// Sends a token request of `grantType` with `fields` and (unless `scopeInRequest` is
    /// off, as for a device code, whose scopes the provider remembers) the scope
    /// `sentScopes`, runs `check` on the answer, caches it as MSAL Python's `add()` would
    /// with `sentScopes` as the requested ones, and returns it as a result for `scopes`.
    func acquire(grantType: String, _ fields: [(String, String)], scopes: [String], sentScopes: [String], scopeInRequest: Bool = true,
                 requestData: [String: String] = [:], username: String? = nil, reason: AuthenticationResult.RefreshReason? = nil,
                 claimsChallenge: String? = nil, data: [String: String] = [:], requestAuthority: Authority? = nil,
                 checking check: (JSONObject, _ correlationID: String) throws(MSALError) -> Void = { _, _ in }) async throws(MSALError) -> AuthenticationResult {
        let now = ClientCore.now()
        var form = [("grant_type", grantType)] + fields + (scopeInRequest ? [("scope", sentScopes.joined(separator: " "))] : [])
        if let claims = try claimsParameter(claimsChallenge) { form.append(("claims", claims)) }
        let extra = try ClientCore.extraFields(data)
        form += extra
        // The flow's own request data wins over the caller's, as in MSAL Python.
        let requestData = requestData.merging(extra.map { ($0.0, $0.1) }) { own, _ in own }
        let (answer, correlationID, endpoint) = try await requestToken(form, authority: requestAuthority ?? authority,
                                                                       audienceAuthority: requestAuthority == nil ? nil : authority)
        try check(answer, correlationID)
        try await store(answer, context: context(scopes: sentScopes, tokenEndpoint: endpoint, authority: authority, grantType: grantType,
                                           requestData: requestData, username: username, now: now))
        let acquired = Self.result(answer, scopes: scopes, now: now, correlationID: correlationID, reason: reason)
        logger.debug("tokens cached", metadata: ["grant_type": "\(grantType)", "account": personal(acquired.homeAccountID),
                                                 "username": personal(acquired.username), "correlation_id": "\(correlationID)"])
        return acquired
    }

    /// A token for an app-only or on-behalf-of request: `query` served from the cache when
    /// a token fits (no query: straight to the provider), else `request` run with why the
    /// provider is asked. A token due for proactive refresh stands in when that refresh
    /// fails, as in MSAL Python.
    nonisolated(nonsending)
    func cachedOrAcquired(_ query: AccessTokenQuery?, claimsChallenge: String?,
                          _ request: (AuthenticationResult.RefreshReason) async throws(MSALError) -> AuthenticationResult) async throws(MSALError) -> AuthenticationResult {
        var reason: AuthenticationResult.RefreshReason = claimsChallenge != nil ? .claims : .forceRefresh
        var fallback: AccessToken?
        if let query {
            switch try await cached(.lookup, { try $0.lookupAccessToken(query) }) {
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
            return try await request(reason)
        } catch {
            // A proactive refresh that failed: the cached token is still valid.
            guard let fallback else { throw error }
            logger.info("the proactive refresh failed; the cached token is still valid", metadata: ["error": "\(error.code)"])
            return ClientCore.result(cached: fallback, account: nil)
        }
    }

    /// `value` for a log line when the app opted in to personal data
    /// (``ApplicationOptions/logsPersonalData``), else a placeholder.
    func personal(_ value: String?) -> Logger.MetadataValue {
        options.logsPersonalData ? "\(value ?? "none")" : "<personal data hidden>"
    }

    /// Saves a refresh grant's answer update-only (see `TokenCacheStore.saveRefreshResult`).
    nonisolated(nonsending)
    private func saveRefresh(_ answer: JSONObject, context: TokenResponseContext, refreshTokenKey: String) async throws(MSALError) {
        _ = try await write("the refresh answer", failure: "the refreshed token could not be cached") {
            try $0.saveRefreshResult(response: answer, context: context, refreshTokenKey: refreshTokenKey)
        }
    }

    /// The result of a response just received.
    static func result(_ response: JSONObject, scopes: [String], now: Int64, correlationID: String?, reason: AuthenticationResult.RefreshReason?) -> AuthenticationResult {
        let idToken = response.string("id_token")
        let claims = idToken.flatMap(ClientCore.claims(of:))
        // The cache refused lifetimes beyond a hundred years already; clamped all the same.
        let longest = TokenResponseEntries.longestLifetime
        func later(by seconds: Int64) -> Int64 { now + min(max(seconds, -longest), longest) }
        let expiresIn = response["expires_in"]?.wholeNumber ?? 600
        let granted = response.string("scope").map { $0.split(separator: " ").map(String.init) } ?? scopes
        return AuthenticationResult(
            accessToken: response.string("access_token") ?? "", tokenType: response.string("token_type") ?? "Bearer",
            expiresOn: later(by: expiresIn), refreshOn: response["refresh_in"]?.wholeNumber.map(later(by:)), scopeText: granted.joined(separator: " "),
            idToken: idToken, idTokenClaims: claims, homeAccountID: ClientCore.homeAccountID(response: response, claims: claims),
            username: claims?.string("preferred_username") ?? claims?.string("upn"), tokenSource: .identityProvider,
            refreshReason: reason, correlationID: correlationID)
    }

    /// The result of a cached access token.
    static func result(cached token: AccessToken, account: Account?) -> AuthenticationResult {
        AuthenticationResult(
            accessToken: token.secret ?? "", tokenType: token.tokenType ?? "Bearer", expiresOn: token.expiresOn ?? 0,
            refreshOn: token.refreshOn, scopeText: token.target ?? "", idToken: nil, idTokenClaims: nil,
            homeAccountID: token.homeAccountID, username: account?.username, tokenSource: .cache, refreshReason: nil, correlationID: nil)
    }

    /// The `claims` parameter of a request, as MSAL Python sends it: the app's
    /// ``ApplicationOptions/clientCapabilities`` as `{"access_token": {"xms_cc": {"values":
    /// [...]}}}` merged into `challenge` (its other claims kept), written as Python's
    /// `json.dumps` writes it; `challenge` as it is without capabilities; `nil` for neither.
    ///
    /// - Throws: ``MSALError`` `invalidArgument` when capabilities must be merged into a
    ///   challenge that is not a JSON object.
    func claimsParameter(_ challenge: String?) throws(MSALError) -> String? {
        let challenge = ClientCore.challenge(challenge)
        let capabilities = options.clientCapabilities
        guard !capabilities.isEmpty else { return challenge }
        var claims = JSONObject()
        if let challenge {
            guard case .object(let parsed)? = try? JSONValue(parsing: Data(challenge.utf8)) else {
                throw MSALError(code: .invalidArgument, reason: "the claims challenge is not a JSON object; pass the claims value the provider sent, base64-decoded when it came in a WWW-Authenticate header")
            }
            claims = parsed
        }
        var accessToken: JSONObject = [:]
        if case .object(let existing)? = claims["access_token"] { accessToken = existing }
        accessToken["xms_cc"] = .object(["values": .array(capabilities.map { .string($0) })])
        claims["access_token"] = .object(accessToken)
        return JSONValue.object(claims).pythonCompactJSONText
    }

    /// A request's extra fields (MSAL Python's `data`: an SSH certificate's `token_type`,
    /// `req_cnf` and `key_id`), in a fixed order; none may replace a field the flow sets.
    ///
    /// - Throws: ``MSALError`` `invalidArgument` for an SSH certificate request without its
    ///   `req_cnf` and `key_id`, as MSAL Python refuses it.
    static func extraFields(_ data: [String: String]) throws(MSALError) -> [(String, String)] {
        if data["token_type"] == "ssh-cert", (data["req_cnf"] ?? "").isEmpty || (data["key_id"] ?? "").isEmpty {
            throw MSALError(code: .invalidArgument, reason: "an ssh-cert request needs req_cnf (the public key, as a JWK) and key_id in its data")
        }
        let reserved: Set<String> = ["grant_type", "client_id", "scope", "claims", "refresh_token", "code", "code_verifier", "redirect_uri",
                                     "username", "password", "assertion", "device_code", "client_secret", "client_assertion", "client_assertion_type",
                                     "client_info", "requested_token_use", "user_id", "user_federated_identity_credential"]
        return data.filter { !reserved.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// A claims challenge, or `nil` for none: an empty one is none, as in MSAL Python.
    static func challenge(_ text: String?) -> String? {
        text.flatMap { $0.isEmpty ? nil : $0 }
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

    /// The tenant the cache keeps `authority`'s tokens under (their `realm`): as in MSAL
    /// Python, the tenant of the discovered token endpoint, so an authority named by its
    /// domain (`contoso.onmicrosoft.com`) reads and writes under the tenant's GUID, as
    /// every flow writes. No request is sent when the configured tenant cannot differ: a
    /// GUID, `common`, `organizations`, `consumers` or `adfs`.
    nonisolated(nonsending)
    func realm(of authority: Authority) async throws(MSALError) -> String {
        if !authority.isOIDC, ClientCore.isFinalTenant(authority.tenant) { return authority.tenant }
        let endpoints = try await discovery.endpoints(of: authority)
        return (try? TokenEndpoint(ClientCore.cacheText(of: endpoints.tokenEndpoint)).tenant) ?? authority.tenant
    }

    /// Whether discovery always names `tenant` itself in the endpoints.
    static func isFinalTenant(_ tenant: String) -> Bool {
        if ["common", "organizations", "consumers", "adfs"].contains(tenant) { return true }
        // A GUID: 8-4-4-4-12 hexadecimal digits (lower case, as Entra writes them). Checked
        // on the bytes: every silent call asks.
        let bytes = Array(tenant.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) else { return false }
            }
        }
        return true
    }

    /// An endpoint as the cache reads it: a loopback `http://` endpoint (tests) as https,
    /// which gives the same environment and realm.
    static func cacheText(of endpoint: URL) -> String {
        let text = endpoint.absoluteString
        return text.lowercased().hasPrefix("http://") ? "https://" + text.dropFirst(7) : text
    }

    /// MSAL Python's `acquire_token_silent_with_error`: the cache first, then each refresh
    /// token in MSAL's order, then the same in each alias environment that holds refresh
    /// tokens. `nil` when the cache holds nothing usable; throws `interactionRequired` (with
    /// the provider's last answer) when every refresh was refused, and the provider's or
    /// the network's own error when the refresh failed for any other reason.
    nonisolated(nonsending)
    func acquireTokenSilent(scopes: [String], account: Account, forceRefresh: Bool, claimsChallenge: String?, data: [String: String] = [:]) async throws(MSALError) -> AuthenticationResult? {
        try ClientCore.validate(scopes, forClient: false)
        guard let homeAccountID = account.homeAccountID else {
            throw MSALError(code: .invalidArgument, reason: "the account has no home_account_id; pass an account from accounts()")
        }
        let realm = try await realm(of: authority)
        let request = SilentRequest(scopes: scopes, homeAccountID: homeAccountID, realm: realm, account: account, forceRefresh: forceRefresh,
                                    claims: ClientCore.challenge(claimsChallenge), data: data)
        var lastFailure: MSALError?
        switch try await silent(request, in: authority) {
        case .token(let result): return result
        case .refreshFailed(let error): lastFailure = error
        case .nothing: break
        }
        for alias in try await discovery.aliases(of: authority) {
            // MSAL tries an alias only where the cache holds a refresh token.
            let clientID = self.clientID
            let refreshTokens = try await cached { try $0.refreshTokenCandidates(clientID: clientID, environment: alias, homeAccountID: homeAccountID) }
            guard !refreshTokens.isEmpty else { continue }
            let aliased: Authority
            do {
                aliased = try Authority("https://\(alias)/\(authority.tenant)")
            } catch { continue }
            logger.debug("silent: trying alias environment", metadata: ["environment": "\(alias)"])
            switch try await silent(request, in: aliased) {
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

    /// What a silent call asks for.
    private struct SilentRequest {
        let scopes: [String]
        let homeAccountID: String
        /// The tenant the tokens are cached under (see ``realm(of:)``).
        let realm: String
        let account: Account
        let forceRefresh: Bool
        let claims: String?
        /// Extra request fields (`token_type`, `req_cnf`, `key_id` of an SSH certificate).
        var data: [String: String] = [:]

        /// Whether a token another caller saved meanwhile answers the call: not when the
        /// caller insists on a new one or must answer a claims challenge.
        var acceptsOthersToken: Bool { !forceRefresh && claims == nil }
    }

    /// Runs a cache lookup without blocking a thread of the cooperative pool (see
    /// `TokenCacheStore.perform`), turning its failure into ``MSALError``.
    nonisolated(nonsending)
    func cached<T: Sendable>(_ access: StoreAccess = .lookup, _ operation: @escaping @Sendable (any TokenCacheStore) throws -> T) async throws(MSALError) -> T {
        try await ClientCore.cached(in: cache, access, operation)
    }

    /// ``cached(_:_:)`` on any store (a managed identity client's has no core).
    nonisolated(nonsending)
    static func cached<T: Sendable>(in cache: any TokenCacheStore, _ access: StoreAccess, _ operation: @escaping @Sendable (any TokenCacheStore) throws -> T) async throws(MSALError) -> T {
        do {
            return try await cache.perform(access) { try operation(cache) }
        } catch {
            let what = access == .lookup ? "the token cache cannot be read" : "the token cache cannot be changed"
            throw MSALError(code: .cacheFailure, reason: "\(what): \(error)", underlying: error)
        }
    }

    /// Runs a cache write without blocking a thread of the cooperative pool: a response
    /// the cache refuses is `invalidResponse` (`what` names it), a store that fails is
    /// `cacheFailure` (`failure` says what was lost).
    nonisolated(nonsending)
    private func write<T: Sendable>(_ what: String, failure: String, _ operation: @escaping @Sendable (any TokenCacheStore) throws -> T) async throws(MSALError) -> T {
        let cache = self.cache
        do {
            return try await cache.perform(.write) { try operation(cache) }
        } catch let error as TokenCacheError {
            throw MSALError(code: .invalidResponse, reason: "\(what) cannot be cached: \(error.reason). Nothing was cached")
        } catch {
            throw MSALError(code: .cacheFailure, reason: "\(failure): \(error)", underlying: error)
        }
    }

    /// The access token lookup of `request` in `authority`'s environment.
    nonisolated(nonsending)
    private func lookup(_ request: SilentRequest, in authority: Authority) async throws(MSALError) -> AccessTokenLookup {
        let query = AccessTokenQuery(clientID: clientID, environment: authority.host, realm: request.realm, homeAccountID: request.homeAccountID,
                                     scopes: request.scopes, keyID: request.data["key_id"].flatMap { $0.isEmpty ? nil : $0 }, requestData: request.data,
                                     now: ClientCore.now())
        return try await cached { try $0.lookupAccessToken(query) }
    }

    /// The silent decision in one environment. A refresh is sent only while holding the
    /// account's refresh claim (see ``RefreshClaim``), after reading the store again: when
    /// another caller refreshed meanwhile, its token is the answer and nothing is sent.
    nonisolated(nonsending)
    private func silent(_ request: SilentRequest, in authority: Authority) async throws(MSALError) -> SilentOutcome {
        var fallback: AccessToken?
        let reason: AuthenticationResult.RefreshReason
        if request.forceRefresh {
            reason = .forceRefresh
        } else if request.claims != nil {
            reason = .claims
        } else {
            switch try await lookup(request, in: authority) {
            case .hit(let token):
                logger.debug("silent: served from the cache", metadata: ["account": personal(request.homeAccountID)])
                return .token(Self.result(cached: token, account: request.account))
            case .refreshDue(let token):
                fallback = token
                reason = .proactiveRefresh
            case .miss(let expired):
                reason = expired ? .expired : .noCachedToken
            }
        }
        if request.account.authorityType == AuthorityType.cloudShell {
            // A Cloud Shell account is refreshed by the shell, as MSAL Python does.
            do {
                return .token(try await cloudShellToken(scopes: request.scopes, data: request.data))
            } catch where fallback != nil && error.code != .serverError {
                return .token(Self.result(cached: fallback!, account: request.account))
            }
        }
        let clientID = self.clientID
        nonisolated(nonsending) func candidates() async throws(MSALError) -> [RefreshToken] {
            try await cached { try $0.refreshTokenCandidates(clientID: clientID, environment: authority.host, homeAccountID: request.homeAccountID) }
        }
        guard try await candidates().contains(where: { $0.secret != nil }) else {
            return fallback.map { .token(Self.result(cached: $0, account: request.account)) } ?? .nothing
        }

        let claim = await claimRefresh(request.homeAccountID, environment: authority.host)
        defer { claim?.release() }
        if request.acceptsOthersToken, case .hit(let token) = try await lookup(request, in: authority) {
            logger.debug("silent: another caller refreshed meanwhile; served from the cache", metadata: ["account": personal(request.homeAccountID)])
            return .token(Self.result(cached: token, account: request.account))
        }

        var queue = try await candidates()
        // Keys by their bytes, as the stores compare them.
        var retried: Set<[UInt8]> = []
        var lastFailure: MSALError?
        var familyRefused = false
        while !queue.isEmpty {
            let candidate = queue.removeFirst()
            guard let secret = candidate.secret else { continue }
            if familyRefused, candidate.familyID != nil, candidate.clientID != clientID { continue }
            do {
                return .token(try await refresh(request, with: candidate, secret: secret, in: authority, reason: reason))
            } catch where error.isRefusedGrant {
                // MSAL keeps a refused refresh token and tries the next one.
                logger.info("silent: a refresh token was refused", metadata: ["error": "\(error.server?.error ?? error.code.description)"])
                lastFailure = error
                if error.server?.suberror == "client_mismatch" { familyRefused = true }
                // A caller that takes no claim (an MSAL Python app on the same file) may
                // have redeemed the same refresh token a moment ago: read the store again.
                if request.acceptsOthersToken, case .hit(let token) = try await lookup(request, in: authority) {
                    logger.info("silent: another app refreshed meanwhile; served from the cache")
                    return .token(Self.result(cached: token, account: request.account))
                }
                if !retried.contains(Array(candidate.key.utf8)), let rotated = try await candidates().first(where: { $0.key.utf8.elementsEqual(candidate.key.utf8) }),
                   let newSecret = rotated.secret, newSecret != secret {
                    logger.info("silent: the refresh token was rotated by another app meanwhile; trying the new one")
                    retried.insert(Array(candidate.key.utf8))
                    queue.insert(rotated, at: 0)
                }
            } catch {
                // The provider failed, throttled, could not be reached or answered nonsense:
                // the user need not sign in again, and an aging token in hand is still good.
                if let fallback { return .token(Self.result(cached: fallback, account: request.account)) }
                throw error
            }
        }
        if let fallback { return .token(Self.result(cached: fallback, account: request.account)) }
        if let lastFailure { return .refreshFailed(lastFailure) }
        return .nothing
    }

    /// Redeems one refresh token and saves the answer update-only.
    nonisolated(nonsending)
    private func refresh(_ request: SilentRequest, with candidate: RefreshToken, secret: String, in authority: Authority,
                         reason: AuthenticationResult.RefreshReason) async throws(MSALError) -> AuthenticationResult {
        var form: [(String, String)] = [("grant_type", "refresh_token"), ("refresh_token", secret),
                                        ("scope", decorated(request.scopes).joined(separator: " ")), ("client_info", "1")]
        if let claims = try claimsParameter(request.claims) { form.append(("claims", claims)) }
        form += try ClientCore.extraFields(request.data)
        var headers: [String: String] = [:]
        let uidUtid = request.homeAccountID.split(separator: ".")
        if uidUtid.count == 2 { headers["X-AnchorMailbox"] = "Oid:\(uidUtid[0])@\(uidUtid[1])" }
        let now = ClientCore.now()
        let (answer, correlationID, tokenEndpoint) = try await requestToken(form, authority: authority, headers: headers)
        let context = context(scopes: decorated(request.scopes), tokenEndpoint: tokenEndpoint, authority: authority,
                              grantType: "refresh_token", skipAccountCreation: true, requestData: request.data, now: now)
        try await saveRefresh(answer, context: context, refreshTokenKey: candidate.key)
        logger.debug("silent: refreshed", metadata: ["reason": "\(reason.rawValue)", "correlation_id": "\(correlationID)"])
        return Self.result(answer, scopes: request.scopes, now: now, correlationID: correlationID, reason: reason)
    }

    /// Takes the account's refresh claim in the store, waiting for another caller's refresh
    /// up to ``ApplicationOptions/refreshClaimTimeout``; `nil` (go on without it) when the
    /// wait times out or the store cannot hold claims.
    nonisolated(nonsending)
    private func claimRefresh(_ homeAccountID: String, environment: String) async -> RefreshClaim? {
        let subject = RefreshClaim.Subject(environment: environment, homeAccountID: homeAccountID)
        do {
            if let claim = try await cache.claimRefresh(subject, timeout: options.refreshClaimTimeout) { return claim }
            logger.info("silent: another caller held the refresh claim past the time-out; refreshing without it", metadata: ["timeout": "\(options.refreshClaimTimeout)"])
        } catch {
            logger.info("silent: the refresh claim cannot be taken; refreshing without it", metadata: ["error": "\(error)"])
        }
        return nil
    }
}

extension MSALError {
    /// Whether the provider refused the grant itself (the refresh token, code or password
    /// is not good any more): the user must sign in again. Outages, throttling and
    /// unusable answers are not refusals.
    var isRefusedGrant: Bool {
        guard code == .serverError, let error = server?.error else { return false }
        return ["invalid_grant", "interaction_required", "consent_required", "login_required"].contains(error)
    }
}

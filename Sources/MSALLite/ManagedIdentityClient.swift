public import Foundation
public import TokenCache
import Logging

/// The managed identity a ``ManagedIdentityClient`` acquires tokens for: the resource's own
/// (system-assigned), or one assigned to it by the user, named by one of its three ids.
public enum ManagedIdentity: Sendable, Equatable {
    /// The identity Azure gave the resource itself.
    case systemAssigned
    /// A user-assigned identity, by its client (application) id.
    case clientID(String)
    /// A user-assigned identity, by its Azure resource id.
    case resourceID(String)
    /// A user-assigned identity, by its object (principal) id.
    case objectID(String)

    /// The client id tokens are cached under: the identity's id, or
    /// `SYSTEM_ASSIGNED_MANAGED_IDENTITY`, the default MSAL Python's code names. (MSAL
    /// Python 1.39 in fact records a system-assigned token with `"client_id": null`, since
    /// its identity always has an `Id` member; so such a token is not shared between the two
    /// libraries. User-assigned tokens are.)
    var cacheClientID: String {
        switch self {
        case .systemAssigned: return "SYSTEM_ASSIGNED_MANAGED_IDENTITY"
        case .clientID(let id), .resourceID(let id), .objectID(let id): return id
        }
    }
}

/// Where a managed identity's tokens come from, as MSAL Python detects it from the
/// environment the platform sets.
public enum ManagedIdentitySource: String, Sendable {
    /// App Service, Azure Functions and Azure Automation (`IDENTITY_ENDPOINT` and
    /// `IDENTITY_HEADER`).
    case appService
    /// Azure Machine Learning (`MSI_ENDPOINT` and `MSI_SECRET`).
    case machineLearning
    /// Service Fabric (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER` and
    /// `IDENTITY_SERVER_THUMBPRINT`): HTTPS to the cluster's endpoint, trusting only the
    /// certificate whose thumbprint the platform names. The cluster picks the identity.
    case serviceFabric
    /// Azure Arc (`IDENTITY_ENDPOINT` and `IMDS_ENDPOINT`, or its agent installed): a
    /// challenge names a key file of the agent's, whose content is the credential.
    case azureArc
    /// Azure Cloud Shell. Its tokens are the signed-in user's, not an identity's: MSAL
    /// Python serves them through an interactive public client with `prompt=none`, and so
    /// does this library (``PublicClientApplication/acquireTokenInteractive(scopes:loginHint:prompt:claimsChallenge:domainHint:maxAge:extraScopesToConsent:pages:data:port:timeout:openBrowser:)``);
    /// a managed identity client there is `notSupported`.
    case cloudShell
    /// A virtual machine's Instance Metadata Service (169.254.169.254, or
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`): the source when nothing else is detected.
    case imds

    /// The source `environment` names, in MSAL Python's order of precedence.
    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> ManagedIdentitySource {
        func has(_ names: String...) -> Bool { names.allSatisfy { environment[$0] != nil } }
        if has("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT") { return .serviceFabric }
        if has("IDENTITY_ENDPOINT", "IDENTITY_HEADER") { return .appService }
        if has("MSI_ENDPOINT", "MSI_SECRET") { return .machineLearning }
        if has("IDENTITY_ENDPOINT", "IMDS_ENDPOINT") || FileManager.default.fileExists(atPath: "/opt/azcmagent/bin/himds") { return .azureArc }
        if environment["AZUREPS_HOST_ENVIRONMENT"]?.hasPrefix("cloud-shell") == true { return .cloudShell }
        return .imds
    }
}

/// Tokens for an Azure resource's managed identity, as MSAL Python's
/// `ManagedIdentityClient`: from the endpoint of the platform the process runs on, cached
/// in any store of this library as MSAL Python caches them (client id the identity's,
/// environment `localhost`, realm `managed_identity`, the resource as the target), and
/// served from the cache while more than five minutes are left. A token that lives two
/// hours or more is refreshed from its half-life on, the cached one served if that fails.
///
/// Failures are not retried (the caller decides); a 429 or 5xx answer is remembered until
/// its `Retry-After` (5 seconds without one), so the same request fails at once meanwhile,
/// as in MSAL Python (which, like this library, does not throttle Service Fabric's
/// endpoint).
public final class ManagedIdentityClient: Sendable {
    /// The identity.
    public let identity: ManagedIdentity
    /// Where its tokens come from.
    public let source: ManagedIdentitySource
    /// The cache.
    public let cache: any TokenCacheStore
    private let environment: [String: String]
    private let connection: ProviderConnection
    private let http: HTTPOptions
    private let clientCapabilities: [String]
    private let logger: Logger
    /// Where the Azure Arc agent writes the key files its challenges name.
    let arcTokensFolder: String

    /// Azure Arc's endpoint when only its agent is installed, and its key folder on Linux.
    static let arcDefaultEndpoint = "http://localhost:40342/metadata/identity/oauth2/token"
    static let arcTokensFolder = "/var/opt/azcmagent/tokens"

    /// The environment and tenant MSAL Python caches managed identity tokens under.
    static let cacheEnvironment = "localhost"
    static let cacheRealm = "managed_identity"

    /// Creates a client for `identity` on the platform `environment` describes.
    ///
    /// - Parameters:
    ///   - identity: The system-assigned identity, or a user-assigned one by an id.
    ///   - cache: Any store of this library; an in-memory cache by default.
    ///   - options: HTTP and logging settings (the other options do not apply).
    ///   - environment: The variables the platform sets; the process's by default.
    public convenience init(_ identity: ManagedIdentity, cache: any TokenCacheStore = TokenCache(), options: ApplicationOptions = ApplicationOptions(),
                            environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(identity, cache: cache, options: options, environment: environment, arcTokensFolder: ManagedIdentityClient.arcTokensFolder)
    }

    /// As the public initializer, with Azure Arc's key folder elsewhere (for tests).
    init(_ identity: ManagedIdentity, cache: any TokenCacheStore, options: ApplicationOptions, environment: [String: String], arcTokensFolder: String) {
        self.arcTokensFolder = arcTokensFolder
        self.identity = identity
        self.cache = cache
        self.environment = environment
        source = ManagedIdentitySource.detect(environment: environment)
        connection = ProviderConnection(options: options.http, logger: options.logger)
        http = options.http
        clientCapabilities = options.clientCapabilities
        logger = options.logger
    }

    /// A token for `resource` (such as `https://management.azure.com`), from the cache when
    /// one has more than five minutes left, else from the platform's endpoint.
    ///
    /// - Parameters:
    ///   - resource: The resource the token is for.
    ///   - claimsChallenge: A claims challenge from the resource: the cache is skipped.
    /// - Throws: ``MSALError``: `notSupported` in Cloud Shell; for Azure Arc,
    ///   `invalidResponse` when its key file cannot be read or it does not confirm a
    ///   user-assigned identity; for Service Fabric, `untrustedAuthority` when the endpoint's
    ///   certificate is not the one `IDENTITY_SERVER_THUMBPRINT` names;
    ///   `serverError` for the endpoint's refusal (a wrong identity or resource);
    ///   `providerUnavailable`, `network` or `timedOut` when it cannot answer.
    nonisolated(nonsending)
    public func acquireToken(resource: String, claimsChallenge: String? = nil) async throws(MSALError) -> AuthenticationResult {
        let claimsChallenge = ClientCore.challenge(claimsChallenge)
        guard identity.cacheClientID != "" else {
            throw MSALError(code: .invalidArgument, reason: "the user-assigned identity's id is empty; pass its client id, resource id or object id")
        }
        guard !resource.isEmpty else { throw MSALError(code: .invalidArgument, reason: "the resource is empty; pass the resource's URI, such as https://management.azure.com") }
        let now = ClientCore.now()
        let query = AccessTokenQuery(clientID: identity.cacheClientID, environment: Self.cacheEnvironment, realm: Self.cacheRealm, homeAccountID: nil,
                                     scopes: [resource], now: now)
        var fallback: AccessToken?
        var reason: AuthenticationResult.RefreshReason = claimsChallenge == nil ? .noCachedToken : .claims
        // The cache is searched even for a claims challenge, as MSAL Python does: the token
        // found is the one the challenge replaces, never the answer.
        var tokenToRefresh: String?
        switch try await ClientCore.cached(in: cache, .lookup, { try $0.lookupAccessToken(query) }) {
        case .hit(let token) where claimsChallenge != nil, .refreshDue(let token) where claimsChallenge != nil:
            tokenToRefresh = token.secret
        case .hit(let token):
            return ClientCore.result(cached: token, account: nil)
        case .refreshDue(let token):
            fallback = token
            reason = .proactiveRefresh
        case .miss(let expired):
            if claimsChallenge == nil { reason = expired ? .expired : .noCachedToken }
        }
        do throws(MSALError) {
            var answer = try await requestToken(resource: resource, tokenToRefresh: tokenToRefresh, now: now)
            if let expiresIn = answer["expires_in"]?.wholeNumber, expiresIn >= 7200, answer["refresh_in"] == nil {
                answer["refresh_in"] = .number(JSONNumber(expiresIn / 2))
            }
            let context = TokenResponseContext(clientID: identity.cacheClientID, requestedScopes: [resource],
                                               tokenEndpoint: "https://\(Self.cacheEnvironment)/\(Self.cacheRealm)", now: now)
            let stored = answer
            _ = try await ClientCore.cached(in: cache, .write, { try $0.add(response: stored, context: context) })
            return ClientCore.result(answer, scopes: [resource], now: now, correlationID: nil, reason: reason)
        } catch {
            // An aging token in hand is still good when the endpoint fails.
            guard let fallback, error.code != .notSupported else { throw error }
            logger.info("managed identity: the refresh failed; the cached token is still valid", metadata: ["error": "\(error.code)"])
            return ClientCore.result(cached: fallback, account: nil)
        }
    }

    // MARK: - The endpoints

    /// Asks the source's endpoint for a token and returns it as an OAuth token response
    /// (`access_token`, `expires_in`, `token_type`, `resource`), as MSAL Python normalizes it.
    private func requestToken(resource: String, tokenToRefresh: String?, now: Int64) async throws(MSALError) -> JSONObject {
        let request: (url: String, version: String, headers: [String: String], idNames: [String])
        switch source {
        case .appService:
            request = (environment["IDENTITY_ENDPOINT"] ?? "", "2019-08-01", ["X-IDENTITY-HEADER": environment["IDENTITY_HEADER"] ?? "", "Metadata": "true"],
                       ["client_id", "mi_res_id", "object_id"])
        case .machineLearning:
            // Azure ML's 2017 API names the client id `clientid`.
            request = (environment["MSI_ENDPOINT"] ?? "", "2017-09-01", ["secret": environment["MSI_SECRET"] ?? ""], ["clientid", "msi_res_id", "object_id"])
        case .imds:
            let host = (environment["AZURE_POD_IDENTITY_AUTHORITY_HOST"] ?? "http://169.254.169.254").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            request = (host + "/metadata/identity/oauth2/token", "2018-02-01",
                       ["Metadata": "true", "x-client-SKU": "MSAL.Swift", "x-ms-client-request-id": UUID().uuidString.lowercased()],
                       ["client_id", "msi_res_id", "object_id"])
        case .azureArc:
            // Azure Arc honours IMDS's msi_res_id spelling.
            request = (environment["IDENTITY_ENDPOINT"] ?? Self.arcDefaultEndpoint, "2020-06-01", ["Metadata": "true"], ["client_id", "msi_res_id", "object_id"])
        case .serviceFabric:
            // The cluster assigns the identity; a selector is ignored, as in MSAL Python.
            guard let endpoint = URL(string: environment["IDENTITY_ENDPOINT"] ?? ""), endpoint.scheme?.lowercased() == "https", endpoint.host != nil else {
                throw MSALError(code: .invalidArgument, reason: "Service Fabric's IDENTITY_ENDPOINT must be an https:// URL. Check the cluster's managed identity token service")
            }
            guard let thumbprint = CertificateSigner.sha1Thumbprint(environment["IDENTITY_SERVER_THUMBPRINT"] ?? "") else {
                throw MSALError(code: .invalidArgument, reason: "IDENTITY_SERVER_THUMBPRINT must be a SHA-1 certificate thumbprint (40 hexadecimal digits)")
            }
            var extra: [URLQueryItem] = []
            if let refreshing = tokenToRefresh { extra.append(URLQueryItem(name: "token_sha256_to_refresh", value: SHA256.hexHash(Array(refreshing.utf8)))) }
            if !clientCapabilities.isEmpty { extra.append(URLQueryItem(name: "xms_cc", value: clientCapabilities.joined(separator: ","))) }
            return try await serviceFabricToken(endpoint: endpoint, thumbprint: thumbprint, resource: resource, extra: extra, now: now)
        case .cloudShell:
            throw MSALError(code: .notSupported, reason: "in Azure Cloud Shell a managed identity client has no endpoint; as in MSAL Python, use PublicClientApplication.acquireTokenInteractive(prompt: \"none\"), which the shell answers for its user")
        }
        var items = [URLQueryItem(name: "api-version", value: request.version), URLQueryItem(name: "resource", value: resource)]
        switch identity {
        case .systemAssigned: break
        case .clientID(let id): items.append(URLQueryItem(name: request.idNames[0], value: id))
        case .resourceID(let id): items.append(URLQueryItem(name: request.idNames[1], value: id))
        case .objectID(let id): items.append(URLQueryItem(name: request.idNames[2], value: id))
        }
        guard var components = URLComponents(string: request.url), components.host != nil else {
            throw MSALError(code: .invalidArgument, reason: "the managed identity endpoint the environment names for \(source.rawValue) is not a URL. Check the platform's variables")
        }
        components.queryItems = (components.queryItems ?? []) + items
        guard let url = components.url else {
            throw MSALError(code: .invalidArgument, reason: "the managed identity endpoint does not make a valid URL with these parameters")
        }
        var headers = request.headers
        let what = "the managed identity endpoint (\(source.rawValue))"
        if source == .azureArc {
            let realm = try await connection.arcChallenge(url, what: what)
            headers["Authorization"] = "Basic " + (try arcSecret(realm: realm))
        }
        let payload = try await connection.getManagedIdentityToken(url, headers: headers, what: what)
        if source == .azureArc { try checkArcIdentity(payload) }
        guard let token = payload.string("access_token"), !token.isEmpty else {
            // App Service answers a wrong resource with a vague body of its own.
            let detail = [payload["statusCode"].map { "\($0)" }, payload.string("message") ?? payload.string("error_description")].compactMap { $0 }.joined(separator: ", ")
            let server = MSALError.ServerError(error: payload.string("error") ?? "invalid_scope", errorDescription: detail.isEmpty ? nil : detail, suberror: nil, correlationID: nil, httpStatus: 200)
            throw MSALError(code: .serverError, reason: "the managed identity endpoint answered without a token (\(detail.isEmpty ? "no detail" : detail)). Check the resource and that the identity is assigned to this resource", server: server)
        }
        // IMDS and Azure Arc say expires_in (as text); App Service and Machine Learning say
        // expires_on.
        let expiresIn: Int64?
        if source == .imds || source == .azureArc {
            expiresIn = payload["expires_in"].flatMap(PythonText.int)
        } else {
            expiresIn = Self.lifetime(until: payload["expires_on"], now: now)
        }
        return try Self.tokenResponse(token, expiresIn: expiresIn, payload: payload)
    }

    /// An endpoint's token as an OAuth token response (`access_token`, `expires_in`,
    /// `token_type`, `resource`), as MSAL Python normalizes it; a lifetime no token has
    /// (none, overflowing, zero or beyond a century) is `invalidResponse`.
    private static func tokenResponse(_ token: String, expiresIn: Int64?, payload: JSONObject) throws(MSALError) -> JSONObject {
        guard let expiresIn else {
            throw MSALError(code: .invalidResponse, reason: "the managed identity endpoint's token has no usable lifetime (expires_in or expires_on). Nothing was cached")
        }
        guard (1...TokenResponseEntries.longestLifetime).contains(expiresIn) else {
            throw MSALError(code: .invalidResponse, reason: "the managed identity endpoint's token lives \(expiresIn) s, which no token does (at most a century, and more than nothing). Nothing was cached")
        }
        var answer: JSONObject = ["access_token": .string(token), "expires_in": .number(JSONNumber(expiresIn)),
                                  "token_type": .string(payload.string("token_type") ?? "Bearer")]
        if let resource = payload["resource"] { answer["resource"] = resource }
        return answer
    }

    /// Seconds from `now` to an endpoint's `expires_on`; `nil` when it has none or the
    /// difference overflows.
    private static func lifetime(until expiresOn: JSONValue?, now: Int64) -> Int64? {
        expiresOn.flatMap(PythonText.int).flatMap { on in
            let (left, overflow) = on.subtractingReportingOverflow(now)
            return overflow ? nil : left
        }
    }

    /// Service Fabric's endpoint, over TLS pinned to the certificate the platform names:
    /// its token normalized as MSAL Python normalizes it, its errors mapped to OAuth's.
    private func serviceFabricToken(endpoint: URL, thumbprint: [UInt8], resource: String, extra: [URLQueryItem], now: Int64) async throws(MSALError) -> JSONObject {
        guard var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false) else {
            throw MSALError(code: .invalidArgument, reason: "Service Fabric's IDENTITY_ENDPOINT is not a URL")
        }
        components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "api-version", value: "2019-07-01-preview"),
                                                                  URLQueryItem(name: "resource", value: resource)] + extra
        guard let url = components.url else { throw MSALError(code: .invalidArgument, reason: "Service Fabric's endpoint does not make a valid URL") }
        var pinned = http
        pinned.transport = PinnedTLSTransport(thumbprint: thumbprint)
        let connection = ProviderConnection(options: pinned, logger: logger)
        let payload: JSONObject
        do {
            payload = try await connection.getManagedIdentityToken(url, headers: ["Secret": environment["IDENTITY_HEADER"] ?? ""], what: "the managed identity endpoint (Service Fabric)")
        } catch where error.code == .serverError {
            // MSAL Python's mapping of Service Fabric's error codes to OAuth's.
            let mapped = ["SecretHeaderNotFound": "unauthorized_client", "ManagedIdentityNotFound": "invalid_client",
                          "ArgumentNullOrEmpty": "invalid_scope"][error.server?.error ?? ""] ?? "invalid_request"
            let server = MSALError.ServerError(error: mapped, errorDescription: error.server?.errorDescription, suberror: error.server?.error,
                                              correlationID: nil, httpStatus: error.server?.httpStatus ?? 400)
            throw MSALError(code: .serverError, reason: "Service Fabric's managed identity endpoint refused the request (\(error.server?.error ?? mapped)). \(ProviderConnection.advice(for: server))", server: server)
        }
        guard let token = payload.string("access_token"), !token.isEmpty else {
            throw MSALError(code: .invalidResponse, reason: "Service Fabric's managed identity endpoint answered without an access_token. Nothing was cached")
        }
        return try Self.tokenResponse(token, expiresIn: Self.lifetime(until: payload["expires_on"], now: now), payload: payload)
    }

    /// The secret of Azure Arc's challenge: the content of the key file `realm` names, taken
    /// by its name from the agent's own folder (never from wherever the realm points), as
    /// MSAL Python does; at most 4 KiB, a regular file (not a link).
    func arcSecret(realm: String) throws(MSALError) -> String {
        let name = ((realm as NSString).lastPathComponent as NSString).deletingPathExtension
        guard !name.isEmpty, name != ".", name != ".." else {
            throw MSALError(code: .invalidResponse, reason: "Azure Arc's challenge names no key file. Check IDENTITY_ENDPOINT")
        }
        let path = arcTokensFolder + "/" + name + ".key"
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular else {
            throw MSALError(code: .invalidResponse, reason: "Azure Arc's key file \(path) is missing or not a regular file. Check that the Azure Connected Machine agent runs and this user may read its tokens folder (the himds group)")
        }
        guard let size = attributes[.size] as? Int, size <= 4096 else {
            throw MSALError(code: .invalidResponse, reason: "Azure Arc's key file \(path) is larger than 4 KiB, which no key of the agent's is; it was not read")
        }
        guard let secret = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw MSALError(code: .invalidResponse, reason: "Azure Arc's key file \(path) cannot be read. Add this user to the himds group, or run as root")
        }
        return secret
    }

    /// Fails closed when Azure Arc did not confirm the user-assigned identity asked for: an
    /// older agent ignores the selector and returns the machine's own identity.
    private func checkArcIdentity(_ payload: JSONObject) throws(MSALError) {
        let requested: String, echoed: String?
        switch identity {
        case .systemAssigned: return
        case .clientID(let id): (requested, echoed) = (id, payload.string("client_id"))
        case .objectID(let id): (requested, echoed) = (id, payload.string("object_id"))
        case .resourceID(let id): (requested, echoed) = (id, payload.string("msi_res_id") ?? payload.string("mi_res_id"))
        }
        guard let echoed, echoed.lowercased() == requested.lowercased() else {
            throw MSALError(code: .invalidResponse, reason: "Azure Arc did not confirm the user-assigned identity asked for; its agent likely does not support user-assigned identities and answered with the machine's own. Nothing was cached")
        }
    }
}

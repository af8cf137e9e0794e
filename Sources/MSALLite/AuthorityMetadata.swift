import Foundation
import TokenCache

/// The endpoints OpenID discovery found for an authority.
struct AuthorityMetadata: Sendable {
    let authorizationEndpoint: URL
    let tokenEndpoint: URL
    let deviceCodeEndpoint: URL?
    let issuer: String?
    let jwksURI: URL?
    let endSessionEndpoint: URL?
}

/// OpenID discovery and instance discovery for one application, each done once and
/// remembered (per authority, and per host for aliases).
final class AuthorityDiscovery: Sendable {
    private let connection: ProviderConnection
    private let instanceDiscovery: Bool
    private let validatesAuthority: Bool
    private let metadata = Locked<[String: AuthorityMetadata]>([:])
    private let aliasGroups = Locked<[String: [String]]>([:])
    private let trustedHosts = Locked<Set<String>>([])

    /// Where MSAL asks whether a host outside Microsoft's clouds is an Entra instance.
    static let validationEndpoint = "https://login.microsoftonline.com/common/discovery/instance"

    init(connection: ProviderConnection, instanceDiscovery: Bool, validatesAuthority: Bool = true) {
        self.connection = connection
        self.instanceDiscovery = instanceDiscovery
        self.validatesAuthority = validatesAuthority
    }

    /// Marks `host` as trusted without validation (a regional host of a trusted authority).
    func trust(_ host: String) {
        trustedHosts.withLock { _ = $0.insert(host) }
    }

    /// Whether `authority` must be confirmed by Microsoft's instance discovery before it is
    /// used (MSAL Python's authority validation).
    private func needsValidation(_ authority: Authority) -> Bool {
        // B2C as MSAL Python tells it: a B2C host, or a policy (`b2c_...`) after the tenant.
        let policy = URL(string: authority.url)?.pathComponents.filter { $0 != "/" }.dropFirst().first?.lowercased()
        let isB2C = Authority.wellKnownB2CHosts.contains { authority.host.hasSuffix("." + $0) } || policy?.hasPrefix("b2c_") == true
        return validatesAuthority && instanceDiscovery && !authority.isOIDC && !authority.isADFS && !isB2C && !authority.isWellKnownHost
            && authority.url.lowercased().hasPrefix("https://")
            && !trustedHosts.withLock { $0.contains(authority.host) }
    }

    /// Asks Microsoft's instance discovery about `authority`'s host, once: an unknown host
    /// is `untrustedAuthority`; a known one's aliases are remembered.
    private func validate(_ authority: Authority) async throws(MSALError) {
        if aliasGroups.withLock({ $0[authority.host] }) != nil { return }
        guard let base = URL(string: authority.url), let endpoint = URLComponents(string: AuthorityDiscovery.validationEndpoint) else { return }
        let path = base.path.hasSuffix("/") ? String(base.path.dropLast()) : base.path
        guard let url = AuthorityDiscovery.instanceDiscoveryURL(endpoint, about: "https://\(authority.host)\(path)/oauth2/v2.0/authorize") else { return }
        let answer: JSONObject
        do {
            answer = try await connection.getJSON(url, what: "authority validation")
        } catch where error.server?.error == "invalid_instance" {
            throw MSALError(code: .untrustedAuthority, reason: "Microsoft's instance discovery does not know the authority host \(authority.host), so no request was sent to it. Check the authority URL; if it is an identity provider you trust, set ApplicationOptions.validateAuthority to false (or use oidcAuthority for a non-Microsoft OpenID Connect provider)", server: error.server)
        }
        aliasGroups.withLock { $0[authority.host] = AuthorityDiscovery.aliasGroup(in: answer, of: [authority.host]) }
    }

    /// Instance discovery's question about `authorizationEndpoint`, asked at `endpoint`.
    private static func instanceDiscoveryURL(_ endpoint: URLComponents, about authorizationEndpoint: String) -> URL? {
        var components = endpoint
        components.queryItems = [URLQueryItem(name: "api-version", value: "1.1"), URLQueryItem(name: "authorization_endpoint", value: authorizationEndpoint)]
        return components.url
    }

    /// The hosts of the group in an instance discovery answer that holds one of `names`,
    /// without those names.
    private static func aliasGroup(in answer: JSONObject, of names: [String]) -> [String] {
        let wanted = Set(names.map { $0.lowercased() })
        var group: [String] = []
        for entry in answer["metadata"]?.items ?? [] {
            let hosts = (entry.objectValue?["aliases"]?.items ?? []).compactMap(\.stringValue).map { $0.lowercased() }
            if hosts.contains(where: wanted.contains) { group = hosts }
        }
        return group.filter { !wanted.contains($0) }
    }

    /// MSAL Python's `has_valid_issuer`: an OpenID Connect authority's discovery document
    /// must name an issuer that is the authority itself, of the same scheme and host, of a
    /// Microsoft host (or a regional variant of one, or of the authority's host), or of a
    /// B2C host.
    static func isValidIssuer(_ issuer: String?, for authorityURL: String) -> Bool {
        guard let issuer, !issuer.isEmpty else { return false }
        func trimmed(_ text: String) -> Substring {
            var text = Substring(text)
            while text.hasSuffix("/") { text = text.dropLast() }
            return text
        }
        if trimmed(issuer) == trimmed(authorityURL) { return true }
        guard let issuerURL = URLComponents(string: issuer), let issuerHost = issuerURL.host?.lowercased(), !issuerHost.isEmpty,
              let authorityComponents = URLComponents(string: authorityURL) else { return false }
        if Authority.wellKnownHosts.contains(issuerHost) { return true }
        if let dot = issuerHost.firstIndex(of: "."), dot != issuerHost.startIndex {
            let base = String(issuerHost[issuerHost.index(after: dot)...])
            if Authority.wellKnownHosts.contains(base) || base == authorityComponents.host?.lowercased() { return true }
        }
        if issuerURL.scheme == authorityComponents.scheme, issuerURL.host == authorityComponents.host, issuerURL.port == authorityComponents.port {
            return true
        }
        return Authority.wellKnownB2CHosts.contains { issuerHost.hasSuffix("." + $0) }
    }

    /// The endpoints of `authority`, from its OpenID configuration document (remembered:
    /// after the first call, no hop and no request).
    nonisolated(nonsending)
    func endpoints(of authority: Authority) async throws(MSALError) -> AuthorityMetadata {
        if let known = metadata.withLock({ $0[authority.url] }) { return known }
        if needsValidation(authority) { try await validate(authority) }
        guard let url = URL(string: authority.openIDConfigurationURL) else {
            throw MSALError(code: .invalidArgument, reason: "the authority \(authority.url) does not make a valid discovery URL")
        }
        let document = try await connection.getJSON(url, what: "OpenID discovery")
        func endpoint(_ name: String, required: Bool) throws(MSALError) -> URL? {
            guard let text = document.string(name) else {
                if required { throw MSALError(code: .invalidResponse, reason: "the OpenID configuration of \(authority.url) has no \"\(name)\". Check that the authority URL names a tenant of an OpenID Connect provider") }
                return nil
            }
            guard let url = URL(string: text), url.scheme != nil, url.host != nil else {
                throw MSALError(code: .invalidResponse, reason: "the OpenID configuration of \(authority.url) has an invalid \"\(name)\"")
            }
            try connection.check(url)
            return url
        }
        let found = AuthorityMetadata(
            authorizationEndpoint: try endpoint("authorization_endpoint", required: true)!,
            tokenEndpoint: try endpoint("token_endpoint", required: true)!,
            deviceCodeEndpoint: try endpoint("device_authorization_endpoint", required: false),
            issuer: document.string("issuer"),
            jwksURI: try endpoint("jwks_uri", required: false),
            endSessionEndpoint: try endpoint("end_session_endpoint", required: false))
        if authority.isOIDC, !AuthorityDiscovery.isValidIssuer(found.issuer, for: authority.url) {
            throw MSALError(code: .untrustedAuthority, reason: "the OpenID configuration of \(authority.url) names the issuer \(found.issuer.map { "\"\($0)\"" } ?? "(none)"), which is not this authority nor of its host, so it is not trusted. Check the oidcAuthority URL; use authority instead for a Microsoft Entra authority")
        }
        metadata.withLock { $0[authority.url] = found }
        return found
    }

    /// The other hosts of `authority`'s cloud: the well-known Microsoft groups without a
    /// request, other Entra-style hosts from their instance discovery endpoint, none for
    /// AD FS and B2C or when instance discovery is off.
    nonisolated(nonsending)
    func aliases(of authority: Authority) async throws(MSALError) -> [String] {
        guard instanceDiscovery, !authority.isADFS, !authority.isB2C, !authority.isOIDC else { return [] }
        if Authority.knownAliasGroups.contains(where: { $0.contains(authority.host) }) { return authority.aliases }
        if needsValidation(authority) { try await validate(authority) }
        if let known = aliasGroups.withLock({ $0[authority.host] }) { return known }
        guard let base = URL(string: authority.url), let scheme = base.scheme, let host = base.host else { return [] }
        let hostAndPort = host + (base.port.map { ":\($0)" } ?? "")
        var components = URLComponents()
        components.scheme = scheme
        components.host = host
        components.port = base.port
        components.path = "/common/discovery/instance"
        guard let url = AuthorityDiscovery.instanceDiscoveryURL(components, about: "\(scheme)://\(hostAndPort)/\(authority.tenant)/oauth2/v2.0/authorize") else { return [] }
        let answer = try await connection.getJSON(url, what: "instance discovery")
        let others = AuthorityDiscovery.aliasGroup(in: answer, of: [hostAndPort, authority.host])
        aliasGroups.withLock { $0[authority.host] = others }
        return others
    }
}

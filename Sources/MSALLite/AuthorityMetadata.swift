import Foundation
import TokenCache

/// The endpoints OpenID discovery found for an authority.
struct AuthorityMetadata: Sendable {
    let authorizationEndpoint: URL
    let tokenEndpoint: URL
    let deviceCodeEndpoint: URL?
    let issuer: String?
}

/// OpenID discovery and instance discovery for one application, each done once and
/// remembered (per authority, and per host for aliases).
final class AuthorityDiscovery: Sendable {
    private let connection: ProviderConnection
    private let instanceDiscovery: Bool
    private let metadata = Locked<[String: AuthorityMetadata]>([:])
    private let aliasGroups = Locked<[String: [String]]>([:])

    init(connection: ProviderConnection, instanceDiscovery: Bool) {
        self.connection = connection
        self.instanceDiscovery = instanceDiscovery
    }

    /// The endpoints of `authority`, from its OpenID configuration document.
    func endpoints(of authority: Authority) async throws(MSALError) -> AuthorityMetadata {
        if let known = metadata.withLock({ $0[authority.url] }) { return known }
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
            issuer: document.string("issuer"))
        metadata.withLock { $0[authority.url] = found }
        return found
    }

    /// The other hosts of `authority`'s cloud: the well-known Microsoft groups without a
    /// request, other Entra-style hosts from their instance discovery endpoint, none for
    /// AD FS and B2C or when instance discovery is off.
    nonisolated(nonsending)
    func aliases(of authority: Authority) async throws(MSALError) -> [String] {
        guard instanceDiscovery, !authority.isADFS, !authority.isB2C else { return [] }
        if Authority.knownAliasGroups.contains(where: { $0.contains(authority.host) }) { return authority.aliases }
        if let known = aliasGroups.withLock({ $0[authority.host] }) { return known }
        guard let base = URL(string: authority.url), let scheme = base.scheme, let host = base.host else { return [] }
        let hostAndPort = host + (base.port.map { ":\($0)" } ?? "")
        var components = URLComponents()
        components.scheme = scheme
        components.host = host
        components.port = base.port
        components.path = "/common/discovery/instance"
        components.queryItems = [URLQueryItem(name: "api-version", value: "1.1"),
                                 URLQueryItem(name: "authorization_endpoint", value: "\(scheme)://\(hostAndPort)/\(authority.tenant)/oauth2/v2.0/authorize")]
        guard let url = components.url else { return [] }
        let answer = try await connection.getJSON(url, what: "instance discovery")
        var group: [String] = []
        for entry in answer["metadata"]?.items ?? [] {
            let hosts = (entry.objectValue?["aliases"]?.items ?? []).compactMap(\.stringValue).map { $0.lowercased() }
            if hosts.contains(hostAndPort.lowercased()) || hosts.contains(authority.host) { group = hosts }
        }
        let others = group.filter { $0 != hostAndPort.lowercased() && $0 != authority.host }
        aliasGroups.withLock { $0[authority.host] = others }
        return others
    }
}

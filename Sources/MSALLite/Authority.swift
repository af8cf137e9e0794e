public import TokenCache
import Foundation

/// An authority an app signs in through: a Microsoft Entra instance with a tenant,
/// `common`, `organizations` or `consumers`; B2C; AD FS; or a CIAM host.
///
/// Only the parts the cache needs are modelled here: the host (the cache's `environment`),
/// the tenant (`realm`), the token endpoint, and the other hosts of the same cloud.
public struct Authority: Sendable, Hashable {
    /// The authority URL as configured, without a trailing slash.
    public let url: String
    /// The lower-cased host: the cache's `environment`.
    public let host: String
    /// The tenant: the cache's `realm`.
    public let tenant: String
    /// Whether this is a generic OpenID Connect authority (MSAL Python's `oidc_authority`):
    /// its configuration is read from `URL/.well-known/openid-configuration` (no `v2.0`),
    /// it has no instance discovery, and its issuer is checked against the URL.
    public let isOIDC: Bool

    /// Parses an authority URL such as `https://login.microsoftonline.com/common`.
    ///
    /// - Throws: `TokenCacheError` with code `invalidArgument` for anything that is not an
    ///   `https` URL with a tenant.
    public init(_ url: String) throws(TokenCacheError) {
        try self.init(url, allowingLoopbackHTTP: false)
    }

    /// Parses an authority URL; with `allowingLoopbackHTTP`, an `http://` URL on a loopback
    /// address is accepted too (a local identity server for tests).
    public init(_ url: String, allowingLoopbackHTTP: Bool) throws(TokenCacheError) {
        try self.init(url, allowingLoopbackHTTP: allowingLoopbackHTTP, oidc: false)
    }

    /// Parses an authority URL; `oidc` makes it a generic OpenID Connect authority.
    init(_ url: String, allowingLoopbackHTTP: Bool, oidc: Bool) throws(TokenCacheError) {
        var parsed = url
        let lower = url.lowercased()
        if allowingLoopbackHTTP, lower.hasPrefix("http://"), let host = URL(string: url)?.host, isLoopbackHost(host) {
            // The cache's environment and realm come out the same as for https.
            parsed = "https://" + url.dropFirst(7)
        }
        let endpoint = try TokenEndpoint(parsed)
        var trimmed = url
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.url = trimmed
        host = endpoint.host
        tenant = endpoint.tenant
        isOIDC = oidc
    }

    /// Whether this is a B2C authority (a `b2clogin.com` host, or a policy after the tenant).
    public var isB2C: Bool {
        guard !isOIDC else { return false }
        return host.hasSuffix(".b2clogin.com") || (URL(string: url)?.pathComponents.filter { $0 != "/" }.count ?? 0) >= 2 && !isADFS
    }

    /// The OpenID configuration document MSAL discovers the endpoints from.
    public var openIDConfigurationURL: String {
        isADFS || isOIDC ? "\(url)/.well-known/openid-configuration" : "\(url)/v2.0/.well-known/openid-configuration"
    }

    /// Whether this is an AD FS authority (tenant `adfs`).
    public var isADFS: Bool { tenant.lowercased() == "adfs" }

    /// Whether the host is one of Microsoft's own (MSAL Python's
    /// `WELL_KNOWN_AUTHORITY_HOSTS`): trusted without instance discovery.
    var isWellKnownHost: Bool { Authority.wellKnownHosts.contains(host) }

    /// MSAL Python's `WELL_KNOWN_AUTHORITY_HOSTS`.
    static let wellKnownHosts: Set<String> = [
        "login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net", "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn", "login.microsoftonline.de", "login-us.microsoftonline.com", "login.microsoftonline.us",
        "login.usgovcloudapi.net", "login.sovcloud-identity.fr", "login.sovcloud-identity.de", "login.sovcloud-identity.sg",
    ]

    /// MSAL Python's `WELL_KNOWN_B2C_HOSTS`.
    static let wellKnownB2CHosts = ["b2clogin.com", "b2clogin.cn", "b2clogin.us", "b2clogin.de", "ciamlogin.com"]

    /// This authority served by the token service of `region` (MSAL Python's regional
    /// authority): `REGION.login.microsoft.com` for the public cloud's hosts,
    /// `REGION.HOST` for others; the tenant and the rest of the URL stay.
    func regional(_ region: String) -> String {
        let publicHosts: Set<String> = ["login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net"]
        let regionalHost = publicHosts.contains(host) ? "\(region).login.microsoft.com" : "\(region).\(host)"
        guard var components = URLComponents(string: url) else { return url }
        components.host = regionalHost
        return components.string ?? url
    }

    /// The token endpoint MSAL discovers for this authority.
    public var tokenEndpoint: String {
        isADFS || isOIDC ? "\(url)/oauth2/token" : "\(url)/oauth2/v2.0/token"
    }

    /// The other hosts of the same cloud, as instance discovery lists them; empty for
    /// hosts outside the well-known Microsoft clouds (B2C, AD FS, CIAM, others).
    public var aliases: [String] {
        guard !isOIDC, let group = Authority.knownAliasGroups.first(where: { $0.contains(host) }) else { return [] }
        return group.filter { $0 != host }
    }

    /// The alias groups of the public Microsoft clouds, as instance discovery returns them.
    public static let knownAliasGroups: [[String]] = [
        ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"],
        ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
        ["login.microsoftonline.de"],
        ["login.microsoftonline.us", "login.usgovcloudapi.net"],
        ["login-us.microsoftonline.com"],
    ]
}

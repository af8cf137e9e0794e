public import TokenCache

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

    /// Parses an authority URL such as `https://login.microsoftonline.com/common`.
    ///
    /// - Throws: `TokenCacheError` with code `invalidArgument` for anything that is not an
    ///   `https` URL with a tenant.
    public init(_ url: String) throws(TokenCacheError) {
        let endpoint = try TokenEndpoint(url)
        var trimmed = url
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.url = trimmed
        host = endpoint.host
        tenant = endpoint.tenant
    }

    /// Whether this is an AD FS authority (tenant `adfs`).
    public var isADFS: Bool { tenant.lowercased() == "adfs" }

    /// The token endpoint MSAL discovers for this authority.
    public var tokenEndpoint: String {
        isADFS ? "\(url)/oauth2/token" : "\(url)/oauth2/v2.0/token"
    }

    /// The other hosts of the same cloud, as instance discovery lists them; empty for
    /// hosts outside the well-known Microsoft clouds (B2C, AD FS, CIAM, others).
    public var aliases: [String] {
        guard let group = Authority.knownAliasGroups.first(where: { $0.contains(host) }) else { return [] }
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

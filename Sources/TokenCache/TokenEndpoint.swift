/// The host and tenant MSAL Python derives from a token endpoint or authority URL
/// (`msal.authority.canonicalize`).
public struct TokenEndpoint: Sendable, Hashable {
    /// The host, lower-cased: the cache's `environment`.
    public let host: String
    /// The first path segment: the cache's `realm` (`common`, a tenant id, `adfs`, ...).
    public let tenant: String

    /// Parses `url`, which must be `https` with a host and a first path segment (or a CIAM
    /// host, whose tenant defaults to `<subdomain>.onmicrosoft.com`).
    ///
    /// - Throws: ``TokenCacheError/Code-swift.struct/invalidArgument`` otherwise.
    public init(_ url: String) throws(TokenCacheError) {
        func invalid() -> TokenCacheError {
            TokenCacheError(code: .invalidArgument, reason: "\"\(url)\" is not an https authority or token endpoint with a tenant, such as https://login.microsoftonline.com/common")
        }
        guard url.utf8.count > 8, PythonText.lower(String(url.prefix(8))) == "https://" else { throw invalid() }
        let rest = url.dropFirst(8)
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var netloc = rest[rest.startIndex..<authorityEnd]
        if let at = netloc.lastIndex(of: "@") { netloc = netloc[netloc.index(after: at)...] }
        var hostPart: Substring
        if netloc.hasPrefix("[") {
            guard let close = netloc.firstIndex(of: "]") else { throw invalid() }
            hostPart = netloc[netloc.index(after: netloc.startIndex)..<close]
        } else {
            hostPart = netloc.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        }
        let hostname = PythonText.lower(String(hostPart))
        guard !hostname.isEmpty else { throw invalid() }
        var path = rest[authorityEnd...]
        if let end = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<end] }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let firstPart = parts.count >= 2 && !parts[1].isEmpty ? String(parts[1]) : nil
        let ciamSuffix = ".ciamlogin.com"
        if hostname.hasSuffix(ciamSuffix) {
            host = hostname
            tenant = firstPart ?? "\(hostname.dropLast(ciamSuffix.count)).onmicrosoft.com"
            return
        }
        guard let firstPart else { throw invalid() }
        host = hostname
        tenant = firstPart
    }
}

public import Foundation
public import TokenCache

/// What OpenID discovery says of an application's authority: its issuer and endpoints.
/// A web API checks tokens against ``issuer`` and the keys at ``jwksURI``; a web app signs
/// users out at ``endSessionEndpoint``.
///
/// For a tenant named by its domain (`contoso.onmicrosoft.com`), Microsoft Entra ID names
/// the tenant's GUID in the issuer and every endpoint: read them from here, never build
/// them from the authority URL.
public struct ProviderMetadata: Sendable {
    /// The `issuer` tokens of this authority carry in `iss`, when the document names one.
    public let issuer: String?
    /// The authorization endpoint.
    public let authorizationEndpoint: URL
    /// The token endpoint.
    public let tokenEndpoint: URL
    /// Where the provider publishes the keys its tokens are signed with (`jwks_uri`).
    public let jwksURI: URL?
    /// Where a user signs out at the provider (`end_session_endpoint`), if it has one.
    public let endSessionEndpoint: URL?
}

extension ClientApplication {
    /// The authority's OpenID discovery document, as read once and remembered.
    nonisolated(nonsending)
    public func providerMetadata() async throws(MSALError) -> ProviderMetadata {
        let found = try await core.discovery.endpoints(of: core.authority)
        return ProviderMetadata(issuer: found.issuer, authorizationEndpoint: found.authorizationEndpoint, tokenEndpoint: found.tokenEndpoint,
                                jwksURI: found.jwksURI, endSessionEndpoint: found.endSessionEndpoint)
    }

    /// The provider's signing keys (the JSON Web Key Set at ``ProviderMetadata/jwksURI``),
    /// fetched now through the application's HTTP options, with the same rules as every
    /// request to the provider (https, or plain http on loopback where allowed).
    ///
    /// - Throws: ``MSALError`` `invalidResponse` when discovery names no `jwks_uri`;
    ///   `network` or `serverError` when the keys cannot be fetched.
    nonisolated(nonsending)
    public func signingKeys() async throws(MSALError) -> JSONObject {
        guard let url = try await providerMetadata().jwksURI else {
            throw MSALError(code: .invalidResponse, reason: "the OpenID configuration of \(core.authority.url) names no jwks_uri, so tokens cannot be checked against the provider's keys")
        }
        return try await core.connection.getJSON(url, what: "the provider's signing keys")
    }
}

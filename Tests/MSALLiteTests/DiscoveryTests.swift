import Foundation
import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// Discovery for each kind of authority, end to end against the local identity server: where
/// the OpenID configuration is read from, whether instance discovery is asked, where the
/// token request goes, and what the cache keeps.
@Suite("Discovery for Entra, B2C and AD FS authorities")
struct DiscoveryTests {
    static let scopes = ["https://graph.example/User.Read"]

    /// The request paths the server saw for `endpoint`.
    static func paths(_ server: IdentityServer, _ endpoint: String) async throws -> [String] {
        try await server.requests().filter { $0["endpoint"] == endpoint }.compactMap { $0["path"] }
    }

    @Test("An Entra tenant on an unknown host: OpenID configuration under v2.0, instance discovery asked once, aliases none")
    func entra() async throws {
        let server = try IdentityServer()
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), options: AcquisitionTests.options())
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        _ = try await app.accounts()
        _ = try await app.accounts()
        #expect(try await Self.paths(server, "openid-configuration") == ["/organizations/v2.0/.well-known/openid-configuration"])
        #expect(try await Self.paths(server, "instance-discovery").count == 1, "asked once, then kept for the app")
        #expect(try await Self.paths(server, "token") == ["/organizations/oauth2/v2.0/token"])
    }

    @Test("B2C (tenant/policy): configuration and token endpoint under the policy, no instance discovery, realm = the tenant")
    func b2c() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "b2c-app", authority: server.authority("contoso.onmicrosoft.com/B2C_1_signin"), cache: cache,
                                              options: AcquisitionTests.options())
        #expect(app.authority.isB2C)
        let signedIn = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        #expect(try await Self.paths(server, "openid-configuration") == ["/contoso.onmicrosoft.com/B2C_1_signin/v2.0/.well-known/openid-configuration"])
        #expect(try await Self.paths(server, "token") == ["/contoso.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/token"])
        let account = try #require(try await app.accounts().first)
        #expect(try await Self.paths(server, "instance-discovery").isEmpty)
        #expect(cache.snapshot().entries(AccessToken.self).map(\.realm) == ["contoso.onmicrosoft.com"])
        let silent = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account))
        #expect(silent.tokenSource == .cache)
        #expect(signedIn.username == "ann@contoso.example")
    }

    @Test("AD FS: configuration without v2.0, token at /adfs/oauth2/token, no instance discovery; the account keyed by the ID token's sub, named by its upn, type ADFS")
    func adfs() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "adfs-app", authority: server.authority("adfs"), cache: cache, options: AcquisitionTests.options())
        #expect(app.authority.isADFS)
        let signedIn = try await app.acquireToken(byUsername: "bob@contoso.example", password: "pw-bob-1", scopes: Self.scopes)
        #expect(try await Self.paths(server, "openid-configuration") == ["/adfs/.well-known/openid-configuration"])
        #expect(try await Self.paths(server, "token") == ["/adfs/oauth2/token"])
        let account = try #require(try await app.accounts().first)
        #expect(try await Self.paths(server, "instance-discovery").isEmpty)
        #expect(account.homeAccountID == "00000000-0000-4000-8000-0000000000b0", "no client_info: the ID token's sub")
        #expect(account.username == "bob@contoso.example")
        #expect(account.authorityType == "ADFS")
        #expect(signedIn.username == "bob@contoso.example")
        let silent = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account))
        #expect(silent.tokenSource == .cache)
        let refreshed = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account, forceRefresh: true))
        #expect(refreshed.tokenSource == .identityProvider)
    }

    @Test("A claims challenge skips the cached token and goes to the provider with the claims; the answer replaces the cached token")
    func claimsChallenge() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: AcquisitionTests.options())
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        let account = try #require(try await app.accounts().first)
        let challenge = #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#
        let answered = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account, claimsChallenge: challenge))
        #expect(answered.tokenSource == .identityProvider)
        #expect(answered.refreshReason == .claims)
        let refresh = try #require(try await server.requests().last)
        #expect(refresh["grant_type"] == "refresh_token")
        #expect(refresh["claims"] == challenge)
        #expect(cache.snapshot().entries(AccessToken.self).count == 1)
        let cached = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account))
        let isNewToken = cached.tokenSource == .cache && cached.accessToken == answered.accessToken
        #expect(isNewToken, "the token answering the challenge is the one cached")
    }
}

import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// Client capabilities (`cp1`) and claims challenges, on every flow, against the local
/// identity server's request log, and the same `claims` parameter as MSAL Python's.
@Suite("Client capabilities and claims challenges")
struct ClaimsTests {
    static let scopes = AcquisitionTests.scopes
    /// A challenge as a resource sends it after a Conditional Access event.
    static let challenge = #"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#
    /// The same, merged with the capability `cp1`, as MSAL Python writes it.
    static let merged = #"{"access_token": {"nbf": {"essential": true, "value": "1700000000"}, "xms_cc": {"values": ["cp1"]}}}"#
    static let capabilitiesOnly = #"{"access_token": {"xms_cc": {"values": ["cp1"]}}}"#

    static func options() -> ApplicationOptions {
        var options = AcquisitionTests.options()
        options.clientCapabilities = ["cp1"]
        return options
    }

    /// The `claims` of the server's last request to `endpoint` (with `grantType`, when given).
    static func lastClaims(_ server: IdentityServer, endpoint: String = "token", grantType: String? = nil) async throws -> String? {
        let requests = try await server.requests().filter { $0["endpoint"] == endpoint && (grantType == nil || $0["grant_type"] == grantType) }
        return try #require(requests.last)["claims"]
    }

    @Test("The merge: capabilities alone, a challenge alone, both; a challenge that is not JSON is a typed error")
    func merge() throws {
        let plain = try ClientCore(clientID: "a", authority: "https://login.microsoftonline.com/common", cache: TokenCache(), options: ApplicationOptions(), credential: nil)
        #expect(try plain.claimsParameter(nil) == nil)
        #expect(try plain.claimsParameter(Self.challenge) == Self.challenge)
        let capable = try ClientCore(clientID: "a", authority: "https://login.microsoftonline.com/common", cache: TokenCache(), options: Self.options(), credential: nil)
        #expect(try capable.claimsParameter(nil) == Self.capabilitiesOnly)
        #expect(try capable.claimsParameter("") == Self.capabilitiesOnly, "an empty challenge is none, as in MSAL Python")
        #expect(try capable.claimsParameter(Self.challenge) == Self.merged)
        #expect(try capable.claimsParameter(#"{"id_token": {"acrs": {"values": ["c1"]}}}"#)
                == #"{"id_token": {"acrs": {"values": ["c1"]}}, "access_token": {"xms_cc": {"values": ["cp1"]}}}"#)
        #expect(throws: MSALError.self) { try capable.claimsParameter("not json") }
    }

    @Test("cp1 and a claims challenge reach the provider on every public-client flow: authorization URL and code, device code, username and password, refresh token import, silent refresh")
    func publicFlows() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: Self.options())

        // Username and password: capabilities on every request, the challenge when given.
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        #expect(try await Self.lastClaims(server, grantType: "password") == Self.capabilitiesOnly)
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes, claimsChallenge: Self.challenge)
        #expect(try await Self.lastClaims(server, grantType: "password") == Self.merged)

        // Silent: the cached token is good, but a challenge is answered by the provider.
        let account = try #require(try await app.accounts().first)
        let cached = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account))
        #expect(cached.tokenSource == .cache)
        let challenged = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account, claimsChallenge: Self.challenge))
        #expect(challenged.tokenSource == .identityProvider && challenged.refreshReason == .claims)
        #expect(try await Self.lastClaims(server, grantType: "refresh_token") == Self.merged)

        // Refresh token import.
        let refreshToken = try #require(cache.snapshot().entries(RefreshToken.self).first?.secret)
        _ = try await app.acquireToken(byRefreshToken: refreshToken, scopes: Self.scopes, claimsChallenge: Self.challenge)
        #expect(try await Self.lastClaims(server, grantType: "refresh_token") == Self.merged)

        // Device code: the device authorization request and every poll.
        let flow = try await app.initiateDeviceFlow(scopes: Self.scopes, claimsChallenge: Self.challenge)
        #expect(try await Self.lastClaims(server, endpoint: "devicecode") == Self.merged)
        try await server.control("device", ["user_code": flow.userCode, "user": "ann"])
        _ = try await app.acquireToken(byDeviceFlow: flow)
        #expect(try await Self.lastClaims(server, grantType: "urn:ietf:params:oauth:grant-type:device_code") == Self.merged)

        // Authorization code: the authorization URL and the redemption; the flow keeps the
        // challenge through its JSON form, as a web app stores it in a session.
        let started = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "http://localhost/callback", claimsChallenge: Self.challenge)
        let stored = try JSONDecoder().decode(AuthCodeFlow.self, from: JSONEncoder().encode(started))
        let redirect = try await server.signIn(at: stored.authorizationURL)
        #expect(try await Self.lastClaims(server, endpoint: "authorize") == Self.merged)
        _ = try await app.acquireToken(byAuthCodeFlow: stored, response: redirect)
        #expect(try await Self.lastClaims(server, grantType: "authorization_code") == Self.merged)
    }

    @Test("cp1 and a claims challenge reach the provider on confidential-client flows: client credentials (a challenge never served from the cache) and on-behalf-of")
    func confidentialFlows() async throws {
        let server = try IdentityServer()
        try await server.control("client", ["client_id": "daemon", "secret": "daemon-secret-value"])
        try await server.control("client", ["client_id": "middle-api", "secret": "middle-secret-value"])
        let daemon = try ConfidentialClientApplication(clientID: "daemon", authority: server.authority(AcquisitionTests.tenant), credential: .secret("daemon-secret-value"),
                                                       cache: TokenCache(), options: Self.options())
        let scope = ["https://graph.example/.default"]
        let first = try await daemon.acquireTokenForClient(scopes: scope)
        #expect(first.tokenSource == .identityProvider)
        #expect(try await Self.lastClaims(server, grantType: "client_credentials") == Self.capabilitiesOnly)
        #expect(try await daemon.acquireTokenForClient(scopes: scope).tokenSource == .cache)
        let challenged = try await daemon.acquireTokenForClient(scopes: scope, claimsChallenge: Self.challenge)
        #expect(challenged.tokenSource == .identityProvider && challenged.refreshReason == .claims)
        #expect(try await Self.lastClaims(server, grantType: "client_credentials") == Self.merged)
        #expect(try await server.requests().filter { $0["grant_type"] == "client_credentials" }.count == 2)

        let client = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), options: AcquisitionTests.options())
        let forAPI = try await client.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: ["middle-api/access"])
        #expect(try await Self.lastClaims(server, grantType: "password") == nil, "an app without capabilities sends no claims")
        let api = try ConfidentialClientApplication(clientID: "middle-api", authority: server.authority("organizations"), credential: .secret("middle-secret-value"),
                                                    cache: TokenCache(), options: Self.options())
        _ = try await api.acquireTokenOnBehalfOf(userAssertion: forAPI.accessToken, scopes: Self.scopes, claimsChallenge: Self.challenge)
        #expect(try await Self.lastClaims(server, grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer") == Self.merged)
    }

    @Test("cp1 and a claims challenge reach the provider through the browser sign-in (the authorization request and the code's redemption) and through a web app's authorization code flow")
    func browserAndWebAppFlows() async throws {
        let server = try IdentityServer()
        let desktop = try PublicClientApplication(clientID: "desktop-app", authority: server.authority("organizations"), cache: TokenCache(), options: Self.options())
        let signedIn = try await desktop.acquireTokenInteractive(scopes: Self.scopes, claimsChallenge: Self.challenge, timeout: .seconds(30), openBrowser: { url throws(MSALError) in
            do { _ = try await InteractiveSignInTests.browse(url) } catch { throw MSALError(code: .noBrowser, reason: "the test browser failed") }
        })
        #expect(signedIn.tokenSource == .identityProvider)
        #expect(try await Self.lastClaims(server, endpoint: "authorize") == Self.merged)
        #expect(try await Self.lastClaims(server, grantType: "authorization_code") == Self.merged)

        try await server.control("reset")
        try await server.control("client", ["client_id": "web-app", "secret": "web-secret-value"])
        let web = try ConfidentialClientApplication(clientID: "web-app", authority: server.authority("organizations"), credential: .secret("web-secret-value"),
                                                    cache: TokenCache(), options: Self.options())
        let plain = try await web.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback")
        _ = try await web.acquireToken(byAuthCodeFlow: plain, response: try await server.signIn(at: plain.authorizationURL))
        #expect(try await Self.lastClaims(server, endpoint: "authorize") == Self.capabilitiesOnly)
        #expect(try await Self.lastClaims(server, grantType: "authorization_code") == Self.capabilitiesOnly)
        let challenged = try await web.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", claimsChallenge: Self.challenge)
        _ = try await web.acquireToken(byAuthCodeFlow: challenged, response: try await server.signIn(at: challenged.authorizationURL))
        #expect(try await Self.lastClaims(server, endpoint: "authorize") == Self.merged)
        #expect(try await Self.lastClaims(server, grantType: "authorization_code") == Self.merged)
    }

    @Test("MSAL Python with client_capabilities=[\"cp1\"] sends the same claims parameter on the same flows",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func sameAsMSALPython() async throws {
        try await withTemporaryDirectoryAsync { folder in
        let (certificate, key) = try IdentityServer.makeCertificate(in: folder)
        let server = try IdentityServer(certificate: certificate, key: key)
        try await server.control("client", ["client_id": "daemon", "secret": "daemon-secret-value"])
        let output = try PythonPeer.run([PythonPeer.script("claims_peer.py"), try #require(server.secureBaseURL), AcquisitionTests.tenant, Self.challenge, certificate])
        #expect(output.contains("ok"), "\(output)")
        let theirs = try await server.requests().filter { $0["endpoint"] == "token" }.map { [$0["grant_type"] ?? "", $0["claims"] ?? "-"] }
        try await server.control("reset")

        let user = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: TokenCache(), options: Self.options())
        _ = try await user.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        _ = try await user.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes, claimsChallenge: Self.challenge)
        let account = try #require(try await user.accounts().first)
        _ = try await user.acquireTokenSilent(scopes: Self.scopes, account: account, claimsChallenge: Self.challenge)
        let daemon = try ConfidentialClientApplication(clientID: "daemon", authority: server.authority(AcquisitionTests.tenant), credential: .secret("daemon-secret-value"),
                                                       cache: TokenCache(), options: Self.options())
        _ = try await daemon.acquireTokenForClient(scopes: ["https://graph.example/.default"])
        _ = try await daemon.acquireTokenForClient(scopes: ["https://graph.example/.default"], claimsChallenge: Self.challenge)
        let ours = try await server.requests().filter { $0["endpoint"] == "token" }.map { [$0["grant_type"] ?? "", $0["claims"] ?? "-"] }
        #expect(ours == theirs)
        #expect(ours.count == 5)
        }
    }
}

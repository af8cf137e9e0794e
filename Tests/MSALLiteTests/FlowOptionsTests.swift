import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// The options of the authorization code flow that web apps use (form_post, domain_hint,
/// max_age), redeeming a bare code, and excluded scopes, end to end against the identity
/// server.
@Suite("Flow options")
struct FlowOptionsTests {
    static let scopes = AcquisitionTests.scopes

    static func webApp(_ server: IdentityServer, cache: TokenCache = TokenCache(), options: ApplicationOptions = AcquisitionTests.options()) async throws -> ConfidentialClientApplication {
        try await server.control("client", ["client_id": "web-app", "secret": "web-secret-value"])
        return try ConfidentialClientApplication(clientID: "web-app", authority: server.authority("organizations"), credential: .secret("web-secret-value"),
                                                 cache: cache, options: options)
    }

    /// The scope of SSH certificates (Entra's Linux sign-in).
    static let sshScopes = ["https://pas.windows.net/CheckMyAccess/Linux/.default"]

    /// The `data` of a request for an SSH certificate of the key `keyID`.
    static func sshData(_ keyID: String) -> [String: String] {
        ["token_type": "ssh-cert", "key_id": keyID, "req_cnf": #"{"kty":"RSA","n":"\#(keyID)-modulus","e":"AQAB","kid":"\#(keyID)"}"#]
    }

    /// The server's last request to `endpoint`.
    static func last(_ server: IdentityServer, _ endpoint: String) async throws -> [String: String] {
        try #require(try await server.requests().last { $0["endpoint"] == endpoint })
    }

    @Test("form_post and domain_hint: the code arrives in a posted form and is redeemed; the hint reaches the authorize endpoint")
    func formPostAndDomainHint() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try await Self.webApp(server, cache: cache)
        let flow = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", domainHint: "contoso.example",
                                                      responseMode: .formPost)
        let posted = try await server.signIn(at: flow.authorizationURL)
        let authorize = try await Self.last(server, "authorize")
        #expect(authorize["response_mode"] == "form_post" && authorize["domain_hint"] == "contoso.example")
        #expect(posted["code"] != nil && posted["state"] == flow.state)
        let result = try await app.acquireToken(byAuthCodeFlow: flow, response: posted)
        #expect(result.username == "ann@contoso.example")
        #expect(cache.snapshot().entries(Account.self).count == 1)
    }

    @Test("max_age: a recent authentication is accepted; an ID token whose auth_time is too old is refused and nothing is cached")
    func maxAge() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try await Self.webApp(server, cache: cache)
        let fresh = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", maxAge: 600)
        _ = try await app.acquireToken(byAuthCodeFlow: fresh, response: try await server.signIn(at: fresh.authorizationURL))
        #expect(try await Self.last(server, "authorize")["max_age"] == "600")
        try cache.clear()

        // The provider reused a session from two hours ago.
        try await server.control("config", ["auth_age": 7200])
        let stale = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", maxAge: 600)
        do {
            _ = try await app.acquireToken(byAuthCodeFlow: stale, response: try await server.signIn(at: stale.authorizationURL))
            Issue.record("an authentication older than max_age was accepted")
        } catch let error as MSALError {
            #expect(error.code == .authenticationTooOld)
            #expect(error.reason.contains("600"))
        }
        #expect(cache.snapshot().entryCounts.values.reduce(0, +) == 0)
        // Within the allowance (max_age plus two minutes of skew), the old session is fine;
        // just beyond it, it is not.
        let lenient = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", maxAge: 7150)
        _ = try await app.acquireToken(byAuthCodeFlow: lenient, response: try await server.signIn(at: lenient.authorizationURL))
        let strict = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", maxAge: 7050)
        await #expect(throws: MSALError.self) { _ = try await app.acquireToken(byAuthCodeFlow: strict, response: try await server.signIn(at: strict.authorizationURL)) }
        await #expect(throws: MSALError.self) {
            _ = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", maxAge: .max)
        }
    }

    @Test("The auth_time check: the two-minute skew, a missing auth_time, and numbers at the limits of Int64 without a crash")
    func authenticationAge() {
        let now: Int64 = 1_700_000_000
        #expect(throws: Never.self) { try ClientCore.checkAuthenticationAge(["auth_time": .number(JSONNumber(now - 700))], maxAge: 600, now: now) }
        #expect(throws: MSALError.self) { try ClientCore.checkAuthenticationAge(["auth_time": .number(JSONNumber(now - 721))], maxAge: 600, now: now) }
        #expect(throws: MSALError.self) { try ClientCore.checkAuthenticationAge([:], maxAge: 600, now: now) }
        #expect(throws: Never.self) { try ClientCore.checkAuthenticationAge(["auth_time": .number(JSONNumber(Int64.max))], maxAge: 0, now: now) }
        #expect(throws: MSALError.self) { try ClientCore.checkAuthenticationAge(["auth_time": .number(JSONNumber(Int64.min))], maxAge: ClientCore.longestMaxAge, now: now) }
        #expect(throws: Never.self) { try ClientCore.checkAuthenticationAge(["auth_time": .number(JSONNumber(Double(now - 10)))], maxAge: 0, now: now) }
    }

    @Test("A bare authorization code, obtained by the app itself, is redeemed and cached; a wrong nonce is refused")
    func bareCode() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try await Self.webApp(server, cache: cache)
        func code(nonce: String) async throws -> String {
            var components = URLComponents(string: "\(server.authority("organizations"))/oauth2/v2.0/authorize")!
            components.queryItems = [URLQueryItem(name: "client_id", value: "web-app"), URLQueryItem(name: "response_type", value: "code"),
                                     URLQueryItem(name: "redirect_uri", value: "https://app.example/callback"),
                                     URLQueryItem(name: "scope", value: "https://graph.example/User.Read openid profile offline_access"),
                                     URLQueryItem(name: "nonce", value: nonce)]
            return try #require(try await server.signIn(at: components.url!.absoluteString)["code"])
        }
        do {
            _ = try await app.acquireToken(byAuthorizationCode: try await code(nonce: "nonce-1"), scopes: Self.scopes, redirectURI: "https://app.example/callback",
                                           nonce: "another-nonce")
            Issue.record("a wrong nonce was accepted")
        } catch let error as MSALError {
            #expect(error.code == .nonceMismatch)
        }
        #expect(cache.snapshot().entryCounts.values.reduce(0, +) == 0)
        let result = try await app.acquireToken(byAuthorizationCode: try await code(nonce: "nonce-2"), scopes: Self.scopes,
                                                redirectURI: "https://app.example/callback", nonce: "nonce-2")
        #expect(result.username == "ann@contoso.example")
        #expect(cache.snapshot().entries(Account.self).count == 1)
        let redeemed = try await Self.last(server, "token")
        #expect(redeemed["grant_type"] == "authorization_code")
    }

    @Test("removeTokensForClient: the app's own tokens leave the cache (the next call asks the provider); a user's tokens stay")
    func removeTokensForClient() async throws {
        let server = try IdentityServer()
        try await server.control("client", ["client_id": "daemon", "secret": "daemon-secret-value"])
        let cache = TokenCache()
        let daemon = try ConfidentialClientApplication(clientID: "daemon", authority: server.authority(AcquisitionTests.tenant), credential: .secret("daemon-secret-value"),
                                                       cache: cache, options: AcquisitionTests.options())
        let scope = ["https://graph.example/.default"]
        _ = try await daemon.acquireTokenForClient(scopes: scope)
        let user = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: AcquisitionTests.options())
        _ = try await user.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        #expect(try await daemon.acquireTokenForClient(scopes: scope).tokenSource == .cache)
        try await daemon.removeTokensForClient()
        #expect(try await daemon.acquireTokenForClient(scopes: scope).tokenSource == .identityProvider)
        let account = try #require(try await user.accounts().first)
        #expect(try await user.acquireTokenSilent(scopes: Self.scopes, account: account)?.tokenSource == .cache)
    }

    @Test("SSH certificates: requested with data (token_type ssh-cert, req_cnf, key_id), cached with their key id, and found by it; another key id is asked for anew")
    func sshCertificates() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: AcquisitionTests.options())
        let scopes = Self.sshScopes
        let data = Self.sshData
        let signedIn = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: scopes, data: data("key-1"))
        #expect(signedIn.tokenType == "ssh-cert")
        let sent = try await Self.last(server, "token")
        #expect(sent["token_type"] == "ssh-cert" && sent["key_id"] == "key-1")
        let stored = try #require(cache.snapshot().entries(AccessToken.self).first)
        #expect(stored.keyID == "key-1" && stored.tokenType == "ssh-cert")

        let account = try #require(try await app.accounts().first)
        let again = try #require(try await app.acquireTokenSilent(scopes: scopes, account: account, data: data("key-1")))
        #expect(again.tokenSource == .cache && again.tokenType == "ssh-cert")
        let sameCertificate = again.accessToken == signedIn.accessToken
        #expect(sameCertificate)

        let otherKey = try #require(try await app.acquireTokenSilent(scopes: scopes, account: account, data: data("key-2")))
        #expect(otherKey.tokenSource == .identityProvider && otherKey.tokenType == "ssh-cert")
        let refreshed = try await Self.last(server, "token")
        #expect(refreshed["grant_type"] == "refresh_token" && refreshed["key_id"] == "key-2")
        // An ssh-cert request without its key is refused before anything is sent.
        await #expect(throws: MSALError.self) {
            _ = try await app.acquireTokenSilent(scopes: scopes, account: account, forceRefresh: true, data: ["token_type": "ssh-cert", "key_id": "key-3"])
        }
        // The key id is not part of MSAL's cache key: the new certificate takes the old
        // one's entry, as in MSAL Python.
        #expect(cache.snapshot().entries(AccessToken.self).compactMap(\.keyID) == ["key-2"])
        #expect(try await app.acquireTokenSilent(scopes: scopes, account: account, data: data("key-1"))?.tokenSource == .identityProvider)
    }

    @Test("excludeScopes: offline_access left out of what a sign-in asks for, as MSAL Python's exclude_scopes; openid may not be excluded")
    func excludedScopes() async throws {
        let server = try IdentityServer()
        var options = AcquisitionTests.options()
        options.excludeScopes = ["offline_access"]
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), options: options)
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        #expect(try await Self.last(server, "token")["scope"] == "https://graph.example/User.Read openid profile")
        let flow = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "http://localhost/callback")
        #expect(!flow.authorizationURL.contains("offline_access"))
        var withoutOpenID = AcquisitionTests.options()
        withoutOpenID.excludeScopes = ["openid"]
        #expect(throws: MSALError.self) { _ = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), options: withoutOpenID) }
    }

    @Test("A caller-chosen state travels with the flow; a short one is refused. An authorization URL alone (no PKCE, the app's state and nonce) leads to a code redeemed with the nonce checked")
    func stateAndAuthorizationURL() async throws {
        let server = try IdentityServer()
        let app = try await Self.webApp(server)
        let state = "return-to:/reports#" + AuthCodeFlow.randomText(bytes: 16)
        let flow = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", state: state)
        #expect(flow.state == state)
        let redirect = try await server.signIn(at: flow.authorizationURL)
        let authorize = try await Self.last(server, "authorize")
        #expect(redirect["state"] == state && authorize["state"] == state)
        #expect(try await app.acquireToken(byAuthCodeFlow: flow, response: redirect).username == "ann@contoso.example")
        await #expect(throws: MSALError.self) {
            _ = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", state: "short")
        }

        let url = try await app.authorizationRequestURL(scopes: Self.scopes, redirectURI: "https://app.example/callback", state: "app-state-0123456789",
                                                        nonce: "app-nonce-1", loginHint: "bob@contoso.example", domainHint: "contoso.example")
        let query = Dictionary((URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        #expect(query["code_challenge"] == nil && query["state"] == "app-state-0123456789" && query["nonce"] == "app-nonce-1")
        #expect(query["scope"] == "https://graph.example/User.Read offline_access openid profile" && query["domain_hint"] == "contoso.example")
        let answer = try await server.signIn(at: url.absoluteString)
        #expect(answer["state"] == "app-state-0123456789")
        let code = try #require(answer["code"])
        let result = try await app.acquireToken(byAuthorizationCode: code, scopes: Self.scopes, redirectURI: "https://app.example/callback", nonce: "app-nonce-1")
        #expect(result.username == "bob@contoso.example")
    }

    @Test("Confidential clients sign users in with a password and import refresh tokens, authenticating as the app")
    func confidentialUserFlows() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try await Self.webApp(server, cache: cache)
        let signedIn = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        #expect(signedIn.username == "ann@contoso.example")
        let password = try await Self.last(server, "token")
        #expect(password["grant_type"] == "password" && password["client_id"] == "web-app")
        let refreshToken = try #require(cache.snapshot().entries(RefreshToken.self).first?.secret)
        try cache.clear()
        let imported = try await app.acquireToken(byRefreshToken: refreshToken, scopes: ["https://graph.example/Mail.Read"])
        #expect(imported.tokenSource == .identityProvider && imported.username == "ann@contoso.example")
        #expect(try await Self.last(server, "token")["grant_type"] == "refresh_token")
        let account = try #require(try await app.accounts().first)
        #expect(try await app.acquireTokenSilent(scopes: ["https://graph.example/Mail.Read"], account: account)?.tokenSource == .cache)
        // The server refuses the same requests without the app's secret.
        let impostor = try ConfidentialClientApplication(clientID: "web-app", authority: server.authority("organizations"), credential: .secret("wrong-secret"),
                                                         options: AcquisitionTests.options())
        await #expect(throws: MSALError.self) { _ = try await impostor.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes) }
    }

    @Test("A device code flow is Codable (started in one place, polled in another) and its polling stops when the exit condition says so")
    func deviceFlowCodableAndExitCondition() async throws {
        let server = try IdentityServer()
        let app = try PublicClientApplication(clientID: "device-app", authority: server.authority("organizations"), options: AcquisitionTests.options())
        let started = try await app.initiateDeviceFlow(scopes: Self.scopes)
        let stored = try JSONEncoder().encode(started)
        let flow = try JSONDecoder().decode(DeviceCodeFlow.self, from: stored)
        #expect(flow.userCode == started.userCode && flow.expiresOn == started.expiresOn)

        let stop = Locked(false)
        let clock = ContinuousClock()
        let began = clock.now
        let stopper = Task {
            try await Task.sleep(for: .milliseconds(300))
            stop.withLock { $0 = true }
        }
        do {
            _ = try await app.acquireToken(byDeviceFlow: flow, exitCondition: { stop.withLock { $0 } })
            Issue.record("polling went on after the exit condition")
        } catch {
            #expect(error.code == .cancelled)
        }
        _ = try await stopper.value
        #expect(clock.now - began < .seconds(3))

        // A stored flow's interval is bounded again when decoded: 0 polls once a second,
        // not back to back.
        var tampered = try #require(try JSONSerialization.jsonObject(with: stored) as? [String: Any])
        tampered["interval"] = 0
        let eager = try JSONDecoder().decode(DeviceCodeFlow.self, from: try JSONSerialization.data(withJSONObject: tampered))
        let polls = Locked(0)
        try await server.control("reset")
        await #expect(throws: MSALError.self) {
            _ = try await app.acquireToken(byDeviceFlow: eager, exitCondition: {
                polls.withLock { $0 += 1 }
                return polls.withLock { $0 } > 25
            })
        }
        #expect(try await server.requests().filter { $0["endpoint"] == "token" }.count <= 3, "at most one poll a second")

        try await server.control("device", ["user_code": flow.userCode, "approve": true, "user": "bob"])
        let result = try await app.acquireToken(byDeviceFlow: try JSONDecoder().decode(DeviceCodeFlow.self, from: stored))
        #expect(result.username == "bob@contoso.example")
    }

    @Test("Interactive sign-in: extra scopes are consented on the sign-in page only; the app's own pages are shown, with the redirect's error escaped")
    func interactivePagesAndExtraScopes() async throws {
        let server = try IdentityServer()
        let app = try PublicClientApplication(clientID: "desktop-app", authority: server.authority("organizations"), options: AcquisitionTests.options())
        let pages = LoopbackPages(success: "<h1>contoso-signed-in</h1>", error: "<h1>contoso-failed</h1><p>$error: ${error_description} $$5 $code</p>")
        let seen = Locked<[String]>([])
        let result = try await app.acquireTokenInteractive(scopes: Self.scopes, extraScopesToConsent: ["https://storage.example/user_impersonation"],
                                                           pages: pages, timeout: .seconds(30), openBrowser: { url throws(MSALError) in
            let page: String
            do { page = try await InteractiveSignInTests.browse(url).1 } catch { throw MSALError(code: .noBrowser, reason: "the test browser failed") }
            seen.withLock { $0.append(page) }
        })
        #expect(result.username == "ann@contoso.example")
        #expect(try await Self.last(server, "authorize")["scope"]?.contains("https://storage.example/user_impersonation") == true)
        #expect(try await Self.last(server, "token")["scope"]?.contains("storage.example") == false)
        #expect(seen.withLock { $0.last } == "<h1>contoso-signed-in</h1>")

        do {
            _ = try await app.acquireTokenInteractive(scopes: Self.scopes, loginHint: "decline@contoso.example", pages: pages, timeout: .seconds(30),
                                                      openBrowser: { url throws(MSALError) in
                let page: String
                do { page = try await InteractiveSignInTests.browse(url).1 } catch { throw MSALError(code: .noBrowser, reason: "the test browser failed") }
                seen.withLock { $0.append(page) }
            })
            Issue.record("a declined sign-in succeeded")
        } catch {
            #expect(error.code == .cancelled)
        }
        #expect(seen.withLock { $0.last } == "<h1>contoso-failed</h1><p>access_denied: The user declined to sign in. $5 $code</p>")
    }

    @Test("An SSH certificate through the browser, as az ssh asks for one: the data goes with the code, the certificate is cached with its key id and found silently")
    func interactiveSSHCertificate() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "desktop-app", authority: server.authority("organizations"), cache: cache, options: AcquisitionTests.options())
        let scopes = Self.sshScopes
        let data = Self.sshData("key-b")
        let result = try await app.acquireTokenInteractive(scopes: scopes, data: data, timeout: .seconds(30), openBrowser: { url throws(MSALError) in
            do { _ = try await InteractiveSignInTests.browse(url) } catch { throw MSALError(code: .noBrowser, reason: "the test browser failed") }
        })
        #expect(result.tokenType == "ssh-cert")
        let redeemed = try await Self.last(server, "token")
        #expect(redeemed["grant_type"] == "authorization_code" && redeemed["token_type"] == "ssh-cert" && redeemed["key_id"] == "key-b")
        #expect(cache.snapshot().entries(AccessToken.self).compactMap(\.keyID) == ["key-b"])
        let account = try #require(try await app.accounts().first)
        #expect(try await app.acquireTokenSilent(scopes: scopes, account: account, data: data)?.tokenSource == .cache)
        await #expect(throws: MSALError.self) {
            _ = try await app.acquireTokenInteractive(scopes: scopes, data: ["token_type": "ssh-cert"], timeout: .seconds(5), openBrowser: { _ throws(MSALError) in
                Issue.record("a browser was opened for a request that cannot succeed")
            })
        }
    }

    @Test("Page templates: the error's fields escaped for HTML, $$ a dollar sign, other names and the code never filled in")
    func pageTemplates() {
        let query = ["error": "bad<script>", "error_description": "a \"quoted\" & 'odd' one", "code": "secret-code"]
        #expect(LoopbackPages.fill("$error|${error_description}|$code|${code}|$$error|$|$9", with: query)
                == "bad&lt;script&gt;|a &quot;quoted&quot; &amp; &#x27;odd&#x27; one|$code|${code}|$error|$|$9")
        #expect(LoopbackPages().page(for: ["code": "c"]).contains("Signed in"))
    }
}

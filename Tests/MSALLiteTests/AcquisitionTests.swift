import CacheBackends
import Foundation
import Logging
@testable import MSALLite
import Synchronization
import Testing
import TokenCache
import TokenCacheTesting

/// Every flow end to end against the local identity server, over real HTTP, with the cache
/// persisted in a file store.
@Suite("Token acquisition against a local identity server")
struct AcquisitionTests {
    static let scopes = ["https://graph.example/User.Read"]

    /// Options for the loopback server, logging into `lines` when given.
    static func options(logging lines: LogLines? = nil, timeout: Duration = .seconds(10), personalData: Bool = false) -> ApplicationOptions {
        var options = ApplicationOptions(http: HTTPOptions(timeout: timeout, allowsPlainHTTPOnLoopback: true), logsPersonalData: personalData)
        if let lines {
            options.logger = Logger(label: "test", factory: { _ in lines.handler() })
            options.logger.logLevel = .trace
        }
        return options
    }

    static func fileCache(_ folder: URL) throws -> any TokenCacheStore {
        try StoreDescription(spec: "file:" + folder.appendingPathComponent("cache.json").path).open()
    }

    @Test("Device code: pending until the user approves, then tokens cached in a file; silent from the cache, then a forced refresh rotates the refresh token")
    func deviceCode() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let cache = try Self.fileCache(folder)
            let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: Self.options())
            let flow = try await app.initiateDeviceFlow(scopes: Self.scopes)
            #expect(flow.message.contains(flow.userCode))
            async let approved: Void = {
                try await Task.sleep(for: .milliseconds(1500))
                try await server.control("device", ["user_code": flow.userCode, "user": "ann"])
            }()
            let signedIn = try await app.acquireToken(byDeviceFlow: flow)
            try await approved
            #expect(signedIn.tokenSource == .identityProvider)
            #expect(signedIn.username == "ann@contoso.example")

            // A new app instance on the same file: the account is there, the token too.
            let again = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: try Self.fileCache(folder), options: Self.options())
            let accounts = try await again.accounts()
            #expect(accounts.map(\.username) == ["ann@contoso.example"])
            let silent = try #require(try await again.acquireTokenSilent(scopes: Self.scopes, account: accounts[0]))
            #expect(silent.tokenSource == .cache)
            // Compared outside #expect, which would print the tokens on a failure.
            let sameToken = silent.accessToken == signedIn.accessToken
            #expect(sameToken)

            let before = try cache.snapshot().entries(RefreshToken.self).map(\.secret)
            let forced = try #require(try await again.acquireTokenSilent(scopes: Self.scopes, account: accounts[0], forceRefresh: true))
            #expect(forced.tokenSource == .identityProvider)
            #expect(forced.refreshReason == .forceRefresh)
            let after = try cache.snapshot().entries(RefreshToken.self).map(\.secret)
            let rotatedInPlace = before.count == 1 && after.count == 1 && before != after
            #expect(rotatedInPlace, "the rotated refresh token replaces the used one in place")

            let requests = try await server.requests().filter { $0["endpoint"] == "token" }
            #expect(requests.contains { $0["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code" && $0["anchor"] == nil })
            let refresh = try #require(requests.last)
            #expect(refresh["grant_type"] == "refresh_token")
            #expect(refresh["scope"] == "https://graph.example/User.Read offline_access openid profile")
            #expect(refresh["anchor"]?.hasPrefix("Oid:") == true)
        }
    }

    @Test("Device code: an expired code is a typed error, and nothing is cached")
    func deviceCodeExpires() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority(), cache: cache, options: Self.options())
        let flow = try await app.initiateDeviceFlow(scopes: Self.scopes)
        try await server.control("device", ["user_code": flow.userCode, "expire": true])
        await #expect(throws: MSALError.self) { _ = try await app.acquireToken(byDeviceFlow: flow) }
        do {
            _ = try await app.acquireToken(byDeviceFlow: flow)
        } catch {
            #expect(error.code == .deviceCodeExpired || error.code == .serverError, "\(error)")
        }
        #expect(cache.snapshot().entryCounts.values.reduce(0, +) == 0)
    }

    @Test("Silent: an expiring token is refreshed (reason expired); a revoked refresh token gives interactionRequired and stays in the cache")
    func silentRefresh() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let cache = try Self.fileCache(folder)
            let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: Self.options())
            // Tokens living less than MSAL's 5-minute margin count as expired at once.
            try await server.control("config", ["expires_in": 200])
            _ = try await app.acquireToken(byUsername: "bob@contoso.example", password: "pw-bob-1", scopes: Self.scopes)
            let account = try #require(try await app.accounts().first)
            let refreshed = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account))
            #expect(refreshed.tokenSource == .identityProvider)
            #expect(refreshed.refreshReason == .expired)

            try await server.control("revoke", ["all": true])
            do {
                _ = try await app.acquireTokenSilent(scopes: Self.scopes, account: account)
                Issue.record("a revoked refresh token worked")
            } catch let error as MSALError {
                #expect(error.code == .interactionRequired)
                #expect(error.server?.error == "invalid_grant")
                #expect(!error.description.contains("rt-"))
            }
            #expect(try cache.snapshot().entries(RefreshToken.self).count == 1, "MSAL keeps a refused refresh token")

            // Wrong password: a typed server error, nothing new cached.
            let count = try cache.snapshot().entryCounts.values.reduce(0, +)
            do {
                _ = try await app.acquireToken(byUsername: "bob@contoso.example", password: "wrong-password-value", scopes: Self.scopes)
                Issue.record("a wrong password was accepted")
            } catch let error as MSALError {
                #expect(error.code == .serverError && error.server?.error == "invalid_grant")
                #expect(!error.description.contains("wrong-password-value"))
            }
            #expect(try cache.snapshot().entryCounts.values.reduce(0, +) == count)
        }
    }

    @Test("Authorization code with PKCE, state and nonce: redeemed and cached; a wrong state or nonce is refused and caches nothing")
    func authorizationCode() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        try await server.control("client", ["client_id": "web-app", "secret": "web-secret-value"])
        let app = try ConfidentialClientApplication(clientID: "web-app", authority: server.authority("organizations"), credential: .secret("web-secret-value"),
                                                    cache: cache, options: Self.options())
        let flow = try await app.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback", loginHint: "ann@contoso.example")
        #expect(flow.authorizationURL.contains("code_challenge_method=S256"))
        #expect(!flow.authorizationURL.contains(flow.codeVerifier))
        let redirect = try await server.signIn(at: flow.authorizationURL)

        var forged = redirect
        forged["state"] = "another-state"
        do {
            _ = try await app.acquireToken(byAuthCodeFlow: flow, response: forged)
            Issue.record("a forged state was accepted")
        } catch {
            #expect(error.code == .stateMismatch)
        }

        // A flow whose nonce differs from the one the ID token carries.
        var fields = try JSONSerialization.jsonObject(with: JSONEncoder().encode(flow)) as! [String: Any]
        fields["nonce"] = "another-nonce"
        let tampered = try JSONDecoder().decode(AuthCodeFlow.self, from: JSONSerialization.data(withJSONObject: fields))
        let second = try await server.signIn(at: flow.authorizationURL)
        do {
            _ = try await app.acquireToken(byAuthCodeFlow: tampered, response: second)
            Issue.record("a wrong nonce was accepted")
        } catch {
            #expect(error.code == .nonceMismatch)
        }
        #expect(cache.snapshot().entryCounts.values.reduce(0, +) == 0)

        let result = try await app.acquireToken(byAuthCodeFlow: flow, response: redirect)
        #expect(result.username == "ann@contoso.example")
        #expect(cache.snapshot().entries(Account.self).count == 1)
        // The code is single use.
        await #expect(throws: MSALError.self) { _ = try await app.acquireToken(byAuthCodeFlow: flow, response: redirect) }
    }

    @Test("Client credentials with a secret: the provider once, then the cache; a wrong secret is invalid_client")
    func clientCredentials() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            try await server.control("client", ["client_id": "daemon", "secret": "daemon-secret-value"])
            let cache = try Self.fileCache(folder)
            let app = try ConfidentialClientApplication(clientID: "daemon", authority: server.authority(AcquisitionTests.tenant), credential: .secret("daemon-secret-value"),
                                                        cache: cache, options: Self.options())
            let first = try await app.acquireTokenForClient(scopes: ["https://graph.example/.default"])
            let second = try await app.acquireTokenForClient(scopes: ["https://graph.example/.default"])
            #expect(first.tokenSource == .identityProvider && first.refreshReason == .noCachedToken)
            let sameToken = second.accessToken == first.accessToken
            #expect(second.tokenSource == .cache && sameToken)
            #expect(try await server.requests().filter { $0["grant_type"] == "client_credentials" }.count == 1)

            let wrong = try ConfidentialClientApplication(clientID: "daemon", authority: server.authority(AcquisitionTests.tenant), credential: .secret("not-the-secret"),
                                                          cache: TokenCache(), options: Self.options())
            do {
                _ = try await wrong.acquireTokenForClient(scopes: ["https://graph.example/.default"], forceRefresh: true)
                Issue.record("a wrong secret was accepted")
            } catch let error as MSALError {
                #expect(error.server?.error == "invalid_client")
                #expect(!error.description.contains("not-the-secret"))
            }
            await #expect(throws: MSALError.self) { _ = try await app.acquireTokenForClient(scopes: ["User.Read"]) }
        }
    }

    static let tenant = "7e0ab0d0-0000-4000-8000-00000000a1d0"

    /// A new RSA key and self-signed certificate, made by the openssl command.
    static func makeCertificate(in folder: URL, name: String) throws -> (key: String, certificate: String) {
        let key = folder.appendingPathComponent("\(name).key").path
        let certificate = folder.appendingPathComponent("\(name).pem").path
        let result = try CLIProcess.runProcess("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                                          "-subj", "/CN=\(name)", "-days", "2"])
        guard result.status == 0 else { throw IdentityServerError(reason: "openssl failed: \(result.stderr)") }
        return (try String(contentsOfFile: key, encoding: .utf8), try String(contentsOfFile: certificate, encoding: .utf8))
    }

    @Test("Client credentials with a certificate (an RS256 assertion with the thumbprints, verified by the server) and with a caller's assertion; a foreign certificate or a mismatched key is refused")
    func certificateCredentials() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let registered = try Self.makeCertificate(in: folder, name: "daemon")
            let other = try Self.makeCertificate(in: folder, name: "other")
            try await server.control("client", ["client_id": "cert-daemon", "certificate_pem": registered.certificate])
            let credential = try CertificateCredential(privateKeyPEM: registered.key, certificatePEM: registered.certificate)
            let app = try ConfidentialClientApplication(clientID: "cert-daemon", authority: server.authority(AcquisitionTests.tenant), credential: .certificate(credential),
                                                        cache: TokenCache(), options: Self.options())
            let token = try await app.acquireTokenForClient(scopes: ["https://graph.example/.default"])
            #expect(token.tokenSource == .identityProvider)
            _ = try await app.acquireTokenForClient(scopes: ["https://graph.example/.default"], forceRefresh: true)

            // A caller-supplied assertion (here signed with the same key).
            let endpoint = "\(server.authority(AcquisitionTests.tenant))/oauth2/v2.0/token"
            let supplied = try ConfidentialClientApplication(clientID: "cert-daemon", authority: server.authority(AcquisitionTests.tenant),
                                                             credential: .assertion { try credential.assertion(clientID: "cert-daemon", audience: endpoint, now: Int64(Date().timeIntervalSince1970)) },
                                                             cache: TokenCache(), options: Self.options())
            _ = try await supplied.acquireTokenForClient(scopes: ["https://graph.example/.default"])

            // Another certificate than the registered one: refused by the server.
            let foreign = try ConfidentialClientApplication(clientID: "cert-daemon", authority: server.authority(AcquisitionTests.tenant),
                                                            credential: .certificate(try CertificateCredential(privateKeyPEM: other.key, certificatePEM: other.certificate)),
                                                            cache: TokenCache(), options: Self.options())
            do {
                _ = try await foreign.acquireTokenForClient(scopes: ["https://graph.example/.default"])
                Issue.record("a foreign certificate was accepted")
            } catch let error as MSALError {
                #expect(error.server?.error == "invalid_client")
            }
            // A key that does not belong to the certificate: refused before any request.
            do {
                _ = try CertificateCredential(privateKeyPEM: other.key, certificatePEM: registered.certificate)
                Issue.record("a mismatched key was accepted")
            } catch let error as MSALError {
                #expect(error.code == .invalidArgument)
                #expect(!error.description.contains("PRIVATE KEY-----\n"))
            }
            #expect(throws: MSALError.self) { _ = try CertificateCredential(privateKeyPEM: "not a key", certificatePEM: registered.certificate) }
        }
    }

    @Test("On-behalf-of: a user's token for the API is exchanged and cached; a token for another audience is refused and caches nothing")
    func onBehalfOf() async throws {
        let server = try IdentityServer()
        try await server.control("client", ["client_id": "middle-api", "secret": "middle-secret-value"])
        let client = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), options: Self.options())
        let forAPI = try await client.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: ["middle-api/access"])
        let forOther = try await client.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: ["other-api/access"])
        let cache = TokenCache()
        let api = try ConfidentialClientApplication(clientID: "middle-api", authority: server.authority("organizations"), credential: .secret("middle-secret-value"),
                                                    cache: cache, options: Self.options())
        do {
            _ = try await api.acquireTokenOnBehalfOf(userAssertion: forOther.accessToken, scopes: Self.scopes)
            Issue.record("a token for another audience was exchanged")
        } catch {
            #expect(error.server?.error == "invalid_grant")
        }
        #expect(cache.snapshot().entryCounts.values.reduce(0, +) == 0)
        let downstream = try await api.acquireTokenOnBehalfOf(userAssertion: forAPI.accessToken, scopes: Self.scopes)
        #expect(downstream.username == "ann@contoso.example")
        #expect(cache.snapshot().entries(AccessToken.self).count == 1)
    }

    @Test("Importing a refresh token: redeemed once, the account and the new refresh token cached")
    func refreshTokenImport() async throws {
        let server = try IdentityServer()
        let source = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: TokenCache(), options: Self.options())
        _ = try await source.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        let oldRefreshToken = try #require(source.cache.snapshot().entries(RefreshToken.self).first?.secret)
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: Self.options())
        _ = try await app.acquireToken(byRefreshToken: oldRefreshToken, scopes: Self.scopes)
        #expect(cache.snapshot().entries(Account.self).count == 1)
        let replaced = cache.snapshot().entries(RefreshToken.self).first?.secret != oldRefreshToken
        #expect(replaced)
    }

    @Test("Bad answers: garbage, a missing access token, 429 with Retry-After (retried only where the request may be repeated), 500s, a slow server, plain http without opting in: typed errors, no crash, nothing cached")
    func badAnswers() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: Self.options(timeout: .seconds(2)))
        func signIn() async throws(MSALError) -> AuthenticationResult {
            try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        }
        try await server.control("fail", ["raw": "{\"access_token\": \"tok", "status": 200])
        do { _ = try await signIn(); Issue.record("garbage was accepted") } catch { #expect(error.code == .invalidResponse) }
        try await server.control("fail", ["body": ["token_type": "Bearer", "expires_in": 3600], "status": 200])
        do { _ = try await signIn(); Issue.record("an answer without a token was accepted") } catch { #expect(error.code == .invalidResponse) }
        try await server.control("fail", ["body": ["access_token": "x", "expires_in": ["not": "a number"]], "status": 200])
        do { _ = try await signIn(); Issue.record("a malformed expires_in was accepted") } catch { #expect(error.code == .invalidResponse) }
        #expect(cache.snapshot().entryCounts.values.reduce(0, +) == 0)

        // A password is never sent twice: a 429 fails at once, as an unavailable provider.
        try await server.control("reset")
        try await server.control("fail", ["status": 429, "retry_after": 1, "body": ["error": "temporarily_unavailable", "error_description": "slow down"]])
        do { _ = try await signIn(); Issue.record("a throttled password grant made a token") } catch {
            #expect(error.code == .providerUnavailable && error.server?.httpStatus == 429, "\(error)")
        }
        #expect(try await server.requests().filter { $0["endpoint"] == "token" }.count == 1)
        try await Task.sleep(for: .milliseconds(1100))

        // A request that may be repeated (client credentials) is retried after Retry-After.
        try await server.control("client", ["client_id": "daemon", "secret": "daemon-secret"])
        let daemon = try ConfidentialClientApplication(clientID: "daemon", authority: server.authority("organizations"), credential: .secret("daemon-secret"),
                                                       options: Self.options(timeout: .seconds(2)))
        try await server.control("reset")
        try await server.control("fail", ["status": 429, "retry_after": 1, "body": ["error": "temporarily_unavailable", "error_description": "slow down"]])
        let started = ContinuousClock.now
        _ = try await daemon.acquireTokenForClient(scopes: ["https://graph.example/.default"])
        #expect(ContinuousClock.now - started >= .seconds(1), "Retry-After was honoured")
        #expect(try await server.requests().filter { $0["endpoint"] == "token" }.count == 2)

        try await server.control("fail", ["status": 500, "times": 3])
        do { _ = try await daemon.acquireTokenForClient(scopes: ["https://graph.example/.default"], forceRefresh: true); Issue.record("three 500s made a token") } catch {
            #expect(error.code == .providerUnavailable && error.server?.httpStatus == 500, "\(error)")
        }

        try await server.control("fail", ["delay": 4, "times": 1])
        do { _ = try await signIn(); Issue.record("a slow server answered in time") } catch { #expect(error.code == .timedOut) }

        var strict = Self.options()
        strict.http.allowsPlainHTTPOnLoopback = false
        #expect(throws: MSALError.self) { _ = try PublicClientApplication(clientID: "cli-app", authority: server.authority(), options: strict) }
        #expect(throws: MSALError.self) { _ = try PublicClientApplication(clientID: "cli-app", authority: "http://login.example/common", options: Self.options()) }
    }

    @Test("Trace logging through a whole scenario shows no token, code, secret or password, and no personal data unless the app opts in")
    func logsNoSecrets() async throws {
        let server = try IdentityServer()
        let lines = LogLines()
        try await server.control("client", ["client_id": "web-app", "secret": "web-secret-value"])
        let cache = TokenCache()
        let web = try ConfidentialClientApplication(clientID: "web-app", authority: server.authority("organizations"), credential: .secret("web-secret-value"),
                                                    cache: cache, options: Self.options(logging: lines))
        let flow = try await web.initiateAuthCodeFlow(scopes: Self.scopes, redirectURI: "https://app.example/callback")
        let redirect = try await server.signIn(at: flow.authorizationURL)
        let signedIn = try await web.acquireToken(byAuthCodeFlow: flow, response: redirect)
        let account = try #require(try await web.accounts().first)
        _ = try await web.acquireTokenSilent(scopes: Self.scopes, account: account)
        _ = try await web.acquireTokenSilent(scopes: Self.scopes, account: account, forceRefresh: true)
        try await server.control("revoke", ["all": true])
        _ = try? await web.acquireTokenSilent(scopes: Self.scopes, account: account, forceRefresh: true)
        let pub = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), options: Self.options(logging: lines))
        _ = try await pub.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)

        let log = lines.all.joined(separator: "\n")
        #expect(log.contains("token endpoint"), "the scenario was logged")
        #expect(log.contains("tokens cached") && log.contains("<personal data hidden>"))
        #expect(!log.contains("ann@contoso.example") && !log.contains("00000000-0000-4000-8000-0000000000a1"), "no username or account id without opting in")

        // Opted in: usernames and account ids appear, secrets still do not.
        let personalLines = LogLines()
        let personal = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"),
                                                   options: Self.options(logging: personalLines, personalData: true))
        _ = try await personal.acquireToken(byUsername: "bob@contoso.example", password: "pw-bob-1", scopes: Self.scopes)
        let personalLog = personalLines.all.joined(separator: "\n")
        #expect(personalLog.contains("bob@contoso.example"))
        #expect(!personalLog.contains("pw-bob-1"), "the password is never logged")
        var secrets = ["web-secret-value", "pw-ann-1", signedIn.accessToken, redirect["code"] ?? "code-", flow.codeVerifier, "rt-"]
        secrets += cache.snapshot().entries(RefreshToken.self).compactMap(\.secret)
        secrets += cache.snapshot().entries(AccessToken.self).compactMap(\.secret)
        // Counted outside #expect, which would print a leaked secret on a failure.
        let leaked = secrets.filter { log.contains($0) }.count
        #expect(leaked == 0, "a secret appeared in the log")
    }
}

/// Log lines captured by a swift-log handler.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func handler() -> some LogHandler { Handler(sink: self) }

    private struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            let merged = self.metadata.merging(metadata ?? [:]) { $1 }
            sink.lines.withLock { $0.append("\(level) \(message) \(merged)") }
        }
    }
}

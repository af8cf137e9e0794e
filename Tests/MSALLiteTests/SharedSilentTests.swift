import CacheBackends
import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// Silent acquisition as many callers share it, against an identity server that behaves as
/// Entra ID does where it matters: GUID endpoints for a domain-named tenant, refresh tokens
/// refused once redeemed, multi-line error descriptions, outages, throttling and hostile
/// answers.
@Suite("Silent acquisition shared by many callers, against an Entra-like server")
struct SharedSilentTests {
    static let scopes = AcquisitionTests.scopes

    /// An app whose cache is the file it returns, with ann signed in as by ``signInExpired``.
    static func fileApp(_ server: IdentityServer, in folder: URL) async throws -> (app: PublicClientApplication, account: Account, file: URL) {
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: try AcquisitionTests.fileCache(folder),
                                              options: AcquisitionTests.options())
        return (app, try await signInExpired(app, server), folder.appendingPathComponent("cache.json"))
    }

    /// The requests that reached the token endpoint.
    static func tokenRequests(_ server: IdentityServer) async throws -> [[String: String]] {
        try await server.requests().filter { $0["endpoint"] == "token" }
    }

    /// The error `body` throws, or `nil` when it returns.
    static func failure(of body: () async throws(MSALError) -> Void) async -> MSALError? {
        do {
            try await body()
            return nil
        } catch {
            return error
        }
    }

    /// Signs ann in with an access token that is already inside MSAL's five-minute margin
    /// (so every silent call must refresh), then makes the server issue hour-long tokens and
    /// forgets the requests so far.
    static func signInExpired(_ app: PublicClientApplication, _ server: IdentityServer) async throws -> Account {
        try await server.control("config", ["expires_in": 200])
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: scopes)
        try await server.control("config", ["expires_in": 3600])
        try await server.control("reset")
        return try #require(try await app.accounts().first)
    }

    @Test("A domain-named tenant: discovery names the tenant's GUID, entries are written and read under it, so silent calls (in a new app instance too) and a second client credentials call send no token request")
    func domainNamedTenant() async throws {
        let server = try IdentityServer()
        let authority = server.authority("contoso.onmicrosoft.com")
        try await withTemporaryDirectoryAsync { folder in
            let cache = try AcquisitionTests.fileCache(folder)
            let app = try PublicClientApplication(clientID: "cli-app", authority: authority, cache: cache, options: AcquisitionTests.options())
            _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
            #expect(try cache.snapshot().entries(AccessToken.self).map(\.realm) == [AcquisitionTests.tenant])
            try await server.control("reset")

            let account = try #require(try await app.accounts().first)
            let silent = try #require(try await app.acquireTokenSilent(scopes: Self.scopes, account: account))
            #expect(silent.tokenSource == .cache)
            let again = try PublicClientApplication(clientID: "cli-app", authority: authority, cache: try AcquisitionTests.fileCache(folder), options: AcquisitionTests.options())
            let fromNewInstance = try #require(try await again.acquireTokenSilent(scopes: Self.scopes, account: account))
            #expect(fromNewInstance.tokenSource == .cache)
            #expect(try await Self.tokenRequests(server).isEmpty, "no token request after the sign-in")

            try await server.control("client", ["client_id": "daemon", "secret": "daemon-secret"])
            let daemon = try ConfidentialClientApplication(clientID: "daemon", authority: authority, credential: .secret("daemon-secret"),
                                                           cache: cache, options: AcquisitionTests.options())
            let first = try await daemon.acquireTokenForClient(scopes: ["https://graph.example/.default"])
            let second = try await daemon.acquireTokenForClient(scopes: ["https://graph.example/.default"])
            #expect(first.tokenSource == .identityProvider && second.tokenSource == .cache)
            #expect(try await Self.tokenRequests(server).count == 1)
        }
    }

    @Test("Twenty tasks of one process refresh one expired token against a rotating server: one request, all twenty served (in memory and through a file)", arguments: ["memory", "file"])
    func twentyTasks(kind: String) async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let cache: any TokenCacheStore = kind == "memory" ? TokenCache() : try AcquisitionTests.fileCache(folder)
            let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: cache, options: AcquisitionTests.options())
            let account = try await Self.signInExpired(app, server)
            let sources = try await withThrowingTaskGroup(of: AuthenticationResult.TokenSource?.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await app.acquireTokenSilent(scopes: Self.scopes, account: account)?.tokenSource }
                }
                return try await group.reduce(into: [AuthenticationResult.TokenSource?]()) { $0.append($1) }
            }
            #expect(sources.count == 20 && !sources.contains(nil))
            #expect(sources.filter { $0 == .identityProvider }.count == 1)
            let refreshes = try await Self.tokenRequests(server)
            #expect(refreshes.count == 1, "\(refreshes.count) refresh requests")
        }
    }

    @Test("Failures named for what they are: a 503 that persists is providerUnavailable, a 200 that is not JSON invalidResponse, a refused grant interactionRequired with Entra's details on one line; the cache file unchanged after each")
    func failuresNamed() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let (app, account, file) = try await Self.fileApp(server, in: folder)
            let before = try Data(contentsOf: file)
            func silentError() async -> MSALError? {
                await Self.failure { () async throws(MSALError) in _ = try await app.acquireTokenSilent(scopes: Self.scopes, account: account) }
            }

            try await server.control("fail", ["status": 503, "times": -1, "raw": "<html>Service Unavailable</html>"])
            let outage = await silentError()
            #expect(outage?.code == .providerUnavailable, "\(String(describing: outage))")
            #expect(try await Self.tokenRequests(server).count == 3, "sent once and retried twice")
            try await server.control("clear")

            try await server.control("fail", ["status": 200, "raw": "<html>a captive portal</html>"])
            let nonsense = await silentError()
            #expect(nonsense?.code == .invalidResponse, "\(String(describing: nonsense))")
            #expect(try Data(contentsOf: file) == before)

            try await server.control("revoke", ["all": true])
            let refused = await silentError()
            #expect(refused?.code == .interactionRequired)
            #expect(refused?.server?.error == "invalid_grant")
            #expect(refused?.server?.errorCodes == [70000])
            #expect(refused?.server?.traceID != nil && refused?.server?.timestamp != nil)
            #expect(refused?.server?.errorDescription?.contains("\r\nTrace ID: ") == true, "Entra's description spans lines")
            let text = refused.map { "\($0)" } ?? ""
            #expect(!text.contains("\n") && !text.contains("\r") && text.contains("Trace ID: "), "\(text)")
            #expect(try Data(contentsOf: file) == before)
        }
    }

    @Test("Throttling as MSAL Python does it: after a 429 with Retry-After 5 the same silent call sends nothing and fails at once until 5 s have passed, then is sent; a refused refresh token is not sent again")
    func throttling() async throws {
        let server = try IdentityServer()
        var options = AcquisitionTests.options()
        options.http.maxRetryAfter = .seconds(1)  // Retry-After 5 is longer: no retry in line
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: TokenCache(), options: options)
        let account = try await Self.signInExpired(app, server)
        try await server.control("fail", ["status": 429, "retry_after": 5, "times": -1,
                                          "body": ["error": "temporarily_unavailable", "error_description": "AADSTS50196: too many requests"]])
        let started = ContinuousClock.now
        await #expect(throws: MSALError.self) { _ = try await app.acquireTokenSilent(scopes: Self.scopes, account: account) }
        #expect(try await Self.tokenRequests(server).count == 1)
        let repeatStarted = ContinuousClock.now
        do {
            _ = try await app.acquireTokenSilent(scopes: Self.scopes, account: account)
            Issue.record("a throttled request answered")
        } catch {
            #expect(error.code == .providerUnavailable && error.reason.contains("not sent"), "\(error)")
        }
        #expect(ContinuousClock.now - repeatStarted < .seconds(1), "the remembered error comes at once")
        #expect(try await Self.tokenRequests(server).count == 1, "nothing was sent within Retry-After")
        try await server.control("clear")
        try await Task.sleep(until: started + .milliseconds(5200))
        let after = try await app.acquireTokenSilent(scopes: Self.scopes, account: account)
        #expect(after?.tokenSource == .identityProvider)
        #expect(try await Self.tokenRequests(server).count == 2)

        try await server.control("revoke", ["all": true])
        try await server.control("reset")
        for _ in 0..<2 {
            do {
                _ = try await app.acquireTokenSilent(scopes: Self.scopes, account: account, forceRefresh: true)
                Issue.record("a revoked refresh token answered")
            } catch {
                #expect(error.code == .interactionRequired)
            }
        }
        #expect(try await Self.tokenRequests(server).count == 1, "the refused refresh token was sent once")
    }

    @Test("Hostile answers: expires_in, ext_expires_in, refresh_in or expires_on of 9223372036854775807 are invalidResponse, never a trap; a 307 to plain http and a 2 MiB answer are refused; the cache unchanged")
    func hostileAnswers() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let (app, account, file) = try await Self.fileApp(server, in: folder)
            let before = try Data(contentsOf: file)
            func forced() async -> MSALError? {
                await Self.failure { () async throws(MSALError) in _ = try await app.acquireTokenSilent(scopes: Self.scopes, account: account, forceRefresh: true) }
            }
            for field in ["expires_in", "ext_expires_in", "refresh_in", "expires_on"] {
                var body: [String: Any] = ["access_token": "at-hostile", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-hostile"]
                body[field] = Int64.max
                try await server.control("fail", ["status": 200, "body": body])
                let error = await forced()
                #expect(error?.code == .invalidResponse, "\(field): \(String(describing: error))")
            }
            try await server.control("fail", ["status": 307, "location": "http://token.invalid/steal", "raw": ""])
            let redirected = await forced()
            #expect(redirected?.code == .invalidResponse && redirected?.reason.contains("not https") == true, "\(String(describing: redirected))")
            try await server.control("fail", ["status": 200, "raw": String(repeating: "x", count: 2 << 20)])
            let huge = await forced()
            #expect(huge?.code == .invalidResponse && huge?.reason.contains("bytes") == true, "\(String(describing: huge))")
            #expect(try Data(contentsOf: file) == before)
        }
    }

    @Test("Client credentials: when a proactive refresh (refresh_in) fails, the cached token, still valid, is returned")
    func clientCredentialsFallback() async throws {
        let server = try IdentityServer()
        try await server.control("client", ["client_id": "daemon", "secret": "daemon-secret"])
        try await server.control("config", ["refresh_in": 1])
        let daemon = try ConfidentialClientApplication(clientID: "daemon", authority: server.authority("organizations"), credential: .secret("daemon-secret"),
                                                       cache: TokenCache(), options: AcquisitionTests.options())
        let first = try await daemon.acquireTokenForClient(scopes: ["https://graph.example/.default"])
        try await Task.sleep(for: .milliseconds(2100))
        try await server.control("fail", ["status": 503, "times": -1, "raw": "down"])
        let second = try await daemon.acquireTokenForClient(scopes: ["https://graph.example/.default"])
        #expect(second.tokenSource == .cache)
        let same = first.accessToken == second.accessToken
        #expect(same)
    }

    @Test("A store's failure keeps its type: a wrong key reaches the app as cacheFailure carrying the store's wrongKey error, and the CLI exits 77 for it")
    func storeErrorsKeepTheirType() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let path = folder.appendingPathComponent("tokens.bin").path
            func key(_ name: String, _ byte: UInt8) -> String {
                let file = folder.appendingPathComponent(name).path
                FileManager.default.createFile(atPath: file, contents: Data(repeating: byte, count: 32), attributes: [.posixPermissions: 0o600])
                return file
            }
            let right = "encrypted:\(path)?key-file=\(key("right", 1))"
            let wrong = "encrypted:\(path)?key-file=\(key("wrong", 2))"
            let signIn = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: try StoreDescription(spec: right).open(),
                                                     options: AcquisitionTests.options())
            _ = try await signIn.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
            let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: try StoreDescription(spec: wrong).open(),
                                                  options: AcquisitionTests.options())
            let failure = await Self.failure { () async throws(MSALError) in _ = try await app.accounts() }
            #expect(failure?.code == .cacheFailure)
            #expect((failure?.underlying as? CacheStorageError)?.code == .wrongKey, "\(String(describing: failure))")
            let cli = try CLIProcess.run(["token", "--store", wrong, "--client-id", "cli-app", "--authority", server.authority("organizations"),
                                          "--allow-loopback-http", "--scopes", Self.scopes[0]])
            #expect(cli.status == 77 && cli.stderr.split(separator: "\n").count == 1, "\(cli.stderr)")
        }
    }
}

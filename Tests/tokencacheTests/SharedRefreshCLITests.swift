import CacheBackends
import CachePostgres
import Foundation
import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// `tokencache token` as many processes share it, against an identity server that rotates
/// refresh tokens (each is refused once redeemed) and behaves as Entra ID does: one refresh
/// for all, on every kind of store; MSAL Python beside it; failures named for what they are.
@Suite("Many processes share one token source", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
struct SharedRefreshCLITests {
    static let scopes = "https://graph.example/User.Read"

    /// The `token` arguments for `store` against `server`'s `organizations` authority.
    static func token(_ store: String, _ server: IdentityServer, _ extra: [String] = []) -> [String] {
        ["token", "--store", store, "--client-id", "cli-app", "--authority", server.authority("organizations"), "--allow-loopback-http",
         "--scopes", scopes, "--json"] + extra
    }

    /// Signs ann in to `store` with an access token already inside MSAL's five-minute
    /// margin, so every `token` call must refresh; then the server issues hour-long tokens
    /// and forgets the requests so far.
    static func signInExpired(_ store: any TokenCacheStore, _ server: IdentityServer) async throws {
        try await server.control("config", ["expires_in": 200])
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: store,
                                              options: ApplicationOptions(http: HTTPOptions(allowsPlainHTTPOnLoopback: true)))
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: [scopes])
        try await server.control("config", ["expires_in": 3600])
        try await server.control("reset")
    }

    /// The refresh requests the server received.
    static func refreshes(_ server: IdentityServer) async throws -> [[String: String]] {
        try await server.requests().filter { $0["endpoint"] == "token" && $0["grant_type"] == "refresh_token" }
    }

    /// Starts `count` `token` processes on `stores` (round-robin) at once and waits for all.
    static func runTogether(_ count: Int, stores: [String], _ server: IdentityServer, environment: [String: String] = [:]) throws -> [CLIProcess.Result] {
        let processes = try (0..<count).map { index in
            try BackgroundProcess(CLIProcess.executable, token(stores[index % stores.count], server), environment: environment)
        }
        return processes.map { $0.wait() }
    }

    @Test("Ten processes on one expired token, against a rotating server: all exit 0 and one refresh reaches the server, on file:, encrypted: and sqlite: stores",
          arguments: ["file", "encrypted", "sqlite"])
    func tenProcesses(kind: String) async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let passphrase = folder.appendingPathComponent("passphrase")
            try Data("ten processes share this\n".utf8).write(to: passphrase)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passphrase.path)
            let path = folder.appendingPathComponent("tokens").path
            let spec = switch kind {
            case "encrypted": "encrypted:\(path)?passphrase-file=\(passphrase.path)"
            case "sqlite": "sqlite:\(path)"
            default: "file:\(path)"
            }
            try await Self.signInExpired(try StoreDescription(spec: spec).open(), server)
            let results = try Self.runTogether(10, stores: [spec], server)
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.filter { $0.status != 0 }.map(\.stderr))")
            #expect(results.filter { $0.stdout.contains("\"token_source\": \"identity_provider\"") }.count == 1)
            #expect(try await Self.refreshes(server).count == 1)
        }
    }

    @Test("Eight processes on one PostgreSQL store (half of them with the L1) on one expired token: all exit 0, one refresh reaches the server")
    func postgresInstances() async throws {
        let server = try IdentityServer()
        let database = try PostgresServer.shared
        let spec = database.freshSpec()
        setenv("PGPASSWORD", database.password, 1)
        let store = try PostgresTokenCache(spec: spec)
        defer { store.close() }
        try await Self.signInExpired(store, server)
        let results = try Self.runTogether(8, stores: [spec, spec + "&l1=on"], server, environment: database.environment)
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.filter { $0.status != 0 }.map(\.stderr))")
        #expect(try await Self.refreshes(server).count == 1)
    }

    @Test("A holder killed with SIGKILL while it waits for the provider does not hold the others up: its claim is broken at once and one of them refreshes")
    func killedHolder() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let spec = "file:" + folder.appendingPathComponent("tokens.json").path
            try await Self.signInExpired(try StoreDescription(spec: spec).open(), server)
            // The first refresh hangs 20 s at the server, then fails (it never redeems).
            try await server.control("fail", ["delay": 20, "status": 503, "raw": "too late", "times": 1])
            let holder = try BackgroundProcess(CLIProcess.executable, Self.token(spec, server))
            var waited = 0
            while try await Self.refreshes(server).isEmpty, waited < 100 {
                try await Task.sleep(for: .milliseconds(100))
                waited += 1
            }
            let others = try (0..<4).map { _ in try BackgroundProcess(CLIProcess.executable, Self.token(spec, server)) }
            try await Task.sleep(for: .milliseconds(500))
            let allWaiting = others.allSatisfy { $0.isRunning }
            #expect(allWaiting, "the others wait for the holder")
            let killed = ContinuousClock.now
            holder.send(SIGKILL)
            let results = others.map { $0.wait() }
            #expect(ContinuousClock.now - killed < .seconds(5), "served before the lock time-out")
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
            #expect(try await Self.refreshes(server).count == 2, "the killed holder's request and one more")
        }
    }

    @Test("Five Swift and five MSAL Python processes refresh one expired token on one file: every refused Swift process is explained by an MSAL Python process redeeming the same refresh token; the file keeps a refresh token the server accepts, and MSAL Python reads it")
    func mixedWithMSALPython() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let (certificate, key) = try IdentityServer.makeCertificate(in: folder)
            let server = try IdentityServer(certificate: certificate, key: key)
            let secureBase = try #require(server.secureBaseURL)
            let path = folder.appendingPathComponent("msal_token_cache.json").path
            try await Self.signInExpired(try StoreDescription(spec: "file:" + path).open(), server)

            let startAt = Date().timeIntervalSince1970 + 2
            let peer = PythonPeer.script("silent_peer.py")
            let pythons = try (0..<5).map { _ in
                try BackgroundProcess(PythonPeer.python, [peer, path, secureBase, certificate, "cli-app", Self.scopes, String(startAt)])
            }
            try await Task.sleep(for: .seconds(max(0, startAt - Date().timeIntervalSince1970 - 0.05)))
            let swifts = try (0..<5).map { _ in try BackgroundProcess(CLIProcess.executable, Self.token("file:" + path, server)) }
            let swiftResults = swifts.map { ($0.pid, $0.wait()) }
            let pythonResults = pythons.map { $0.wait() }
            #expect(pythonResults.allSatisfy { $0.status == 0 || $0.status == 3 }, "\(pythonResults.map(\.stderr))")

            let requests = try await Self.refreshes(server)
            for (pid, result) in swiftResults {
                #expect(result.status == 0 || result.status == 3, "\(result.stderr)")
                guard result.status == 3 else { continue }
                let refused = requests.filter { $0["pid"] == String(pid) && $0["status"] == "400" }.compactMap { $0["rt"] }
                #expect(!refused.isEmpty, "\(result.stderr)")
                for token in refused {
                    let redeemedByPython = requests.contains { $0["rt"] == token && $0["status"] == "200" && $0["sku"] != "MSAL.Swift" }
                    #expect(redeemedByPython, "a Swift process was refused a refresh token nobody but Swift redeemed")
                }
            }
            let final = try CLIProcess.run(Self.token("file:" + path, server, ["--force-refresh"]))
            #expect(final.status == 0, "\(final.stderr)")
            let reread = try PythonPeer.run([peer, path, secureBase, certificate, "cli-app", Self.scopes])
            #expect(reread.contains("\"ok\": true"), "\(reread)")
        }
    }

    @Test("Exit codes: a 503 that persists 69, a time-out 75, a 200 that is not JSON 65, a huge expires_in 65, a redirect to plain http 65, a refused grant 3; each on one line, the cache file byte-identical after each")
    func exitCodes() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let file = folder.appendingPathComponent("tokens.json")
            let spec = "file:" + file.path
            try await Self.signInExpired(try StoreDescription(spec: spec).open(), server)
            let before = try Data(contentsOf: file)
            let cases: [(fault: [String: Any], extra: [String], status: Int32)] = [
                (["status": 503, "times": -1, "raw": "<html>Service Unavailable</html>"], [], 69),
                (["delay": 4, "status": 503, "raw": "late"], ["--request-timeout", "1"], 75),
                (["status": 200, "raw": "<html>a captive portal</html>"], [], 65),
                (["status": 200, "body": ["access_token": "at-hostile", "token_type": "Bearer", "expires_in": Int64.max, "refresh_token": "rt-hostile"]], [], 65),
                (["status": 307, "location": "http://token.invalid/steal", "raw": ""], [], 65),
                (["revoke": true], [], 3),
            ]
            for (fault, extra, status) in cases {
                if fault["revoke"] != nil {
                    try await server.control("revoke", ["all": true])
                } else {
                    try await server.control("fail", fault)
                }
                let result = try CLIProcess.run(Self.token(spec, server, extra))
                try await server.control("clear")
                #expect(result.status == status, "\(fault): \(result.stderr)")
                #expect(result.stderr.split(separator: "\n").count == 1 && !result.stderr.contains("\r"), "one line: \(result.stderr)")
                #expect(try Data(contentsOf: file) == before, "\(fault) changed the cache")
            }
        }
    }

    @Test("login then token through an authority named by its domain: the token call is served from the cache, no token request")
    func domainNamedTenant() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let store = "file:" + folder.appendingPathComponent("tokens.json").path
            let app = ["--client-id", "cli-app", "--authority", server.authority("contoso.onmicrosoft.com"), "--allow-loopback-http", "--scopes", Self.scopes]
            let signedIn = try await SignInCLITests.loginWithDeviceCode(["--store", store] + app, server)
            #expect(signedIn.status == 0, "\(signedIn.stderr)")
            try await server.control("reset")
            let token = try CLIProcess.run(["token", "--store", store, "--json"] + app)
            #expect(token.status == 0 && token.stdout.contains("\"token_source\": \"cache\""), "\(token.stdout) \(token.stderr)")
            #expect(try await server.requests().filter { $0["endpoint"] == "token" }.isEmpty)
        }
    }
}

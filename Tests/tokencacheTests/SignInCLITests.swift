import Foundation
import Testing
import TokenCacheTesting

/// `tokencache login`, `token` and `logout` against the local identity server, with the
/// tokens in a file store.
@Suite("The CLI signs in, hands out tokens and signs out")
struct SignInCLITests {
    /// Runs `tokencache login --device-code` with `arguments`, approving the code it prints
    /// for ann at `server`, and returns how it ended.
    static func loginWithDeviceCode(_ arguments: [String], _ server: IdentityServer) async throws -> CLIProcess.Result {
        let login = try BackgroundProcess(CLIProcess.executable, ["login", "--device-code"] + arguments)
        var userCode: String?
        for _ in 0..<100 where userCode == nil {
            try await Task.sleep(for: .milliseconds(100))
            userCode = login.currentErrors().split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "."))) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        try await server.control("device", ["user_code": try #require(userCode), "user": "ann"])
        return login.wait()
    }

    @Test("login (device code) then token (cache, then a forced refresh) then logout; token after logout exits 3; a bad authority 64; an unreachable provider 69")
    func loginTokenLogout() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let store = "file:" + folder.appendingPathComponent("tokens.json").path
            let app = ["--client-id", "cli-app", "--authority", server.authority("organizations"), "--allow-loopback-http"]
            let scopes = ["--scopes", "https://graph.example/User.Read"]

            let signedIn = try await Self.loginWithDeviceCode(["--store", store] + app + scopes, server)
            #expect(signedIn.status == 0, "\(signedIn.stderr)")
            #expect(signedIn.stdout.contains("ann@contoso.example"))

            let cached = try CLIProcess.run(["token", "--store", store, "--json"] + app + scopes)
            #expect(cached.status == 0, "\(cached.stderr)")
            #expect(cached.stdout.contains("\"token_source\": \"cache\""))
            // Judged outside #expect, which would print the token on a failure.
            let shown = try CLIProcess.run(["token", "--store", store, "--show-secrets"] + app + scopes)
            let printsToken = shown.status == 0 && shown.stdout.hasPrefix("eyJ")
            #expect(printsToken, "--show-secrets prints the token")
            let quiet = try CLIProcess.run(["token", "--store", store] + app + scopes)
            let hidesToken = quiet.status == 0 && !quiet.stdout.contains("eyJ")
            #expect(hidesToken, "no token without --show-secrets")
            let refreshed = try CLIProcess.run(["token", "--store", store, "--json", "--force-refresh"] + app + scopes)
            #expect(refreshed.stdout.contains("\"token_source\": \"identity_provider\""), "\(refreshed.stderr)")

            // --verbose logs what happens, and no token from the file or the answer.
            let verbose = try CLIProcess.run(["--verbose", "token", "--store", store, "--json", "--force-refresh", "--show-secrets"] + app + scopes)
            #expect(verbose.status == 0, "\(verbose.stderr)")
            #expect(verbose.stderr.contains("tokencache: debug: opening the store"), "\(verbose.stderr)")
            #expect(verbose.stderr.contains("tokencache: debug: POST"), "\(verbose.stderr)")
            let file = try String(contentsOfFile: String(store.dropFirst("file:".count)), encoding: .utf8)
            let secrets = file.matches(of: /"secret": "([^"]+)"/).map { String($0.output.1) }
            #expect(secrets.count >= 3)
            #expect(!secrets.contains { verbose.stderr.contains($0) }, "no secret in the log")
            #expect(!verbose.stderr.contains("eyJ"), "no JWT in the log")

            let logout = try CLIProcess.run(["logout", "--store", store, "--client-id", "cli-app", "--authority", server.authority("organizations"), "--allow-loopback-http"])
            #expect(logout.status == 0 && logout.stdout.contains("signed out 1 account"), "\(logout.stderr)")
            let after = try CLIProcess.run(["token", "--store", store] + app + scopes)
            #expect(after.status == 3)
            #expect(after.stderr.contains("tokencache login"))

            let insecure = try CLIProcess.run(["token", "--store", store, "--client-id", "cli-app", "--authority", server.authority("organizations")] + scopes)
            #expect(insecure.status == 64, "plain http without --allow-loopback-http: \(insecure.stderr)")
            let unreachable = try CLIProcess.run(["login", "--store", store, "--client-id", "cli-app", "--authority", "http://127.0.0.1:9/organizations", "--allow-loopback-http"] + scopes)
            #expect(unreachable.status == 69, "\(unreachable.stderr)")
        }
    }

    @Test("login --browser: the browser in $BROWSER follows the sign-in to the loopback redirect; with no browser the URL is printed; a bad port exits 64")
    func loginThroughBrowser() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let store = "file:" + folder.appendingPathComponent("tokens.json").path
            let app = ["--client-id", "desktop-app", "--authority", server.authority("organizations"), "--allow-loopback-http",
                       "--scopes", "https://graph.example/User.Read"]
            let browser = PythonPeer.python + " " + PythonPeer.repositoryRoot.appendingPathComponent("Tests/IdentityServer/browser.py").path
            let login = try CLIProcess.runProcess(CLIProcess.executable, ["login", "--store", store, "--browser", "--login-hint", "bob@contoso.example"] + app,
                                                  environment: ["BROWSER": browser])
            #expect(login.status == 0, "\(login.stderr)")
            #expect(login.stdout.contains("bob@contoso.example"))
            let token = try CLIProcess.run(["token", "--store", store, "--json"] + app)
            #expect(token.status == 0 && token.stdout.contains("\"token_source\": \"cache\""), "\(token.stderr)")

            // No browser: the URL is printed to open by hand, and the wait times out (75).
            let stranded = try CLIProcess.runProcess(CLIProcess.executable, ["login", "--store", store, "--browser", "--timeout", "1"] + app,
                                                     environment: ["BROWSER": "/nonexistent/browser"])
            #expect(stranded.status == 75, "\(stranded.stderr)")
            #expect(stranded.stderr.contains("Open this URL to sign in: http://127.0.0.1:\(server.port)/organizations/oauth2/v2.0/authorize?"))

            let badPort = try CLIProcess.run(["login", "--store", store, "--browser", "--redirect-port", "70000"] + app)
            #expect(badPort.status == 64, "\(badPort.stderr)")
        }
    }
}

import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// Azure Cloud Shell, served as MSAL Python serves it: `acquireTokenInteractive(prompt:
/// "none")` and silent requests for its account go to the shell's token endpoint (here the
/// identity server's stand-in), compared with MSAL Python in the same setting.
@Suite("Azure Cloud Shell")
struct CloudShellTests {
    static let clientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    static let scope = "https://management.example/user_impersonation"

    static func options(_ server: IdentityServer, inCloudShell: Bool = true) -> ApplicationOptions {
        var options = AuthorityOptionsTests.routed(server)
        options.environment = inCloudShell ? ["AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"] : [:]
        options.cloudShellEndpoint = server.baseURL + "/cloudshell/oauth2/token"
        return options
    }

    @Test("prompt none in Cloud Shell: the shell's token without a browser, its account listed, silent calls served; the same requests and cache entries as MSAL Python's",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func sameAsMSALPython() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: Self.clientID, authority: "https://login.microsoftonline.com/organizations", cache: cache,
                                              options: Self.options(server))
        let first = try await app.acquireTokenInteractive(scopes: [Self.scope], prompt: "none", openBrowser: { _ throws(MSALError) in
            Issue.record("a browser was opened in Cloud Shell")
        })
        #expect(first.tokenSource == .broker && first.username == "ann@contoso.example")
        let accounts = try await app.accounts()
        #expect(accounts.map(\.authorityType) == ["CLOUDSHELL"] && accounts.map(\.username) == ["ann@contoso.example"])
        let account = try #require(accounts.first)
        #expect(try await app.acquireTokenSilent(scopes: [Self.scope], account: account)?.tokenSource == .cache)
        let ours = try await server.requests().filter { $0["endpoint"] == "cloudshell" }.map { [$0["resource"] ?? "", $0["headers"] ?? ""] }
        #expect(ours == [["https://management.example", "Metadata"]])
        // Another resource: the shell again, silently.
        #expect(try await app.acquireTokenSilent(scopes: ["https://vault.example/user_impersonation"], account: account)?.tokenSource == .broker)

        try await server.control("reset")
        let output = try PythonPeer.run([PythonPeer.script("cloud_shell_peer.py"), String(server.port), Self.clientID, Self.scope],
                                        environment: ["AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"])
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output.prefix(300))")
        #expect(theirs["sources"] as? [String] == ["broker", "cache"])
        let theirAccounts = theirs["accounts"] as? [[String: String]] ?? []
        #expect(theirAccounts.map { $0["home_account_id"] } == [account.homeAccountID] && theirAccounts.map { $0["authority_type"] } == ["CLOUDSHELL"])
        let theirRequests = try await server.requests().filter { $0["endpoint"] == "cloudshell" }.map { [$0["resource"] ?? "", $0["headers"] ?? ""] }
        #expect(theirRequests == ours)

        // The same entries, once our second resource's token is left out.
        let single = TokenCache()
        let again = try PublicClientApplication(clientID: Self.clientID, authority: "https://login.microsoftonline.com/organizations", cache: single,
                                                options: Self.options(server))
        _ = try await again.acquireTokenInteractive(scopes: [Self.scope], prompt: "none", openBrowser: { _ throws(MSALError) in })
        let oursMasked = try ManagedIdentityTests.masked(single)
        let sameEntries = NSDictionary(dictionary: oursMasked as? [String: Any] ?? [:]).isEqual(to: theirs["cache"] as? [String: Any] ?? [:])
        #expect(sameEntries, "ours \(oursMasked), theirs \(theirs["cache"] ?? "")")
    }

    @Test("Outside Cloud Shell its accounts are not listed and prompt none opens the browser; the shell's refusal is a typed error; an empty refresh token is not cached")
    func boundaries() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let inShell = try PublicClientApplication(clientID: Self.clientID, authority: "https://login.microsoftonline.com/organizations", cache: cache,
                                                  options: Self.options(server))
        _ = try await inShell.acquireTokenInteractive(scopes: [Self.scope], prompt: "none", openBrowser: { _ throws(MSALError) in })
        #expect(cache.snapshot().entries(RefreshToken.self).isEmpty, "the shell's empty refresh_token is not a token")
        let outside = try PublicClientApplication(clientID: Self.clientID, authority: "https://login.microsoftonline.com/organizations", cache: cache,
                                                  options: Self.options(server, inCloudShell: false))
        #expect(try await outside.accounts().isEmpty)
        await #expect(throws: MSALError.self) {
            _ = try await outside.acquireTokenInteractive(scopes: [Self.scope], prompt: "none", timeout: .seconds(5), openBrowser: { _ throws(MSALError) in
                throw MSALError(code: .noBrowser, reason: "the browser was asked for, as expected")
            })
        }

        try await server.control("fail", ["endpoint": "cloudshell", "status": 400, "body": ["error": ["code": "AudienceNotSupported", "message": "Audience https://x.example is not a supported MSI token audience."]]])
        do {
            _ = try await inShell.acquireTokenInteractive(scopes: ["https://x.example/.default"], prompt: "none", openBrowser: { _ throws(MSALError) in })
            Issue.record("a refusal gave a token")
        } catch {
            #expect(error.code == .serverError && error.server?.error == "AudienceNotSupported" && error.reason.contains("not a supported"))
        }
        // The resource Cloud Shell takes for each scope, as MSAL Python's _scope_to_resource.
        #expect(ClientCore.cloudShellResource(of: "https://graph.microsoft.com/User.Read") == "https://graph.microsoft.com")
        #expect(ClientCore.cloudShellResource(of: "https://graph.microsoft.com//.default") == "https://graph.microsoft.com/")
        #expect(ClientCore.cloudShellResource(of: "00000003-0000-0000-c000-000000000000/User.Read") == "00000003-0000-0000-c000-000000000000")
        #expect(ClientCore.cloudShellResource(of: "https://pas.windows.net/CheckMyAccess/Linux/.default") == "https://pas.windows.net/CheckMyAccess/Linux/.default")
    }
}

import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// Authority validation, OpenID Connect authorities, the regional token service and MSAL's
/// client headers, against the identity server answering as Entra's hosts (through
/// ``RoutingTransport``) and compared with MSAL Python on the same server.
@Suite("Authorities and regions")
struct AuthorityOptionsTests {
    static let tenant = AcquisitionTests.tenant
    static let scopes = AcquisitionTests.scopes

    /// Options whose requests reach `server` under the host names they ask for.
    static func routed(_ server: IdentityServer) -> ApplicationOptions {
        ApplicationOptions(http: HTTPOptions(transport: RoutingTransport(serverPort: server.port), timeout: .seconds(10)))
    }

    /// Runs the MSAL Python peer of this suite; returns its JSON answer.
    static func python(_ server: IdentityServer, _ arguments: [String]) throws -> [String: Any] {
        let output = try PythonPeer.run([PythonPeer.script("authority_peer.py"), String(server.port)] + arguments)
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output.prefix(300))")
    }

    @Test("Validation: an https host Microsoft does not know is refused before anything is sent to it, as MSAL Python refuses it; Microsoft's own hosts need no check; validation off and known instances work",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func validation() async throws {
        let server = try IdentityServer()
        let unknown = "https://login.contoso-typo.example/organizations"
        let app = try PublicClientApplication(clientID: "validation-cli", authority: unknown, options: Self.routed(server))
        for attempt in 0..<2 {
            do {
                _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
                Issue.record("a password was sent to an authority Microsoft does not know")
            } catch {
                #expect(error.code == .untrustedAuthority, "attempt \(attempt)")
                #expect(error.reason.contains("login.contoso-typo.example") && error.reason.contains("validateAuthority") && !error.reason.contains("\n"))
                #expect(error.server?.error == "invalid_instance" && error.server?.errorCodes == [50049])
            }
        }
        await #expect(throws: MSALError.self) { _ = try await app.accounts() }
        let ours = try await server.requests()
        #expect(!ours.contains { $0["host"] == "login.contoso-typo.example" }, "nothing reached the unknown host")
        #expect(ours.contains { $0["endpoint"] == "instance-discovery" && $0["host"] == "login.microsoftonline.com" })
        #expect(try Self.python(server, ["validate", unknown])["error"] as? String == "invalid_instance")

        // Microsoft's own host: no validation request, by either library.
        try await server.control("reset")
        let entra = try PublicClientApplication(clientID: "validation-cli", authority: "https://login.microsoftonline.com/organizations", options: Self.routed(server))
        _ = try await entra.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        #expect(try Self.python(server, ["validate", "https://login.microsoftonline.com/organizations"])["ok"] as? Bool == true)
        #expect(try await server.requests().allSatisfy { $0["endpoint"] != "instance-discovery" })

        // The developer's own host, with validation off; or one Microsoft knows.
        var off = Self.routed(server)
        off.validateAuthority = false
        let trusted = try PublicClientApplication(clientID: "validation-cli", authority: unknown, options: off)
        #expect(try await trusted.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes).tokenSource == .identityProvider)
        #expect(try await server.requests().contains { $0["endpoint"] == "token" && $0["host"] == "login.contoso-typo.example" })
        try await server.control("config", ["known_instances": ["login.partner-cloud.example"]])
        let known = try PublicClientApplication(clientID: "validation-cli", authority: "https://login.partner-cloud.example/organizations", options: Self.routed(server))
        #expect(try await known.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes).tokenSource == .identityProvider)
        #expect(try Self.python(server, ["validate", "https://login.partner-cloud.example/organizations"])["ok"] as? Bool == true)
    }

    @Test("B2C is told as MSAL Python tells it: a b2c_ policy after the tenant is not validated; any other second path segment on an unknown host is")
    func b2cValidation() async throws {
        let server = try IdentityServer()
        let policy = try PublicClientApplication(clientID: "b2c-cli", authority: "https://login.contoso-typo.example/contoso.onmicrosoft.com/B2C_1_signin",
                                                 options: Self.routed(server))
        _ = try await policy.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        #expect(try await server.requests().allSatisfy { $0["endpoint"] != "instance-discovery" })
        try await server.control("reset")
        let twoSegments = try PublicClientApplication(clientID: "b2c-cli", authority: "https://login.contoso-typo.example/contoso.onmicrosoft.com/v2.0",
                                                      options: Self.routed(server))
        do {
            _ = try await twoSegments.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
            Issue.record("an unknown host with a non-B2C second segment was not validated")
        } catch {
            #expect(error.code == .untrustedAuthority)
        }
        #expect(try await server.requests().allSatisfy { $0["host"] != "login.contoso-typo.example" })
    }

    @Test("Regional token service and client headers: the app's token from REGION.login.microsoft.com, cached under the central host, with the same requests, headers and cache entries as MSAL Python's",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func regionalTokens() async throws {
        let server = try IdentityServer()
        try await server.control("client", ["client_id": "region-daemon", "secret": "region-secret-1"])
        let authority = "https://login.microsoftonline.com/\(Self.tenant)"
        let scope = "https://graph.example/.default"
        var options = Self.routed(server)
        options.azureRegion = .named("westus2")
        options.appName = "parity-app"
        options.appVersion = "2.1"
        let cache = TokenCache()
        let app = try ConfidentialClientApplication(clientID: "region-daemon", authority: authority, credential: .secret("region-secret-1"), cache: cache, options: options)
        let first = try await app.acquireTokenForClient(scopes: [scope])
        let second = try await app.acquireTokenForClient(scopes: [scope])
        #expect(first.tokenSource == .identityProvider && second.tokenSource == .cache)
        let ours = try await server.requests().filter { $0["endpoint"] == "token" }
        #expect(ours.map { $0["host"] } == ["westus2.login.microsoft.com"])
        let request = try #require(ours.first)
        #expect(request["sku"] == "MSAL.Swift" && request["client_ver"] == "1.0.0" && request["client_os"] == "linux")
        #expect(request["lib_capability"] == "retry-after, h429" && request["app_name"] == "parity-app" && request["app_ver"] == "2.1")

        try await server.control("reset")
        let theirs = try Self.python(server, ["client", authority, "region-daemon", "region-secret-1", scope, "westus2", "parity-app", "2.1"])
        #expect(theirs["sources"] as? [String] == ["identity_provider", "cache"])
        let theirRequest = try #require(try await server.requests().first { $0["endpoint"] == "token" })
        #expect(theirRequest["host"] == "westus2.login.microsoft.com")
        for header in ["client_os", "lib_capability", "app_name", "app_ver"] {
            #expect(theirRequest[header] == request[header], "\(header): MSAL Python \(theirRequest[header] ?? "none"), MSALLite \(request[header] ?? "none")")
        }
        #expect(theirRequest["client_ver"] != nil && theirRequest["sku"] == "MSAL.Python")
        let oursMasked = try ManagedIdentityTests.masked(cache)
        let sameEntries = NSDictionary(dictionary: oursMasked as? [String: Any] ?? [:]).isEqual(to: theirs["cache"] as? [String: Any] ?? [:])
        #expect(sameEntries, "ours \(oursMasked), theirs \(theirs["cache"] ?? "")")

        // A certificate's assertion names the central token endpoint, as MSAL Python signs it.
        try await withTemporaryDirectoryAsync { folder in
            _ = try CertificateCredentialTests.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
                                                        "-subj", "/CN=region-cert", "-days", "2"], in: folder)
            let certificate = try String(contentsOf: folder.appendingPathComponent("cert.pem"), encoding: .utf8)
            let key = try String(contentsOf: folder.appendingPathComponent("key.pem"), encoding: .utf8)
            try await server.control("client", ["client_id": "region-cert", "certificate_pem": certificate])
            try await server.control("reset")
            let signed = try ConfidentialClientApplication(clientID: "region-cert", authority: authority,
                                                           credential: .certificate(try CertificateCredential(privateKeyPEM: key, certificatePEM: certificate)),
                                                           options: options)
            #expect(try await signed.acquireTokenForClient(scopes: [scope]).tokenSource == .identityProvider)
            let sent = try #require(try await server.requests().first { $0["endpoint"] == "token" })
            #expect(sent["host"] == "westus2.login.microsoft.com" && sent["assertion_aud"] == "\(authority)/oauth2/v2.0/token")
        }
    }

    @Test("Which region: MSAL_FORCE_REGION for confidential clients, .none over it, REGION_NAME when detecting, an invalid name refused, public clients never regional")
    func regionChoice() async throws {
        let server = try IdentityServer()
        try await server.control("client", ["client_id": "region-daemon", "secret": "region-secret-1"])
        let authority = "https://login.microsoftonline.com/\(Self.tenant)"
        func tokenHost(region: AzureRegion?, environment: [String: String]) async throws -> String? {
            try await server.control("reset")
            var options = Self.routed(server)
            options.azureRegion = region
            options.environment = environment
            let app = try ConfidentialClientApplication(clientID: "region-daemon", authority: authority, credential: .secret("region-secret-1"), options: options)
            _ = try await app.acquireTokenForClient(scopes: ["https://graph.example/.default"])
            return try await server.requests().first { $0["endpoint"] == "token" }?["host"]
        }
        #expect(try await tokenHost(region: nil, environment: ["MSAL_FORCE_REGION": "eastus"]) == "eastus.login.microsoft.com")
        #expect(try await tokenHost(region: AzureRegion.none, environment: ["MSAL_FORCE_REGION": "eastus"]) == "login.microsoftonline.com")
        #expect(try await tokenHost(region: .detect, environment: ["REGION_NAME": "northeurope"]) == "northeurope.login.microsoft.com")
        #expect(try await tokenHost(region: nil, environment: [:]) == "login.microsoftonline.com")
        for bad in ["West US", "-x", "x-", ""] {
            var options = Self.routed(server)
            options.azureRegion = .named(bad)
            #expect(throws: MSALError.self, "\(bad)") {
                _ = try ConfidentialClientApplication(clientID: "region-daemon", authority: authority, credential: .secret("s"), options: options)
            }
        }
        // The regional host is trusted only as far as the central authority is: an unknown
        // host is refused before anything, the credential above all, is sent.
        try await server.control("reset")
        var unvalidated = Self.routed(server)
        unvalidated.azureRegion = .named("westus2")
        let typo = try ConfidentialClientApplication(clientID: "region-daemon", authority: "https://login.contoso-typo.example/\(Self.tenant)",
                                                     credential: .secret("region-secret-1"), options: unvalidated)
        await #expect(throws: MSALError.self) { _ = try await typo.acquireTokenForClient(scopes: ["https://graph.example/.default"], forceRefresh: true) }
        #expect(try await server.requests().allSatisfy { $0["endpoint"] == "instance-discovery" })

        var environment = Self.routed(server)
        environment.environment = ["MSAL_FORCE_REGION": "West US"]
        #expect(throws: MSALError.self) { _ = try ConfidentialClientApplication(clientID: "region-daemon", authority: authority, credential: .secret("s"), options: environment) }
        // A public client is never regional, whatever the variable says.
        _ = try PublicClientApplication(clientID: "region-cli", authority: authority, options: environment)
    }

    @Test("An OpenID Connect authority: discovery without v2.0 or instance discovery, tokens cached under its realm; an issuer of another host is refused before any token request")
    func oidcAuthority() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "oidc-cli", oidcAuthority: server.baseURL + "/staff-realm", cache: cache, options: AcquisitionTests.options())
        let result = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        #expect(result.tokenSource == .identityProvider)
        let requests = try await server.requests()
        #expect(requests.contains { $0["endpoint"] == "openid-configuration" && $0["path"] == "/staff-realm/.well-known/openid-configuration" })
        #expect(!requests.contains { $0["endpoint"] == "instance-discovery" })
        #expect(cache.snapshot().entries(AccessToken.self).map(\.realm) == ["staff-realm"])
        let account = try #require(try await app.accounts().first)
        #expect(try await app.acquireTokenSilent(scopes: Self.scopes, account: account)?.tokenSource == .cache)

        try await server.control("config", ["oidc_issuer": "https://elsewhere.example/staff-realm"])
        try await server.control("reset")
        let misled = try PublicClientApplication(clientID: "oidc-cli", oidcAuthority: server.baseURL + "/staff-realm", options: AcquisitionTests.options())
        do {
            _ = try await misled.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
            Issue.record("an issuer of another host was trusted")
        } catch {
            #expect(error.code == .untrustedAuthority && error.reason.contains("elsewhere.example"))
        }
        #expect(try await server.requests().allSatisfy { $0["endpoint"] != "token" })
    }

    @Test("An OpenID Connect authority by its own name: the same requests and cache entries as MSAL Python's oidc_authority",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func oidcAuthorityAsMSALPython() async throws {
        let server = try IdentityServer()
        let authority = "https://id.contoso-oidc.example/staff-realm"
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "oidc-cli", oidcAuthority: authority, cache: cache, options: Self.routed(server))
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: Self.scopes)
        let account = try #require(try await app.accounts().first)
        #expect(try await app.acquireTokenSilent(scopes: Self.scopes, account: account)?.tokenSource == .cache)
        let ours = try await server.requests().map { [$0["endpoint"] ?? "", $0["host"] ?? "", $0["path"] ?? ""] }

        try await server.control("reset")
        let theirs = try Self.python(server, ["oidc", authority, "oidc-cli", "ann@contoso.example", "pw-ann-1", Self.scopes[0]])
        #expect(theirs["sources"] as? [String] == ["identity_provider", "cache"])
        let theirRequests = try await server.requests().map { [$0["endpoint"] ?? "", $0["host"] ?? "", $0["path"] ?? ""] }
        #expect(ours == theirRequests, "ours \(ours), theirs \(theirRequests)")
        let oursMasked = try ManagedIdentityTests.masked(cache)
        let sameEntries = NSDictionary(dictionary: oursMasked as? [String: Any] ?? [:]).isEqual(to: theirs["cache"] as? [String: Any] ?? [:])
        #expect(sameEntries, "ours \(oursMasked), theirs \(theirs["cache"] ?? "")")
    }

    @Test("The issuer check of OpenID Connect authorities is MSAL Python's has_valid_issuer")
    func issuerCheck() {
        let authority = "https://id.example.com/realm"
        for valid in ["https://id.example.com/realm/", "https://id.example.com/other", "https://login.microsoftonline.com/t/v2.0",
                      "https://westus2.login.microsoft.com/t", "https://eu.id.example.com/realm", "https://tenant.b2clogin.com/x"] {
            #expect(AuthorityDiscovery.isValidIssuer(valid, for: authority), "\(valid)")
        }
        for invalid in [nil, "", "https://evil.example/realm", "http://id.example.com/realm/x", "https://a.b.id.example.com/realm",
                        "https://fakeb2clogin.com/x", "https://id.example.com:8443/realm/x"] as [String?] {
            #expect(!AuthorityDiscovery.isValidIssuer(invalid, for: authority), "\(invalid ?? "nil")")
        }
    }
}

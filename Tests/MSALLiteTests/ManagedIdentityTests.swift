import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// Managed identity against stand-ins of App Service's, Azure Machine Learning's and IMDS's
/// endpoints that speak their documented protocols, compared with MSAL Python's
/// `ManagedIdentityClient` on the same stand-ins.
@Suite("Managed identity")
struct ManagedIdentityTests {
    static let resource = "https://management.example"
    static let userAssigned: [(name: String, identity: ManagedIdentity, peer: String)] = [
        ("system-assigned", .systemAssigned, "system"),
        ("client id", .clientID("mi-client-1"), "client:mi-client-1"),
        ("resource id", .resourceID("/subscriptions/s1/resourcegroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi1"),
         "resource:/subscriptions/s1/resourcegroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi1"),
        ("object id", .objectID("mi-object-1"), "object:mi-object-1"),
    ]

    /// The variables the platform of `source` sets, pointing at `server`'s stand-in
    /// (Service Fabric: its TLS port, and the thumbprint of `certificate`, its PEM file).
    static func environment(_ source: ManagedIdentitySource, _ server: IdentityServer, certificate: String? = nil) -> [String: String] {
        switch source {
        case .serviceFabric:
            return ["IDENTITY_ENDPOINT": (server.secureBaseURL ?? "") + "/servicefabric/token", "IDENTITY_HEADER": "identity-header-secret",
                    "IDENTITY_SERVER_THUMBPRINT": certificate.map(thumbprint(ofPEM:)) ?? ""]
        case .appService: return ["IDENTITY_ENDPOINT": server.baseURL + "/msi/appservice", "IDENTITY_HEADER": "identity-header-secret"]
        case .machineLearning: return ["MSI_ENDPOINT": server.baseURL + "/msi/ml", "MSI_SECRET": "msi-secret-value"]
        case .azureArc: return ["IDENTITY_ENDPOINT": server.baseURL + "/arc/token", "IMDS_ENDPOINT": server.baseURL]
        default: return ["AZURE_POD_IDENTITY_AUTHORITY_HOST": server.baseURL]
        }
    }

    /// The SHA-1 thumbprint (hex, upper case with colons, as openssl prints it) of the
    /// certificate in a PEM file.
    static func thumbprint(ofPEM path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let base64 = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let digest = CertificateSigner.sha1(Array(Data(base64Encoded: base64) ?? Data()))
        return digest.map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// The stand-in's log of managed identity requests: endpoint, query and header names.
    static func requests(_ server: IdentityServer) async throws -> [[String]] {
        try await server.requests().filter { ["mi-appservice", "mi-ml", "imds", "mi-arc", "mi-servicefabric"].contains($0["endpoint"] ?? "") }
            .map { [$0["endpoint"] ?? "", $0["query"] ?? "", $0["headers"] ?? ""] }
    }

    /// A cache's JSON with secrets and times (a refresh token's `last_modification_time`
    /// too) replaced by "*", keys sorted.
    static func masked(_ cache: TokenCache) throws -> Any {
        var sections = try #require(try JSONSerialization.jsonObject(with: Data(cache.serialize())) as? [String: [String: [String: Any]]])
        for (section, entries) in sections {
            for (key, entry) in entries {
                var masked = entry
                for name in entry.keys where name == "secret" || ["cached_at", "expires_on", "extended_expires_on", "refresh_on", "last_modification_time"].contains(name) { masked[name] = "*" }
                sections[section]?[key] = masked
            }
        }
        return sections
    }

    @Test("The source is detected as MSAL Python detects it")
    func detection() {
        #expect(ManagedIdentitySource.detect(environment: ["IDENTITY_ENDPOINT": "x", "IDENTITY_HEADER": "y", "IDENTITY_SERVER_THUMBPRINT": "z"]) == .serviceFabric)
        #expect(ManagedIdentitySource.detect(environment: ["IDENTITY_ENDPOINT": "x", "IDENTITY_HEADER": "y"]) == .appService)
        #expect(ManagedIdentitySource.detect(environment: ["MSI_ENDPOINT": "x", "MSI_SECRET": "y"]) == .machineLearning)
        #expect(ManagedIdentitySource.detect(environment: ["IDENTITY_ENDPOINT": "x", "IMDS_ENDPOINT": "y"]) == .azureArc)
        #expect(ManagedIdentitySource.detect(environment: ["AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"]) == .cloudShell)
        #expect(ManagedIdentitySource.detect(environment: [:]) == .imds)
    }

    @Test("Each source and each way to name the identity: the same requests and cache entries as MSAL Python's, the second call served from the cache",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"),
          arguments: [ManagedIdentitySource.appService, .machineLearning, .imds, .azureArc, .serviceFabric])
    func sameAsMSALPython(source: ManagedIdentitySource) async throws {
        try await withTemporaryDirectoryAsync { arcFolder in
        // Service Fabric's endpoint is HTTPS with the cluster's own certificate, pinned by
        // its thumbprint.
        let tls = source == .serviceFabric ? try IdentityServer.makeCertificate(in: arcFolder) : nil
        let server = try IdentityServer(certificate: tls?.certificate, key: tls?.key)
        try await server.control("config", ["arc_folder": arcFolder.path])
        let environment = Self.environment(source, server, certificate: tls?.certificate)
        for (name, identity, peer) in Self.userAssigned {
            try await server.control("reset")
            let cache = TokenCache()
            let client = ManagedIdentityClient(identity, cache: cache, options: ApplicationOptions(), environment: environment, arcTokensFolder: arcFolder.path)
            #expect(client.source == source)
            let first = try await client.acquireToken(resource: Self.resource)
            let second = try await client.acquireToken(resource: Self.resource)
            #expect(first.tokenSource == .identityProvider && second.tokenSource == .cache, "\(name)")
            let sameToken = first.accessToken == second.accessToken
            #expect(sameToken, "\(name)")
            // A token of a day is refreshed from its half-life on, as MSAL Python does.
            #expect(first.refreshOn.map { $0 - ClientCore.now() > 40_000 && $0 - ClientCore.now() < 44_000 } == true, "\(name)")
            let ours = try await Self.requests(server)

            try await server.control("reset")
            let output = try PythonPeer.run([PythonPeer.script("managed_identity_peer.py"), peer, Self.resource],
                                            environment: environment.merging(["TOKENCACHE_TEST_ARC_FOLDER": arcFolder.path]) { $1 })
            let theirs = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            #expect(theirs["sources"] as? [String] == ["identity_provider", "cache"], "\(name): \(output.prefix(300))")
            let theirRequests = try await Self.requests(server)
            #expect(ours == theirRequests, "\(source) \(name): \(ours) vs \(theirRequests)")
            // Azure Arc: the challenge, then the request with the key file's content.
            #expect(ours.count == (source == .azureArc ? 2 : 1))
            if source == .azureArc { #expect(ours.map { $0[2] } == ["Metadata", "Authorization,Metadata"]) }
            let oursMasked = try Self.masked(cache)
            var theirCache = theirs["cache"] as? [String: Any] ?? [:]
            if identity == .systemAssigned {
                // MSAL Python 1.39 records a system-assigned token with "client_id": null (see
                // ManagedIdentity.cacheClientID); this library with the id its code names.
                var text = String(decoding: try JSONSerialization.data(withJSONObject: theirCache), as: UTF8.self)
                text = text.replacingOccurrences(of: "accesstoken--managed_identity", with: "accesstoken-system_assigned_managed_identity-managed_identity")
                    .replacingOccurrences(of: "\"appmetadata-localhost-\"", with: "\"appmetadata-localhost-SYSTEM_ASSIGNED_MANAGED_IDENTITY\"")
                    .replacingOccurrences(of: "\"client_id\":null", with: "\"client_id\":\"SYSTEM_ASSIGNED_MANAGED_IDENTITY\"")
                theirCache = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            }
            let sameEntries = NSDictionary(dictionary: oursMasked as? [String: Any] ?? [:]).isEqual(to: theirCache)
            #expect(sameEntries, "\(source) \(name): the cache entries differ from MSAL Python's: ours \(oursMasked), theirs \(theirCache)")
        }
        }
    }

    @Test("Each source's own error shape is a typed server error carrying the endpoint's words, never a request to sign in again: App Service's and Machine Learning's statusCode and message (App Service's as MSAL Python words it), Azure Arc's refused key",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func errorShapes() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { arcFolder in
            try await server.control("config", ["arc_folder": arcFolder.path])
            var wrongSecret = Self.environment(.machineLearning, server)
            wrongSecret["MSI_SECRET"] = "not-the-secret"
            let cases: [(String, ManagedIdentityClient, String)] = [
                ("App Service, an identity it does not have", ManagedIdentityClient(.clientID("nobody"), environment: Self.environment(.appService, server)), "No managed identity found"),
                ("Machine Learning, a wrong secret", ManagedIdentityClient(.systemAssigned, environment: wrongSecret), "identity header is missing or wrong"),
            ]
            for (name, client, words) in cases {
                do {
                    _ = try await client.acquireToken(resource: Self.resource)
                    Issue.record("\(name): a token was given")
                } catch let error as MSALError {
                    #expect(error.code == .serverError, "\(name): \(error.code)")
                    #expect(error.server?.errorDescription?.contains(words) == true || error.reason.contains(words), "\(name): \(error.reason)")
                    #expect(!error.reason.contains("not-the-secret"), "\(name)")
                }
            }
            // MSAL Python's words for App Service's refusal are the same (it prints Machine
            // Learning's answer as a Python dict, which this library does not copy).
            let output = try PythonPeer.run([PythonPeer.script("managed_identity_peer.py"), "client:nobody", Self.resource], environment: Self.environment(.appService, server))
            let theirs = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            let theirError = (theirs["errors"] as? [[String]])?.first
            #expect(theirError == ["invalid_scope", "400, No managed identity found for the given id."], "\(output.prefix(300))")
            do {
                _ = try await cases[0].1.acquireToken(resource: Self.resource)
                Issue.record("App Service: a token was given for an identity it does not have")
            } catch let error as MSALError {
                #expect([error.server?.error ?? "", error.server?.errorDescription ?? ""] == theirError)
            }
            // A token answer that also says statusCode and message is a token answer.
            let expiry = Int(Date().timeIntervalSince1970) + 3600
            try await server.control("fail", ["endpoint": "mi-appservice", "status": 200,
                                              "raw": #"{"access_token": "a-token", "expires_on": "\#(expiry)", "token_type": "Bearer", "statusCode": 200, "message": "OK"}"#])
            let answered = try await ManagedIdentityClient(.systemAssigned, environment: Self.environment(.appService, server)).acquireToken(resource: "https://status.example")
            #expect(answered.accessToken == "a-token")
            try await server.control("clear")

            try await server.control("config", ["arc_reject": true])
            let arc = ManagedIdentityClient(.systemAssigned, cache: TokenCache(), options: ApplicationOptions(),
                                            environment: Self.environment(.azureArc, server), arcTokensFolder: arcFolder.path)
            do {
                _ = try await arc.acquireToken(resource: Self.resource)
                Issue.record("Azure Arc: a refused key gave a token")
            } catch let error as MSALError {
                #expect(error.code != .interactionRequired && error.server?.error == "invalid_client", "\(error.code): \(error.reason)")
                #expect(error.server?.errorDescription == "the key is wrong")
            }
        }
    }

    @Test("Azure Arc: an agent that does not confirm the user-assigned identity asked for gets no token cached (fail closed, as MSAL Python)")
    func arcFailsClosed() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { arcFolder in
            try await server.control("config", ["arc_folder": arcFolder.path, "arc_echo": false])
            let cache = TokenCache()
            let client = ManagedIdentityClient(.clientID("mi-client-1"), cache: cache, options: ApplicationOptions(),
                                               environment: Self.environment(.azureArc, server), arcTokensFolder: arcFolder.path)
            do {
                _ = try await client.acquireToken(resource: Self.resource)
                Issue.record("an unconfirmed identity's token was accepted")
            } catch let error as MSALError {
                #expect(error.code == .invalidResponse && error.reason.contains("did not confirm"))
            }
            #expect(cache.snapshot().entryCounts.values.reduce(0, +) == 0)
            // The system-assigned identity needs no confirmation.
            let system = ManagedIdentityClient(.systemAssigned, cache: cache, options: ApplicationOptions(),
                                               environment: Self.environment(.azureArc, server), arcTokensFolder: arcFolder.path)
            #expect(try await system.acquireToken(resource: Self.resource).tokenSource == .identityProvider)
        }
    }

    @Test("Azure Arc's key file: read only by its name from the agent's folder, never through a link, never larger than 4 KiB, never outside the folder")
    func arcKeyFile() throws {
        try withTemporaryDirectory { folder in
            let client = ManagedIdentityClient(.systemAssigned, cache: TokenCache(), options: ApplicationOptions(),
                                               environment: ["IDENTITY_ENDPOINT": "http://127.0.0.1:1/arc", "IMDS_ENDPOINT": "x"], arcTokensFolder: folder.path)
            try Data("the-agent-key".utf8).write(to: folder.appendingPathComponent("good.key"))
            #expect(try client.arcSecret(realm: "/var/opt/azcmagent/tokens/good.key") == "the-agent-key")
            #expect(try client.arcSecret(realm: "/elsewhere/../good.txt") == "the-agent-key", "only the name counts, and .key is its extension")
            try Data(repeating: 0x41, count: 5000).write(to: folder.appendingPathComponent("big.key"))
            try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link.key").path, withDestinationPath: folder.appendingPathComponent("good.key").path)
            for realm in ["/x/big.key", "/x/link.key", "../../../etc/passwd", "/x/missing.key", "", "/x/.."] {
                do {
                    _ = try client.arcSecret(realm: realm)
                    Issue.record("the key file of realm \(realm) was read")
                } catch let error as MSALError {
                    #expect(error.code == .invalidResponse && !error.reason.contains("AAAA"), "\(realm)")
                }
            }
        }
    }

    @Test("Refusals and outages are typed; a failing endpoint is not asked again until Retry-After (no retry), as in MSAL Python; a claims challenge skips the cache; unsupported sources say so")
    func failures() async throws {
        let server = try IdentityServer()
        let environment = Self.environment(.imds, server)

        let unknown = ManagedIdentityClient(.clientID("nobody"), environment: environment)
        do {
            _ = try await unknown.acquireToken(resource: Self.resource)
            Issue.record("an unknown identity got a token")
        } catch {
            #expect(error.code == .serverError && error.code != .interactionRequired)
            #expect(error.server?.errorDescription?.contains("Identity not found") == true)
        }

        let client = ManagedIdentityClient(.systemAssigned, environment: environment)
        try await server.control("fail", ["endpoint": "imds", "status": 503, "retry_after": 2, "body": ["error": "service_unavailable"]])
        do {
            _ = try await client.acquireToken(resource: Self.resource)
            Issue.record("a failing endpoint gave a token")
        } catch {
            #expect(error.code == .providerUnavailable)
        }
        let before = try await Self.requests(server).count
        await #expect(throws: MSALError.self) { _ = try await client.acquireToken(resource: Self.resource) }
        #expect(try await Self.requests(server).count == before, "the remembered failure is answered without a request")
        try await Task.sleep(for: .milliseconds(2200))
        #expect(try await client.acquireToken(resource: Self.resource).tokenSource == .identityProvider)
        let challenged = try await client.acquireToken(resource: Self.resource, claimsChallenge: #"{"access_token":{"nbf":{"essential":true}}}"#)
        #expect(challenged.tokenSource == .identityProvider && challenged.refreshReason == .claims)

        do {
            _ = try await ManagedIdentityClient(.systemAssigned, environment: ["AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"]).acquireToken(resource: Self.resource)
            Issue.record("a managed identity client answered in Cloud Shell")
        } catch {
            #expect(error.code == .notSupported && error.reason.contains("acquireTokenInteractive"))
        }
        #expect(!String(describing: try await client.acquireToken(resource: Self.resource)).contains("eyJ"))

        // A redirect is never followed (the request carries the platform's credential); a
        // lifetime no token has is refused without a crash; an empty id is an argument error.
        let appService = ManagedIdentityClient(.systemAssigned, environment: Self.environment(.appService, server))
        try await server.control("fail", ["endpoint": "mi-appservice", "status": 307, "location": "https://elsewhere.example/steal"])
        await #expect(throws: MSALError.self) { _ = try await appService.acquireToken(resource: "https://other.example") }
        #expect(try await server.requests().filter { $0["endpoint"] == "mi-appservice" }.count == 1)
        for expiry in ["-9223372036854775808", "9223372036854775807", "0"] {
            try await server.control("fail", ["endpoint": "mi-appservice", "status": 200,
                                              "raw": #"{"access_token": "a-token", "expires_on": "\#(expiry)", "token_type": "Bearer"}"#])
            do {
                _ = try await appService.acquireToken(resource: "https://lifetime.example/\(expiry)")
                Issue.record("a token with expires_on \(expiry) was accepted")
            } catch {
                #expect(error.code == .invalidResponse)
            }
        }
        await #expect(throws: MSALError.self) { _ = try await ManagedIdentityClient(.clientID(""), environment: environment).acquireToken(resource: Self.resource) }
    }

    @Test("Service Fabric: only the certificate the platform names is trusted (another is refused before the secret is sent); its errors are mapped as MSAL Python maps them; a claims challenge names the token it replaces, with the client capabilities")
    func serviceFabric() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let tls = try IdentityServer.makeCertificate(in: folder)
            let server = try IdentityServer(certificate: tls.certificate, key: tls.key)
            let environment = Self.environment(.serviceFabric, server, certificate: tls.certificate)
            var options = ApplicationOptions()
            options.clientCapabilities = ["cp1"]
            let cache = TokenCache()
            let client = ManagedIdentityClient(.systemAssigned, cache: cache, options: options, environment: environment)
            let first = try await client.acquireToken(resource: Self.resource)
            #expect(first.tokenSource == .identityProvider)
            let challenged = try await client.acquireToken(resource: Self.resource, claimsChallenge: #"{"access_token":{"nbf":{"essential":true}}}"#)
            #expect(challenged.tokenSource == .identityProvider)
            let queries = try await Self.requests(server).map { $0[1] }
            #expect(queries.count == 2)
            #expect(queries.last?.contains("token_sha256_to_refresh=\(SHA256.hexHash(Array(first.accessToken.utf8)))") == true)
            #expect(queries.allSatisfy { $0.contains("xms_cc=cp1") })

            // Another certificate than the one named: refused, and nothing reached the server.
            try await server.control("reset")
            var wrong = environment
            wrong["IDENTITY_SERVER_THUMBPRINT"] = String(repeating: "AB", count: 20)
            do {
                _ = try await ManagedIdentityClient(.systemAssigned, environment: wrong).acquireToken(resource: Self.resource)
                Issue.record("a server certificate other than the pinned one was trusted")
            } catch let error as MSALError {
                #expect(error.code == .untrustedAuthority && error.reason.contains("IDENTITY_SERVER_THUMBPRINT"))
            }
            #expect(try await Self.requests(server).isEmpty)
            for (name, value) in [("IDENTITY_SERVER_THUMBPRINT", "not-a-thumbprint"), ("IDENTITY_ENDPOINT", server.baseURL + "/servicefabric/token")] {
                var bad = environment
                bad[name] = value
                do {
                    _ = try await ManagedIdentityClient(.systemAssigned, environment: bad).acquireToken(resource: Self.resource)
                    Issue.record("\(name)=\(value) was accepted")
                } catch let error as MSALError {
                    #expect(error.code == .invalidArgument, "\(name)")
                }
            }

            var wrongSecret = environment
            wrongSecret["IDENTITY_HEADER"] = "not-the-secret"
            do {
                _ = try await ManagedIdentityClient(.systemAssigned, environment: wrongSecret).acquireToken(resource: Self.resource)
                Issue.record("a wrong secret got a token")
            } catch let error as MSALError {
                #expect(error.code == .serverError && error.server?.error == "unauthorized_client" && error.server?.suberror == "SecretHeaderNotFound")
            }
        }
    }
}

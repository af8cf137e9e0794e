import CacheBackends
import Foundation
import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// MSALLite and MSAL Python run one scenario (`Tests/Interop/acquisition_scenario.json`)
/// against the same identity server, each into its own cache file: they must take the same
/// decisions (same token sources step by step), leave the same entries, and each must be
/// able to serve silent calls from the file the other wrote.
@Suite("Same decisions as MSAL Python")
struct PythonParityTests {
    /// One step of the shared scenario.
    struct Step: Codable {
        var op: String
        var client: String
        var user: String?
        var scopes: [String]?
        var expect: String?
        var force_refresh: Bool?
        var assertion_scopes: [String]?
        var claims_challenge: String?
        var resource: String?
    }

    /// The shared scenario.
    struct Scenario: Codable {
        struct Client: Codable {
            var client_id: String
            var secret: String?
            var certificate: Bool?
        }

        var tenant: String
        var clients: [Client]
        var capabilities: [String: [String]]?
        var steps: [Step]
    }

    static let users = ["ann": ("ann@contoso.example", "pw-ann-1"), "bob": ("bob@contoso.example", "pw-bob-1")]
    static let scenarioPath = PythonPeer.script("acquisition_scenario.json")

    @Test("One scenario, two libraries: same token sources, same cache entries, and each serves silent calls from the other's file")
    func sameDecisions() async throws {
        let scenario = try JSONDecoder().decode(Scenario.self, from: Data(contentsOf: URL(fileURLWithPath: Self.scenarioPath)))
        try await withTemporaryDirectoryAsync { folder in
            let tls = try IdentityServer.makeCertificate(in: folder)
            let server = try IdentityServer(certificate: tls.certificate, key: tls.key)
            let secureBase = try #require(server.secureBaseURL)
            // The certificate client's key and certificate, for both libraries.
            _ = try CertificateCredentialTests.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
                                                        "-subj", "/CN=parity-cert", "-days", "2"], in: folder)
            let certificatePEM = try String(contentsOf: folder.appendingPathComponent("cert.pem"), encoding: .utf8)
            for client in scenario.clients {
                if let secret = client.secret {
                    try await server.control("client", ["client_id": client.client_id, "secret": secret])
                } else {
                    try await server.control("client", ["client_id": client.client_id, "certificate_pem": certificatePEM])
                }
            }

            // MSAL Python over HTTPS (it refuses http authorities); MSALLite over plain HTTP
            // on loopback. The cache's environment is the host without the port, so both
            // files speak of the same 127.0.0.1.
            let pythonFile = folder.appendingPathComponent("python-cache.json").path
            let pythonSources = try Self.runPython(Self.scenarioPath, cache: pythonFile, base: secureBase, ca: tls.certificate, certificates: folder)
            let pythonRequests = try await Self.tokenRequests(server)
            try await server.control("reset")
            let swiftFile = folder.appendingPathComponent("swift-cache.json").path
            let swiftSources = try await Self.runSwift(scenario, cache: swiftFile, server: server, certificates: folder)
            let swiftRequests = try await Self.tokenRequests(server)
            // The same requests, in the same order: grant, client, scopes and the claims
            // parameter byte for byte (capabilities merged into a challenge as MSAL Python
            // writes it), and the same managed identity requests.
            #expect(pythonRequests.count == swiftRequests.count)
            for (index, (theirs, ours)) in zip(pythonRequests, swiftRequests).enumerated() where theirs != ours {
                Issue.record("request \(index): MSAL Python \(theirs), MSALLite \(ours)")
            }
            #expect(swiftRequests.contains { $0.contains("claims=") && $0.contains("xms_cc") && $0.contains("nbf") })

            let expected = scenario.steps.map { $0.expect ?? "any" }
            for (index, step) in scenario.steps.enumerated() {
                #expect(pythonSources[index] == swiftSources[index], "step \(index) (\(step.op) \(step.client)): MSAL Python \(pythonSources[index]), MSALLite \(swiftSources[index])")
                if expected[index] != "any" {
                    #expect(swiftSources[index] == expected[index], "step \(index) (\(step.op))")
                }
            }

            let python = try Self.normalizedEntries(pythonFile)
            var swift = try Self.normalizedEntries(swiftFile)
            // The one difference by design: MSALLite records on an on-behalf-of token the
            // hash of the assertion it was obtained for (MSAL .NET's user_assertion_hash),
            // so it can serve it again from the cache; MSAL Python keeps no such field.
            let marked = swift.filter { $0.value.contains("\"user_assertion_hash\"") }
            #expect(marked.count == 1 && marked.keys.first?.hasPrefix("AccessToken ") == true, "\(marked.keys.sorted())")
            for (key, text) in marked {
                var fields = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                fields["user_assertion_hash"] = nil
                swift[key] = String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
            }
            #expect(python.count == 24, "8 access tokens (one a managed identity's), 5 refresh tokens, 3 ID tokens, 1 account, 7 app metadata")
            #expect(Set(python.keys) == Set(swift.keys), "only MSAL Python: \(Set(python.keys).subtracting(swift.keys).sorted()); only MSALLite: \(Set(swift.keys).subtracting(python.keys).sorted())")
            for key in Set(python.keys).intersection(swift.keys).sorted() where python[key] != swift[key] {
                Issue.record("\(key): MSAL Python \(python[key] ?? "") / MSALLite \(swift[key] ?? "")")
            }

            // Each library answers silent calls from the file the other wrote: a cached
            // token first, then a forced refresh with the other's refresh token.
            let crossSteps = [
                Step(op: "silent", client: "parity-cli", user: "ann", scopes: ["https://graph.example/User.Read"], expect: "cache"),
                Step(op: "silent", client: "parity-cli", user: "ann", scopes: ["https://graph.example/Mail.Read"], expect: "cache"),
                // Bob signed out of parity-cli, which removed his account entry: neither
                // library lists him for any client now.
                Step(op: "silent", client: "parity-web", user: "bob", scopes: ["https://graph.example/Files.Read"], expect: "error:no_account"),
                Step(op: "silent", client: "parity-cli", user: "ann", scopes: ["https://storage.example/user_impersonation"], expect: "identity_provider", force_refresh: true),
                Step(op: "client_credentials", client: "parity-daemon", scopes: ["https://graph.example/.default"], expect: "cache"),
            ]
            let cross = Scenario(tenant: scenario.tenant, clients: scenario.clients, steps: crossSteps)
            let crossPath = folder.appendingPathComponent("cross.json")
            try JSONEncoder().encode(cross).write(to: crossPath)
            let pythonOnSwift = try Self.runPython(crossPath.path, cache: swiftFile, base: secureBase, ca: tls.certificate, certificates: folder)
            let swiftOnPython = try await Self.runSwift(cross, cache: pythonFile, server: server, certificates: folder)
            #expect(pythonOnSwift == crossSteps.map { $0.expect! }, "MSAL Python on MSALLite's file")
            #expect(swiftOnPython == crossSteps.map { $0.expect! }, "MSALLite on MSAL Python's file")
        }
    }

    /// Runs `scenario` with MSAL Python; returns each step's token source (or its error).
    static func runPython(_ scenario: String, cache: String, base: String, ca: String, certificates: URL) throws -> [String] {
        let output = try PythonPeer.run([PythonPeer.script("msal_scenario.py"), scenario, cache, base, ca],
                                        environment: ["TOKENCACHE_SCENARIO_CERTS": certificates.path])
        return try output.split(separator: "\n").map { line in
            let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if let error = report["error"] as? String { return "error:\(error)" }
            return report["source"] as? String ?? "none"
        }
    }

    /// Runs `scenario` with MSALLite through a file store; returns each step's token source
    /// (or its error).
    static func runSwift(_ scenario: Scenario, cache path: String, server: IdentityServer, certificates: URL) async throws -> [String] {
        let cache = try StoreDescription(spec: "file:" + path).open()
        let authority = server.authority(scenario.tenant)
        let secrets = Dictionary(uniqueKeysWithValues: scenario.clients.compactMap { client in client.secret.map { (client.client_id, $0) } })
        let certificateClients = Set(scenario.clients.filter { $0.certificate == true }.map(\.client_id))
        var apps: [String: ClientApplication] = [:]
        func app(_ client: String) throws -> ClientApplication {
            if let app = apps[client] { return app }
            var options = ApplicationOptions(http: HTTPOptions(allowsPlainHTTPOnLoopback: true))
            options.clientCapabilities = scenario.capabilities?[client] ?? []
            let made: ClientApplication = if certificateClients.contains(client) {
                try ConfidentialClientApplication(clientID: client, authority: authority, credential: .certificate(try certificate(in: certificates)),
                                                  cache: cache, options: options)
            } else if let secret = secrets[client] {
                try ConfidentialClientApplication(clientID: client, authority: authority, credential: .secret(secret), cache: cache, options: options)
            } else {
                try PublicClientApplication(clientID: client, authority: authority, cache: cache, options: options)
            }
            apps[client] = made
            return made
        }
        func account(_ client: String, _ user: String?) async throws -> Account? {
            try await app(client).accounts(username: users[user ?? ""]?.0).first
        }

        var sources: [String] = []
        for step in scenario.steps {
            let scopes = step.scopes ?? []
            do {
                let result: AuthenticationResult?
                switch step.op {
                case "password":
                    let (username, password) = try #require(users[step.user ?? ""])
                    result = try await (app(step.client) as! PublicClientApplication).acquireToken(byUsername: username, password: password, scopes: scopes)
                case "silent":
                    guard let account = try await account(step.client, step.user) else {
                        sources.append("error:no_account")
                        continue
                    }
                    result = try await app(step.client).acquireTokenSilent(scopes: scopes, account: account, forceRefresh: step.force_refresh ?? false,
                                                                           claimsChallenge: step.claims_challenge)
                case "managed_identity":
                    let environment = ["IDENTITY_ENDPOINT": server.baseURL + "/msi/appservice", "IDENTITY_HEADER": "identity-header-secret"]
                    result = try await ManagedIdentityClient(.clientID(step.client), cache: cache, environment: environment).acquireToken(resource: step.resource ?? "")
                case "obo":
                    let user = try #require(try await account("parity-cli", step.user))
                    let assertion = try #require(try await app("parity-cli").acquireTokenSilent(scopes: step.assertion_scopes ?? [], account: user))
                    result = try await (app(step.client) as! ConfidentialClientApplication).acquireTokenOnBehalfOf(userAssertion: assertion.accessToken, scopes: scopes)
                case "auth_code":
                    let flow = try await app(step.client).initiateAuthCodeFlow(scopes: scopes, redirectURI: "http://localhost/redirect", loginHint: users[step.user ?? ""]?.0)
                    let redirect = try await server.signIn(at: flow.authorizationURL)
                    result = try await app(step.client).acquireToken(byAuthCodeFlow: flow, response: redirect)
                case "client_credentials":
                    result = try await (app(step.client) as! ConfidentialClientApplication).acquireTokenForClient(scopes: scopes)
                case "remove_account":
                    let user = try #require(try await account(step.client, step.user))
                    try await app(step.client).removeAccount(user)
                    sources.append("none")
                    continue
                default:
                    throw IdentityServerError(reason: "unknown scenario step \(step.op)")
                }
                sources.append(result.map { $0.tokenSource == .cache ? "cache" : "identity_provider" } ?? "error:no_token")
            } catch let error as MSALError {
                sources.append("error:\(error.server?.error ?? error.code.description)")
            }
        }
        return sources
    }

    /// The scenario's certificate credential: the key, named by the certificate's SHA-1
    /// thumbprint (MSAL Python's `{"private_key", "thumbprint"}`).
    static func certificate(in folder: URL) throws -> CertificateCredential {
        let key = try String(contentsOf: folder.appendingPathComponent("key.pem"), encoding: .utf8)
        return try CertificateCredential(privateKeyPEM: key, thumbprint: ManagedIdentityTests.thumbprint(ofPEM: folder.appendingPathComponent("cert.pem").path))
    }

    /// The token and managed identity requests the server received, in order, each as one
    /// line: grant, client, the scopes (sorted: MSAL Python sends a set), claims; or a
    /// managed identity request's query and header names.
    static func tokenRequests(_ server: IdentityServer) async throws -> [String] {
        try await server.requests().compactMap { request in
            switch request["endpoint"] {
            case "token":
                let scopes = (request["scope"] ?? "").split(separator: " ").sorted().joined(separator: " ")
                return "grant=\(request["grant_type"] ?? "") client=\(request["client_id"] ?? "") scope=\(scopes) claims=\(request["claims"] ?? "-")"
            case "mi-appservice":
                return "managed identity: \(request["query"] ?? "") headers=\(request["headers"] ?? "")"
            default:
                return nil
            }
        }
    }

    /// Every entry of a cache file, by section and key, with secrets and times replaced by
    /// placeholders, as canonical JSON text.
    static func normalizedEntries(_ path: String) throws -> [String: String] {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let varying: Set<String> = ["secret", "cached_at", "expires_on", "extended_expires_on", "ext_expires_on", "refresh_on", "last_modification_time"]
        var entries: [String: String] = [:]
        for (section, value) in document {
            guard let members = value as? [String: Any] else {
                entries[section] = "\(value)"
                continue
            }
            for (key, entry) in members {
                var fields = entry as? [String: Any] ?? [:]
                for name in fields.keys where varying.contains(name) { fields[name] = "<varies>" }
                let text = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
                entries["\(section) \(key)"] = String(decoding: text, as: UTF8.self)
            }
        }
        return entries
    }
}

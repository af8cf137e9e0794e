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
    }

    /// The shared scenario.
    struct Scenario: Codable {
        struct Client: Codable {
            var client_id: String
            var secret: String
        }

        var tenant: String
        var clients: [Client]
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
            for client in scenario.clients {
                try await server.control("client", ["client_id": client.client_id, "secret": client.secret])
            }

            // MSAL Python over HTTPS (it refuses http authorities); MSALLite over plain HTTP
            // on loopback. The cache's environment is the host without the port, so both
            // files speak of the same 127.0.0.1.
            let pythonFile = folder.appendingPathComponent("python-cache.json").path
            let pythonSources = try Self.runPython(Self.scenarioPath, cache: pythonFile, base: secureBase, ca: tls.certificate)
            let swiftFile = folder.appendingPathComponent("swift-cache.json").path
            let swiftSources = try await Self.runSwift(scenario, cache: swiftFile, server: server)

            let expected = scenario.steps.map { $0.expect ?? "any" }
            for (index, step) in scenario.steps.enumerated() {
                #expect(pythonSources[index] == swiftSources[index], "step \(index) (\(step.op) \(step.client)): MSAL Python \(pythonSources[index]), MSALLite \(swiftSources[index])")
                if expected[index] != "any" {
                    #expect(swiftSources[index] == expected[index], "step \(index) (\(step.op))")
                }
            }

            let python = try Self.normalizedEntries(pythonFile)
            let swift = try Self.normalizedEntries(swiftFile)
            #expect(python.count == 16, "5 access tokens, 4 refresh tokens, 2 ID tokens, 1 account, 4 app metadata")
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
            let pythonOnSwift = try Self.runPython(crossPath.path, cache: swiftFile, base: secureBase, ca: tls.certificate)
            let swiftOnPython = try await Self.runSwift(cross, cache: pythonFile, server: server)
            #expect(pythonOnSwift == crossSteps.map { $0.expect! }, "MSAL Python on MSALLite's file")
            #expect(swiftOnPython == crossSteps.map { $0.expect! }, "MSALLite on MSAL Python's file")
        }
    }

    /// Runs `scenario` with MSAL Python; returns each step's token source (or its error).
    static func runPython(_ scenario: String, cache: String, base: String, ca: String) throws -> [String] {
        let output = try PythonPeer.run([PythonPeer.script("msal_scenario.py"), scenario, cache, base, ca])
        return try output.split(separator: "\n").map { line in
            let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if let error = report["error"] as? String { return "error:\(error)" }
            return report["source"] as? String ?? "none"
        }
    }

    /// Runs `scenario` with MSALLite through a file store; returns each step's token source
    /// (or its error).
    static func runSwift(_ scenario: Scenario, cache path: String, server: IdentityServer) async throws -> [String] {
        let cache = try StoreDescription(spec: "file:" + path).open()
        let authority = server.authority(scenario.tenant)
        let options = ApplicationOptions(http: HTTPOptions(allowsPlainHTTPOnLoopback: true))
        let secrets = Dictionary(uniqueKeysWithValues: scenario.clients.map { ($0.client_id, $0.secret) })
        var apps: [String: ClientApplication] = [:]
        func app(_ client: String) throws -> ClientApplication {
            if let app = apps[client] { return app }
            let made: ClientApplication = if let secret = secrets[client] {
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
                    result = try await app(step.client).acquireTokenSilent(scopes: scopes, account: account, forceRefresh: step.force_refresh ?? false)
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

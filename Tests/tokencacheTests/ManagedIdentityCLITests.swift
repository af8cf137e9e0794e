import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// `tokencache token --managed-identity` against the identity server's IMDS stand-in.
@Suite("tokencache token --managed-identity")
struct ManagedIdentityCLITests {
    @Test("A system-assigned and a user-assigned identity's tokens: from the endpoint, then from the store; bad flag combinations 64; Cloud Shell 69, Service Fabric over http 64")
    func managedIdentityToken() throws {
        let server = try IdentityServer()
        try withTemporaryDirectory { folder in
            let store = "file:" + folder.appendingPathComponent("mi.json").path
            let environment = ["AZURE_POD_IDENTITY_AUTHORITY_HOST": server.baseURL]
            func run(_ arguments: [String], environment: [String: String] = environment, store: String = store) throws -> CLIProcess.Result {
                try CLIProcess.runProcess(CLIProcess.executable, ["token", "--managed-identity", "--store", store, "--json"] + arguments, environment: environment)
            }
            for identity in [[], ["--client-id", "mi-client-1"]] {
                let first = try run(["--resource", "https://management.example"] + identity)
                #expect(first.status == 0, "\(first.stderr)")
                #expect(first.stdout.contains("\"token_source\": \"identity_provider\""), "\(first.stdout)")
                let second = try run(["--resource", "https://management.example"] + identity)
                #expect(second.stdout.contains("\"token_source\": \"cache\""), "\(second.stdout)")
                #expect(!first.stdout.contains("eyJ") && !second.stdout.contains("eyJ"))
            }
            let cache = try TokenCache(serialized: Data(contentsOf: folder.appendingPathComponent("mi.json")))
            #expect(Set(cache.entries(AccessToken.self).compactMap(\.clientID)) == ["SYSTEM_ASSIGNED_MANAGED_IDENTITY", "mi-client-1"])

            #expect(try run([]).status == 64)
            #expect(try run(["--resource", "r", "--client-id", "a", "--object-id", "b"]).status == 64)
            #expect(try run(["--resource", "r", "--scopes", "x"]).status == 64)
            // (A token already in the store would be served first, as in MSAL Python.)
            let unsupported = try run(["--resource", "https://management.example"], environment: ["AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"],
                                      store: "file:" + folder.appendingPathComponent("empty.json").path)
            #expect(unsupported.status == 69, "\(unsupported.stderr)")
            #expect(unsupported.stderr.contains("Cloud Shell"))
            // Service Fabric's endpoint must be https, with a thumbprint to pin.
            let insecure = try run(["--resource", "https://management.example"],
                                   environment: ["IDENTITY_ENDPOINT": server.baseURL, "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "t"],
                                   store: "file:" + folder.appendingPathComponent("empty.json").path)
            #expect(insecure.status == 64 && insecure.stderr.contains("https"), "\(insecure.stderr)")
        }
    }
}

import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// `tokencache token --app`: a confidential client's own token (client credentials) with a
/// secret from a variable or a private file, or a PEM or PKCS#12 certificate.
@Suite("tokencache token --app")
struct AppTokenCLITests {
    static let tenant = "7e0ab0d0-0000-4000-8000-00000000a1d0"

    static func openssl(_ arguments: [String], in folder: URL) throws {
        let result = try CLIProcess.runProcess("/bin/sh", ["-c", "cd \"$0\" && exec openssl \"$@\"", folder.path] + arguments)
        guard result.status == 0 else { throw IdentityServerError(reason: "openssl failed: \(result.stderr.suffix(300))") }
    }

    @Test("Secrets from a variable or a 0600 file, PEM and PFX certificates: from the provider, then from the store; nothing secret printed; a readable secret file 77, a wrong secret 77, a wrong passphrase or no credential 64")
    func appTokens() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            try await server.control("client", ["client_id": "cli-daemon", "secret": "cli-daemon-secret-1"])
            try Self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=cli-cert-daemon", "-days", "2"], in: folder)
            try Self.openssl(["pkcs12", "-export", "-inkey", "key.pem", "-in", "cert.pem", "-out", "app.pfx", "-passout", "pass:pfx-pass-1"], in: folder)
            let pem = try String(contentsOf: folder.appendingPathComponent("cert.pem"), encoding: .utf8)
            FileManager.default.createFile(atPath: folder.appendingPathComponent("both.pem").path,
                                           contents: Data((try String(contentsOf: folder.appendingPathComponent("key.pem"), encoding: .utf8) + pem).utf8),
                                           attributes: [.posixPermissions: 0o600])
            chmod(folder.appendingPathComponent("app.pfx").path, 0o600)
            try await server.control("client", ["client_id": "cli-cert-daemon", "certificate_pem": pem])

            func run(_ client: String, _ credential: [String], store: String, environment: [String: String] = [:]) throws -> CLIProcess.Result {
                try CLIProcess.runProcess(CLIProcess.executable, ["token", "--app", "--client-id", client, "--authority", server.authority(Self.tenant),
                                                                  "--scopes", "https://graph.example/.default", "--allow-loopback-http", "--json",
                                                                  "--store", "file:" + folder.appendingPathComponent(store).path] + credential,
                                          environment: environment)
            }
            let secretFile = folder.appendingPathComponent("secret.txt").path
            FileManager.default.createFile(atPath: secretFile, contents: Data("cli-daemon-secret-1\n".utf8), attributes: [.posixPermissions: 0o600])
            let cases: [(String, [String], [String: String])] = [
                ("cli-daemon", ["--secret-env", "APP_SECRET"], ["APP_SECRET": "cli-daemon-secret-1"]),
                ("cli-daemon", ["--secret-file", secretFile], [:]),
                ("cli-cert-daemon", ["--certificate", folder.appendingPathComponent("both.pem").path], [:]),
                ("cli-cert-daemon", ["--certificate", folder.appendingPathComponent("app.pfx").path, "--certificate-passphrase-env", "PFX_PASS",
                                     "--send-certificate-chain"], ["PFX_PASS": "pfx-pass-1"]),
            ]
            for (index, (client, credential, environment)) in cases.enumerated() {
                let first = try run(client, credential, store: "app-\(index).json", environment: environment)
                #expect(first.status == 0 && first.stdout.contains("\"token_source\": \"identity_provider\""), "\(credential): \(first.stderr)")
                let second = try run(client, credential, store: "app-\(index).json", environment: environment)
                #expect(second.stdout.contains("\"token_source\": \"cache\""), "\(credential): \(second.stdout)")
                for output in [first.stdout, first.stderr, second.stdout] {
                    #expect(!output.contains("eyJ") && !output.contains("cli-daemon-secret-1") && !output.contains("pfx-pass-1"))
                }
            }
            let cache = try TokenCache(serialized: Data(contentsOf: folder.appendingPathComponent("app-0.json")))
            #expect(cache.entries(AccessToken.self).map(\.clientID) == ["cli-daemon"])

            // The key files are secrets too; a link is not followed.
            chmod(folder.appendingPathComponent("both.pem").path, 0o644)
            let openKey = try run("cli-cert-daemon", ["--certificate", folder.appendingPathComponent("both.pem").path], store: "x.json")
            #expect(openKey.status == 77, "\(openKey.stderr)")
            let link = folder.appendingPathComponent("link.txt").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: secretFile)
            let linked = try run("cli-daemon", ["--secret-file", link], store: "x.json")
            #expect(linked.status == 77 && linked.stderr.contains("link"), "\(linked.stderr)")
            chmod(secretFile, 0o644)
            let readable = try run("cli-daemon", ["--secret-file", secretFile], store: "x.json")
            #expect(readable.status == 77 && readable.stderr.contains("chmod 600"), "\(readable.stderr)")
            let wrong = try run("cli-daemon", ["--secret-env", "APP_SECRET"], store: "x.json", environment: ["APP_SECRET": "not-the-secret"])
            #expect(wrong.status == 77 && !wrong.stderr.contains("not-the-secret"), "\(wrong.stderr)")
            let badPassphrase = try run("cli-cert-daemon", ["--certificate", folder.appendingPathComponent("app.pfx").path, "--certificate-passphrase-env", "PFX_PASS"],
                                        store: "x.json", environment: ["PFX_PASS": "wrong"])
            #expect(badPassphrase.status == 64 && !badPassphrase.stderr.contains("wrong\n"), "\(badPassphrase.stderr)")
            #expect(try run("cli-daemon", [], store: "x.json").status == 64)
            #expect(try run("cli-daemon", ["--secret-env", "UNSET_VARIABLE_FOR_TEST"], store: "x.json").status == 64)
            #expect(try run("cli-daemon", ["--secret-env", "A", "--secret-file", secretFile], store: "x.json").status == 64)
        }
    }
}

import CacheBackends
import CachePostgres
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// A PostgreSQL server whose certificate a private CA issued: `verify-full` with
/// `sslrootcert` (or `PGSSLROOTCERT`) trusts it, and refuses it with another CA.
@Suite("PostgreSQL over TLS with a private CA", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
struct PostgresTLSTests {
    /// Runs openssl with `arguments`.
    static func openssl(_ arguments: [String]) throws {
        let result = try CLIProcess.runProcess("/usr/bin/openssl", arguments)
        guard result.status == 0 else { throw PeerError(message: "openssl \(arguments.first ?? "") failed: \(result.stderr)") }
    }

    /// A CA in `folder` (`NAME.crt`, `NAME.key`).
    static func makeCA(_ name: String, in folder: URL) throws -> String {
        let base = folder.appendingPathComponent(name).path
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", base + ".key", "-out", base + ".crt", "-days", "2",
                     "-subj", "/CN=\(name)", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return base
    }

    @Test("verify-full with sslrootcert naming the private CA connects and serves; with PGSSLROOTCERT too; another CA is refused, a CA file that is not there is a typed 77; doctor warns about an unverified server elsewhere")
    func privateCA() throws {
        try withTemporaryDirectory { folder in
            let ca = try Self.makeCA("test-ca", in: folder)
            let wrong = try Self.makeCA("other-ca", in: folder)
            let tls = folder.appendingPathComponent("tls")
            try FileManager.default.createDirectory(at: tls, withIntermediateDirectories: false)
            let server = tls.appendingPathComponent("server").path
            try Self.openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", server + ".key", "-out", server + ".csr", "-subj", "/CN=127.0.0.1"])
            let extensions = folder.appendingPathComponent("san.ext").path
            try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8).write(to: URL(fileURLWithPath: extensions))
            try Self.openssl(["x509", "-req", "-in", server + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial", "-out", server + ".crt",
                              "-days", "2", "-extfile", extensions])
            chmod(tls.path, 0o755)
            chmod(server + ".key", 0o644)  // the cluster copies it and makes its own copy 0600

            let database = try PostgresServer.start(tls: tls)
            defer { database.remove() }
            setenv("PGPASSWORD", database.password, 1)
            let spec = database.freshSpec("sslmode=verify-full&sslrootcert=\(ca).crt")
            let store = try PostgresTokenCache(spec: spec)
            defer { store.close() }
            try store.add(response: ["access_token": "at", "expires_in": 3600, "client_info": "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ"],
                          context: TokenResponseContext(clientID: "c", requestedScopes: ["s"], tokenEndpoint: "https://login.example/t/oauth2/v2.0/token", now: 1))
            #expect(try store.snapshot().entryCounts[.accessToken] == 1)

            let schemaOnly = spec.replacingOccurrences(of: "&sslrootcert=\(ca).crt", with: "")
            let withVariable = try CLIProcess.runProcess(CLIProcess.executable, ["tokens", "--store", schemaOnly],
                                                         environment: database.environment.merging(["PGSSLROOTCERT": ca + ".crt"]) { $1 })
            #expect(withVariable.status == 0, "\(withVariable.stderr)")

            let refused = try CLIProcess.runProcess(CLIProcess.executable, ["tokens", "--store", schemaOnly + "&sslrootcert=\(wrong).crt"], environment: database.environment)
            #expect(refused.status == 77 && refused.stderr.contains("not trusted") && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")

            let missing = try CLIProcess.runProcess(CLIProcess.executable, ["tokens", "--store", schemaOnly + "&sslrootcert=\(folder.path)/none.crt"], environment: database.environment)
            #expect(missing.status == 77 && missing.stderr.contains("cannot be read") && missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")

            let elsewhere = try CLIProcess.runProcess(CLIProcess.executable, ["doctor", "--store", "postgres://tokencache@db.invalid:5432/tokencache?sslmode=require&connect_timeout=2"],
                                                      environment: database.environment)
            #expect(elsewhere.stdout.contains("its certificate is not checked") && elsewhere.stdout.contains("sslmode=verify-full"), "\(elsewhere.stdout)")
        }
    }
}

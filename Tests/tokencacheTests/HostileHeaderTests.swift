import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// An encrypted store's key derivation parameters are not authenticated until a key has
/// been derived with them: a header that asks for more than this version writes is refused
/// before any work.
@Suite("Bounded work from an encrypted store's header", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
struct HostileHeaderTests {
    /// A store at `spec` with one sign-in in it.
    static func seed(_ spec: String) throws {
        let store = try StoreDescription(spec: spec).open()
        try store.add(response: ["access_token": "at", "refresh_token": "rt", "expires_in": 3600, "client_info": "eyJ1aWQiOiJ1IiwidXRpZCI6InQifQ"],
                      context: TokenResponseContext(clientID: "c", requestedScopes: ["s"], tokenEndpoint: "https://login.example/t/oauth2/v2.0/token", now: 1))
    }

    /// `tokencache accounts` on `spec`: 65 within a second, on one line naming the limit.
    static func expectRefusedQuickly(_ spec: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let started = ContinuousClock.now
        let result = try CLIProcess.run(["accounts", "--store", spec])
        #expect(ContinuousClock.now - started < .seconds(1), "refused before deriving", sourceLocation: sourceLocation)
        #expect(result.status == 65, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("at most log2(N) = 15") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test("An encrypted file and an encrypted SQLite store whose header asks for scrypt log2(N) = 22, r = 32 exit 65 within one second")
    func scryptBounds() throws {
        try withTemporaryDirectory { folder in
            let passphrase = folder.appendingPathComponent("passphrase")
            try Data("a passphrase\n".utf8).write(to: passphrase)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passphrase.path)

            let file = folder.appendingPathComponent("tokens.bin")
            let fileSpec = "encrypted:\(file.path)?passphrase-file=\(passphrase.path)"
            try Self.seed(fileSpec)
            var bytes = try Data(contentsOf: file)
            bytes[7] = 22                                  // log2(N)
            bytes.replaceSubrange(8..<12, with: [0, 0, 0, 32])  // r, big-endian
            try bytes.write(to: file)
            try Self.expectRefusedQuickly(fileSpec)

            let database = folder.appendingPathComponent("tokens.db")
            let sqliteSpec = "sqlite:\(database.path)?passphrase-file=\(passphrase.path)"
            try Self.seed(sqliteSpec)
            _ = try PythonPeer.run(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE tokencache_meta SET value = '22 32 1' WHERE name = 'scrypt'\"); c.commit()",
                                    database.path])
            try Self.expectRefusedQuickly(sqliteSpec)
        }
    }
}

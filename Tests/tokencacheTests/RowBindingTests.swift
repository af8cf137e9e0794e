import CacheBackends
import CachePostgres
import Foundation
import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// A row store's lookup columns are in the clear: anyone who can write the database can
/// move a row to another user, app or tenant by editing them. Such a row must never be
/// served, in a plain or an encrypted store, and doctor must report it.
@Suite("Rows moved between users are never served", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
struct RowBindingTests {
    static let ann = "00000000-0000-4000-8000-0000000000a1.7e0ab0d0-0000-4000-8000-00000000a1d0"
    static let bob = "00000000-0000-4000-8000-0000000000b0.7e0ab0d0-0000-4000-8000-00000000a1d0"
    static let scopes = ["https://graph.example/User.Read"]

    /// One attack: the SQL that moves ann's rows, and the lookup that would then find them.
    struct Attack: CustomStringConvertible {
        let name: String
        let set: String
        let query: AccessTokenQuery
        /// Whether bob's silent refresh must be tried (the refresh token was moved to him).
        let movesOwner: Bool
        var description: String { name }
    }

    static func attacks(postgres: Bool) -> [Attack] {
        func query(_ account: String, client: String = "cli-app", realm: String = "organizations") -> AccessTokenQuery {
            AccessTokenQuery(clientID: client, environment: "127.0.0.1", realm: realm, homeAccountID: account, scopes: scopes, now: Int64(Date().timeIntervalSince1970))
        }
        var list = [
            Attack(name: "owner", set: "home_account_id = '\(bob)'" + (postgres ? ", partition = 'user:\(bob)'" : ""), query: query(bob), movesOwner: true),
            Attack(name: "client", set: "client_id = 'other-app'", query: query(ann, client: "other-app"), movesOwner: false),
            Attack(name: "realm", set: "realm = 'other-tenant'", query: query(ann, realm: "other-tenant"), movesOwner: false),
        ]
        if postgres {
            list.append(Attack(name: "partition", set: "partition = 'user:\(bob)'", query: query(bob), movesOwner: true))
        }
        return list
    }

    /// Signs ann and bob in to `store`; returns the fingerprint of ann's refresh token (as
    /// the identity server logs it).
    static func signIn(_ store: any TokenCacheStore, _ server: IdentityServer) async throws -> String {
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: store,
                                              options: ApplicationOptions(http: HTTPOptions(allowsPlainHTTPOnLoopback: true)))
        try await server.control("reset")
        _ = try await app.acquireToken(byUsername: "ann@contoso.example", password: "pw-ann-1", scopes: scopes)
        let annToken = try #require(try await server.requests().last?["issued_rt"])
        try await server.control("config", ["expires_in": 200])
        _ = try await app.acquireToken(byUsername: "bob@contoso.example", password: "pw-bob-1", scopes: scopes)
        try await server.control("config", ["expires_in": 3600])
        return annToken
    }

    /// After `attack`: the lookup is a miss or a typed error, never ann's token; bob's
    /// silent refresh never sends ann's refresh token; doctor names the moved entry.
    static func expectContained(_ attack: Attack, store: any TokenCacheStore, spec: String, annToken: String, server: IdentityServer,
                                environment: [String: String] = [:]) async throws {
        do {
            switch try store.lookupAccessToken(attack.query) {
            case .hit(let token), .refreshDue(let token):
                let leaked = token.homeAccountID == ann
                #expect(!leaked, "\(attack): a moved token was served")
            case .miss:
                break
            }
        } catch let error as CacheStorageError {
            #expect(error.code == .damaged && error.reason.contains("does not match its row"), "\(attack): \(error)")
        }
        if attack.movesOwner {
            let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: store,
                                                  options: ApplicationOptions(http: HTTPOptions(allowsPlainHTTPOnLoopback: true)))
            try await server.control("reset")
            let bob = Account(key: "bob", fields: ["home_account_id": .string(Self.bob), "environment": "127.0.0.1", "realm": "organizations"])
            _ = try? await app.acquireTokenSilent(scopes: scopes, account: bob, forceRefresh: true)
            let sent = try await server.requests().compactMap { $0["rt"] }
            #expect(!sent.contains(annToken), "\(attack): ann's refresh token was sent for bob")
        }
        let doctor = try CLIProcess.runProcess(CLIProcess.executable, ["doctor", "--store", spec], environment: environment)
        #expect(doctor.status == 65 && (doctor.stdout + doctor.stderr).contains("does not match its row"), "\(attack): \(doctor.stdout) \(doctor.stderr)")
    }

    @Test("SQLite, plain and encrypted: a row moved to another owner, client or realm with sqlite3 is never served, its refresh token never sent, and doctor reports it",
          arguments: [false, true])
    func sqlite(encrypted: Bool) async throws {
        let server = try IdentityServer()
        for attack in Self.attacks(postgres: false) {
            try await withTemporaryDirectoryAsync { folder in
                let key = folder.appendingPathComponent("key")
                FileManager.default.createFile(atPath: key.path, contents: Data(repeating: 9, count: 32), attributes: [.posixPermissions: 0o600])
                let path = folder.appendingPathComponent("tokens.db").path
                let spec = "sqlite:\(path)" + (encrypted ? "?key-file=\(key.path)" : "")
                let annToken = try await Self.signIn(try StoreDescription(spec: spec).open(), server)
                try PythonPeer.run(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()", path,
                                    "UPDATE entries SET \(attack.set) WHERE home_account_id = '\(Self.ann)'"])
                try await Self.expectContained(attack, store: try StoreDescription(spec: spec).open(), spec: spec, annToken: annToken, server: server)
            }
        }
    }

    @Test("PostgreSQL, plain and encrypted: a row moved to another owner, partition, client or realm with psql is never served, its refresh token never sent, and doctor reports it",
          arguments: [false, true])
    func postgres(encrypted: Bool) async throws {
        let server = try IdentityServer()
        let database = try PostgresServer.shared
        setenv("PGPASSWORD", database.password, 1)
        for attack in Self.attacks(postgres: true) {
            try await withTemporaryDirectoryAsync { folder in
                let key = folder.appendingPathComponent("key")
                FileManager.default.createFile(atPath: key.path, contents: Data(repeating: 9, count: 32), attributes: [.posixPermissions: 0o600])
                let spec = database.freshSpec(encrypted ? "key-file=\(key.path)" : "")
                let schema = try #require(spec.firstMatch(of: /schema=([a-z0-9_]+)/)?.output.1)
                let store = try PostgresTokenCache(spec: spec)
                defer { store.close() }
                let annToken = try await Self.signIn(store, server)
                try database.psql("UPDATE \(schema).entries SET \(attack.set) WHERE home_account_id = '\(Self.ann)'")
                let fresh = try PostgresTokenCache(spec: spec)
                defer { fresh.close() }
                try await Self.expectContained(attack, store: fresh, spec: spec, annToken: annToken, server: server, environment: database.environment)
            }
        }
    }
}

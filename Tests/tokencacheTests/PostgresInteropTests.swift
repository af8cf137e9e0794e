import CacheBackends
import CachePostgres
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// The PostgreSQL store under several app instances at once, and a server that crashes
/// during a write storm.
@Suite("PostgreSQL store across processes")
struct PostgresInteropTests {
    static let client = PersistenceInteropTests.client

    /// A sign-in of `user` whose access token is `secret`, for its own scope `scope`.
    static func signIn(_ user: String, scope: String, secret: String) -> String {
        PersistenceInteropTests.signIn(user)
            .replacingOccurrences(of: "\"access_token\": \"at-\(user)\"", with: "\"access_token\": \"\(secret)\"")
            .replacingOccurrences(of: "\"scope\": \"User.Read openid profile offline_access\"", with: "\"scope\": \"\(scope) openid profile offline_access\"")
    }

    /// Writes `count` responses for writer `writer` into `folder`, round-robin over `users`;
    /// returns the files and what each wrote (user, scope, secret).
    static func responses(writer: Int, count: Int, users: [String], in folder: URL) throws -> (files: [String], writes: [(user: String, scope: String, secret: String)]) {
        var files: [String] = []
        var writes: [(String, String, String)] = []
        for index in 0..<count {
            let user = users[(index * 7 + writer) % users.count]
            let scope = "api://app/w\(writer)-\(index)"
            let secret = "at-w\(writer)-\(index)"
            let file = folder.appendingPathComponent("w\(writer)-\(index).json")
            try Data(signIn(user, scope: scope, secret: secret).utf8).write(to: file)
            files.append(file.path)
            writes.append((user, scope, secret))
        }
        return (files, writes)
    }

    static func addArguments(store: String, responses: [String]) -> [String] {
        var arguments = PersistenceInteropTests.addArguments(store: store, response: responses[0])
        for extra in responses.dropFirst() { arguments += ["--response", extra] }
        return arguments
    }

    static func query(_ user: String, scope: String) -> AccessTokenQuery {
        AccessTokenQuery(clientID: client, environment: "login.microsoftonline.com", realm: "common", homeAccountID: "\(user).tenant", scopes: [scope], now: PersistenceInteropTests.now)
    }

    /// The users with an access token but no refresh token or account (a half-written sign-in).
    static func partialSignIns(_ cache: TokenCache) -> Set<String> {
        func users<Entry: CacheEntry>(_ type: Entry.Type) -> Set<String> { Set(cache.entries(type).compactMap(\.homeAccountID)) }
        return users(AccessToken.self).subtracting(users(RefreshToken.self).intersection(users(Account.self)).intersection(users(IdToken.self)))
    }

    @Test("4 app instances × 2,000 writes to overlapping users: none lost, every sign-in whole, and a warm L1 returns every new token")
    func fourInstances() throws {
        let server = try PostgresServer.shared
        setenv("PGPASSWORD", server.password, 1)
        let spec = server.freshSpec()
        let users = (0..<40).map { "user\($0)" }
        try withTemporaryDirectory { folder in
            // A warm L1 in this process: every user's partition cached before the storm.
            let cached = try PostgresTokenCache(spec: spec + "&l1=on")
            defer { cached.close() }
            let seed = PostgresTokenCache(endpoint: cached.endpoint)
            for user in users {
                try seed.add(response: try JSONValue(parsing: Data(PostgresInteropTests.signIn(user, scope: "api://app/seed", secret: "at-seed-\(user)").utf8)).objectValue!,
                             context: TokenResponseContext(clientID: PostgresInteropTests.client, requestedScopes: ["api://app/seed"], tokenEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/token", grantType: "authorization_code", now: PersistenceInteropTests.now))
                #expect(try cached.lookupAccessToken(PostgresInteropTests.query(user, scope: "api://app/seed")).token?.secret == "at-seed-\(user)")
            }
            seed.close()

            var writes: [(user: String, scope: String, secret: String)] = []
            var processes: [BackgroundProcess] = []
            for writer in 0..<4 {
                let (files, written) = try PostgresInteropTests.responses(writer: writer, count: 2000, users: users, in: folder)
                writes += written
                processes.append(try BackgroundProcess(CLIProcess.executable, PostgresInteropTests.addArguments(store: spec, responses: files), environment: server.environment))
            }
            for process in processes {
                let result = process.wait()
                #expect(result.status == 0, "a writer failed: \(result.stderr.prefix(300))")
                #expect(result.stdout.components(separatedBy: "Added ").count - 1 == 2000)
            }

            let snapshot = try PostgresTokenCache(endpoint: cached.endpoint).snapshot()
            let stored = Set(snapshot.entries(AccessToken.self).compactMap(\.secret))
            let lost = writes.filter { !stored.contains($0.secret) }
            #expect(lost.isEmpty, "\(lost.count) of \(writes.count) writes lost")
            #expect(PostgresInteropTests.partialSignIns(snapshot).isEmpty)

            // Every new token through the warm L1 (each user's partition was cached before
            // the other instances changed it).
            var stale = 0
            for write in writes where try cached.lookupAccessToken(PostgresInteropTests.query(write.user, scope: write.scope)).token?.secret != write.secret {
                stale += 1
            }
            #expect(stale == 0, "\(stale) lookups through the L1 missed a token another instance had written")
        }
    }

    @Test("The server killed and restarted during a write storm: every acknowledged write is there, no sign-in half written, errors typed")
    func serverCrash() throws {
        let server = try PostgresServer.start()
        defer { server.remove() }
        let spec = server.url + "?schema=storm"
        let users = (0..<30).map { "user\($0)" }
        try withTemporaryDirectory { folder in
            var pending: [[String]] = []
            var writesByFile: [String: String] = [:]
            for writer in 0..<3 {
                let (files, written) = try PostgresInteropTests.responses(writer: writer, count: 1000, users: users, in: folder)
                pending.append(files)
                for (file, write) in zip(files, written) { writesByFile[file] = write.secret }
            }
            var acknowledged: [String] = []
            var failures: [Int32: Int] = [:]
            var crashes = 0
            var rounds = 0
            // Writers run; the server is killed and restarted under them; a writer that
            // gives up (exit 69 or 75) is started again with what it had not acknowledged.
            while pending.contains(where: { !$0.isEmpty }), rounds < 40 {
                rounds += 1
                let running = pending.enumerated().filter { !$0.element.isEmpty }.map { index, files in
                    (index, files, try? BackgroundProcess(CLIProcess.executable, PostgresInteropTests.addArguments(store: spec, responses: files), environment: server.environment))
                }
                while crashes < 3 {
                    Thread.sleep(forTimeInterval: 0.4)
                    try server.kill()
                    crashes += 1
                    Thread.sleep(forTimeInterval: 0.3)
                    try server.restart()
                }
                for (index, files, process) in running {
                    guard let process else { continue }
                    let result = process.wait()
                    let done = result.stdout.components(separatedBy: "Added ").count - 1
                    acknowledged += files.prefix(done)
                    pending[index] = Array(files.dropFirst(done))
                    if result.status != 0 {
                        failures[result.status, default: 0] += 1
                        #expect(result.stderr.contains("tokencache:") && !result.stderr.contains("at-w"), "an untyped or leaking error: \(result.stderr.prefix(300))")
                    }
                }
            }
            #expect(crashes == 3)
            let unfinished = pending.map(\.count).reduce(0, +)
            #expect(unfinished == 0, "writers never finished")
            #expect(Set(failures.keys).isSubset(of: [69, 75]), "exit codes: \(failures)")

            setenv("PGPASSWORD", server.password, 1)
            let snapshot = try PostgresTokenCache(spec: spec).snapshot()
            let stored = Set(snapshot.entries(AccessToken.self).compactMap(\.secret))
            let missing = acknowledged.filter { !stored.contains(writesByFile[$0] ?? "") }
            #expect(missing.isEmpty, "\(missing.count) acknowledged writes are missing")
            #expect(acknowledged.count == 3000)
            #expect(PostgresInteropTests.partialSignIns(snapshot).isEmpty)
            let doctor = try CLIProcess.runProcess(CLIProcess.executable, ["doctor", "--store", spec], environment: server.environment)
            #expect(doctor.stdout.contains("readable: ok"), "\(doctor.stdout) \(doctor.stderr)")
        }
    }

    @Test("The CLI on PostgreSQL: a password in the SPEC 64, a wrong password 77, a stopped server 69, another app's schema 65")
    func cliErrors() throws {
        let server = try PostgresServer.shared
        let spec = server.freshSpec()
        func run(_ arguments: [String], environment: [String: String] = server.environment) throws -> CLIProcess.Result {
            try CLIProcess.runProcess(CLIProcess.executable, arguments, environment: environment)
        }
        let withPassword = spec.replacingOccurrences(of: "tokencache@", with: "tokencache:\(server.password)@")
        var result = try run(["accounts", "--store", withPassword, "--authority", PersistenceInteropTests.authority])
        #expect(result.status == 64)
        #expect(!result.stderr.contains(server.password))
        #expect(result.stderr.split(separator: "\n").count == 1)

        result = try run(["accounts", "--store", spec, "--authority", PersistenceInteropTests.authority], environment: ["PGPASSWORD": "wrong-password"])
        #expect(result.status == 77, "\(result.stderr)")
        #expect(!result.stderr.contains("wrong-password"))

        try server.psql("CREATE SCHEMA IF NOT EXISTS shop; CREATE TABLE IF NOT EXISTS shop.orders (id int)")
        result = try run(["accounts", "--store", server.url + "?schema=shop", "--authority", PersistenceInteropTests.authority])
        #expect(result.status == 65, "\(result.stderr)")

        let stopped = try PostgresServer.start()
        try stopped.stop()
        defer { stopped.remove() }
        result = try run(["accounts", "--store", stopped.url, "--authority", PersistenceInteropTests.authority], environment: stopped.environment)
        #expect(result.status == 69, "\(result.stderr)")
        #expect(result.stderr.contains("running"))
    }
}

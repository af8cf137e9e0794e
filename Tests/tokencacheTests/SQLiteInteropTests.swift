import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// The SQLite store under many processes, crashes, and exchange with MSAL Python's files.
@Suite("SQLite store across processes")
struct SQLiteInteropTests {
    static let client = PersistenceInteropTests.client
    static let now = PersistenceInteropTests.now

    /// Writes one sign-in response per user into `folder`; returns the files.
    static func responses(_ users: [String], in folder: URL) throws -> [String] {
        try users.map { user in
            let file = folder.appendingPathComponent("response-\(user).json")
            try Data(PersistenceInteropTests.signIn(user).utf8).write(to: file)
            return file.path
        }
    }

    static func addArguments(store: String, responses: [String]) -> [String] {
        var arguments = PersistenceInteropTests.addArguments(store: store, response: responses[0])
        for extra in responses.dropFirst() { arguments += ["--response", extra] }
        return arguments
    }

    /// The users whose sign-in is wholly in the store: their access token, refresh token and
    /// account. A user with only some of them is reported through `partial`.
    static func signedIn(_ store: SQLiteTokenCache, partial: inout [String]) throws -> Set<String> {
        let cache = try store.snapshot()
        func users<Entry: CacheEntry>(_ type: Entry.Type) -> Set<String> {
            Set(cache.entries(type).compactMap { $0.homeAccountID?.replacingOccurrences(of: ".tenant", with: "") })
        }
        let accessTokens = users(AccessToken.self), refreshTokens = users(RefreshToken.self), accounts = users(Account.self)
        partial = Array(accessTokens.symmetricDifference(refreshTokens).union(accessTokens.symmetricDifference(accounts)))
        return accessTokens.intersection(refreshTokens).intersection(accounts)
    }

    @Test("20 processes writing distinct tokens at once: none lost, no busy error reaches a caller")
    func twentyWriters() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("tokens.db").path
            let store = "sqlite:" + path
            let perWriter = 25
            var writers: [BackgroundProcess] = []
            for writer in 0..<20 {
                let files = try SQLiteInteropTests.responses((0..<perWriter).map { "w\(writer)-\($0)" }, in: folder)
                writers.append(try BackgroundProcess(CLIProcess.executable, SQLiteInteropTests.addArguments(store: store, responses: files)))
            }
            for (index, writer) in writers.enumerated() {
                let result = writer.wait()
                #expect(result.status == 0, "writer \(index): \(result.stderr)")
                #expect(!result.stderr.lowercased().contains("busy") && !result.stderr.lowercased().contains("locked"))
            }
            var partial: [String] = []
            let found = try SQLiteInteropTests.signedIn(SQLiteTokenCache(path: path), partial: &partial)
            #expect(found.count == 20 * perWriter)
            #expect(partial.isEmpty)
        }
    }

    @Test("kill -9 during writes, 200 times: integrity_check is ok and every committed token is there, whole")
    func killedWriters() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("tokens.db").path
            let store = "sqlite:" + path
            var random = SeededGenerator(seed: 11)
            var committed: Set<String> = []
            var killedMidway = 0
            for round in 0..<200 {
                let users = (0..<40).map { "r\(round)-\($0)" }
                let files = try SQLiteInteropTests.responses(users, in: folder)
                let writer = try BackgroundProcess(CLIProcess.executable, SQLiteInteropTests.addArguments(store: store, responses: files))
                usleep(UInt32.random(in: 5_000...150_000, using: &random))
                writer.send(SIGKILL)
                let result = writer.wait()
                // Every response the writer reported was committed before the report.
                let reported = result.stdout.split(separator: "\n").filter { $0.hasPrefix("Added") }.count
                committed.formUnion(users.prefix(reported))
                if reported > 0 && reported < users.count { killedMidway += 1 }
                let reopened = SQLiteTokenCache(path: path)
                defer { reopened.close() }
                let health = try reopened.health(full: true)
                #expect(health.isOK, "round \(round): \(health.problems)")
                // This round's sign-ins are each whole or absent; every 25 rounds, all of them.
                var whole = true
                for user in users {
                    let token = try reopened.lookupAccessToken(TokenStoreConformance.query(user, now: SQLiteInteropTests.now)).token != nil
                    let refresh = try !reopened.refreshTokenCandidates(clientID: SQLiteInteropTests.client, environment: TokenStoreConformance.environment, homeAccountID: "\(user).tenant").isEmpty
                    whole = whole && token == refresh && (token || !committed.contains(user))
                }
                #expect(whole, "round \(round): a sign-in was half written or lost")
                var partial: [String] = []
                if round % 25 == 24 {
                    let found = try SQLiteInteropTests.signedIn(reopened, partial: &partial)
                    #expect(partial.isEmpty, "round \(round): half-written sign-ins \(partial)")
                    #expect(found.isSuperset(of: committed), "round \(round): lost \(committed.subtracting(found).sorted().prefix(5))")
                    whole = whole && partial.isEmpty && found.isSuperset(of: committed)
                }
                if !health.isOK || !whole { break }
                for file in files { unlink(file) }
            }
            // Kills landed between commits of a running writer, not only before or after it.
            #expect(killedMidway > 20, "only \(killedMidway) writers were killed midway")
            #expect(!committed.isEmpty)
        }
    }

    @Test("copy between sqlite: and every other store (file, encrypted, keyring) keeps every field; MSAL Python reads the export", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func lossless() throws {
        try withTemporaryDirectory { folder in
            try PythonPeer.run([PythonPeer.script("foreign_cache.py"), folder.path])
            let foreign = folder.appendingPathComponent("foreign.json").path
            let expected = try TokenCache(serialized: try Data(contentsOf: URL(fileURLWithPath: foreign))).serialize()
            let key = folder.appendingPathComponent("key").path
            try Data(repeating: 3, count: 32).write(to: URL(fileURLWithPath: key))
            chmod(key, 0o600)
            setenv("TOKENCACHE_COPY_PASSPHRASE", "copy passphrase", 1)
            var previous = "file:" + foreign
            var chain = [
                "sqlite:\(folder.path)/a.db",
                "encrypted:\(folder.path)/b.bin?key-file=\(key)",
                "sqlite:\(folder.path)/c.db?key-file=\(key)",
                "sqlite:\(folder.path)/d.db?passphrase-env=TOKENCACHE_COPY_PASSPHRASE",
            ]
            if PythonPeer.hasPrivateKeyring {
                chain += ["keyring:msal-extensions?signal=\(folder.path)/k.signal", "sqlite:\(folder.path)/f.db?encrypt=keyring"]
            }
            chain.append("file:\(folder.path)/e.json")
            for destination in chain {
                let copied = try CLIProcess.run(["copy", "--from", previous, "--to", destination])
                #expect(copied.status == 0, "\(previous) → \(destination): \(copied.stderr)")
                previous = destination
            }
            let exported = folder.appendingPathComponent("e.json").path
            #expect(try Data(contentsOf: URL(fileURLWithPath: exported)) == Data(expected))
            // MSAL Python opens the exported file and finds the same accounts as in the original.
            let original = try PythonPeer.run([PythonPeer.script("msal_read.py"), foreign, "c", "https://login.microsoftonline.com/common", "User.Read"])
            let roundTripped = try PythonPeer.run([PythonPeer.script("msal_read.py"), exported, "c", "https://login.microsoftonline.com/common", "User.Read"])
            #expect(original == roundTripped)
            #expect(original.contains("accounts"))
        }
    }

    @Test("The CLI on SQLite: wrong key 77, not a database 65, another app's database 65, prune and doctor")
    func cliErrors() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("tokens.db").path
            let key = folder.appendingPathComponent("key").path
            try Data(repeating: 1, count: 32).write(to: URL(fileURLWithPath: key))
            chmod(key, 0o600)
            let files = try SQLiteInteropTests.responses(["ann", "bob"], in: folder)
            #expect(try CLIProcess.run(SQLiteInteropTests.addArguments(store: "sqlite:\(path)?key-file=\(key)", responses: files)).status == 0)

            let plain = try CLIProcess.run(["accounts", "--store", "sqlite:" + path])
            #expect(plain.status == 77)
            #expect(plain.stderr.contains("encrypted"))
            setenv("TOKENCACHE_WRONG_PASSPHRASE", "nope", 1)
            let wrongSource = try CLIProcess.run(["accounts", "--store", "sqlite:\(path)?passphrase-env=TOKENCACHE_WRONG_PASSPHRASE"])
            #expect(wrongSource.status == 77)

            let garbage = folder.appendingPathComponent("garbage.db").path
            try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: garbage))
            let damaged = try CLIProcess.run(["accounts", "--store", "sqlite:" + garbage])
            #expect(damaged.status == 65)
            #expect(damaged.stderr.contains("not a SQLite database"))
            #expect(damaged.stderr.split(separator: "\n").count == 1)

            for spec in ["sqlite:", "sqlite:\(path)?bogus=1", "sqlite:\(path)?key-file=\(key)&passphrase-env=X"] {
                let refused = try CLIProcess.run(["accounts", "--store", spec])
                #expect(refused.status == 64, "\(spec): \(refused.stderr)")
                #expect(refused.stderr.split(separator: "\n").count == 1)
            }
            // A garbage response after a good one: the good one stays, the bad one is exit 65.
            let junk = folder.appendingPathComponent("junk.json").path
            try Data("{\"access_token\": ".utf8).write(to: URL(fileURLWithPath: junk))
            let mixed = try CLIProcess.run(SQLiteInteropTests.addArguments(store: "sqlite:\(path)?key-file=\(key)", responses: try SQLiteInteropTests.responses(["carol"], in: folder) + [junk]))
            #expect(mixed.status == 65)
            #expect(mixed.stdout.contains("Added"))
            #expect(try CLIProcess.run(["lookup", "--store", "sqlite:\(path)?key-file=\(key)", "--client-id", SQLiteInteropTests.client, "--authority", PersistenceInteropTests.authority,
                                        "--scopes", "User.Read", "--account", "carol.tenant", "--now", String(SQLiteInteropTests.now)]).status == 0)

            let pruned = try CLIProcess.run(["prune", "--store", "sqlite:\(path)?key-file=\(key)", "--now", String(SQLiteInteropTests.now + 7200)])
            #expect(pruned.status == 0, "\(pruned.stderr)")
            #expect(pruned.stdout.contains("3"))
            let doctor = try CLIProcess.run(["doctor", "--store", "sqlite:\(path)?key-file=\(key)"])
            #expect(doctor.stdout.contains("integrity: ok"), "\(doctor.stdout)")
            #expect(doctor.stdout.contains("encrypted: yes"))
            let badDoctor = try CLIProcess.run(["doctor", "--store", "sqlite:" + garbage])
            #expect(badDoctor.status == 65)
        }
    }
}

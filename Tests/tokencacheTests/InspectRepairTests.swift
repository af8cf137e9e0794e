import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// `tokencache inspect` and `repair` on a fixture cache that carries each problem they know
/// (`Tests/Fixtures/inspect/problems.json`): duplicate refresh tokens left by a key format
/// change, entries under keys MSAL would not compute, an access token without `expires_on`,
/// one with a null target, a refresh token without a secret. The outputs are compared with
/// golden files next to the fixture.
@Suite("inspect and repair")
struct InspectRepairTests {
    static let fixtures = PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures/inspect")
    static let now = "1700000000"

    static func golden(_ name: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
    }

    /// A private copy of the fixture (0600 in a 0700 folder), as a user's cache would be.
    static func copyFixture(to folder: URL) throws -> String {
        let path = folder.appendingPathComponent("c.json").path
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("problems.json").path, toPath: path)
        chmod(path, 0o600)
        chmod(folder.path, 0o700)
        return path
    }

    @Test("inspect reports each problem (exit 1); repair fixes them after a byte-exact backup, keeps every account's refresh token, and MSAL Python reads the result; a second repair changes nothing")
    func inspectThenRepair() throws {
        try withTemporaryDirectory { folder in
            let path = try Self.copyFixture(to: folder)
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            let store = "file:" + path
            #expect(throws: (any Error).self, "the library itself refuses the broken file") { _ = try StoreDescription(spec: store).open().snapshot() }

            let inspected = try CLIProcess.run(["inspect", "--store", store, "--now", Self.now])
            #expect(inspected.status == 1, "\(inspected.stderr)")
            #expect(inspected.stdout.replacingOccurrences(of: folder.path, with: "<dir>") == (try Self.golden("problems.inspect.txt")))
            let json = try CLIProcess.run(["inspect", "--store", store, "--now", Self.now, "--json"])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let kinds = (report["problems"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(kinds == ["schema", "schema", "key-mismatch", "key-mismatch", "duplicate-refresh-token", "key-mismatch", "schema"])
            let printsSecret = ["rt-secret", "at-secret", "id-secret"].contains { inspected.stdout.contains($0) || json.stdout.contains($0) }
            #expect(!printsSecret, "no secret is printed")

            let repaired = try CLIProcess.run(["repair", "--store", store, "--now", Self.now])
            #expect(repaired.status == 0, "\(repaired.stderr)")
            #expect(repaired.stdout.replacingOccurrences(of: folder.path, with: "<dir>") == (try Self.golden("problems.repair.txt")))
            let backup = path + ".repair-backup-" + Self.now
            #expect(try Data(contentsOf: URL(fileURLWithPath: backup)) == original, "the backup is the file as it was")
            var info = stat()
            #expect(stat(backup, &info) == 0 && info.st_mode & 0o777 == 0o600)

            // Every account keeps its refresh token; the library and MSAL Python read the file.
            let cache = try StoreDescription(spec: store).open().snapshot()
            let owners = Set(cache.entries(RefreshToken.self).filter { $0.secret != nil }.compactMap(\.homeAccountID))
            #expect(owners.count == 2, "ann's newer refresh token and bob's only one are kept")
            let read = try PythonPeer.run([PythonPeer.script("msal_read.py"), path, "cli-app", "https://login.microsoftonline.com/organizations", "https://graph.example/User.Read"],
                                          environment: ["ORACLE_NOW": Self.now])
            let seen = try #require(try JSONSerialization.jsonObject(with: Data(read.utf8)) as? [String: Any])
            #expect((seen["accounts"] as? [String])?.count == 2)
            let tokens = seen["tokens"] as? [String: Any] ?? [:]
            #expect(tokens.values.allSatisfy { $0 is String }, "MSAL Python finds each account's access token")

            let after = try Data(contentsOf: URL(fileURLWithPath: path))
            let again = try CLIProcess.run(["repair", "--store", store, "--now", "1700000001"])
            #expect(again.status == 0 && again.stdout == "nothing to repair\n")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == after)
            #expect(!FileManager.default.fileExists(atPath: path + ".repair-backup-1700000001"))
            let clean = try CLIProcess.run(["inspect", "--store", store, "--now", Self.now])
            #expect(clean.status == 0)
            #expect(clean.stdout.replacingOccurrences(of: folder.path, with: "<dir>") == (try Self.golden("repaired.inspect.txt")))
        }
    }

    @Test("repair on an encrypted store: the backup stays encrypted; other store kinds and missing files give one line and the documented code")
    func encryptedAndErrors() throws {
        try withTemporaryDirectory { folder in
            let keyFile = folder.appendingPathComponent("key").path
            try Data((0..<32).map { UInt8($0) }).write(to: URL(fileURLWithPath: keyFile))
            chmod(keyFile, 0o600)
            let path = folder.appendingPathComponent("c.bin").path
            let spec = "encrypted:\(path)?key-file=\(keyFile)"
            try StoreDescription(spec: spec).storage().save(try Data(contentsOf: Self.fixtures.appendingPathComponent("problems.json")))

            let inspected = try CLIProcess.run(["inspect", "--store", spec, "--now", Self.now])
            #expect(inspected.status == 1)
            #expect(inspected.stdout.contains("protection  AES-256-GCM encrypted file"))
            let repaired = try CLIProcess.run(["repair", "--store", spec, "--now", Self.now])
            #expect(repaired.status == 0, "\(repaired.stderr)")
            let backup = try Data(contentsOf: URL(fileURLWithPath: path + ".repair-backup-" + Self.now))
            #expect(backup.range(of: Data("rt-secret".utf8)) == nil, "the backup is still encrypted")
            #expect(try CLIProcess.run(["inspect", "--store", spec, "--now", Self.now]).status == 0)

            let database = try CLIProcess.run(["repair", "--store", "sqlite:" + folder.appendingPathComponent("db").path])
            #expect(database.status == 64 && database.stderr.split(separator: "\n").count == 1, "\(database.stderr)")
            let missing = try CLIProcess.run(["inspect", "--store", "file:" + folder.appendingPathComponent("none.json").path])
            #expect(missing.status == 66 && missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
            let garbage = folder.appendingPathComponent("garbage.json").path
            try Data("{not json".utf8).write(to: URL(fileURLWithPath: garbage))
            let unreadable = try CLIProcess.run(["inspect", "--store", "file:" + garbage])
            #expect(unreadable.status == 65 && unreadable.stderr.split(separator: "\n").count == 1, "\(unreadable.stderr)")
        }
    }

    @Test("A refresh token under MSAL .NET's key form (no scopes) beside MSAL Python's for the same account and client is a duplicate; repair keeps the newer; a family token of another client is not a duplicate; MSAL Python reads the result")
    func shadowingRefreshTokens() throws {
        try withTemporaryDirectory { folder in
            chmod(folder.path, 0o700)
            let path = folder.appendingPathComponent("msal_token_cache.json").path
            try PythonPeer.run([PythonPeer.script("persisted_peer.py"), "write", path, "0", "1", "1700000000"])
            var document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            var tokens = try #require(document["RefreshToken"] as? [String: Any])
            let python = try #require(tokens.values.first as? [String: Any])
            let account = try #require(python["home_account_id"] as? String)
            let environment = try #require(python["environment"] as? String)
            let client = try #require(python["client_id"] as? String)
            // MSAL .NET: no target, the key ends in "--", written later.
            tokens["\(account)-\(environment)-refreshtoken-\(client)--"] = [
                "credential_type": "RefreshToken", "secret": "rt-dotnet-newer", "home_account_id": account, "environment": environment,
                "client_id": client, "last_modification_time": "1700000100"]
            // A family token of another client: not the same token.
            tokens["\(account)-\(environment)-refreshtoken-other-app--"] = [
                "credential_type": "RefreshToken", "secret": "rt-family", "home_account_id": account, "environment": environment,
                "client_id": "other-app", "family_id": "1", "target": "", "last_modification_time": "1700000000"]
            document["RefreshToken"] = tokens
            try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)

            let json = try CLIProcess.run(["inspect", "--store", "file:" + path, "--now", Self.now, "--json"])
            #expect(json.status == 1, "\(json.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let kinds = (report["problems"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(kinds.filter { $0 == "duplicate-refresh-token" }.count == 1, "\(kinds)")

            let repaired = try CLIProcess.run(["repair", "--store", "file:" + path, "--now", Self.now])
            #expect(repaired.status == 0, "\(repaired.stderr)")
            let cache = try StoreDescription(spec: "file:" + path).open().snapshot()
            let mine = cache.entries(RefreshToken.self).filter { $0.clientID == client }
            #expect(mine.count == 1)
            let keptNewer = mine.first?.secret == "rt-dotnet-newer"
            #expect(keptNewer, "the newer refresh token is kept")
            #expect(cache.entries(RefreshToken.self).contains { $0.clientID == "other-app" }, "the family token of another client stays")
            let accounts = try PythonPeer.run([PythonPeer.script("persisted_peer.py"), "accounts", path])
            #expect(accounts.contains(account))
        }
    }
}

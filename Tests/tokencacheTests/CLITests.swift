import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// The `tokencache` command as users run it: the documented spellings, output and exit codes.
@Suite("tokencache CLI")
struct CLITests {
    static let authority = "https://login.microsoftonline.com/common"
    static let client = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    static let now: Int64 = 1_700_000_000
    static let clientInfo = "eyJ1aWQiOiJ1aWQxIiwidXRpZCI6InRpZDEifQ"  // {"uid":"uid1","utid":"tid1"}
    static let idToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdWIxIiwib2lkIjoib2lkMSIsInRpZCI6InRpZDEiLCJwcmVmZXJyZWRfdXNlcm5hbWUiOiJBbm5AQ29udG9zby5jb20ifQ."

    static func response(at: String = "AT-SECRET-1", rt: String = "RT-SECRET-1") -> String {
        """
        {"token_type": "Bearer", "expires_in": 3600, "refresh_in": 1800, "access_token": "\(at)", "refresh_token": "\(rt)",
         "client_info": "\(clientInfo)", "id_token": "\(idToken)", "scope": "User.Read openid profile offline_access"}
        """
    }

    func addResponse(store: String, folder: URL, body: String = CLITests.response()) throws -> CLIProcess.Result {
        let file = folder.appendingPathComponent("response-\(UUID().uuidString).json")
        try Data(body.utf8).write(to: file)
        return try CLIProcess.run(["add-response", "--store", store, "--client-id", CLITests.client, "--authority", CLITests.authority,
                                   "--scopes", "User.Read openid profile offline_access", "--response", file.path,
                                   "--grant-type", "authorization_code", "--now", String(CLITests.now)])
    }

    @Test("add-response, accounts, tokens, lookup, remove-account and prune work end to end")
    func endToEnd() throws {
        try withTemporaryDirectory { folder in
            let store = "file:" + folder.appendingPathComponent("cache.json").path
            let added = try addResponse(store: store, folder: folder)
            #expect(added.status == 0, "\(added.stderr)")

            let accounts = try CLIProcess.run(["accounts", "--store", store, "--json"])
            #expect(accounts.status == 0)
            let listed = try JSONValue(parsing: Data(accounts.stdout.utf8))
            #expect(listed == .array([.object([
                "home_account_id": "uid1.tid1", "environment": "login.microsoftonline.com", "username": "Ann@Contoso.com",
                "account_source": "authorization_code", "authority_type": "MSSTS", "local_account_id": "oid1", "realm": "common",
            ])]))

            let tokens = try CLIProcess.run(["tokens", "--store", store])
            #expect(tokens.status == 0)
            #expect(!tokens.stdout.contains("AT-SECRET-1") && !tokens.stdout.contains("RT-SECRET-1"))
            let tokensJSON = try CLIProcess.run(["tokens", "--store", store, "--json"])
            #expect(!tokensJSON.stdout.contains("SECRET") && tokensJSON.stdout.contains("********"))
            let shown = try CLIProcess.run(["tokens", "--store", store, "--show-secrets"])
            #expect(shown.stdout.contains("AT-SECRET-1"))

            let lookupArgs = ["lookup", "--store", store, "--client-id", CLITests.client, "--authority", CLITests.authority, "--scopes", "User.Read", "--account", "uid1.tid1"]
            let hidden = try CLIProcess.run(lookupArgs + ["--now", String(CLITests.now + 60)])
            #expect(hidden.status == 0)
            #expect(!hidden.stdout.contains("AT-SECRET-1"))
            let hit = try CLIProcess.run(lookupArgs + ["--now", String(CLITests.now + 60), "--show-secrets"])
            #expect(hit.status == 0)
            #expect(hit.stdout == "AT-SECRET-1\n")
            let due = try CLIProcess.run(lookupArgs + ["--now", String(CLITests.now + 1900), "--json"])
            #expect(due.status == 0)
            #expect(try JSONValue(parsing: Data(due.stdout.utf8)).objectValue?.string("result") == "refresh_due")
            let expired = try CLIProcess.run(lookupArgs + ["--now", String(CLITests.now + 3400)])
            #expect(expired.status == 3)
            let otherScope = try CLIProcess.run(["lookup", "--store", store, "--client-id", CLITests.client, "--authority", CLITests.authority, "--scopes", "Mail.Read", "--account", "uid1.tid1", "--now", String(CLITests.now)])
            #expect(otherScope.status == 3)
            let app = try CLIProcess.run(["lookup", "--store", store, "--client-id", CLITests.client, "--authority", CLITests.authority, "--scopes", "User.Read", "--app", "--now", String(CLITests.now)])
            #expect(app.status == 3)

            let pruned = try CLIProcess.run(["prune", "--store", store, "--now", String(CLITests.now + 4000)])
            #expect(pruned.status == 0)
            #expect(pruned.stdout.contains("Removed 1 expired"))

            let removed = try CLIProcess.run(["remove-account", "--store", store, "--client-id", CLITests.client, "--authority", CLITests.authority, "--account", "uid1.tid1", "--now", String(CLITests.now)])
            #expect(removed.status == 0)
            let after = try CLIProcess.run(["accounts", "--store", store, "--json"])
            #expect(after.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        }
    }

    @Test("MSAL Python reads the file the CLI writes and finds the same token", .enabled(if: PythonPeer.shouldRun))
    func pythonReadsOurFile() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            #expect(try addResponse(store: "file:" + path, folder: folder).status == 0)
            let output = try PythonPeer.run([PythonPeer.script("msal_read.py"), path, CLITests.client, CLITests.authority, "User.Read"],
                                            environment: ["ORACLE_NOW": String(CLITests.now + 60)])
            let seen = try JSONValue(parsing: Data(output.utf8))
            #expect(seen == .object(["accounts": .array(["uid1.tid1"]), "tokens": .object(["uid1.tid1": "AT-SECRET-1"])]))
        }
    }

    @Test("copy is lossless and will not overwrite another cache without --force")
    func copy() throws {
        try withTemporaryDirectory { folder in
            let source = folder.appendingPathComponent("a.json")
            let foreign = try Data(contentsOf: PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures/python-written.json"))
            try foreign.write(to: source)
            let target = folder.appendingPathComponent("sub/b.json")
            let copied = try CLIProcess.run(["copy", "--from", "file:" + source.path, "--to", "file:" + target.path])
            #expect(copied.status == 0, "\(copied.stderr)")
            #expect(try Data(contentsOf: target) == foreign)
            let again = try CLIProcess.run(["copy", "--from", "file:" + source.path, "--to", "file:" + target.path])
            #expect(again.status == 64)
            #expect(try CLIProcess.run(["copy", "--from", "file:" + source.path, "--to", "file:" + target.path, "--force"]).status == 0)
        }
    }

    @Test("Each malformed cache gives exit 65, one line naming the file, and no write")
    func malformedStores() throws {
        let corpus = PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures/malformed")
        let files = try FileManager.default.contentsOfDirectory(at: corpus, includingPropertiesForKeys: nil).filter { $0.pathExtension == "json" }
        #expect(files.count >= 15)
        try withTemporaryDirectory { folder in
            for file in files {
                let copy = folder.appendingPathComponent(file.lastPathComponent)
                try? FileManager.default.removeItem(at: copy)
                try FileManager.default.copyItem(at: file, to: copy)
                let before = try Data(contentsOf: copy)
                let result = try addResponse(store: "file:" + copy.path, folder: folder)
                #expect(result.status == 65, "\(file.lastPathComponent): \(result.stderr)")
                #expect(result.stderr.contains(copy.path))
                #expect(result.stderr.split(separator: "\n").count == 1)
                #expect(try Data(contentsOf: copy) == before, "\(file.lastPathComponent) was changed")
                #expect(try CLIProcess.run(["accounts", "--store", "file:" + copy.path]).status == 65)
            }
        }
    }

    @Test("Bad responses, flags and stores give one line and the documented exit code")
    func usageErrors() throws {
        try withTemporaryDirectory { folder in
            let store = "file:" + folder.appendingPathComponent("cache.json").path
            let garbage = try addResponse(store: store, folder: folder, body: "<html>502 Bad Gateway</html>")
            #expect(garbage.status == 65)
            #expect(garbage.stderr.contains("response-"))
            let badIDToken = try addResponse(store: store, folder: folder, body: #"{"access_token": "x", "id_token": "not-a-jwt", "client_info": "e30"}"#)
            #expect(badIDToken.status == 65)
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("cache.json").path))
            #expect(try CLIProcess.run(["accounts", "--store", "nope:/x"]).status == 64)
            #expect(try CLIProcess.run(["accounts"]).status == 64)
            #expect(try CLIProcess.run(["lookup", "--store", store, "--client-id", "c", "--authority", CLITests.authority, "--scopes", "s"]).status == 64)
            #expect(try CLIProcess.run(["lookup", "--store", store, "--client-id", "c", "--authority", "http://insecure/common", "--scopes", "s", "--app"]).status == 64)
            let missing = try CLIProcess.run(["add-response", "--store", store, "--client-id", "c", "--authority", CLITests.authority, "--scopes", "s", "--response", folder.appendingPathComponent("none.json").path])
            #expect(missing.status == 66)
            #expect(missing.stderr.contains("none.json"))
        }
    }
}

import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// One cache file shared by Swift and MSAL Python processes at the same time: nothing is
/// lost, nothing is torn, stale locks heal, live ones are respected.
@Suite("Persistence shared with MSAL Python", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
struct PersistenceInteropTests {
    static let client = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    static let authority = "https://login.microsoftonline.com/common"
    static let now: Int64 = 1_700_000_000

    static func signIn(_ user: String) -> String {
        func b64(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        return """
        {"token_type": "Bearer", "expires_in": 3600, "access_token": "at-\(user)", "refresh_token": "rt-\(user)",
         "client_info": "\(b64("{\"uid\":\"\(user)\",\"utid\":\"tenant\"}"))",
         "id_token": "e30.\(b64("{\"sub\":\"\(user)\",\"oid\":\"\(user)\",\"preferred_username\":\"\(user)@contoso.com\"}")).",
         "scope": "User.Read openid profile offline_access"}
        """
    }

    static func addArguments(store: String, response: String) -> [String] {
        ["add-response", "--store", store, "--client-id", client, "--authority", authority, "--scopes", "User.Read openid profile offline_access",
         "--response", response, "--grant-type", "authorization_code", "--now", String(now)]
    }

    /// The home account ids the writers of a mixed-writer test add: `<prefix><writer>-<index>.tenant`.
    static func writtenAccounts(prefixes: [String], writers: Int, perWriter: Int) -> Set<String> {
        var accounts: Set<String> = []
        for prefix in prefixes {
            for writer in 0..<writers {
                for index in 0..<perWriter { accounts.insert("\(prefix)\(writer)-\(index).tenant") }
            }
        }
        return accounts
    }

    static func accounts(_ path: String) throws -> Set<String> {
        let output = try PythonPeer.run([PythonPeer.script("persisted_peer.py"), "accounts", path])
        guard case .array(let ids) = try JSONValue(parsing: Data(output.utf8)) else { return [] }
        return Set(ids.compactMap(\.stringValue))
    }

    @Test("10 Swift and 10 MSAL Python writers on one file lose nothing; lock-free Python readers never fail", arguments: [false, true])
    func mixedLanguageWriters(portalocker: Bool) throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("msal_token_cache.json").path
            let store = "file:" + path
            let kind = try PythonPeer.start([PythonPeer.script("persisted_peer.py"), "lock-kind"], portalocker: portalocker).wait().stdout
            #expect(kind.contains(portalocker ? "cache_lock" : "filelock"))
            #expect(try CLIProcess.run(PersistenceInteropTests.addArguments(store: store, response: try write(PersistenceInteropTests.signIn("seed"), in: folder))).status == 0)

            let perWriter = 2
            var swiftWriters: [BackgroundProcess] = []
            for writer in 0..<10 {
                var script = ""
                for index in 0..<perWriter {
                    let response = try write(PersistenceInteropTests.signIn("sw\(writer)-\(index)"), in: folder)
                    let arguments = PersistenceInteropTests.addArguments(store: store, response: response).map { "'\($0)'" }.joined(separator: " ")
                    script += "'\(CLIProcess.executable)' \(arguments) || exit 1\n"
                }
                swiftWriters.append(try BackgroundProcess("/bin/sh", ["-c", script]))
            }
            let pythonWriters = try (0..<10).map { writer in
                try PythonPeer.start([PythonPeer.script("persisted_peer.py"), "write", path, String(writer), String(perWriter), String(PersistenceInteropTests.now)], portalocker: portalocker)
            }
            let readers = try (0..<2).map { _ in
                try PythonPeer.start([PythonPeer.script("persisted_peer.py"), "read-loop", path, "4"], portalocker: portalocker)
            }
            for writer in swiftWriters {
                let result = writer.wait()
                #expect(result.status == 0, "a Swift writer failed: \(result.stderr)")
            }
            for writer in pythonWriters {
                let result = writer.wait()
                #expect(result.status == 0, "a Python writer failed: \(result.stderr.suffix(500))")
            }
            for reader in readers {
                let result = reader.wait()
                let report = try JSONValue(parsing: Data(result.stdout.utf8)).objectValue
                #expect(report?["failures"] == 0, "\(result.stderr.suffix(300))")
                #expect(isPositiveCount(report?["reads"]))
            }
            let expected = PersistenceInteropTests.writtenAccounts(prefixes: ["sw", "py"], writers: 10, perWriter: perWriter).union(["seed.tenant"])
            let found = try PersistenceInteropTests.accounts(path)
            #expect(expected.subtracting(found).isEmpty, "lost: \(expected.subtracting(found).sorted())")
            #expect(!FileManager.default.fileExists(atPath: path + ".lockfile"))
        }
    }

    @Test("kill -9 of a Swift writer at 200 random moments: MSAL Python always reads the old or the new state")
    func crashSafety() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let store = "file:" + path
            // A 1,000-user cache.
            let seed = TokenCache()
            for user in 0..<1000 {
                try seed.add(responseJSON: Data(PersistenceInteropTests.signIn("user\(user)").utf8), context: TokenResponseContext(
                    clientID: PersistenceInteropTests.client, requestedScopes: ["User.Read"], tokenEndpoint: PersistenceInteropTests.authority + "/oauth2/v2.0/token",
                    grantType: "authorization_code", now: PersistenceInteropTests.now))
            }
            try Data(seed.serialize()).write(to: URL(fileURLWithPath: path))
            // Kill within 1.3 times an uninterrupted write, so that both killed and completed
            // writers occur however fast this build is.
            let started = Date()
            let timed = try CLIProcess.run(PersistenceInteropTests.addArguments(store: store, response: try write(PersistenceInteropTests.signIn("timed"), in: folder)))
            #expect(timed.status == 0)
            let window = UInt32(min(Date().timeIntervalSince(started) * 1.3, 2) * 1_000_000)
            let checker = try PythonPeer.startInteractive([PythonPeer.script("persisted_peer.py"), "check-states"])
            var previous = 1001
            var completed = 0
            var random = SeededGenerator(seed: 7)
            for round in 0..<200 {
                let response = try write(PersistenceInteropTests.signIn("crash\(round)"), in: folder)
                let writer = try BackgroundProcess(CLIProcess.executable, PersistenceInteropTests.addArguments(store: store, response: response))
                usleep(UInt32.random(in: 0...window, using: &random))
                writer.send(SIGKILL)
                let result = writer.wait()
                if result.status == 0 { completed += 1 }
                let line = try checker.ask(path)
                guard let count = Int(line) else {
                    Issue.record("round \(round): MSAL Python could not read the file: \(line)")
                    break
                }
                #expect(count == previous || count == previous + 1, "round \(round): \(previous) accounts before, \(count) after")
                previous = count
            }
            checker.finish()
            // Some writers finished and some were killed: both paths were exercised.
            #expect(completed > 0 && completed < 200)
        }
    }

    @Test("A lock holder killed with -9 does not block the next writer; a live slow holder is never broken")
    func staleAndLiveLocks() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            let store = "file:" + path
            let holder = try BackgroundProcess(CLIProcess.executable, ["with-lock", "--store", store, "--", "sh", "-c", "echo locked; sleep 15"])
            #expect(holder.waitForOutput("locked"))
            holder.send(SIGKILL)
            holder.wait()
            #expect(FileManager.default.fileExists(atPath: path + ".lockfile"))
            let started = Date()
            let added = try CLIProcess.run(PersistenceInteropTests.addArguments(store: store, response: try write(PersistenceInteropTests.signIn("after-kill"), in: folder)))
            #expect(added.status == 0, "\(added.stderr)")
            #expect(Date().timeIntervalSince(started) < 2.5)

            for portalocker in [false, true] {
                let python = try PythonPeer.start([PythonPeer.script("persisted_peer.py"), "hold-lock", path, "3"], portalocker: portalocker)
                #expect(python.waitForOutput("locked"))
                let refused = try CLIProcess.run(["with-lock", "--store", store, "--timeout", "1", "--", "true"])
                #expect(refused.status == 75)
                #expect(refused.stderr.contains("still running"))
                let waited = Date()
                let patient = try CLIProcess.run(["with-lock", "--store", store, "--timeout", "10", "--", "true"])
                #expect(patient.status == 0)
                #expect(Date().timeIntervalSince(waited) > 0.5)
                python.wait()
            }
            // And MSAL Python waits for us.
            let ours = try BackgroundProcess(CLIProcess.executable, ["with-lock", "--store", store, "--", "sh", "-c", "echo locked; sleep 2"])
            #expect(ours.waitForOutput("locked"))
            let blocked = Date()
            let python = try PythonPeer.start([PythonPeer.script("persisted_peer.py"), "write", path, "late", "1", String(PersistenceInteropTests.now)])
            #expect(python.wait().status == 0)
            #expect(Date().timeIntervalSince(blocked) > 1)
            ours.wait()
            #expect(try PersistenceInteropTests.accounts(path).isSuperset(of: ["after-kill.tenant", "pylate-0.tenant"]))
        }
    }

    @Test("Under umask 000 a new cache ends 0600 in a 0700 folder; a symlinked cache is refused with 77")
    func permissions() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("new/folder/cache.json").path
            let response = try write(PersistenceInteropTests.signIn("perm"), in: folder)
            let arguments = PersistenceInteropTests.addArguments(store: "file:" + path, response: response).map { "'\($0)'" }.joined(separator: " ")
            let result = try CLIProcess.runProcess("/bin/sh", ["-c", "umask 000; exec '\(CLIProcess.executable)' \(arguments)"])
            #expect(result.status == 0, "\(result.stderr)")
            let fileMode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            let folderMode = try FileManager.default.attributesOfItem(atPath: (path as NSString).deletingLastPathComponent)[.posixPermissions] as? Int
            #expect(fileMode == 0o600)
            #expect(folderMode == 0o700)
            // A cache that exists at 0644 is rewritten at 0600.
            #expect(chmod(path, 0o644) == 0)
            #expect(try CLIProcess.run(PersistenceInteropTests.addArguments(store: "file:" + path, response: response)).status == 0)
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)

            let link = folder.appendingPathComponent("link.json").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
            let refused = try CLIProcess.run(PersistenceInteropTests.addArguments(store: "file:" + link, response: response))
            #expect(refused.status == 77)
            #expect(refused.stderr.contains("symbolic link"))
        }
    }

    @Test("Coherence: another process rotates the refresh token and our next read sees it")
    func refreshTokenRotationIsSeen() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.json").path
            #expect(try CLIProcess.run(PersistenceInteropTests.addArguments(store: "file:" + path, response: try write(PersistenceInteropTests.signIn("ann"), in: folder))).status == 0)
            let ours = try StoreDescription(spec: "file:" + path).open()
            let before = try ours.refreshTokenCandidates(clientID: PersistenceInteropTests.client, environment: "login.microsoftonline.com", homeAccountID: "ann.tenant")
            #expect(before.map(\.secret) == ["rt-ann"])
            try PythonPeer.run([PythonPeer.script("persisted_peer.py"), "rotate-rt", path, "ann.tenant", "rt-ann-rotated"])
            let after = try ours.refreshTokenCandidates(clientID: PersistenceInteropTests.client, environment: "login.microsoftonline.com", homeAccountID: "ann.tenant")
            #expect(after.map(\.secret) == ["rt-ann-rotated"])
        }
    }

    private func write(_ body: String, in folder: URL) throws -> String {
        let file = folder.appendingPathComponent("response-\(UUID().uuidString).json")
        try Data(body.utf8).write(to: file)
        return file.path
    }
}

private func isPositiveCount(_ value: JSONValue?) -> Bool {
    if case .number(let number)? = value, let count = number.int64Value { return count > 0 }
    return false
}

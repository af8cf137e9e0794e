import Foundation
import Testing
import TokenCacheTesting

/// Every way a command line can be wrong gives one line on standard error, nothing on
/// standard output, and the exit code the README documents: a bad value for each flag that
/// takes one, each malformed store SPEC, a missing file and an unreadable one.
@Suite("CLI errors")
struct CLIErrorMatrixTests {
    /// One wrong command line: `{dir}` stands for a private folder holding `c.json` (a
    /// healthy cache), `c.bin` (an encrypted one), `folder/` (a folder) and nothing else.
    struct Case: CustomStringConvertible, Sendable {
        let arguments: String
        let status: Int32
        let says: String
        var description: String { arguments }
    }

    static let app = "--client-id cli-app --authority https://login.microsoftonline.com/organizations --scopes User.Read"

    static let cases: [Case] = [
        // Bad values, flag by flag.
        Case(arguments: "prune --store file:{dir}/c.json --now soon", status: 64, says: "'soon' is invalid for '--now <now>'"),
        Case(arguments: "inspect --store file:{dir}/c.json --now -", status: 64, says: "--now"),
        Case(arguments: "repair --store file:{dir}/c.json --now 1.5", status: 64, says: "'1.5' is invalid for '--now <now>'"),
        Case(arguments: "remove-account --store file:{dir}/c.json --client-id a --authority https://login.microsoftonline.com/common --account x --now x", status: 64, says: "--now"),
        Case(arguments: "add-response --store file:{dir}/c.json \(app) --response {dir}/r.json --now yesterday", status: 64, says: "--now"),
        Case(arguments: "lookup --store file:{dir}/c.json \(app) --app --now never", status: 64, says: "--now"),
        Case(arguments: "lookup --store file:{dir}/c.json \(app) --app --data novalue", status: 64, says: "--data takes NAME=VALUE"),
        Case(arguments: "lookup --store file:{dir}/c.json \(app)", status: 64, says: "exactly one of --account"),
        Case(arguments: "lookup --store file:{dir}/c.json --client-id a --authority nonsense --scopes x --app", status: 64, says: "is not an https authority"),
        Case(arguments: "accounts --store file:{dir}/c.json --authority ftp://example.com/tenant", status: 64, says: "authority"),
        Case(arguments: "login --store file:{dir}/c.json \(app) --browser --redirect-port high", status: 64, says: "'high' is invalid for '--redirect-port"),
        Case(arguments: "login --store file:{dir}/c.json \(app) --browser --redirect-port 70000", status: 64, says: "redirect port 70000"),
        Case(arguments: "login --store file:{dir}/c.json \(app) --browser --timeout later", status: 64, says: "--timeout"),
        Case(arguments: "token --store file:{dir}/c.json --client-id a --authority http://example.com/common --scopes x", status: 64, says: "https"),
        Case(arguments: "with-lock --store file:{dir}/c.json --timeout forever -- true", status: 64, says: "'forever' is invalid for '--timeout"),
        Case(arguments: "with-lock --store file:{dir}/c.json", status: 64, says: "command to run"),
        Case(arguments: "with-lock --store file:{dir}/c.json --timeout nan -- true", status: 64, says: "--timeout takes a number of seconds"),
        Case(arguments: "with-lock --store file:{dir}/c.json --timeout 1e300 -- true", status: 64, says: "--timeout takes a number of seconds"),
        Case(arguments: "with-lock --store file:{dir}/c.json --timeout=-1 -- true", status: 64, says: "--timeout takes a number of seconds"),
        Case(arguments: "with-lock --store postgres://ann@127.0.0.1/db -- true", status: 64, says: "a postgres:// store has no lock file"),
        Case(arguments: "token --store file:{dir}/c.json \(app) --request-timeout 0", status: 64, says: "--request-timeout takes a number of seconds"),
        Case(arguments: "bench --users none", status: 64, says: "--users"),
        Case(arguments: "bench --users 0", status: 64, says: "--users must be between 1 and 1000000"),
        Case(arguments: "bench --kind disk", status: 64, says: "one of 'memory', 'file', 'encrypted' or 'sqlite'"),
        Case(arguments: "bench --seconds 0", status: 64, says: "--seconds must be between"),
        Case(arguments: "rekey --store encrypted:{dir}/c.bin?key-file={dir}/k --to encrypted:{dir}/other.bin?key-file={dir}/k", status: 64, says: "must name the same file"),
        Case(arguments: "copy --from file:{dir}/c.json --to file:{dir}/c.json", status: 64, says: "--force"),
        // Missing or unknown arguments.
        Case(arguments: "tokens", status: 64, says: "Missing expected argument '--store <SPEC>'"),
        Case(arguments: "tokens --store file:{dir}/c.json --colour", status: 64, says: "Unknown option '--colour'"),
        Case(arguments: "frobnicate", status: 64, says: "Unexpected argument 'frobnicate'"),
        // Store SPECs of every form, malformed.
        Case(arguments: "accounts --store {dir}/c.json", status: 64, says: "a store is written KIND:LOCATION"),
        Case(arguments: "accounts --store bogus:x", status: 64, says: "unknown store kind \"bogus\""),
        Case(arguments: "accounts --store file:", status: 64, says: "file: needs a path"),
        Case(arguments: "accounts --store encrypted:{dir}/c.bin?passphrase=hunter2", status: 64, says: "?passphrase=***: invalid store"),
        Case(arguments: "accounts --store sqlite:{dir}/c.db?bad=1", status: 64, says: "sqlite: takes one of"),
        Case(arguments: "accounts --store keyring:msal-extensions", status: 64, says: "needs ?signal=PATH"),
        Case(arguments: "accounts --store keyring:custom?signal={dir}/s", status: 64, says: "needs &schema=NAME"),
        Case(arguments: "accounts --store postgres://ann:hunter2@127.0.0.1/db", status: 64, says: "carries a password"),
        Case(arguments: "accounts --store postgres://127.0.0.1/db?colour=red", status: 64, says: "invalid store"),
        Case(arguments: "accounts --store file:{dir}/folder", status: 64, says: "it is a folder, not a file"),
        // Missing files.
        Case(arguments: "inspect --store file:{dir}/none.json", status: 66, says: "no cache is stored there"),
        Case(arguments: "add-response --store file:{dir}/c.json \(app) --response {dir}/none.json", status: 66, says: "no such file"),
        Case(arguments: "tokens --store encrypted:{dir}/c.bin?key-file={dir}/none.key", status: 77, says: "none.key"),
        Case(arguments: "tokens --store encrypted:{dir}/p.bin?passphrase-file={dir}/none.txt", status: 77, says: "none.txt"),
        // Unreadable files.
        Case(arguments: "add-response --store file:{dir}/c.json \(app) --response {dir}/folder", status: 65, says: "it is a folder, not a file"),
        Case(arguments: "inspect --store file:{dir}/garbage.json", status: 65, says: "malformed JSON"),
        Case(arguments: "tokens --store file:{dir}/garbage.json", status: 65, says: "malformed JSON"),
        Case(arguments: "tokens --store encrypted:{dir}/garbage.json?key-file={dir}/k", status: 65, says: "garbage.json"),
    ]

    /// The private folder every case runs in.
    static func prepare(_ folder: URL) throws {
        chmod(folder.path, 0o700)
        let fixtures = PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures")
        for (fixture, name) in [("doctor/healthy.json", "c.json"), ("encrypted/key-file.bin", "c.bin"), ("encrypted/passphrase.bin", "p.bin"), ("malformed/json-truncated.json", "garbage.json")] {
            let path = folder.appendingPathComponent(name).path
            try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent(fixture).path, toPath: path)
            chmod(path, 0o600)
        }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("folder"), withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: folder.appendingPathComponent("k").path, contents: Data(repeating: 1, count: 32), attributes: [.posixPermissions: 0o600])
    }

    static func check(_ result: CLIProcess.Result, status: Int32, says: String, _ arguments: String) {
        #expect(result.status == status, "\(arguments): \(result.stderr)")
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count == 1, "one line for \(arguments): \(result.stderr)")
        #expect(result.stderr.hasPrefix("tokencache: "), "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains(says), "\(arguments): \(result.stderr)")
        #expect(result.stdout.isEmpty, "\(arguments) printed \(result.stdout)")
        #expect(!result.stderr.contains("hunter2"), "no password is echoed")
    }

    @Test("A wrong command line: one line on standard error and the documented exit code", arguments: cases)
    func wrongCommandLine(_ testCase: Case) throws {
        try withTemporaryDirectory { folder in
            try Self.prepare(folder)
            let arguments = testCase.arguments.split(separator: " ").map { $0.replacingOccurrences(of: "{dir}", with: folder.path) }
            Self.check(try CLIProcess.run(arguments), status: testCase.status, says: testCase.says, testCase.arguments)
        }
    }

    @Test("A cache file its user cannot read: one line, exit 77 (root reads every file, so this case needs another user)")
    func permissionDenied() throws {
        try withTemporaryDirectory { folder in
            try Self.prepare(folder)
            let path = folder.appendingPathComponent("c.json").path
            chmod(path, 0)
            defer { chmod(path, 0o600) }
            if geteuid() == 0 {
                // As root, drop to nobody for the one command: the file is nobody's, mode 000,
                // in a folder nobody may enter.
                chown(path, 65534, 65534)
                chmod(folder.path, 0o711)
                let result = try CLIProcess.runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", CLIProcess.executable, "tokens", "--store", "file:" + path])
                if result.stderr.contains("Permission denied") && result.stderr.contains("setpriv") {
                    Issue.record("setpriv cannot run the CLI as nobody here: \(result.stderr)")
                    return
                }
                Self.check(result, status: 77, says: "Permission denied", "tokens (as nobody)")
            } else {
                Self.check(try CLIProcess.run(["tokens", "--store", "file:" + path]), status: 77, says: "Permission denied", "tokens")
            }
        }
    }

    @Test("A lock file another user left (naming a process that is gone): one line, exit 77 naming that user, the lock left in place", .enabled(if: geteuid() == 0 || PythonPeer.isCI, "needs root to act as two users"))
    func otherUsersLock() throws {
        try withTemporaryDirectory { folder in
            try Self.prepare(folder)
            let path = folder.appendingPathComponent("c.json").path
            // The folder and cache are nobody's; root's lock file names a process that is gone.
            chown(folder.path, 65534, 65534)
            chown(path, 65534, 65534)
            let dead = try BackgroundProcess("/bin/true", [])
            let pid = dead.pid
            dead.wait()
            FileManager.default.createFile(atPath: path + ".lockfile", contents: Data("\(pid) tokencache".utf8), attributes: [.posixPermissions: 0o600])
            let result = try CLIProcess.runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", CLIProcess.executable,
                                                                        "with-lock", "--store", "file:" + path, "--timeout", "0.5", "--", "true"])
            Self.check(result, status: 77, says: "belongs to user root", "with-lock (as nobody)")
            #expect(FileManager.default.fileExists(atPath: path + ".lockfile"))
        }
    }
}

/// A cache folder that is a symbolic link to a folder of the user's own is followed for
/// writes as it is for reads, by every kind of file-backed store.
@Suite("Cache folders behind a symbolic link")
struct LinkedFolderTests {
    @Test("file:, encrypted: and sqlite: through a linked folder: add-response writes, accounts reads; with-lock on postgres:// makes no folder")
    func linkedFolder() throws {
        try withTemporaryDirectory { folder in
            let real = folder.appendingPathComponent("real")
            try FileManager.default.createDirectory(at: real, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link").path, withDestinationPath: real.path)
            let key = folder.appendingPathComponent("k")
            FileManager.default.createFile(atPath: key.path, contents: Data(repeating: 7, count: 32), attributes: [.posixPermissions: 0o600])
            let response = folder.appendingPathComponent("response.json")
            try Data(PersistenceInteropTests.signIn("ann").utf8).write(to: response)
            let linked = folder.appendingPathComponent("link").path
            for spec in ["file:\(linked)/c.json", "encrypted:\(linked)/c.bin?key-file=\(key.path)", "sqlite:\(linked)/c.db"] {
                let added = try CLIProcess.run(PersistenceInteropTests.addArguments(store: spec, response: response.path))
                #expect(added.status == 0, "\(spec): \(added.stderr)")
                let accounts = try CLIProcess.run(["accounts", "--store", spec])
                #expect(accounts.status == 0 && accounts.stdout.contains("ann"), "\(spec): \(accounts.stdout) \(accounts.stderr)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: real.path).sorted().starts(with: ["c.bin", "c.db", "c.json"]))
            _ = try CLIProcess.run(["with-lock", "--store", "postgres://ann@127.0.0.1/db", "--", "true"])
            #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/postgres:"))
        }
    }
}

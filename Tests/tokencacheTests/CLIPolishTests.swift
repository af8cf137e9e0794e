import Foundation
import Testing
import TokenCacheTesting

/// The everyday CLI: `bench`, progress and colour only on a terminal, shell completions,
/// examples in every command's help.
@Suite("CLI polish")
struct CLIPolishTests {
    static let commands = ["accounts", "tokens", "add-response", "lookup", "remove-account", "prune", "copy", "with-lock", "rekey",
                           "doctor", "bench", "inspect", "repair", "login", "token", "logout"]

    @Test("bench on every store kind prints a median and a p99, as text and as JSON", arguments: ["memory", "file", "encrypted", "sqlite"])
    func bench(_ kind: String) throws {
        let text = try CLIProcess.run(["bench", "--users", "50", "--kind", kind, "--seconds", "0.2"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("50 users, \(kind) store"))
        #expect(text.stdout.contains("lookup: median ") && text.stdout.contains(", p99 "), "\(text.stdout)")
        #expect(text.stderr.isEmpty, "no progress when standard error is not a terminal: \(text.stderr)")
        let json = try CLIProcess.run(["bench", "--users", "50", "--kind", kind, "--seconds", "0.2", "--json"])
        let result = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let median = try #require(result["lookup_median_microseconds"] as? Double)
        let p99 = try #require(result["lookup_p99_microseconds"] as? Double)
        #expect(median > 0 && p99 >= median)
        #expect(result["users"] as? Int == 50 && result["kind"] as? String == kind)
    }

    @Test("bench --store times a store's own tokens and accounts without changing it, for a file and a SQLite store, beside MSAL Python on a copy; it takes no --users or --kind",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func benchStore() throws {
        try withTemporaryDirectory { folder in
            chmod(folder.path, 0o700)
            let file = folder.appendingPathComponent("cache.json").path
            try FileManager.default.copyItem(atPath: PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures/python-written.json").path, toPath: file)
            chmod(file, 0o600)
            let database = folder.appendingPathComponent("cache.db").path
            #expect(try CLIProcess.run(["copy", "--from", "file:" + file, "--to", "sqlite:" + database]).status == 0)
            let before = try Data(contentsOf: URL(fileURLWithPath: file))
            for spec in ["file:" + file, "sqlite:" + database] {
                let text = try CLIProcess.run(["bench", "--store", spec, "--seconds", "0.2"])
                #expect(text.status == 0, "\(spec): \(text.stderr)")
                #expect(text.stdout.contains("open and first lookup: ") && text.stdout.contains("accounts(): "), "\(text.stdout)")
                let json = try CLIProcess.run(["bench", "--store", spec, "--seconds", "0.2", "--json"])
                let result = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stderr)")
                let tokens = try #require(result["access_tokens"] as? Int)
                let answers = ["hits", "refresh_due", "misses"].compactMap { result[$0] as? Int }.reduce(0, +)
                #expect(tokens > 0 && answers > 0 && answers % 64 == 0, "\(result)")
                #expect((result["first_lookup_milliseconds"] as? Double ?? 0) > 0)
            }
            // MSAL Python on a copy of the same cache, in the same run.
            let compared = try CLIProcess.runProcess(CLIProcess.executable, ["bench", "--store", "sqlite:" + database, "--seconds", "0.2", "--json", "--compare-msal-python"],
                                                     environment: ["MSAL_PYTHON": PythonPeer.python])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(compared.stdout.utf8)) as? [String: Any], "\(compared.stderr)")
            let python = try #require(report["msal_python"] as? [String: Any])
            #expect((python["lookup_median_microseconds"] as? Double ?? 0) > 0 && (python["calls"] as? Int ?? 0) > 0, "\(python)")
            #expect(!compared.stdout.contains("eyJ") && !compared.stderr.contains("eyJ"))
            let missing = try CLIProcess.runProcess(CLIProcess.executable, ["bench", "--store", "file:" + file, "--seconds", "0.1", "--compare-msal-python"],
                                                    environment: ["MSAL_PYTHON": "/nonexistent/python"])
            #expect(missing.status == 69, "\(missing.stderr)")

            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "the store was not written")
            #expect(try CLIProcess.run(["bench", "--store", "file:" + file, "--users", "5"]).status == 64)
            #expect(try CLIProcess.run(["bench", "--compare-msal-python"]).status == 64)
        }
    }

    /// Runs the CLI on a pseudo-terminal (util-linux `script`) and returns what the terminal showed.
    static func onTerminal(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let command = ([CLIProcess.executable] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let result = try CLIProcess.runProcess("/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["TERM": "xterm"].merging(environment) { $1 },
                                              unsetting: environment["NO_COLOR"] == nil ? ["NO_COLOR"] : [])
        return result.stdout
    }

    @Test("On a terminal, copy and bench draw progress and doctor colours its problems; NO_COLOR and a pipe turn them off")
    func terminalOnly() throws {
        try withTemporaryDirectory { folder in
            chmod(folder.path, 0o700)
            let source = folder.appendingPathComponent("a.json").path
            try FileManager.default.copyItem(atPath: PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures/doctor/healthy.json").path, toPath: source)
            chmod(source, 0o644)
            let copy = try Self.onTerminal(["copy", "--from", "file:" + source, "--to", "sqlite:" + folder.appendingPathComponent("b.db").path])
            #expect(copy.contains("\r\u{1B}[Kreading "), "progress of the copy: \(copy.debugDescription)")
            let bench = try Self.onTerminal(["bench", "--users", "300", "--seconds", "0.3"])
            #expect(bench.contains("timing lookups: "), "\(bench.debugDescription)")
            let doctor = try Self.onTerminal(["doctor", "--store", "file:" + source])
            #expect(doctor.contains("\u{1B}[31mproblem:\u{1B}[0m"), "\(doctor.debugDescription)")
            let plain = try Self.onTerminal(["doctor", "--store", "file:" + source], environment: ["NO_COLOR": "1"])
            #expect(!plain.contains("\u{1B}[31m"))
            let piped = try CLIProcess.run(["copy", "--from", "file:" + source, "--to", "file:" + folder.appendingPathComponent("c.json").path])
            #expect(!piped.stdout.contains("\u{1B}") && !piped.stderr.contains("\u{1B}") && !piped.stderr.contains("\r"))
            let pipedDoctor = try CLIProcess.run(["doctor", "--store", "file:" + source])
            #expect(!pipedDoctor.stdout.contains("\u{1B}"))
        }
    }

    @Test("Completion scripts for bash, zsh and fish name every command", arguments: ["bash", "zsh", "fish"])
    func completions(_ shell: String) throws {
        let result = try CLIProcess.run(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result.stderr)")
        for command in Self.commands {
            #expect(result.stdout.contains(command), "\(shell) completes \(command)")
        }
    }

    @Test("Every command's --help shows an example")
    func helpExamples() throws {
        for command in Self.commands {
            let help = try CLIProcess.run([command, "--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("Example"), "\(command) --help has an example")
            #expect(help.stdout.contains("tokencache \(command)"), "\(command) --help shows the command in use")
        }
    }
}

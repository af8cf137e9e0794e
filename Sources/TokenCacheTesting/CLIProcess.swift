public import Foundation

/// Runs the built `tokencache` executable, as a user would.
public enum CLIProcess {
    /// The outcome of one run.
    public struct Result: Sendable {
        /// The exit status.
        public let status: Int32
        /// Standard output.
        public let stdout: String
        /// Standard error.
        public let stderr: String

        /// Creates a result.
        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// The executable: `$TOKENCACHE_BIN`, else `tokencache` beside the test bundle.
    public static var executable: String {
        if let explicit = ProcessInfo.processInfo.environment["TOKENCACHE_BIN"] { return explicit }
        return product("tokencache")
    }

    /// The built executable product `name`, beside the test bundle.
    public static func product(_ name: String) -> String {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = folder.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            folder.deleteLastPathComponent()
        }
        return PythonPeer.repositoryRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    /// Runs `tokencache` with `arguments`.
    @discardableResult
    public static func run(_ arguments: [String], input: Data? = nil) throws -> Result {
        try runProcess(executable, arguments, input: input)
    }

    /// Runs any program and collects its output. Output goes through files, not pipes, so
    /// a daemon the program leaves behind (a D-Bus activation, say) cannot hold the wait.
    public static func runProcess(_ program: String, _ arguments: [String], input: Data? = nil, environment: [String: String] = [:], unsetting: [String] = []) throws -> Result {
        try BackgroundProcess(program, arguments, input: input, environment: environment, unsetting: unsetting).wait()
    }
}

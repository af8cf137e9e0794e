public import Foundation

/// A process started in the background, whose output goes to temporary files, so tests can
/// run many at once, kill them, and read what they printed.
public final class BackgroundProcess: @unchecked Sendable {
    // @unchecked: the fields are set in `init` and only read afterwards; `Process` is
    // thread-safe for the calls used here.
    private let process = Process()
    private let outputURL: URL
    private let errorURL: URL

    /// Starts `program` with `arguments`; `environment` is added to this process's own and
    /// the variables in `unsetting` are removed; `input` is its standard input.
    public init(_ program: String, _ arguments: [String], input: Data? = nil, environment: [String: String] = [:], unsetting: [String] = []) throws {
        let folder = FileManager.default.temporaryDirectory
        outputURL = folder.appendingPathComponent("bg-\(UUID().uuidString).out")
        errorURL = folder.appendingPathComponent("bg-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        for name in unsetting { env[name] = nil }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        if let input {
            let inputURL = folder.appendingPathComponent("bg-\(UUID().uuidString).in")
            try input.write(to: inputURL)
            process.standardInput = try FileHandle(forReadingFrom: inputURL)
            try? FileManager.default.removeItem(at: inputURL)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: outputURL)
        try? FileManager.default.removeItem(at: errorURL)
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Whether it still runs.
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` (for example `SIGKILL`).
    public func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to end and returns its status and output.
    @discardableResult
    public func wait() -> CLIProcess.Result {
        process.waitUntilExit()
        return CLIProcess.Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
    }

    /// Waits for every process and returns the results of those that failed.
    public static func failures(_ processes: [BackgroundProcess]) -> [CLIProcess.Result] {
        processes.map { $0.wait() }.filter { $0.status != 0 }
    }

    /// What the process printed on standard output so far.
    public func currentOutput() -> String {
        (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
    }

    /// What the process printed on standard error so far.
    public func currentErrors() -> String {
        (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
    }

    /// Waits until the process printed `text` on standard output, or `timeout` passed.
    public func waitForOutput(_ text: String, timeout: TimeInterval = 10) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let output = try? String(contentsOf: outputURL, encoding: .utf8), output.contains(text) { return true }
            if !process.isRunning { return false }
            usleep(10_000)
        }
        return false
    }
}

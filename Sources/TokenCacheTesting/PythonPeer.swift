public import Foundation

/// The real MSAL Python, from the project's virtual environment, for differential tests.
///
/// Outside CI a test that needs it is skipped when the environment is missing (run the
/// README's test command to create it); with `CI=true` it always runs and fails instead.
public enum PythonPeer {
    /// The repository root, found from this file's location.
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The interpreter: `$MSAL_PYTHON`, else `.venv/bin/python` in the repository.
    public static var python: String {
        ProcessInfo.processInfo.environment["MSAL_PYTHON"]
            ?? repositoryRoot.appendingPathComponent(".venv/bin/python").path
    }

    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Whether keyring tests should run: in CI always (they fail without a keyring), elsewhere
    /// under scripts/with-keyring.sh, which provides a private gnome-keyring.
    public static var hasPrivateKeyring: Bool {
        isCI || ProcessInfo.processInfo.environment["TOKENCACHE_TEST_KEYRING"] != nil
    }

    /// Whether tests that need MSAL Python should run: always in CI, elsewhere when the
    /// interpreter exists.
    public static var shouldRun: Bool { isCI || FileManager.default.isExecutableFile(atPath: python) }

    /// The folder where the setup installs portalocker, for the peers that lock with it.
    public static var portalockerPath: String {
        URL(fileURLWithPath: python).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("portalocker").path
    }

    /// Starts a Python helper in the background; `portalocker` puts portalocker on its path.
    public static func start(_ arguments: [String], portalocker: Bool = false) throws -> BackgroundProcess {
        try BackgroundProcess(python, arguments, environment: portalocker ? ["PYTHONPATH": portalockerPath] : [:])
    }

    /// The path of a helper script in `Tests/Interop`.
    public static func script(_ name: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/Interop/\(name)").path
    }

    /// Runs a Python script and returns its standard output; throws on a non-zero exit.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw PeerError(message: "MSAL Python is not installed at \(python); run the README's test command, which creates the virtual environment")
        }
        let result = try CLIProcess.runProcess(python, arguments, environment: environment)
        guard result.status == 0 else {
            throw PeerError(message: "python \(arguments.first ?? "") exited \(result.status): \(String(result.stderr.suffix(2000)))")
        }
        return result.stdout
    }
}

/// A helper process failed.
public struct PeerError: Error, CustomStringConvertible {
    /// What happened.
    public let message: String
    /// Creates an error.
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Runs `body` with a fresh temporary folder that is always removed afterwards.
public func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tokencache-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// The `async` twin of ``withTemporaryDirectory(_:)``.
public func withTemporaryDirectoryAsync<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tokencache-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

/// A small deterministic random number generator (SplitMix64), so generated cases are the
/// same on every run.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    /// Creates a generator; the same seed gives the same numbers.
    public init(seed: UInt64) { state = seed }
    /// The next number.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

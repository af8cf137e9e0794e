#if canImport(Glibc)
@preconcurrency import Glibc
#endif
public import Foundation

/// A private PostgreSQL server from Debian's packages, for tests: its own cluster in a
/// temporary folder, on 127.0.0.1, with password authentication (`scripts/postgres.sh`).
///
/// ``shared`` is started once per test process and stopped when it exits; a test that
/// kills its server starts its own with ``start()``.
public final class PostgresServer: @unchecked Sendable {
    // @unchecked: the fields are set once; the server process is managed by the script.

    /// The cluster's folder.
    public let directory: URL
    /// The store SPEC of the server's database, without a schema.
    public let url: String
    /// The password of the `tokencache` user.
    public let password: String
    /// The server's port.
    public let port: Int

    private init(directory: URL, tls: URL? = nil) throws {
        self.directory = directory
        url = try PostgresServer.script("start", directory, environment: tls.map { ["TOKENCACHE_PG_TLS_DIR": $0.path] } ?? [:])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        password = try String(contentsOf: directory.appendingPathComponent("password"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        port = Int(try String(contentsOf: directory.appendingPathComponent("port"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Starts a new server in a new temporary folder.
    /// The folder is under `TOKENCACHE_PG_ROOT` when set (the test command stops every
    /// cluster there when it ends), else the temporary folder.
    /// With `tls`, a folder holding `server.crt` and `server.key`, the server speaks TLS.
    public static func start(tls: URL? = nil) throws -> PostgresServer {
        let root = ProcessInfo.processInfo.environment["TOKENCACHE_PG_ROOT"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory
        let folder = root.appendingPathComponent("tokencache-pg-\(UUID().uuidString.prefix(8))")
        return try PostgresServer(directory: folder, tls: tls)
    }

    /// The server the tests of this process share, started on first use.
    public static var shared: PostgresServer {
        get throws { try sharedServer.get() }
    }

    private static let sharedServer: Result<PostgresServer, any Error> = {
        let result = Result { try PostgresServer.start() }
        if case .success = result {
            atexit {
                if case .success(let server) = PostgresServer.sharedServer { server.remove() }
            }
        }
        return result
    }()

    /// The environment a client needs: the password, as libpq's variable.
    public var environment: [String: String] { ["PGPASSWORD": password] }

    /// A SPEC for a new, empty store on this server (its own schema), with `query` items.
    public func freshSpec(_ query: String = "") -> String {
        let schema = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        return url + "?schema=\(schema)" + (query.isEmpty ? "" : "&" + query)
    }

    /// Crashes the server: every server process gets SIGKILL.
    public func kill() throws { _ = try PostgresServer.script("kill", directory) }
    /// Freezes the server: every server process gets SIGSTOP, so connections stay open and
    /// nothing answers until ``resume()``.
    public func pause() throws { _ = try PostgresServer.script("pause", directory) }
    /// Thaws a server frozen by ``pause()``.
    public func resume() throws { _ = try PostgresServer.script("resume", directory) }
    /// Starts the server again (after ``kill()`` or ``stop()``).
    public func restart() throws { _ = try PostgresServer.script("start", directory) }
    /// Shuts the server down cleanly.
    public func stop() throws { _ = try PostgresServer.script("stop", directory) }

    /// Stops the server and deletes its folder.
    public func remove() {
        _ = try? PostgresServer.script("stop", directory)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs SQL with psql as the `tokencache` user; returns its output (unaligned, tuples only).
    @discardableResult
    public func psql(_ sql: String) throws -> String {
        let result = try CLIProcess.runProcess("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "tokencache", "-d", "tokencache", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql], environment: environment)
        guard result.status == 0 else { throw PostgresServerError(message: "psql failed: \(result.stderr)") }
        return result.stdout
    }

    private static func script(_ command: String, _ directory: URL, environment: [String: String] = [:]) throws -> String {
        let script = PythonPeer.repositoryRoot.appendingPathComponent("scripts/postgres.sh").path
        let result = try CLIProcess.runProcess("/bin/bash", [script, command, directory.path], environment: environment)
        guard result.status == 0 else { throw PostgresServerError(message: "postgres.sh \(command) failed (\(result.status)): \(result.stderr)") }
        return result.stdout
    }
}

/// The test server could not be started or used.
public struct PostgresServerError: Error, CustomStringConvertible {
    /// What failed.
    public let message: String
    /// What failed.
    public var description: String { message }
}

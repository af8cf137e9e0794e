import CacheBackends
import Foundation
import Logging
import PostgresNIO
import Synchronization
import TokenCache

/// One row of a result, read by column position.
package struct PostgresResultRow {
    fileprivate let row: PostgresRow

    /// The text in column `index`, or `nil` for NULL.
    package func text(_ index: Int) -> String? {
        cell(index).flatMap { $0.bytes == nil ? nil : try? $0.decode(String.self) }
    }

    /// The integer in column `index`, or `nil` for NULL.
    package func integer(_ index: Int) -> Int64? {
        cell(index).flatMap { $0.bytes == nil ? nil : try? $0.decode(Int64.self) }
    }

    /// The boolean in column `index`, or `nil` for NULL.
    package func bool(_ index: Int) -> Bool? {
        cell(index).flatMap { $0.bytes == nil ? nil : try? $0.decode(Bool.self) }
    }

    /// Runs `body` over the raw bytes of column `index` (empty for NULL).
    package func withBytes<R, E: Error>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let buffer = cell(index)?.bytes ?? ByteBuffer()
        let result = buffer.withUnsafeReadableBytes { bytes in Result { () throws(E) in try body(bytes) } }
        return try result.get()
    }

    /// The bytes of column `index` (empty for NULL).
    func bytes(_ index: Int) -> [UInt8] {
        withBytes(index) { Array($0) }
    }

    private func cell(_ index: Int) -> PostgresCell? {
        var iterator = row.makeIterator()
        var position = 0
        while let cell = iterator.next() {
            if position == index { return cell }
            position += 1
        }
        return nil
    }
}

/// One connection to a PostgreSQL server, used synchronously: the only file that calls
/// PostgresNIO, so no NIO or PostgresNIO type leaves it. Not thread-safe: its owner takes
/// turns on it.
///
/// Every wait is bounded by ``timeout``: a server that does not answer in time has its
/// connection closed and the call fails with `timedOut`. Failures become
/// ``CacheStorageError``s whose messages carry the server's message and SQLSTATE, never a
/// bound value.
final class PostgresLink {
    let endpoint: PostgresEndpoint
    let timeout: Duration
    private var connection: PostgresConnection?
    private static let logger = Logger(label: "tokencache.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    private static let connectionIDs = Atomic<Int>(0)

    init(endpoint: PostgresEndpoint, timeout: Duration) {
        self.endpoint = endpoint
        self.timeout = timeout
    }

    deinit { close() }

    /// Whether a connection is open.
    var isOpen: Bool { connection.map { !$0.isClosed } ?? false }

    /// Opens the connection unless it is open.
    func connect() throws(CacheStorageError) {
        if let connection, !connection.isClosed { return }
        connection = nil
        var configuration = PostgresConnection.Configuration(
            host: endpoint.host, port: endpoint.port, username: endpoint.user,
            password: endpoint.password, database: endpoint.database, tls: try tls())
        configuration.options.connectTimeout = .nanoseconds(nanoseconds(timeout))
        // The server cancels a statement (a lock wait included) before this side gives up
        // on it, so a statement that committed on its own is never reported as failed.
        configuration.options.additionalStartupParameters = [("statement_timeout", String(max(100, nanoseconds(timeout) / 1_250_000)))]
        let id = PostgresLink.connectionIDs.add(1, ordering: .relaxed).newValue
        let started = ContinuousClock.now
        let future = PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: id, logger: PostgresLink.logger)
        connection = try waitForConnection(future, started: started)
    }

    /// Closes the connection; the next call opens a new one.
    func close() {
        guard let connection else { return }
        self.connection = nil
        // PostgresNIO requires a connection to be closed before it is released.
        let closed: EventLoopFuture<Void> = connection.close()
        if !connection.eventLoop.inEventLoop { _ = try? closed.wait() }
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    func query(_ sql: String, _ values: [RowValue] = []) throws(CacheStorageError) -> [PostgresResultRow] {
        try result(sql, values).rows
    }

    /// Runs one statement and returns how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [RowValue] = []) throws(CacheStorageError) -> Int {
        try result(sql, values).changed
    }

    /// Registers `handler` for the notifications of `channel` (call `LISTEN` after), and
    /// `closed` for when the connection ends.
    func onNotification(channel: String, _ handler: @escaping @Sendable (String) -> Void, closed: @escaping @Sendable () -> Void) throws(CacheStorageError) {
        try connect()
        guard let connection else { return }
        connection.addListener(channel: channel) { _, notification in handler(notification.payload) }
        connection.closeFuture.whenComplete { _ in closed() }
    }

    private func result(_ sql: String, _ values: [RowValue]) throws(CacheStorageError) -> (rows: [PostgresResultRow], changed: Int) {
        try connect()
        guard let connection else { throw unavailable("the connection closed") }
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .null: bindings.append(String?.none)
            case .text(let text): bindings.append(text)
            case .integer(let number): bindings.append(number)
            case .bool(let flag): bindings.append(flag)
            case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
            case .texts(let texts): bindings.append(texts)
            }
        }
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        let answer = try perform(on: connection, doing: "run a query") { connection.query(query, logger: PostgresLink.logger) }
        return (answer.rows.map { PostgresResultRow(row: $0) }, answer.metadata.rows ?? 0)
    }

    /// Starts `start` on `connection`'s event loop and waits for its result at most
    /// ``timeout``; on time-out closes the connection and reports `timedOut`.
    ///
    /// Everything is set up in one hop to the event loop, and the answer wakes this thread
    /// once: a query costs two thread switches, not one per future callback.
    private func perform<T: Sendable>(on connection: PostgresConnection, doing what: String,
                                      _ start: @escaping @Sendable () -> EventLoopFuture<T>) throws(CacheStorageError) -> T {
        let outcome = Locked<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        connection.eventLoop.execute {
            start().whenComplete { result in
                outcome.withLock { $0 = result }
                done.signal()
            }
        }
        let timedOut = done.wait(timeout: .now() + .nanoseconds(Int(nanoseconds(timeout)))) == .timedOut
        if timedOut {
            // Closing fails the call, whose callback then runs. The wait for it is bounded
            // too: a call the driver never completes (seen once with the server killed in
            // the middle of a write) must not hang this thread for ever.
            _ = connection.close() as EventLoopFuture<Void>
            _ = done.wait(timeout: .now() + .seconds(5))
        }
        guard let result = outcome.withLock({ $0 }) else {
            close()
            throw timedOutError(what)
        }
        switch result {
        case .success(let value):
            // An answer that beat the close is still the answer.
            if timedOut { close() }
            return value
        case .failure(let error):
            if timedOut {
                close()
                throw timedOutError(what)
            }
            let mapped = map(error, doing: what)
            if self.connection?.isClosed ?? false { close() }
            throw mapped
        }
    }

    private func timedOutError(_ what: String) -> CacheStorageError {
        CacheStorageError(code: .timedOut, location: endpoint.location, reason: "the server did not answer within \(timeout) (\(what)); the connection was closed, and the server rolls back whatever of this call it had not committed. Check the server's load, or raise connect_timeout")
    }

    /// Waits for a connection being opened; when that took longer than ``timeout`` (the
    /// connect time-out PostgresNIO enforces), reports `timedOut`.
    private func waitForConnection(_ future: EventLoopFuture<PostgresConnection>, started: ContinuousClock.Instant) throws(CacheStorageError) -> PostgresConnection {
        do {
            return try future.wait()
        } catch {
            // The driver's own connect time-out fires at `timeout` after the connect began
            // (give its timer a few milliseconds of slack).
            if ContinuousClock.now - started >= timeout - .milliseconds(20) {
                close()
                throw timedOutError("connect")
            }
            throw map(error, doing: "connect")
        }
    }

    private func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    private func unavailable(_ reason: String) -> CacheStorageError {
        CacheStorageError(code: .unavailable, location: endpoint.location, reason: "\(reason). Check that the server is running and reachable; the call can be retried")
    }

    /// A PostgresNIO error as a ``CacheStorageError``: the server's SQLSTATE and message
    /// (never its detail, which can quote values), or what happened to the connection.
    private func map(_ error: any Error, doing what: String) -> CacheStorageError {
        let location = endpoint.location
        guard let error = error as? PSQLError else {
            return unavailable("cannot \(what) at \(endpoint.host):\(endpoint.port): \(String(describing: type(of: error)))")
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? "?????"
            let message = error.serverInfo?[.message] ?? "no message"
            switch state {
            case "28P01", "28000":
                return CacheStorageError(code: .permissionDenied, location: location, reason: "the server refused user \"\(endpoint.user)\" (\(state): \(message)). Set the password in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass), and check pg_hba.conf")
            case "3D000":
                return CacheStorageError(code: .unavailable, location: location, reason: "database \"\(endpoint.database)\" does not exist (\(state)). Create it (createdb \(endpoint.database)) or name another in the SPEC")
            case "42501":
                return CacheStorageError(code: .permissionDenied, location: location, reason: "user \"\(endpoint.user)\" may not do this (\(state): \(message)). Grant it the rights on schema \(endpoint.schema), or use the schema's owner")
            case "57014":
                return CacheStorageError(code: .timedOut, location: location, reason: "the server cancelled the statement (\(state): \(message)); nothing of this call was committed. Retry, or raise connect_timeout (a statement may run for four fifths of it)")
            case "40001", "40P01", "55P03":
                return CacheStorageError(code: .lockTimeout, location: location, reason: "the transaction conflicted with another writer (\(state): \(message)); nothing was committed. Retry")
            case let state where state.hasPrefix("08") || state.hasPrefix("57") || state == "53300":
                return unavailable("the server cannot serve this connection now (\(state): \(message))")
            default:
                return CacheStorageError(code: .ioFailure, location: location, reason: "the server refused a statement (\(state): \(message)). Check that the schema is this library's and the user may use it")
            }
        case .authMechanismRequiresPassword:
            return CacheStorageError(code: .keyUnavailable, location: location, reason: "the server wants a password for user \"\(endpoint.user)\", and none was found. Set PGPASSWORD, or add a line to a password file (PGPASSFILE, ~/.pgpass)")
        case .unsupportedAuthMechanism, .saslError:
            return CacheStorageError(code: .permissionDenied, location: location, reason: "authentication with the server failed (\(error.code)). Check the user, the password and pg_hba.conf")
        case .sslUnsupported:
            return CacheStorageError(code: .unavailable, location: location, reason: "the server does not accept TLS, which sslmode=\(endpoint.tlsMode.rawValue) requires. Enable ssl on the server, or choose sslmode=prefer")
        case .failedToAddSSLHandler:
            return CacheStorageError(code: .unavailable, location: location, reason: "the TLS handshake with the server failed. Check the server's certificate, or the sslmode")
        case .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
            return unavailable("the connection to \(endpoint.host):\(endpoint.port) ended (\(error.code)) before the server answered; an open transaction was rolled back")
        case .connectionError where error.underlying.map({ "\($0)".contains("CERTIFICATE_VERIFY_FAILED") || "\($0)".contains("unableToValidateCertificate") }) ?? false:
            return CacheStorageError(code: .permissionDenied, location: location, reason: "the server \(endpoint.host):\(endpoint.port) presented a certificate that is not trusted for this host (sslmode=verify-full): it must be issued for \(endpoint.host) by one of the system's roots\(endpoint.rootCertificates.map { " or by the CA in \($0)" } ?? ", or by the CA named with sslrootcert=FILE"). Nothing was sent")
        case .connectionError:
            return unavailable("cannot \(what) at \(endpoint.host):\(endpoint.port) (\(error.underlying.map { String(describing: $0) } ?? "connection error"))")
        default:
            return CacheStorageError(code: .ioFailure, location: location, reason: "the connection failed to \(what) (\(error.code)). Retry; if it persists, check the server and its log")
        }
    }

    private func tls() throws(CacheStorageError) -> PostgresConnection.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch endpoint.tlsMode {
        case .disable:
            return .disable
        case .prefer, .require:
            configuration.certificateVerification = .none
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            if let roots = endpoint.rootCertificates {
                guard FileManager.default.isReadableFile(atPath: roots) else {
                    throw CacheStorageError(code: .keyUnavailable, location: endpoint.location, reason: "the CA certificate file \(roots) (sslrootcert, PGSSLROOTCERT) cannot be read. Check the path and its permissions")
                }
                configuration.trustRoots = .file(roots)
            }
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw CacheStorageError(code: .unavailable, location: endpoint.location, reason: "cannot set up TLS (\(error)). Check the system's certificate store, or choose another sslmode")
        }
        return endpoint.tlsMode == .prefer ? .prefer(context) : .require(context)
    }
}

import CSQLite
import Foundation

/// One connection to a SQLite database: the only file that calls `sqlite3_*`.
///
/// Not thread-safe: its owner serializes every use (``SQLiteTokenCache`` holds a lock).
/// Prepared statements are cached by their SQL text. ``close()`` must be called; the
/// deinitializer only closes a connection its owner forgot.
///
/// Related SQLite documentation: https://www.sqlite.org/c3ref/intro.html
final class SQLiteConnection {
    /// The database file, for messages.
    let path: String
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens (and with `create`, creates) the database at `path`.
    init(path: String, create: Bool, busyTimeout: Duration) throws(CacheStorageError) {
        self.path = path
        var flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW
        if create { flags |= SQLITE_OPEN_CREATE }
        var opened: OpaquePointer?
        let code = sqlite3_open_v2(path, &opened, flags, nil)
        handle = opened
        guard code == SQLITE_OK else {
            // sqlite3_open_v2 returns a handle even when it fails; it must still be closed.
            let error = failure(code, "open the database")
            close()
            throw error
        }
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, Int32(clamping: busyTimeout.components.seconds * 1000 + busyTimeout.components.attoseconds / 1_000_000_000_000_000))
    }

    deinit { close() }

    /// Finalizes every statement and closes the connection.
    func close() {
        for statement in statements.values { statement.finalize() }
        statements = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs SQL that returns no rows (schema changes, pragmas that set).
    func execute(_ sql: String) throws(CacheStorageError) {
        let code = sqlite3_exec(handle, sql, nil, nil, nil)
        guard code == SQLITE_OK else { throw failure(code, "run \(sql.prefix(40))") }
    }

    /// The prepared statement for `sql`, reset and with no bindings.
    func statement(_ sql: String) throws(CacheStorageError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var prepared: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard code == SQLITE_OK, let prepared else { throw failure(code, "prepare a statement") }
        let statement = SQLiteStatement(prepared, connection: self)
        statements[sql] = statement
        return statement
    }

    /// Runs `body` on the statement for `sql` with `values` bound, and resets it after.
    func query<R>(_ sql: String, _ values: [RowValue] = [], _ body: (SQLiteStatement) throws(CacheStorageError) -> R) throws(CacheStorageError) -> R {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(values)
        return try body(statement)
    }

    /// Runs `sql` with `values` bound and returns the first column of its first row.
    func scalar(_ sql: String, _ values: [RowValue] = []) throws(CacheStorageError) -> Int64? {
        try query(sql, values) { statement throws(CacheStorageError) in try statement.step() ? statement.integer(0) : nil }
    }

    /// Runs `sql` with `values` bound, ignoring any rows.
    func run(_ sql: String, _ values: [RowValue] = []) throws(CacheStorageError) {
        try query(sql, values) { statement throws(CacheStorageError) in while try statement.step() {} }
    }

    /// Runs `body` in a transaction: `BEGIN IMMEDIATE` for a write (so two writers queue on
    /// the busy timeout instead of failing when one upgrades), `BEGIN` for a read (one
    /// consistent snapshot). Rolls back when `body` throws.
    func transaction<R>(writing: Bool, _ body: () throws -> R) throws -> R {
        try execute(writing ? "BEGIN IMMEDIATE" : "BEGIN")
        let result: R
        do {
            result = try body()
        } catch {
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw error
        }
        do {
            try execute("COMMIT")
        } catch {
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw error
        }
        return result
    }

    /// The rows changed by the last statement.
    var changes: Int { Int(sqlite3_changes(handle)) }

    /// The SQLite library's version, such as `3.40.1`.
    static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    /// Turns a result code into an error naming the database and what to do.
    func failure(_ code: Int32, _ action: String) -> CacheStorageError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        let detail = "cannot \(action): \(message)"
        switch code & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED:
            return CacheStorageError(code: .lockTimeout, location: path, reason: "\(detail). Another process kept the database locked for longer than the busy timeout; retry, or find the process that holds it (fuser \(path))")
        case SQLITE_NOTADB:
            return CacheStorageError(code: .damaged, location: path, reason: "the file is not a SQLite database (\(message)). If it is a JSON cache use file:, if encrypted use encrypted:; otherwise move it away")
        case SQLITE_CORRUPT:
            return CacheStorageError(code: .damaged, location: path, reason: "\(detail). The database is damaged: restore it from a backup, or move it away and sign in again")
        case SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH:
            return CacheStorageError(code: .permissionDenied, location: path, reason: "\(detail). Check the owner and mode of the database, its -wal and -shm files and its folder")
        case SQLITE_CANTOPEN:
            return CacheStorageError(code: .unavailable, location: path, reason: "\(detail). Check that the folder exists and can be written")
        case SQLITE_FULL:
            return CacheStorageError(code: .unavailable, location: path, reason: "\(detail). Free disk space")
        default:
            return CacheStorageError(code: .ioFailure, location: path, reason: detail)
        }
    }

    fileprivate var rawHandle: OpaquePointer? { handle }
}

/// A prepared statement of a ``SQLiteConnection``. Column readers are valid only until
/// the next ``step()`` or ``reset()``.
package final class SQLiteStatement {
    private var statement: OpaquePointer?
    private unowned let connection: SQLiteConnection

    fileprivate init(_ statement: OpaquePointer, connection: SQLiteConnection) {
        self.statement = statement
        self.connection = connection
    }

    fileprivate func finalize() {
        sqlite3_finalize(statement)
        statement = nil
    }

    /// Resets the statement and clears its bindings.
    func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    /// Binds `values` to parameters 1, 2, ...
    func bind(_ values: [RowValue]) throws(CacheStorageError) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .null: code = sqlite3_bind_null(statement, index)
            case .integer(let number): code = sqlite3_bind_int64(statement, index, number)
            case .text(let text): code = sqlite3_bind_text(statement, index, text, -1, SQLITE_TRANSIENT)
            case .bool(let flag): code = sqlite3_bind_int64(statement, index, flag ? 1 : 0)
            case .blob(let data):
                code = data.withUnsafeBytes { sqlite3_bind_blob64(statement, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), sqlite3_uint64($0.count), SQLITE_TRANSIENT) }
            case .texts:
                code = SQLITE_MISMATCH  // SQLite has no array type: a list is bound one value at a time
            }
            guard code == SQLITE_OK else { throw connection.failure(code, "bind a value") }
        }
    }

    /// Advances to the next row; `false` when there are no more.
    func step() throws(CacheStorageError) -> Bool {
        let code = sqlite3_step(statement)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.failure(code, "run a statement")
        }
    }

    /// Whether a column of the current row is NULL.
    package func isNull(_ column: Int) -> Bool { sqlite3_column_type(statement, Int32(column)) == SQLITE_NULL }

    /// An integer column of the current row, or `nil` for NULL.
    package func integer(_ column: Int) -> Int64? {
        isNull(column) ? nil : sqlite3_column_int64(statement, Int32(column))
    }

    /// A boolean (0 or 1) column of the current row, or `nil` for NULL.
    package func bool(_ column: Int) -> Bool? {
        integer(column).map { $0 != 0 }
    }

    /// A text column of the current row, or `nil` for NULL.
    package func text(_ column: Int) -> String? {
        guard let bytes = sqlite3_column_text(statement, Int32(column)) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, Int32(column)))
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// Calls `body` with the bytes of a blob (or text) column of the current row, without
    /// copying them.
    package func withBytes<R, E: Error>(_ column: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let start = sqlite3_column_blob(statement, Int32(column))
        let count = Int(sqlite3_column_bytes(statement, Int32(column)))
        return try body(UnsafeRawBufferPointer(start: start, count: count))
    }
}

extension SQLiteStatement: RowCursor {}

/// SQLite's `SQLITE_TRANSIENT`: copy the bound bytes now.
private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension SQLiteConnection {
    /// The first column of every row of `sql`, as text.
    func strings(_ sql: String, _ values: [RowValue] = []) throws(CacheStorageError) -> [String] {
        try query(sql, values) { statement throws(CacheStorageError) in
            var result: [String] = []
            while try statement.step() {
                if let text = statement.text(0) { result.append(text) }
            }
            return result
        }
    }

    /// The first column of the first row of `sql`, as text.
    func text(_ sql: String, _ values: [RowValue] = []) throws(CacheStorageError) -> String? {
        try strings(sql, values).first
    }

    /// The first column of the first row of `sql`, as bytes.
    func blob(_ sql: String, _ values: [RowValue] = []) throws(CacheStorageError) -> [UInt8]? {
        try query(sql, values) { statement throws(CacheStorageError) in
            guard try statement.step(), !statement.isNull(0) else { return nil }
            return statement.withBytes(0) { Array($0) }
        }
    }
}

extension SQLiteConnection {
    /// Switches the database to write-ahead logging. The switch needs a moment when no
    /// other connection is in a transaction, and SQLite does not wait for it, so this
    /// retries until `timeout`.
    func useWriteAheadLog(timeout: Duration) throws(CacheStorageError) {
        let deadline = ContinuousClock.now + timeout
        while true {
            do throws(CacheStorageError) {
                guard try text("PRAGMA journal_mode") != "wal" else { return }
                let mode = try text("PRAGMA journal_mode = WAL")
                guard mode == "wal" else {
                    throw CacheStorageError(code: .unavailable, location: path, reason: "the database cannot use write-ahead logging (journal mode \(mode ?? "unknown")); put it on a local file system")
                }
                return
            } catch {
                guard error.code == .lockTimeout, ContinuousClock.now < deadline else { throw error }
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }
}

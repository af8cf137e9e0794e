package import Foundation
package import TokenCache

/// A value bound to a statement's parameter.
package enum RowValue: Sendable {
    case null
    case text(String)
    case integer(Int64)
    case bool(Bool)
    /// Bytes the database copies before the call returns.
    case blob(Data)
    case texts([String])

    /// `text`, or NULL for `nil`.
    package static func text(_ value: String?) -> RowValue { value.map(RowValue.text) ?? .null }
    /// `integer`, or NULL for `nil`.
    package static func integer(_ value: Int64?) -> RowValue { value.map(RowValue.integer) ?? .null }
}

/// One row of a result, read by column position (from 0).
package protocol RowCursor {
    /// The text in `column`, or `nil` for NULL.
    func text(_ column: Int) -> String?
    /// The integer in `column`, or `nil` for NULL.
    func integer(_ column: Int) -> Int64?
    /// The boolean in `column`, or `nil` for NULL.
    func bool(_ column: Int) -> Bool?
    /// Runs `body` over the bytes of `column` (empty for NULL; an integer as its text).
    func withBytes<R, E: Error>(_ column: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R
}

/// A database as the row store (``RowStore``) uses it: one connection that runs statements
/// and transactions, the SQL of its dialect, its schema, and how it locks and announces
/// changes. The SQLite and PostgreSQL stores are its two adapters; everything else (MSAL's
/// write rules, snapshot, replace and merge, key metadata, row encryption, retries) is the
/// row store's, written once.
///
/// An adapter is used by one thread at a time: the row store holds a lock around every use.
package protocol RowDatabase: AnyObject {
    associatedtype Cursor: RowCursor

    /// The store's name in messages.
    var location: String { get }
    /// The SQL texts of the dialect, written once.
    var sql: RowSQL { get }

    // MARK: The connection

    /// Connects unless connected. `false` when there is no database to connect to and
    /// `creating` is not set; nothing is created then.
    func connect(creating: Bool) throws -> Bool
    /// Sets the connection up once the schema is identified (`isNew`: nothing is in it yet).
    func configure(isNew: Bool) throws
    /// Closes the connection; the next use connects again.
    func disconnect()
    /// Whether a connection is open.
    var isConnected: Bool { get }
    /// Runs `sql` with `values` bound, calling `each` for every row.
    func query(_ sql: String, _ values: [RowValue], _ each: (Cursor) throws(CacheStorageError) -> Void) throws(CacheStorageError)
    /// Runs `sql` with `values` bound; returns how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [RowValue]) throws(CacheStorageError) -> Int
    /// Runs a statement without parameters or rows (schema changes).
    func execute(_ sql: String) throws(CacheStorageError)


    // MARK: Writing rows

    /// Upserts `rows` (distinct keys, at most ``RowSQL/rowsPerStatement``) in one statement,
    /// adding their sections first; returns the partitions changed, the rows' previous ones
    /// included. With `announcing` (only where ``RowSQL/upsertAnnounces``), the statement
    /// announces them itself, so it can run as a transaction of its own.
    func upsert(_ rows: ArraySlice<EncodedRow>, announcing: Bool) throws(CacheStorageError) -> [String]

    // MARK: The schema

    /// The tables, format and version found, without writing.
    func schemaState() throws(CacheStorageError) -> RowSchemaState
    /// Why `state` is not a token cache of this format, and what to do.
    func foreignSchema(_ state: RowSchemaState) -> String
}

extension RowDatabase {
    /// Takes the transaction-scoped locks named `names` (partitions, or the schema's
    /// ``RowSQL/schemaLock``), in a fixed order so writers never wait on each other in a
    /// circle; nothing where the dialect needs none (``RowSQL/lock``).
    package func lock(_ names: [String]) throws(CacheStorageError) {
        guard let statement = sql.lock else { return }
        for name in Set(names).sorted() { try run(statement, [.text(name)]) }
    }
}

/// A row to write: an entry with its lookup columns, partition and stored body.
package struct EncodedRow {
    package let type: CredentialType
    package let key: String
    package let columns: RowCodec.Columns
    package let partition: String
    package let body: Data

    /// The values of ``RowSQL/entryColumns``, in order.
    package var values: [RowValue] {
        [.text(partition), .text(type.rawValue), .text(key), .text(columns.homeAccountID), .bool(columns.appOnly), .text(columns.environment),
         .text(columns.clientID), .text(columns.realm), .text(columns.familyID), .text(columns.target), .integer(columns.expiresOn), .blob(body)]
    }
}

/// What ``RowDatabase/schemaState()`` found.
package struct RowSchemaState {
    /// The tables the store's schema (or database) holds, sorted.
    package var tables: [String]
    /// The `format` meta value, when there is one.
    package var format: String?
    /// The schema version (0 when none is recorded).
    package var version: Int64

    package init(tables: [String], format: String?, version: Int64) {
        self.tables = tables
        self.format = format
        self.version = version
    }
}

/// The SQL of one database: its tables, placeholders and the statements the row store
/// runs, written once when the store is created. (A class, so handing it around costs one
/// reference, not a copy of every text.)
package final class RowSQL: Sendable {
    /// The `format` meta value of the kind of store.
    package let format: String
    /// The first part of every sealed row's associated data.
    package let rowLabel: String
    /// How a SPEC of this kind is written, for messages.
    package let specForm: String
    /// `migrations[n]` upgrades a schema from version `n` to `n + 1`.
    package let migrations: [[String]]
    /// Whether lookups select by the `partition` column (PostgreSQL): a user's lookup reads
    /// only that user's rows.
    package let isPartitioned: Bool
    /// Whether an upsert statement can announce its own changes (see
    /// ``RowDatabase/upsert(_:announcing:)``).
    package let upsertAnnounces: Bool
    /// The most rows one upsert statement writes.
    package let rowsPerStatement: Int

    package let entries: String
    package let sections: String
    package let meta: String
    /// The lock that makes instances starting together create or migrate the schema once.
    package let schemaLock: String

    /// Starts a write transaction that excludes what it must.
    package let beginWrite: String
    /// Starts a read of one consistent snapshot.
    package let beginRead: String
    /// Takes the transaction-scoped lock named by its parameter (a partition, or
    /// ``schemaLock``); `nil` where a write transaction excludes every other writer already.
    package let lock: String?
    /// Announces, inside the transaction, the partitions it changed (its parameter, one a
    /// line); delivered when it commits. `nil` where nobody listens.
    package let announce: String?
    /// Adds the section named by its parameter at the end of the document order unless it
    /// is there.
    package let ensureSection: String
    /// Writes a top-level member that is not an entry section (name, body): a new one at the
    /// end of the document order, one of the same name replaced in place.
    package let putMember: String
    /// The statement that records the schema version, inside the migration's transaction.
    package let setVersion: @Sendable (Int64) -> (sql: String, values: [RowValue])

    // Lookups, each selecting ``selected``.
    package let slot: String
    package let owner: String
    package let appOwner: String
    package let environment: String
    package let key: String
    package let section: String
    package let partition: String
    package let members: String
    package let metaValues: String
    package let insertMeta: String

    // Writes.
    package let delete: String
    package let deleteExpired: String
    package let deleteAllEntries: String
    package let deleteAllSections: String

    /// The columns of an entry's row, in the order an upsert binds them.
    package static let entryColumns = ["partition", "credential_type", "key", "home_account_id", "app_only", "environment",
                                       "client_id", "realm", "family_id", "target", "expires_on", "body"]

    /// What every lookup selects: `key, body`, the lookup columns (``RowCodec/columnList``),
    /// then `credential_type` and `partition` (NULL where there is no such column).
    package let selected: String

    /// A term of a WHERE clause: SQL text, followed by the next parameter or not.
    private enum Term {
        case parameter(String)
        case fixed(String)
    }

    /// Writes the statements for the tables `entries`, `sections` and `metaTable` in
    /// `schema` (none: unqualified), with parameters written by `placeholder` (from 1) and
    /// NULL-matching equality `nullSafeEquals`.
    ///
    /// Written with `+` alone: the first string interpolation, `joined` or substring of a
    /// process each cost a one-time runtime lookup that a cold process's first lookup would
    /// pay.
    package init(format: String, rowLabel: String, specForm: String, migrations: [[String]], isPartitioned: Bool, upsertAnnounces: Bool, rowsPerStatement: Int,
                 schema: String, metaTable: String, nullSafeEquals: String, placeholder: (Int) -> String,
                 beginWrite: String, beginRead: String, lock: String?, announce: String?, ensureSection: String, putMember: String,
                 setVersion: @escaping @Sendable (Int64) -> (sql: String, values: [RowValue])) {
        self.format = format
        self.rowLabel = rowLabel
        self.specForm = specForm
        self.migrations = migrations
        self.isPartitioned = isPartitioned
        self.upsertAnnounces = upsertAnnounces
        self.rowsPerStatement = rowsPerStatement
        let prefix = schema.isEmpty ? "" : schema + "."
        let entries = prefix + "entries"
        let sections = prefix + "sections"
        let meta = prefix + metaTable
        self.entries = entries
        self.sections = sections
        self.meta = meta
        schemaLock = "tokencache-schema:" + schema
        self.beginWrite = beginWrite
        self.beginRead = beginRead
        self.lock = lock
        self.announce = announce
        self.ensureSection = ensureSection
        self.putMember = putMember
        self.setVersion = setVersion
        /// `terms` joined with AND, each ``Term/parameter(_:)`` taking the next parameter.
        func clause(_ terms: [Term]) -> String {
            var clause = ""
            var next = 0
            for term in terms {
                if !clause.isEmpty { clause += " AND " }
                switch term {
                case .parameter(let text):
                    next += 1
                    clause += text + placeholder(next)
                case .fixed(let text):
                    clause += text
                }
            }
            return clause
        }
        let partitionColumn = isPartitioned ? "partition" : "NULL"
        let selected = "key, body, " + RowCodec.columnList + ", credential_type, " + partitionColumn
        self.selected = selected
        let select = "SELECT " + selected + " FROM " + entries + " WHERE "
        let partitionTerm: [Term] = isPartitioned ? [.parameter("partition = ")] : []
        let type = Term.parameter("credential_type = ")
        slot = select + clause(partitionTerm + [type, .parameter("home_account_id " + nullSafeEquals + " "), .parameter("app_only = "), .parameter("environment = "),
                                                .parameter("client_id = "), .parameter("realm = ")]) + " ORDER BY seq"
        owner = select + clause(partitionTerm + [type, .parameter("home_account_id = "), .parameter("app_only = "), .parameter("environment = ")]) + " ORDER BY seq"
        appOwner = select + clause([type, .fixed("home_account_id IS NULL"), .parameter("app_only = "), .parameter("environment = ")]) + " ORDER BY seq"
        environment = select + clause([type, .parameter("environment = ")]) + " ORDER BY seq"
        key = select + clause([type, .parameter("key = ")])
        section = select + clause([type]) + " ORDER BY seq"
        partition = select + clause([.parameter("partition = ")]) + " ORDER BY seq"
        members = "SELECT name, value FROM " + sections + " ORDER BY position"
        metaValues = "SELECT name, value FROM " + meta
        insertMeta = "INSERT INTO " + meta + " (name, value) VALUES (" + placeholder(1) + ", " + placeholder(2) + ")"
        delete = "DELETE FROM " + entries + " WHERE " + clause([type, .parameter("key = ")]) + " RETURNING " + partitionColumn
        deleteExpired = "DELETE FROM " + entries + " WHERE " + clause([type, .parameter("expires_on < ")]) + " RETURNING key, " + partitionColumn
        deleteAllEntries = "DELETE FROM " + entries
        deleteAllSections = "DELETE FROM " + sections
    }

    /// The partition of a home account's entries, or of an app's own (`nil` home account):
    /// `user:HOME_ACCOUNT_ID`, or `app:CLIENT_ID`.
    package static func partition(homeAccountID: String?, clientID: String?) -> String {
        homeAccountID.map { "user:" + $0 } ?? "app:" + (clientID ?? "")
    }

    /// The partition of an entry with these lookup columns.
    package static func partition(_ columns: RowCodec.Columns) -> String {
        partition(homeAccountID: columns.homeAccountID, clientID: columns.clientID)
    }
}

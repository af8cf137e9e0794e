import Foundation
package import TokenCache

/// The token cache kept as rows of a database, one row per entry: written once for every
/// database, which an adapter (``RowDatabase``) connects to and speaks the SQL of. The
/// SQLite and PostgreSQL stores are this engine over their adapters.
///
/// It owns what must be the same in every row store: MSAL's write rules (a token response
/// as `add()` writes it, a refresh saved update-only, a sign-out's scope), snapshot,
/// replace and merge in document order, the key description and row encryption
/// (``RowKeyMeta``, ``RowCodec``), creating and migrating the schema, and retrying after a
/// lost connection while that is safe.
///
/// One instance may be shared by many threads; they take turns on its connection.
package struct RowStore<Database: RowDatabase>: @unchecked Sendable {
    // @unchecked: `database` and `state` are only touched while `state.lock` is held.

    /// The adapter.
    package let database: Database
    private let keys: EncryptionKeys?
    private let retryFor: Duration
    /// Called with the partitions a write changed, once it committed.
    private let committed: @Sendable (Set<String>) -> Void
    private let state = State()

    /// What changes between calls: the codec of the open store and whether the current
    /// attempt has sent its COMMIT. (A class of its own, not generic, so a store costs no
    /// run-time type instantiation when it opens.)
    private final class State {
        let lock = NSLock()
        var codec: RowCodec?
        var committing = false
        /// Where the open store's key is kept, as its key description says.
        var keyKind: EncryptedEnvelope.Source?
    }

    /// Creates a store over `database`, with rows sealed under `keys`' key (none: in the
    /// clear); a call that loses its connection is retried for up to `retryFor` where that
    /// is safe (zero: never).
    package init(database: Database, keys: EncryptionKeys?, retryFor: Duration, committed: @escaping @Sendable (Set<String>) -> Void = { _ in }) {
        self.database = database
        self.keys = keys
        self.retryFor = retryFor
        self.committed = committed
    }

    /// Closes the connection; the next call opens it again.
    package func close() {
        state.lock.withLock {
            database.disconnect()
            state.codec = nil
        }
    }

    // MARK: - Reading

    /// The silent-lookup decision for `query`.
    package func lookupAccessToken(_ query: AccessTokenQuery) throws -> AccessTokenLookup {
        try reading(.miss(expired: false)) { reader throws(CacheStorageError) in try CacheQueries.lookupAccessToken(query, in: reader) }
    }

    /// The refresh tokens a silent request may try, in MSAL Python's order.
    package func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) throws -> [RefreshToken] {
        try reading([]) { reader throws(CacheStorageError) in
            try CacheQueries.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID, in: reader)
        }
    }

    /// The accounts MSAL Python's `get_accounts()` lists.
    package func accounts(environment: String, aliases: [String], username: String?, includeCloudShell: Bool = false) throws -> [Account] {
        try reading([]) { reader throws(CacheStorageError) in
            try CacheQueries.accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: includeCloudShell, in: reader)
        }
    }

    /// The whole cache, read in one consistent transaction.
    package func snapshot() throws -> TokenCache {
        let members: [CacheMember]? = try withDatabase(creating: false, retry: .always) { database, codec in
            try database.execute(database.sql.beginRead)
            defer { _ = try? database.execute("COMMIT") }
            let reader = RowEntryReader(database: database, codec: codec)
            var sections: [(name: String, value: JSONValue?)] = []
            try database.query(database.sql.members, []) { row throws(CacheStorageError) in
                let name = row.text(0) ?? ""
                // An empty value is one of the entry sections; a member's JSON never is.
                let value = try row.withBytes(1) { bytes throws(CacheStorageError) -> JSONValue? in
                    // (JSONValue is itself nil-literal: Optional.none, not JSON null.)
                    bytes.isEmpty ? Optional.none : try codec.value(from: bytes, section: "", key: name)
                }
                sections.append((name, value))
            }
            return try sections.map { section in
                if let value = section.value { return .value(section.name, value) }
                return .entries(CredentialType(rawValue: section.name), try reader.section(section.name))
            }
        }
        return try TokenCache(members: members ?? [], location: database.location)
    }

    /// Runs `body` with a reader of the database; `empty` when the store does not exist yet.
    package func reading<R>(_ empty: R, _ body: (RowEntryReader<Database>) throws(CacheStorageError) -> R) throws(CacheStorageError) -> R {
        let result: R?
        do {
            result = try withDatabase(creating: false, retry: .always) { database, codec in try body(RowEntryReader(database: database, codec: codec)) }
        } catch let error as CacheStorageError {
            throw error
        } catch {
            throw CacheStorageError(code: .ioFailure, location: database.location, reason: "\(error)")
        }
        return result ?? empty
    }

    // MARK: - Writing

    /// Adds a token response's entries as MSAL Python's `add()` would, in one transaction
    /// (one statement where the database can announce from it).
    package func add(response: JSONObject, context: TokenResponseContext) throws -> CacheChange {
        let entries = try TokenResponseEntries.make(response: response, context: context)
        let alone = database.sql.upsertAnnounces
        return try writing(retry: .always, empty: CacheChange(), creating: true, oneStatement: alone) { writer, _ in
            try writer.upsert(entries, announcing: alone)
        }
    }

    /// Saves a refresh-token grant's result update-only, in one transaction holding the
    /// account's partition lock: nothing is written when the refresh token used is gone (the
    /// account was signed out).
    package func saveRefreshResult(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws -> RefreshSaveOutcome {
        let result = try RefreshResult(response: response, context: context, refreshTokenKey: refreshTokenKey)
        return try writing(retry: .beforeCommit, empty: .accountRemoved, creating: false) { writer, reader in
            let used: RefreshToken? = try reader.entry(key: refreshTokenKey)
            guard let used else { return result.save(used: nil) { _, _, _ in } }
            try writer.database.lock([RowSQL.partition(RowCodec.columns(of: used.fields))])
            // Read again under the lock: a sign-out may have committed in between.
            let current: RefreshToken? = try reader.entry(key: refreshTokenKey)
            return try result.save(used: current?.fields) { type, key, fields in try writer.upsert(type, key: key, fields: fields) }
        }
    }

    /// Signs an account out of an app with MSAL Python's scope, in one transaction holding
    /// the account's partition lock.
    package func removeAccount(homeAccountID: String, environment: String, clientID: String, now: Int64) throws -> CacheChange {
        try writing(retry: .always, empty: CacheChange(), creating: false) { writer, reader in
            try writer.database.lock([RowSQL.partition(homeAccountID: homeAccountID, clientID: nil)])
            return try CacheQueries.removeAccount(homeAccountID: homeAccountID, environment: environment, clientID: clientID, in: reader,
                                                  delete: writer.delete, deleteExpired: { try writer.deleteExpiredAccessTokens(now: now) })
        }
    }

    /// Removes the app's own access tokens of `clientID` in `environments`, in one
    /// transaction.
    package func removeAppTokens(clientID: String, environments: [String]) throws -> CacheChange {
        try writing(retry: .always, empty: CacheChange(), creating: false) { writer, reader in
            var change = CacheChange()
            for reference in try CacheQueries.appTokens(clientID: clientID, environments: environments, in: reader) where try writer.delete(reference) {
                change.removed.append(reference)
            }
            return change
        }
    }

    /// Deletes every access token that expired before `now`, in one statement.
    package func removeExpiredAccessTokens(now: Int64) throws -> CacheChange {
        try writing(retry: .always, empty: CacheChange(), creating: false) { writer, _ in
            var change = CacheChange()
            change.removed = try writer.deleteExpiredAccessTokens(now: now)
            return change
        }
    }

    /// Deletes every entry and section; the tables and the key description stay.
    package func clear() throws {
        try writing(retry: .always, empty: (), creating: false) { writer, _ in try writer.deleteAll() }
    }

    /// Replaces the whole content with `cache`'s, in one transaction.
    package func replaceContents(with cache: TokenCache) throws {
        let members = cache.members
        try writing(retry: .always, empty: (), creating: true) { writer, _ in
            try writer.deleteAll()
            for member in members { try writer.append(member) }
        }
    }

    /// Writes every entry and member of `cache` into the store, in one transaction,
    /// replacing entries under the same keys and keeping the rest (a bulk import).
    package func merge(_ cache: TokenCache) throws {
        let members = cache.members
        try writing(retry: .always, empty: (), creating: true) { writer, _ in
            for member in members { try writer.append(member) }
        }
    }

    /// When a failed call may run again.
    package enum RetryPolicy {
        /// Always: the call reads, or applying it twice has the same effect.
        case always
        /// Only when it failed before its COMMIT was sent.
        case beforeCommit
    }

    /// Runs `body` in one write transaction, announcing the partitions it changed at commit;
    /// `empty` without creating anything when the store does not exist and `creating` is
    /// not set. With `oneStatement`, `body` runs one statement that announces by itself,
    /// which is its own transaction.
    private func writing<R>(retry: RetryPolicy, empty: R, creating: Bool, oneStatement: Bool = false,
                            _ body: (RowWriter<Database>, RowEntryReader<Database>) throws -> R) throws -> R {
        var changed: Set<String> = []
        let result: R? = try withDatabase(creating: creating, retry: retry) { database, codec in
            // A data key in the kernel keyring is asked for on every write, which starts the
            // persistent keyring's expiry again (and puts the key back if it was lost). Best
            // effort: the rows are sealed with the key in hand, and a full keyring quota
            // must not fail the write.
            if state.keyKind == .kernelKeyring, let keys, let key = codec.key { _ = try? keys.keyForWriting(kind: .kernelKeyring, held: key) }
            let writer = RowWriter(database: database, codec: codec)
            let reader = RowEntryReader(database: database, codec: codec)
            if oneStatement {
                let result = try body(writer, reader)
                changed = writer.changed
                return result
            }
            try database.execute(database.sql.beginWrite)
            let result: R
            do {
                result = try body(writer, reader)
                try writer.announce()
                state.committing = true
                try database.execute("COMMIT")
            } catch {
                if database.isConnected { _ = try? database.execute("ROLLBACK") }
                throw error
            }
            changed = writer.changed
            return result
        }
        if !changed.isEmpty { committed(changed) }
        return result ?? empty
    }

    // MARK: - Connection

    /// Runs `body` on the open connection, opening it and reading the store's key first;
    /// `nil` when the store does not exist and `creating` is not set. Retries after a lost
    /// connection as `retry` allows, for up to the store's retry time.
    package func withDatabase<R>(creating: Bool, retry: RetryPolicy, _ body: (Database, RowCodec) throws -> R) throws -> R? {
        state.lock.lock()
        defer { state.lock.unlock() }
        var deadline: ContinuousClock.Instant?  // from the first failure: a call that works reads no clock
        var pause = Duration.milliseconds(50)
        while true {
            state.committing = false
            do {
                if state.codec == nil {
                    guard let opened = try open(creating: creating) else { return nil }
                    state.codec = opened
                }
                return try body(database, state.codec!)
            } catch let error as CacheStorageError where error.code == .unavailable || error.code == .lockTimeout {
                database.disconnect()
                state.codec = nil
                let safe = retry == .always || !state.committing
                let now = ContinuousClock.now
                let until = deadline ?? now + retryFor
                deadline = until
                guard safe, retryFor > .zero, now + pause < until else {
                    if state.committing {
                        throw CacheStorageError(code: error.code, location: error.location, reason: error.reason + ". The connection was lost while committing, so the change may or may not have been saved: read it back before retrying")
                    }
                    throw error
                }
                Thread.sleep(forTimeInterval: pause.timeInterval)
                pause = min(pause * 2, .seconds(1))
            }
        }
    }

    /// Runs `body` on the connection, connecting first, whether or not the store exists
    /// (nothing is created).
    package func withConnection<R>(_ body: (Database) throws -> R) throws -> R {
        state.lock.lock()
        defer { state.lock.unlock() }
        _ = try database.connect(creating: false)
        return try body(database)
    }

    /// Connects, identifies the schema (creating or upgrading it when `creating`), and
    /// checks the key; `nil` when there is no store and `creating` is not set.
    private func open(creating: Bool) throws -> RowCodec? {
        guard try database.connect(creating: creating) else { return nil }
        do {
            let version = try schemaVersion()
            guard version != nil || creating else {
                database.disconnect()
                return nil
            }
            try database.configure(isNew: version == nil)
            var created: RowKeyMeta.Created?
            if version == nil {
                let made = try RowKeyMeta.create(keys)
                created = made
                try prepare(meta: made.meta)
            } else if let version, version < currentVersion {
                try prepare(meta: [])
            }
            let sql = database.sql
            let meta = try metaReader()
            let key = try RowKeyMeta.key(from: meta, keys: keys, created: created, location: database.location, spec: sql.specForm)
            state.keyKind = try meta.integer("key_source").flatMap { EncryptedEnvelope.Source(rawValue: UInt8(clamping: $0)) }
            return RowCodec(key: key, location: database.location, label: sql.rowLabel)
        } catch {
            database.disconnect()
            throw error
        }
    }

    /// The version this code writes.
    private var currentVersion: Int64 { Int64(database.sql.migrations.count) }

    /// The token cache's schema version, or `nil` for an empty database (or schema).
    ///
    /// - Throws: ``CacheStorageError`` `incompatible` for another application's tables or a
    ///   newer version, which are never changed.
    private func schemaVersion() throws(CacheStorageError) -> Int64? {
        let state = try database.schemaState()
        if state.tables.isEmpty, state.version == 0 { return nil }
        guard state.format == database.sql.format else {
            throw CacheStorageError(code: .incompatible, location: database.location, reason: database.foreignSchema(state))
        }
        guard state.version <= currentVersion else {
            throw CacheStorageError(code: .incompatible, location: database.location, reason: "the token cache was written by a newer version of this library (schema \(state.version); this version knows up to \(currentVersion)). Nothing was changed; use the newer version, or copy the cache to a new place with it")
        }
        return state.version
    }

    /// Creates or upgrades the schema in one transaction, with `meta` for a new store;
    /// identifies it again inside, since another process or instance may have done it
    /// meanwhile.
    private func prepare(meta: [(String, RowKeyMeta.Value)]) throws {
        try database.execute(database.sql.beginWrite)
        do {
            try database.lock([database.sql.schemaLock])
            var version = try schemaVersion() ?? 0
            let created = version == 0
            while version < currentVersion {
                for statement in database.sql.migrations[Int(version)] { try database.execute(statement) }
                version += 1
            }
            if created {
                // Every value as bytes: text and integers as their UTF-8 text (how
                // ``metaReader()`` reads them back), blobs as they are.
                for (name, value) in [("format", RowKeyMeta.Value.text(database.sql.format))] + meta {
                    let bytes: Data = switch value {
                    case .text(let text): Data(text.utf8)
                    case .integer(let number): Data(String(number).utf8)
                    case .blob(let bytes): Data(bytes)
                    }
                    try database.run(database.sql.insertMeta, [.text(name), .blob(bytes)])
                }
            }
            let record = database.sql.setVersion(version)
            try database.run(record.sql, record.values)
            try database.execute("COMMIT")
        } catch {
            if database.isConnected { _ = try? database.execute("ROLLBACK") }
            throw error
        }
    }

    /// The meta table's values, read once: text and integers are read as their text.
    private func metaReader() throws(CacheStorageError) -> RowKeyMeta.Reader {
        var values: [String: [UInt8]] = [:]
        try database.query(database.sql.metaValues, []) { row in values[row.text(0) ?? ""] = row.withBytes(1) { Array($0) } }
        return RowKeyMeta.Reader(
            text: { name in values[name].map { String(decoding: $0, as: UTF8.self) } },
            integer: { name in values[name].flatMap { Int64(String(decoding: $0, as: UTF8.self)) } },
            blob: { name in values[name] }
        )
    }
}

/// A store whose rows a ``RowStore`` keeps (the SQLite and PostgreSQL stores): its
/// `TokenCacheStore` calls are the row store's, written here once.
package protocol RowStoreBacked: TokenCacheStore {
    associatedtype Database: RowDatabase
    /// The row store.
    var rows: RowStore<Database> { get }
}

extension RowStoreBacked {
    /// The silent-lookup decision for `query`: one indexed query per environment tried,
    /// decoding (and decrypting) only the tokens that could answer it.
    public func lookupAccessToken(_ query: AccessTokenQuery) throws -> AccessTokenLookup {
        try rows.lookupAccessToken(query)
    }

    /// The refresh tokens a silent request may try, in MSAL Python's order.
    public func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) throws -> [RefreshToken] {
        try rows.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID)
    }

    /// The accounts MSAL Python's `get_accounts()` lists.
    public func accounts(environment: String, aliases: [String] = [], username: String? = nil) throws -> [Account] {
        try accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: false)
    }

    /// The same, with Azure Cloud Shell's accounts when `includeCloudShell`.
    public func accounts(environment: String, aliases: [String], username: String?, includeCloudShell: Bool) throws -> [Account] {
        try rows.accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: includeCloudShell)
    }

    /// The whole cache, read in one consistent transaction.
    public func snapshot() throws -> TokenCache {
        try rows.snapshot()
    }

    /// Adds a token response's entries in one transaction, as MSAL Python's `add()` would.
    @discardableResult
    public func add(response: JSONObject, context: TokenResponseContext) throws -> CacheChange {
        try rows.add(response: response, context: context)
    }

    /// Saves a refresh-token grant's result update-only, in one transaction holding the
    /// account's partition: nothing is written when the refresh token used is gone (the
    /// account was signed out).
    public func saveRefreshResult(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws -> RefreshSaveOutcome {
        try rows.saveRefreshResult(response: response, context: context, refreshTokenKey: refreshTokenKey)
    }

    /// Signs an account out of an app with MSAL Python's scope, in one transaction.
    @discardableResult
    public func removeAccount(homeAccountID: String, environment: String, clientID: String, now: Int64) throws -> CacheChange {
        try rows.removeAccount(homeAccountID: homeAccountID, environment: environment, clientID: clientID, now: now)
    }

    /// Removes the app's own access tokens of `clientID` in `environments`, in one
    /// transaction.
    @discardableResult
    public func removeAppTokens(clientID: String, environments: [String]) throws -> CacheChange {
        try rows.removeAppTokens(clientID: clientID, environments: environments)
    }

    /// Deletes every access token that expired before `now`, in one statement.
    @discardableResult
    public func removeExpiredAccessTokens(now: Int64) throws -> CacheChange {
        try rows.removeExpiredAccessTokens(now: now)
    }

    /// Deletes every entry and section; the tables and the key description stay.
    public func clear() throws {
        try rows.clear()
    }

    /// Replaces the whole content with `cache`'s, in one transaction.
    public func replaceContents(with cache: TokenCache) throws {
        try rows.replaceContents(with: cache)
    }

    /// Writes every entry and member of `cache` into the store, in one transaction,
    /// replacing entries under the same keys and keeping the rest (a bulk import).
    public func merge(_ cache: TokenCache) throws {
        try rows.merge(cache)
    }
}

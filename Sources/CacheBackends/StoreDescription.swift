import Foundation
public import TokenCache

/// Which token cache to use and where it lives: parsed once from a SPEC (the `tokencache`
/// command's `--store`, a configuration file), or built with the typed cases in code.
///
/// ```swift
/// let store = try StoreDescription.encrypted("~/.cache/app/tokens.bin", key: .passphrase(env: "APP_CACHE_KEY")).open()
/// ```
///
/// | case | SPEC | store |
/// |---|---|---|
/// | ``file(_:)`` | `file:PATH` | ``FileStorage``: a plain MSAL JSON file |
/// | ``encrypted(_:key:)`` | `encrypted:PATH[?key=keyring\|key=kernel\|passphrase-env=VAR\|passphrase-file=FILE\|key-file=FILE]` | ``EncryptedFileStorage``; without an option, a data key in the Secret Service when it answers, else in the kernel keyring |
/// | ``keyring(_:signal:)`` | `keyring:msal-extensions?signal=PATH`, `keyring:azure-identity?signal=PATH[&cae=true]`, `keyring:msal-dotnet?signal=PATH`, `keyring:custom?signal=PATH&schema=S[&attr.NAME=VALUE...][&label=L][&encoding=raw\|base64]` | ``KeyringStorage`` as each peer stores its item |
/// | ``sqlite(_:key:)`` | `sqlite:PATH[?encrypt=keyring\|encrypt=kernel\|passphrase-env=VAR\|passphrase-file=FILE\|key-file=FILE]` | ``SQLiteTokenCache``: a database with one row per entry |
/// | ``external(_:)`` | `postgres://…` once registered (see ``register(schemes:parse:)``) | a store another module provides, such as CachePostgres's PostgreSQL store |
///
/// The questions every tool asks of a store (``usesKeyring``, ``isEncrypted``,
/// ``lockPath``, ``localPath``) are answered here, once, from the description.
public enum StoreDescription: Sendable {
    /// A plain MSAL JSON file, as MSAL Python and msal-extensions write it.
    case file(String)
    /// An AES-256-GCM encrypted file whose key comes from `key`.
    case encrypted(String, key: EncryptionKeySource = .automatic)
    /// A Secret Service keyring item, as the peer `profile` names it, with the file whose
    /// modification time tells other processes it changed.
    case keyring(KeyringProfile, signal: String)
    /// A SQLite database with one row per entry; each entry encrypted when `key` is given.
    case sqlite(String, key: EncryptionKeySource? = nil)
    /// A store another module provides (the PostgreSQL store: `.postgres(endpoint)` in
    /// CachePostgres), which keeps its driver out of apps that do not use it.
    case external(ExternalStore)

    /// How an app opens a store another module provides: see ``StoreDescription/external(_:)``.
    public struct ExternalStore: Sendable {
        /// The store's name in messages, never a secret.
        public var location: String
        /// Where each entry's key comes from; `nil` for entries in the clear.
        public var keySource: EncryptionKeySource?
        /// Opens the store; the argument is how long a call may wait for the store
        /// (a lock, a busy database, a server that went away).
        public var open: @Sendable (_ waitFor: Duration) throws -> any TokenCacheStore

        /// Creates a description of another module's store.
        public init(location: String, keySource: EncryptionKeySource?, open: @escaping @Sendable (_ waitFor: Duration) throws -> any TokenCacheStore) {
            self.location = location
            self.keySource = keySource
            self.open = open
        }
    }

    // MARK: - Opening

    /// Opens the store: a ``SQLiteTokenCache`` or another module's store as they are, and a
    /// serialized store as a `PersistentTokenCache` with the cross-process lock its peers
    /// use (`<location>.lockfile`).
    ///
    /// - Parameters:
    ///   - lockTimeout: How long a call waits for the lock, the database's busy writers, or
    ///     a server (PostgreSQL's retries).
    ///   - options: How a serialized store is read and recovered.
    public func open(lockTimeout: Duration = .seconds(5), options: PersistentTokenCache.Options = .init()) throws -> any TokenCacheStore {
        switch self {
        case .sqlite(let path, let key):
            return SQLiteTokenCache(path: path, keySource: key, options: SQLiteTokenCache.Options(busyTimeout: lockTimeout))
        case .external(let store):
            return try store.open(lockTimeout)
        case .file, .encrypted, .keyring:
            return try openPersistent(lockTimeout: lockTimeout, options: options)
        }
    }

    /// The persistent cache of a serialized store (a file, an encrypted file, a keyring
    /// item), with its lock.
    ///
    /// - Throws: ``CacheStorageError`` `invalidSpec` for a database store, which is not one
    ///   serialized document.
    public func openPersistent(lockTimeout: Duration = .seconds(5), options: PersistentTokenCache.Options = .init()) throws(CacheStorageError) -> PersistentTokenCache {
        let storage = try storage()
        return PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: storage.location, timeout: lockTimeout), options: options)
    }

    /// The serialized store: its bytes, without a lock or a parsed cache.
    ///
    /// - Throws: ``CacheStorageError`` `invalidSpec` for a database store.
    public func storage() throws(CacheStorageError) -> any CacheStorage {
        switch self {
        case .file(let path): return FileStorage(path: path)
        case .encrypted(let path, let key): return EncryptedFileStorage(path: path, keySource: key)
        case .keyring(let profile, let signal): return KeyringStorage(profile: profile, signalPath: signal)
        case .sqlite, .external:
            throw CacheStorageError(code: .invalidSpec, location: location, reason: "\(kindName) is a database of entries, not a serialized document; open it with open(), whose snapshot() is the whole cache")
        }
    }

    // MARK: - Questions

    /// The store's name in messages: a path, a signal file, or a server and database.
    public var location: String {
        switch self {
        case .file(let path), .encrypted(let path, _), .sqlite(let path, _): return (path as NSString).expandingTildeInPath
        case .keyring(_, let signal): return signal
        case .external(let store): return store.location
        }
    }

    /// The kind, as a SPEC starts: `file`, `encrypted`, `keyring`, `sqlite`, or the
    /// other module's scheme.
    public var kindName: String {
        switch self {
        case .file: return "file"
        case .encrypted: return "encrypted"
        case .keyring: return "keyring"
        case .sqlite: return "sqlite"
        case .external(let store): return String(store.location.prefix(while: { $0 != ":" }))
        }
    }

    /// Where the store's key comes from, for an encrypted store other than a keyring item.
    public var keySource: EncryptionKeySource? {
        switch self {
        case .file, .keyring: return nil
        case .encrypted(_, let key): return key
        case .sqlite(_, let key): return key
        case .external(let store): return store.keySource
        }
    }

    /// Whether the tokens are encrypted at rest (a keyring item is: the Secret Service
    /// encrypts it).
    public var isEncrypted: Bool {
        if case .keyring = self { return true }
        return keySource != nil
    }

    /// Whether opening the store needs the Secret Service: a keyring item, or a key kept in
    /// the Secret Service (``EncryptionKeySource/automatic`` does not: it falls back to the
    /// kernel keyring).
    public var usesKeyring: Bool {
        if case .keyring = self { return true }
        return keySource == .keyring
    }

    /// The lock file writers of the store take, beside it (`<location>.lockfile`); `nil`
    /// for a store another module provides, which locks in its own way.
    public var lockPath: String? {
        if case .external = self { return nil }
        return location + ".lockfile"
    }

    /// The file on this machine that holds the tokens (a file, an encrypted file, a
    /// database), whose owner and mode matter; `nil` for a keyring item or a server.
    public var localPath: String? {
        switch self {
        case .file, .encrypted, .sqlite: return location
        case .keyring, .external: return nil
        }
    }

    /// Whether the store is one serialized document (a file, an encrypted file, a keyring
    /// item) rather than a database of entries.
    public var isSerialized: Bool {
        switch self {
        case .file, .encrypted, .keyring: return true
        case .sqlite, .external: return false
        }
    }

    // MARK: - Parsing

    /// Parses a SPEC (see the table above).
    ///
    /// - Throws: ``CacheStorageError`` `invalidSpec` for an unknown or malformed SPEC,
    ///   naming the forms that are known; the message never shows an option's value that
    ///   could be a secret.
    public init(spec: String) throws(CacheStorageError) {
        if let parse = StoreDescription.parser(for: spec) {
            self = try parse(spec)
            return
        }
        guard let colon = spec.firstIndex(of: ":") else {
            throw CacheStorageError(code: .invalidSpec, location: StoreSpec.shown(spec), reason: "a store is written KIND:LOCATION, for example file:~/.azure/msal_token_cache.json")
        }
        let kind = spec[..<colon]
        let rest = String(spec[spec.index(after: colon)...])
        switch kind {
        case "file":
            guard !rest.isEmpty else {
                throw CacheStorageError(code: .invalidSpec, location: StoreSpec.shown(spec), reason: "file: needs a path, for example file:~/.azure/msal_token_cache.json")
            }
            self = .file(rest)
        case "encrypted":
            let (path, options) = try StoreSpec.splitQuery(rest, spec: spec)
            guard !path.isEmpty else {
                throw CacheStorageError(code: .invalidSpec, location: StoreSpec.shown(spec), reason: "encrypted: needs a path, for example encrypted:~/.cache/tokens.bin?passphrase-env=TOKENCACHE_PASSPHRASE")
            }
            self = .encrypted(path, key: try StoreSpec.fileKeySource(options, spec: spec))
        case "keyring":
            let (profile, signal) = try StoreSpec.keyring(rest, spec: spec)
            self = .keyring(profile, signal: signal)
        case "sqlite":
            let (path, options) = try StoreSpec.splitQuery(rest, spec: spec)
            guard !path.isEmpty else {
                throw CacheStorageError(code: .invalidSpec, location: StoreSpec.shown(spec), reason: "sqlite: needs a path, for example sqlite:~/.cache/tokens.db")
            }
            self = .sqlite(path, key: try StoreSpec.databaseKeySource(options, spec: spec, kind: "sqlite:"))
        default:
            let registered = StoreDescription.registryLock.withLock { StoreDescription.registry.keys.sorted().map { $0 + "…" } }
            let others = registered.isEmpty ? "" : ", " + registered.joined(separator: ", ")
            let hint = kind.hasPrefix("postgres") ? " (a postgres:// store needs the CachePostgres module: call StoreDescription.registerPostgres() once at start-up)" : ""
            throw CacheStorageError(code: .invalidSpec, location: StoreSpec.shown(spec), reason: "unknown store kind \"\(kind.prefix(30))\"\(hint); supported: file:PATH, encrypted:PATH[?key=keyring|key=kernel|passphrase-env=VAR|passphrase-file=PATH|key-file=PATH], keyring:PROFILE?signal=PATH, sqlite:PATH[?encrypt=keyring|encrypt=kernel|passphrase-env=VAR|passphrase-file=PATH|key-file=PATH]\(others)")
        }
    }

    // MARK: - Other modules' stores

    /// The parsers other modules registered, by the prefix of the SPECs they read; only
    /// touched while `registryLock` is held.
    nonisolated(unsafe) private static var registry: [String: @Sendable (String) throws(CacheStorageError) -> StoreDescription] = [:]
    private static let registryLock = NSLock()

    /// Lets ``init(spec:)`` read SPECs that start with one of `schemes` (such as
    /// `postgres://`) with `parse`. A module that provides a store calls it once (the
    /// PostgreSQL store: `StoreDescription.registerPostgres()`); registering again
    /// replaces the parser.
    public static func register(schemes: [String], parse: @escaping @Sendable (String) throws(CacheStorageError) -> StoreDescription) {
        registryLock.withLock {
            for scheme in schemes { registry[scheme] = parse }
        }
    }

    private static func parser(for spec: String) -> (@Sendable (String) throws(CacheStorageError) -> StoreDescription)? {
        registryLock.withLock { registry.first { spec.hasPrefix($0.key) }?.value }
    }
}

extension StoreDescription: CustomStringConvertible {
    /// The kind and location, such as `sqlite:/home/ann/.cache/tokens.db`: never a secret.
    public var description: String {
        if case .external(let store) = self { return store.location }
        return "\(kindName):\(location)"
    }
}

extension EncryptionKeySource {
    /// A passphrase read from the environment variable `name`, stretched with scrypt.
    public static func passphrase(env name: String) -> EncryptionKeySource { .passphraseEnvironment(name) }
    /// A passphrase read from the first line of the file at `path` (mode 0600).
    public static func passphrase(file path: String) -> EncryptionKeySource { .passphraseFile((path as NSString).expandingTildeInPath) }
}

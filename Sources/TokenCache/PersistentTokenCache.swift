import Foundation

/// A ``TokenCache`` kept in sync with a ``CacheStorage`` that other processes, including
/// MSAL Python apps, read and write at the same time.
///
/// - **Reads** reload the store only when its change token moved, without taking the lock
///   (as msal-extensions does), retrying a few times when they catch another library's
///   write half done.
/// - **Writes** take the lock, reload if the store changed, apply the change in memory, and
///   save once (not at all when nothing changed), all inside the lock.
/// - **A silent refresh** is saved update-only: if another process removed the account
///   meanwhile, nothing is written back.
/// - **Removing an account** re-reads the store afterwards and confirms it is gone.
/// - **A corrupt store** is a ``TokenCacheError`` by default. With
///   ``Options/recoverCorruptStore`` it is moved aside to `<location>.corrupt-<time>` and work
///   continues on an empty cache. Clearing and removing accounts always work, even on a
///   corrupt store.
/// - **A store whose key is gone for good** (an encrypted file keyed in the kernel keyring,
///   after a reboot) fails with the storage's error by default. With
///   ``Options/recoverLostKey`` it is moved aside to `<location>.key-lost-<time>` and work
///   continues on an empty cache, under a new key.
///
/// One instance may be shared by many threads and tasks.
public final class PersistentTokenCache: TokenCacheStore, @unchecked Sendable {
    // @unchecked: `lastToken`, `loadedAt` and `movedAside` are only touched while `state` is held; the
    // cache is itself thread-safe.

    /// How the cache treats its store.
    public struct Options: Sendable {
        /// Move a corrupt store aside and continue on an empty cache, instead of failing.
        /// The default is `false`.
        public var recoverCorruptStore: Bool
        /// Move a store whose key is gone for good (see `CacheStorage.isKeyLost(_:)`) aside
        /// and continue on an empty cache, instead of failing: for tools that treat the
        /// cache as a cache, whose users sign in again. The default is `false`.
        public var recoverLostKey: Bool
        /// How many more times a lock-free read retries when it finds the store empty or
        /// unreadable, which happens while another library rewrites it in place; after the
        /// last, it reads once holding the lock. The default is 3.
        public var readRetries: Int
        /// The pause before the first retry; it doubles each time. The default is 20 ms.
        public var retryDelay: Duration

        /// Creates options.
        public init(recoverCorruptStore: Bool = false, recoverLostKey: Bool = false, readRetries: Int = 3, retryDelay: Duration = .milliseconds(20)) {
            self.recoverCorruptStore = recoverCorruptStore
            self.recoverLostKey = recoverLostKey
            self.readRetries = readRetries
            self.retryDelay = retryDelay
        }
    }

    /// The store.
    public let storage: any CacheStorage
    /// The lock writers hold.
    public let lock: any CacheLock
    /// The options.
    public let options: Options
    /// The in-memory cache. Read it through ``read(_:)`` so it is fresh.
    public let cache = TokenCache()

    private let state = NSLock()
    private var lastToken: StorageChangeToken?
    private var loadedAt: Int64 = 0
    private var hasLoaded = false
    /// Writes of this process inside the lock (see ``writing(_:)``).
    private var activeWriters = 0

    private var movedAside: String?

    /// What the last reload moved aside, if it recovered a corrupt store or one whose key was
    /// lost.
    public var quarantined: String? { state.withLock { movedAside } }

    /// Creates a persistent cache.
    public init(storage: any CacheStorage, lock: any CacheLock, options: Options = Options()) {
        self.storage = storage
        self.lock = lock
        self.options = options
    }

    // MARK: - Reading and writing

    /// Runs `body` on the cache after reloading it if the store changed, without the lock.
    ///
    /// - Throws: ``TokenCacheError`` for a corrupt store (after the retries), or the
    ///   storage's error.
    public func read<R>(_ body: (TokenCache) throws -> R) throws -> R {
        var retries = ReadRetries(options)
        while true {
            do {
                try reloadIfChanged(locked: false)
                break
            } catch is LockedReloadNeeded {
                try lock.withLock { try reloadIfChanged(locked: true) }
                break
            } catch is TokenCacheError {
                guard let pause = retries.next() else {
                    // Still empty or unreadable: read once more holding the lock, which
                    // every MSAL library's writer holds while it rewrites the file in place.
                    try lock.withLock { try reloadIfChanged(locked: true) }
                    break
                }
                // Another library may be rewriting the file in place: look again shortly.
                Thread.sleep(forTimeInterval: pause.timeInterval)
            }
        }
        return try body(cache)
    }

    /// ``read(_:)``'s reload, suspending (instead of sleeping) between its retries and
    /// while it waits for the lock.
    nonisolated(nonsending)
    private func reloadSuspending() async throws {
        var retries = ReadRetries(options)
        while true {
            do {
                return try reloadIfChanged(locked: false)
            } catch is LockedReloadNeeded {
                return try await lock.withLockSuspending { try self.reloadIfChanged(locked: true) }
            } catch is TokenCacheError {
                guard let pause = retries.next() else {
                    return try await lock.withLockSuspending { try self.reloadIfChanged(locked: true) }
                }
                try await Task.sleep(for: pause)
            }
        }
    }

    /// The pauses of a lock-free read's retries: ``Options/readRetries`` of them, from
    /// ``Options/retryDelay``, doubling.
    private struct ReadRetries {
        var left: Int
        var pause: Duration

        init(_ options: Options) {
            left = options.readRetries
            pause = options.retryDelay
        }

        /// The pause before the next retry, or `nil` when none is left.
        mutating func next() -> Duration? {
            guard left > 0 else { return nil }
            defer {
                left -= 1
                pause = pause * 2
            }
            return pause
        }
    }

    /// Runs `operation` from async code without blocking a thread of the cooperative pool:
    /// a lookup reloads the store if it changed (suspending between retries) and then runs
    /// at once; a write waits for the lock by suspending; a claim runs at once. A store that
    /// answers through another service (a keyring) is called on a thread of the library's
    /// own.
    nonisolated(nonsending)
    public func perform<T: Sendable>(_ access: StoreAccess, _ operation: @escaping @Sendable () throws -> T) async throws -> T {
        guard storage.answersLocally else { return try await StoreWorker.shared.run(operation) }
        switch access {
        case .lookup:
            try await reloadSuspending()
            return try operation()
        case .write:
            var turns = WriteTurns()
            while true {
                let keyOutsideLock = turns.next(self)
                do {
                    return try await lock.withLockSuspending {
                        try self.writing {
                            try self.reloadIfChanged(locked: true, keyOutsideLock: keyOutsideLock)
                            return try operation()
                        }
                    }
                } catch is KeyNeededOutsideLock {
                    continue
                }
            }
        case .claim:
            // A claim is a lock file of its own beside the store's: taken or not at once.
            return try operation()
        }
    }

    /// Runs `body` on the cache inside the lock, after reloading it if the store changed,
    /// and saves the cache once afterwards if `body` changed it.
    ///
    /// - Throws: the lock's error (for example a timeout), ``TokenCacheError`` for a
    ///   corrupt store, the storage's error, or what `body` throws (then nothing is saved).
    public func write<R>(_ body: (TokenCache) throws -> R) throws -> R {
        var turns = WriteTurns()
        while true {
            let keyOutsideLock = turns.next(self)
            do {
                return try lock.withLock { try writing {
                    try reloadIfChanged(locked: true, keyOutsideLock: keyOutsideLock)
                    let before = cache.changeCount
                    let result: R
                    do {
                        result = try body(cache)
                        if cache.changeCount != before { try save() }
                    } catch {
                        // The store still has its old content: forget the in-memory change.
                        if cache.changeCount != before { state.withLock { hasLoaded = false } }
                        throw error
                    }
                    return result
                } }
            } catch is KeyNeededOutsideLock {
                continue
            }
        }
    }

    /// Runs `body`, a write inside the lock, counted as in progress: meanwhile a lock-free
    /// reload of another thread does not install what it read, which could undo the write
    /// before it is saved.
    private func writing<R>(_ body: () throws -> R) rethrows -> R {
        state.withLock { activeWriters += 1 }
        defer { state.withLock { activeWriters -= 1 } }
        return try body()
    }

    /// Reads the store without the lock before a process's first write, and again after a
    /// locked read found a key that is slow to make (another process created the file with a
    /// new passphrase salt meanwhile). What such a read costs (a passphrase's key derivation,
    /// a keyring's answer) is then not paid while every other writer waits for the lock:
    /// inside it, the store is read again only if it changed, with the key at hand. A
    /// failure here is left to the locked read; it returns `false` then.
    private func warmUp(afterSlowKey: Bool) -> Bool {
        guard afterSlowKey || !state.withLock({ hasLoaded }) else { return true }
        return (try? reloadIfChanged(locked: false)) != nil
    }

    /// How many times a writer lets the lock go to make a slow key without it before it
    /// makes the key inside (the file's salt changing under it each time).
    static let slowKeyTurns = 3

    /// A writer's turns at the lock, for ``write(_:)`` and ``perform(_:_:)`` alike.
    private struct WriteTurns {
        private var turn = 0
        private var readable = true

        /// Starts the next turn: reads the store without the lock when that spares the lock
        /// a slow key (see `warmUp`), and returns whether a slow key met inside the lock is
        /// to be made outside it. A store that cannot be read without the lock (a wrong
        /// key, damage) is read inside it at once, where its error is reported.
        mutating func next(_ cache: PersistentTokenCache) -> Bool {
            turn += 1
            if !cache.warmUp(afterSlowKey: turn > 1) { readable = false }
            return readable && turn < PersistentTokenCache.slowKeyTurns
        }
    }

    /// A locked read found content whose key is slow to make: the writer lets the lock go,
    /// makes the key without it, and takes the lock again.
    private struct KeyNeededOutsideLock: Error {}

    private func save() throws {
        var text = cache.serialize()
        defer {
            // The text holds every token: clear it before the memory goes back.
            text.wipe()
        }
        try text.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return try storage.save(Data()) }
            try storage.save(Data(bytesNoCopy: base, count: buffer.count, deallocator: .none))
        }
        let token = try storage.changeToken()
        state.withLock {
            lastToken = token
            loadedAt = PersistentTokenCache.now()
            hasLoaded = true
        }
    }

    /// Reloads the cache when the store's change token moved since the last load (or may
    /// have moved within one file-system clock tick of it).
    ///
    /// With `keyOutsideLock`, content whose key is slow to make is not read: the caller
    /// gets ``KeyNeededOutsideLock`` and makes the key after letting the lock go.
    private func reloadIfChanged(locked: Bool, keyOutsideLock: Bool = false) throws {
        let token = try storage.changeToken()
        let needed = state.withLock { () -> Bool in
            guard hasLoaded, token == lastToken else { return true }
            guard let modified = token?.modifiedAt else { return false }
            return modified + PersistentTokenCache.clockTick >= loadedAt
        }
        guard needed else { return }
        if keyOutsideLock, storage.loadWouldDeriveKey() { throw KeyNeededOutsideLock() }
        let started = PersistentTokenCache.now()
        // A lock-free reload installs what it read only if nothing changed the cache since
        // it began and no write of this process is inside the lock: else it could undo a
        // write that is not saved yet. It then leaves the state as it was, to look again.
        let condition = locked ? nil : TokenCache.ReloadCondition(changeCount: cache.changeCount) { [self] in
            state.withLock { activeWriters == 0 }
        }
        var patchTried = false
        if let pieces = storage as? any PiecewiseCacheStorage {
            // Only a few entries changed: the cache is patched from the file read in pieces,
            // unless it was rewritten meanwhile. Anything else (a torn or damaged file
            // included) is read in full below.
            patchTried = true
            if let pending = patch(reading: pieces), try storage.changeToken() == token {
                if cache.install(pending, when: condition) {
                    state.withLock {
                        lastToken = token
                        loadedAt = started
                        hasLoaded = true
                    }
                    return
                }
                if let condition, !cache.holds(condition) { return }
            }
        }
        let data: Data?
        do {
            data = try storage.load()
        } catch where options.recoverLostKey && storage.isKeyLost(error) {
            // Only a lock holder may move the file: nobody is writing it now.
            guard locked else { throw LockedReloadNeeded() }
            let moved = try storage.moveAside(reason: "key-lost")
            state.withLock { movedAside = moved }
            cache.replace(with: TokenCache())
            // Written at once, so the next writer (of any library) finds an empty cache
            // under a new key rather than no cache.
            try save()
            return
        }
        let tokenAfter = try storage.changeToken()
        var failure: TokenCacheError?
        if let data, data.isEmpty, !locked {
            // An empty file is most likely a rewrite in progress by a library that
            // truncates first (msal-extensions does): look again before believing it.
            throw TokenCacheError(code: .malformedJSON, reason: "the store was empty while being rewritten", location: storage.location)
        }
        var installed = true
        if let data {
            do {
                installed = try cache.reload(withSerialized: data, location: storage.location, patching: !patchTried, when: condition)
            } catch {
                failure = error
            }
        } else {
            // A missing store is an empty cache (it was removed, or never written).
            installed = try cache.reload(withSerialized: Data(), location: storage.location, patching: false, when: condition)
        }
        guard installed else { return }
        if let failure {
            guard locked, options.recoverCorruptStore else { throw failure }
            // Only a lock holder may move the file: nobody is writing it now.
            let moved = try storage.moveAside(reason: "corrupt")
            cache.replace(with: TokenCache())
            state.withLock { movedAside = moved }
        }
        state.withLock {
            // If the store changed while we read it, keep the older token so that the next
            // call reloads again.
            lastToken = tokenAfter == token ? token : nil
            loadedAt = started
            hasLoaded = true
        }
    }

    /// The cache patched from `storage` read in pieces, or `nil`.
    private func patch(reading storage: any PiecewiseCacheStorage) -> TokenCache.PendingPatch? {
        guard let made = try? storage.readInPieces({ read in cache.patch(reading: read) }) else { return nil }
        return made
    }

    /// A lock-free reload found what only a lock holder may repair.
    private struct LockedReloadNeeded: Error {}

    /// File systems stamp modification times with a coarse clock; allow this much.
    static let clockTick: Int64 = 20_000_000

    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    // MARK: - Operations

    /// The silent-lookup decision for `query` on the current content of the store.
    public func lookupAccessToken(_ query: AccessTokenQuery) throws -> AccessTokenLookup {
        try read { $0.lookupAccessToken(query) }
    }

    /// The accounts MSAL Python's `get_accounts()` lists, on the current content.
    public func accounts(environment: String, aliases: [String] = [], username: String? = nil) throws -> [Account] {
        try accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: false)
    }

    /// The same, with Azure Cloud Shell's accounts when `includeCloudShell`.
    public func accounts(environment: String, aliases: [String], username: String?, includeCloudShell: Bool) throws -> [Account] {
        try read { $0.accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: includeCloudShell) }
    }

    /// The refresh tokens a silent request may try, on the current content.
    public func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) throws -> [RefreshToken] {
        try read { $0.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID) }
    }

    /// Adds a token response as one locked change, saved once.
    @discardableResult
    public func add(response: JSONObject, context: TokenResponseContext) throws -> CacheChange {
        try write { try $0.add(response: response, context: context) }
    }

    /// Saves the result of a refresh-token grant update-only, inside the lock: see
    /// ``TokenCache/saveRefreshResult(response:context:refreshTokenKey:)``.
    public func saveRefreshResult(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws -> RefreshSaveOutcome {
        try write { try $0.saveRefreshResult(response: response, context: context, refreshTokenKey: refreshTokenKey) }
    }

    /// Removes the app's own access tokens of `clientID` in `environments`, inside the lock.
    @discardableResult
    public func removeAppTokens(clientID: String, environments: [String]) throws -> CacheChange {
        try write { $0.removeAppTokens(clientID: clientID, environments: environments) }
    }

    /// Signs an account out as ``TokenCache/removeAccount(homeAccountID:environment:clientID:now:)``
    /// does, inside the lock, then re-reads the store to confirm the account is gone
    /// (retrying once if another writer put it back). A corrupt store is moved aside first:
    /// signing out must always work.
    @discardableResult
    public func removeAccount(homeAccountID: String, environment: String, clientID: String, now: Int64) throws -> CacheChange {
        var total = CacheChange()
        for _ in 0..<2 {
            let change = try writeRecovering { $0.removeAccount(homeAccountID: homeAccountID, environment: environment, clientID: clientID, now: now) }
            total.removed += change.removed
            let remaining = try read { cache in
                cache.accounts(environment: environment).contains { $0.homeAccountID == homeAccountID }
                    || !cache.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID).isEmpty
            }
            if !remaining { return total }
        }
        throw TokenCacheError(code: .invalidArgument, reason: "the account was written back by another process while it was being removed; sign out again")
    }

    /// Drops expired access tokens, inside the lock.
    @discardableResult
    public func removeExpiredAccessTokens(now: Int64) throws -> CacheChange {
        try write { $0.removeExpiredAccessTokens(now: now) }
    }

    /// Deletes the whole store, inside the lock, without reading it: this works on a
    /// corrupt store too.
    public func clear() throws {
        try lock.withLock { try writing {
            try storage.remove()
            cache.replace(with: TokenCache())
            state.withLock {
                lastToken = nil
                hasLoaded = true
                loadedAt = PersistentTokenCache.now()
            }
        } }
    }

    /// How many reloads were patches rather than full parses (for tests).
    var patchedReloadCount: Int { cache.patchedReloadCount }

    /// The store's location.
    public var location: String { storage.location }
    /// Whether the store encrypts its bytes.
    public var isEncrypted: Bool { storage.isEncrypted }

    /// A copy of the current content.
    public func snapshot() throws -> TokenCache {
        try read { $0.snapshot() }
    }

    /// Replaces the whole content with `cache`'s, inside the lock, saved once.
    public func replaceContents(with other: TokenCache) throws {
        try lock.withLock { try writing {
            cache.replace(with: other)
            do {
                try save()
            } catch {
                state.withLock { hasLoaded = false }
                throw error
            }
        } }
    }

    /// Takes the refresh claim for `subject` if no thread of this process and, when the
    /// lock is a ``RefreshClaimingLock`` (`FileLock`, beside the file or keyring item),
    /// no other process holds it.
    public func tryClaimRefresh(_ subject: RefreshClaim.Subject) throws -> RefreshClaim? {
        try InProcessRefreshClaims.tryClaim("\(storage.location) \(subject.fingerprint)") {
            guard let claiming = lock as? any RefreshClaimingLock else { return RefreshClaim(release: {}) }
            return try claiming.tryClaim(subject.fingerprint)
        }
    }

    /// ``write(_:)``, moving a corrupt store aside instead of failing.
    private func writeRecovering<R>(_ body: (TokenCache) throws -> R) throws -> R {
        do {
            return try write(body)
        } catch is TokenCacheError where !options.recoverCorruptStore {
            let recovering = PersistentTokenCache(storage: storage, lock: lock, options: Options(recoverCorruptStore: true, readRetries: 0))
            let result = try recovering.write(body)
            let moved = recovering.quarantined
            state.withLock {
                movedAside = moved
                hasLoaded = false
            }
            return result
        }
    }
}

extension Duration {
    /// The duration in seconds, for the APIs that take a `TimeInterval` (shared by the
    /// package's modules).
    package var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

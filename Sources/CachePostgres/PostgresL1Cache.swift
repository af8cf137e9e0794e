import CacheBackends
import Foundation
import TokenCache

/// The optional in-process cache in front of a PostgreSQL store (its "L1"): whole
/// partitions (one user's entries, or one app's own), kept coherent across instances with
/// LISTEN/NOTIFY.
///
/// - Every write, from any instance, notifies the partitions it changed when it commits;
///   each listening instance drops those partitions, and its next lookup reads them again.
///   An instance's own writes drop its partitions as soon as they commit.
/// - A partition read from the database is kept only if no notification for it (and no
///   loss of the channel) arrived while it was being read, so a stale read never sticks.
/// - When the notification connection drops, the cache empties and stops serving: lookups
///   go to the database until a new connection is listening again (tried at most once a
///   second), and the cache refills from then on.
final class PostgresL1Cache: @unchecked Sendable {
    // @unchecked: `state` is only touched under `stateLock`; `listener` only under
    // `listenerLock`, which is never held while `stateLock` is taken by a notification.

    /// One cached entry, with the columns lookups match on. A class, so handing a
    /// partition's rows to a lookup retains each row once instead of each of its strings.
    final class Row: Sendable {
        let type: CredentialType
        let key: String
        let columns: RowCodec.Columns
        let fields: JSONObject

        init(type: CredentialType, key: String, columns: RowCodec.Columns, fields: JSONObject) {
            self.type = type
            self.key = key
            self.columns = columns
            self.fields = fields
        }
    }

    private struct State {
        var partitions: [String: [Row]] = [:]
        /// Bumped for a partition whenever a notification drops it.
        var generations: [String: UInt64] = [:]
        /// Bumped when everything is dropped (the channel lost, or a `*` notification).
        var epoch: UInt64 = 0
        var serving = false
        /// The `sync:` markers received (see ``PostgresTokenCache/synchronizeL1``).
        var markers: Set<String> = []
    }

    private let endpoint: PostgresEndpoint
    private let capacity: Int
    private let stateLock = NSLock()
    private var state = State()
    private let listenerLock = NSLock()
    private var listener: PostgresLink?
    private var lastAttempt: ContinuousClock.Instant?

    /// Creates a cache holding at most `capacity` partitions; it listens from the first use.
    init(endpoint: PostgresEndpoint, capacity: Int) {
        self.endpoint = endpoint
        self.capacity = capacity
    }

    deinit { listener?.close() }

    /// Whether the cache may answer now: its notification connection is listening. When it
    /// is not, tries to listen again (at most once a second).
    func isServing() -> Bool {
        if stateLock.withLock({ state.serving }) { return true }
        listenerLock.withLock {
            let now = ContinuousClock.now
            if let lastAttempt, now - lastAttempt < .seconds(1) { return }
            lastAttempt = now
            startListening()
        }
        return stateLock.withLock { state.serving }
    }

    /// Whether the cache serves now, without trying to listen again.
    var isServingNow: Bool { stateLock.withLock { state.serving } }

    /// The cached rows of `partition`, or `nil`; with the token to pass to ``install``.
    func rows(_ partition: String) -> (rows: [Row]?, token: (UInt64, UInt64)) {
        stateLock.withLock {
            (state.partitions[partition], (state.epoch, state.generations[partition] ?? 0))
        }
    }

    /// Keeps `rows` as `partition`'s, unless it was dropped since `token` was taken.
    func install(_ partition: String, rows: [Row], token: (UInt64, UInt64)) {
        stateLock.withLock {
            guard state.serving, state.epoch == token.0, (state.generations[partition] ?? 0) == token.1 else { return }
            if state.partitions.count >= capacity, state.partitions[partition] == nil, let victim = state.partitions.keys.first {
                state.partitions[victim] = nil
            }
            state.partitions[partition] = rows
        }
    }

    /// Drops partitions another instance (or this one) changed; `*` drops everything.
    func invalidate(_ partitions: some Sequence<String>) {
        stateLock.withLock {
            for partition in partitions {
                if partition.hasPrefix(PostgresL1Cache.markerPrefix) {
                    state.markers.insert(partition)
                } else if partition == "*" {
                    state.partitions.removeAll()
                    state.epoch &+= 1
                } else {
                    state.partitions[partition] = nil
                    state.generations[partition, default: 0] &+= 1
                }
            }
            // The generations only need to outlive the reads in flight: past the capacity,
            // start them again under a new epoch (those reads are then not kept, and are
            // read again next time) rather than remember every partition ever changed.
            if state.generations.count > capacity {
                state.generations.removeAll()
                state.epoch &+= 1
            }
        }
    }

    /// The prefix of a marker notification, which names no partition.
    static let markerPrefix = "sync:"

    /// Waits until the marker `marker` has arrived on the channel (then every notification
    /// committed before it has arrived too: PostgreSQL delivers them in commit order).
    func waitForMarker(_ marker: String, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if stateLock.withLock({ state.markers.remove(marker) != nil }) { return true }
            Thread.sleep(forTimeInterval: 0.001)
        }
        return false
    }

    /// Stops serving and empties the cache (the notification channel is gone).
    private func channelLost() {
        stateLock.withLock {
            state.serving = false
            state.partitions.removeAll()
            state.epoch &+= 1
        }
    }

    /// Opens the notification connection and listens; serves from then on. Called with
    /// `listenerLock` held.
    private func startListening() {
        listener?.close()
        let link = PostgresLink(endpoint: endpoint, timeout: endpoint.timeout)
        do {
            try link.onNotification(channel: PostgresDatabase.channel, { [weak self] payload in
                self?.invalidate(payload.split(separator: "\n").map(String.init))
            }, closed: { [weak self] in self?.channelLost() })
            try link.run("LISTEN \(PostgresDatabase.channel)")
        } catch {
            link.close()
            listener = nil
            return
        }
        listener = link
        // Everything cached from now on is read after LISTEN took effect, so no change
        // can slip between the read and its notification.
        stateLock.withLock {
            state.partitions.removeAll()
            state.epoch &+= 1
            state.serving = true
        }
    }

    /// Closes the notification connection.
    func close() {
        listenerLock.withLock {
            listener?.close()
            listener = nil
        }
        channelLost()
    }
}

/// The lookups of ``CacheQueries`` answered from an L1 cache's partitions, each read from
/// the database on its first use: `partition(name)` returns a partition's rows.
struct PostgresL1Reader: CacheEntryReader {
    typealias Failure = CacheStorageError

    /// The client of the request, whose app partition holds its app metadata.
    let clientID: String
    /// A partition's rows, from the cache or read now.
    let partition: (String) throws(CacheStorageError) -> [PostgresL1Cache.Row]
    /// The store, for the lookups that span partitions.
    let store: RowStore<PostgresDatabase>

    func accessTokens(homeAccountID: String?, environment: String, clientID: String, realm: String) throws(CacheStorageError) -> [AccessToken] {
        try partition(RowSQL.partition(homeAccountID: homeAccountID, clientID: clientID)).compactMap { row in
            let columns = row.columns
            guard row.type == .accessToken, columns.homeAccountID == homeAccountID, columns.appOnly == (homeAccountID == nil),
                  columns.environment == environment, columns.clientID == clientID, columns.realm == realm else { return nil }
            return AccessToken(key: row.key, fields: row.fields)
        }
    }

    func accessToken(key: String) throws(CacheStorageError) -> AccessToken? {
        try store.reading(nil) { reader throws(CacheStorageError) in try reader.accessToken(key: key) }
    }

    func entries<Entry: CacheEntry>(_ type: Entry.Type, homeAccountID: String?, environment: String) throws(CacheStorageError) -> [Entry] {
        guard let homeAccountID else { return try store.reading([]) { reader throws(CacheStorageError) in try reader.entries(type, homeAccountID: nil, environment: environment) } }
        return try partition(RowSQL.partition(homeAccountID: homeAccountID, clientID: nil)).compactMap { row in
            guard row.type == Entry.credentialType, row.columns.homeAccountID == homeAccountID, row.columns.environment == environment else { return nil }
            return Entry(key: row.key, fields: row.fields)
        }
    }

    func appMetadata(key: String) throws(CacheStorageError) -> AppMetadata? {
        if let row = try partition(RowSQL.partition(homeAccountID: nil, clientID: clientID)).first(where: { $0.type == .appMetadata && $0.key.utf8.elementsEqual(key.utf8) }) {
            return AppMetadata(key: row.key, fields: row.fields)
        }
        return try store.reading(nil) { reader throws(CacheStorageError) in try reader.appMetadata(key: key) }
    }

    func accounts(environment: String) throws(CacheStorageError) -> [Account] {
        try store.reading([]) { reader throws(CacheStorageError) in try reader.accounts(environment: environment) }
    }
}

import Dispatch
import Synchronization

/// Runs a store's blocking work on threads of its own, outside Swift's cooperative pool, and
/// lets the task that asked for it suspend meanwhile.
///
/// A store that waits (for a busy database, a server that is slow to answer, a lock another
/// process holds) must not wait on a thread of the cooperative pool: on a 2-core machine it
/// has two, and two such waits would stop every task of the process. A serial worker runs one
/// piece of work at a time (a store with one connection); the shared one runs them side by
/// side.
package final class StoreWorker: Sendable {
    private let label: String
    private let serial: Bool
    /// Made on the first use: a store that is only read never pays for a queue.
    private let made = Mutex<DispatchQueue?>(nil)

    /// Creates a worker; `serial` runs one piece of work at a time, in order.
    package init(label: String, serial: Bool = true) {
        self.label = label
        self.serial = serial
    }

    private var queue: DispatchQueue {
        made.withLock { made in
            if let made { return made }
            let queue = serial ? DispatchQueue(label: label) : DispatchQueue(label: label, attributes: .concurrent)
            made = queue
            return queue
        }
    }

    /// The worker for stores that have none of their own.
    package static let shared = StoreWorker(label: "tokencache.store-worker", serial: false)

    /// Runs `work` on the worker's thread and returns its result; the caller's task
    /// suspends until then.
    package func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}

/// What kind of work a store is asked to do from async code (see
/// ``TokenCacheStore/perform(_:_:)``): a store can answer lookups at once and send only
/// writes, which may wait for a lock, to a thread of its own.
public enum StoreAccess: Sendable {
    /// A lookup: reads the store.
    case lookup
    /// A change: may wait for a lock another caller holds.
    case write
    /// One try at a refresh claim (``TokenCacheStore/tryClaimRefresh(_:)``): never waits
    /// for the store's lock, but may ask another process or server.
    case claim
}

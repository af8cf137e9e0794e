import Dispatch

/// Runs a store's blocking work on threads of its own, outside Swift's cooperative pool, and
/// lets the task that asked for it suspend meanwhile.
///
/// A store that waits (for a busy database, a server that is slow to answer, a lock another
/// process holds) must not wait on a thread of the cooperative pool: on a 2-core machine it
/// has two, and two such waits would stop every task of the process. A serial worker runs one
/// piece of work at a time (a store with one connection); the shared one runs them side by
/// side.
package final class StoreWorker: Sendable {
    private let queue: DispatchQueue

    /// Creates a worker; `serial` runs one piece of work at a time, in order.
    package init(label: String, serial: Bool = true) {
        queue = serial ? DispatchQueue(label: label) : DispatchQueue(label: label, attributes: .concurrent)
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

import Foundation

/// A value guarded by a lock, for state that threads and tasks share.
///
/// It stands where `Synchronization.Mutex` would: on Linux, a contended `Mutex` is handed
/// over through a priority-inheritance futex, which ThreadSanitizer cannot see, so the
/// sanitizer run of the test command reported races that were not there. `NSLock` is a
/// pthread mutex, which it understands.
package final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched while `lock` is held.
    private let lock = NSLock()
    private var value: Value

    /// Creates a lock around `value`.
    package init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` on the value while holding the lock.
    package func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

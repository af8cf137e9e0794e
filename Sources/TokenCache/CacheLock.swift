/// A lock that excludes other processes (and threads) from a cache while it is changed.
///
/// ## Implementation requirements
/// - ``withLock(_:)`` runs `body` only while no other holder of the same lock, in this or
///   another process, runs its own critical section.
/// - Waiting is bounded: when the lock cannot be had in time, it throws an error that says
///   who holds it, never waits forever and never breaks into a live holder.
public protocol CacheLock: Sendable {
    /// Runs `body` while holding the lock.
    func withLock<R>(_ body: () throws -> R) throws -> R
    /// Runs `body` while holding the lock, suspending the calling task (instead of blocking
    /// its thread) while another holder has it. While `body` runs, ``withLock(_:)`` calls
    /// of the same task on the same lock run at once: the task holds it
    /// (`PersistentTokenCache` writes from async code call its synchronous write inside).
    ///
    /// There is no default: a lock that only blocks, run on another thread, could not let
    /// the task's own ``withLock(_:)`` through, and would wait for itself.
    func withLockSuspending<R: Sendable>(_ body: @Sendable () throws -> R) async throws -> R
}

/// A lock for stores that need none (for example a single-process, in-memory store).
public struct NoLock: CacheLock {
    /// Creates the lock.
    public init() {}

    public func withLock<R>(_ body: () throws -> R) throws -> R { try body() }

    public func withLockSuspending<R: Sendable>(_ body: @Sendable () throws -> R) async throws -> R { try body() }
}

/// A cross-process lock that can also hold refresh claims (see ``RefreshClaim``) beside
/// it, for the stores it guards.
public protocol RefreshClaimingLock: CacheLock {
    /// Tries once, without waiting, to take the claim named `name` (a
    /// ``RefreshClaim/Subject/fingerprint``) for the store this lock guards: `nil` when a
    /// live holder in another process has it. A claim whose holder died is broken.
    func tryClaim(_ name: String) throws -> RefreshClaim?
}

import Foundation

/// The right to refresh one account's tokens, held by one caller of a store at a time, so
/// that callers that share the store (threads, processes, app instances) send one refresh
/// between them instead of one each.
///
/// A provider that rotates refresh tokens refuses every use of a refresh token but the
/// first; without a claim, all but one of many callers that refresh at once would be
/// refused and told to sign in again. With it, one caller refreshes and the others, once
/// they get the claim in turn, find its fresh token in the store.
///
/// Release a claim as soon as the refresh is saved (``release()``; releasing twice does
/// nothing). A claim that is dropped without being released is released then, and the
/// claim of a process that died is recovered by the next caller at once.
public final class RefreshClaim: Sendable {
    private let releaser: Locked<(@Sendable () -> Void)?>

    /// Creates a claim that runs `release` once, when it is released or dropped.
    public init(release: @escaping @Sendable () -> Void) {
        releaser = Locked(release)
    }

    /// Gives the claim up; waiting callers may take it.
    public func release() {
        let release = releaser.withLock { current -> (@Sendable () -> Void)? in
            defer { current = nil }
            return current
        }
        release?()
    }

    deinit { release() }

    /// What a claim is for: one account in one environment (cloud host). Family refresh
    /// tokens are shared by every app of the family, so the claim covers the account
    /// whatever the app.
    public struct Subject: Hashable, Sendable {
        /// The cache's `environment` of the account.
        public var environment: String
        /// The account's `home_account_id`.
        public var homeAccountID: String

        /// Creates a subject.
        public init(environment: String, homeAccountID: String) {
            self.environment = environment
            self.homeAccountID = homeAccountID
        }

        /// A short, stable, one-way name for the subject (32 hex digits), for lock file
        /// names and database lock keys: it reveals no account id.
        public var fingerprint: String {
            let digest = SHA256.hash(Array("tokencache-refresh-claim\n\(environment.lowercased())\n\(homeAccountID)".utf8))
            return SHA256.hex(digest.prefix(16))
        }
    }
}

/// Claims held in this process, by name: the part of every store's refresh claim that
/// excludes other threads and tasks of the same process.
package enum InProcessRefreshClaims {
    private static let held = Locked<Set<String>>([])

    /// Takes the claim `name` if nobody in this process holds it.
    package static func tryClaim(_ name: String) -> RefreshClaim? {
        let taken = held.withLock { $0.insert(name).inserted }
        guard taken else { return nil }
        return RefreshClaim(release: { _ = held.withLock { $0.remove(name) } })
    }

    /// Takes the claim `name` in this process, then the cross-process claim `shared`
    /// gives; both or neither.
    package static func tryClaim(_ name: String, then shared: () throws -> RefreshClaim?) throws -> RefreshClaim? {
        guard let local = tryClaim(name) else { return nil }
        guard let other = try shared() else {
            local.release()
            return nil
        }
        return RefreshClaim(release: {
            other.release()
            local.release()
        })
    }
}

extension TokenCacheStore {
    /// Takes the refresh claim for `subject` (see ``RefreshClaim``), waiting while another
    /// caller of this store holds it, for at most `timeout`.
    ///
    /// - Returns: the claim, or `nil` when `timeout` passed first: the caller then goes on
    ///   without it (its holder may be stuck), as a lock that times out would not let it.
    /// - Throws: the store's error when it cannot tell (for example a lock folder it cannot
    ///   create), or `CancellationError` when the task is cancelled while waiting.
    nonisolated(nonsending)
    public func claimRefresh(_ subject: RefreshClaim.Subject, timeout: Duration) async throws -> RefreshClaim? {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(2)
        while true {
            if let claim = try await perform(.claim, { try self.tryClaimRefresh(subject) }) { return claim }
            guard ContinuousClock.now + pause < deadline else { return nil }
            try await Task.sleep(for: pause + .microseconds(Int.random(in: 0...2_000)))
            pause = min(pause * 2, .milliseconds(25))
        }
    }
}

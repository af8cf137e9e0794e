import CacheBackends
import CachePostgres
import Dispatch
import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// A store that waits (for a server that does not answer, for a lock another process holds)
/// must not hold a thread of Swift's cooperative pool meanwhile: on a 2-core machine it has
/// two, and a server's other requests would stop with it. Each test runs 64 silent
/// acquisitions against a store that makes them wait 3 seconds, while another task on the
/// same pool wakes every 10 ms, and measures how late its wake-ups come.
@Suite("Stores that wait never block Swift's cooperative pool")
struct NonBlockingStoreTests {
    static let tasks = 64

    /// The longest time between two wake-ups of a task that sleeps 10 ms at a time, while
    /// `work` runs.
    static func longestTick(during work: () async throws -> Void) async throws -> Duration {
        let ticker = Task {
            var longest = Duration.zero
            var last = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(10))
                let now = ContinuousClock.now
                longest = max(longest, now - last)
                last = now
            }
            return longest
        }
        do {
            try await work()
        } catch {
            ticker.cancel()
            throw error
        }
        ticker.cancel()
        return await ticker.value
    }

    /// Runs ``tasks`` silent acquisitions for `account` at once; returns where each token
    /// came from.
    static func silentTogether(_ app: PublicClientApplication, _ account: Account) async throws -> [AuthenticationResult.TokenSource?] {
        try await withThrowingTaskGroup(of: AuthenticationResult.TokenSource?.self) { group in
            for _ in 0..<tasks {
                group.addTask { try await app.acquireTokenSilent(scopes: SharedSilentTests.scopes, account: account)?.tokenSource }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test("A PostgreSQL server frozen (SIGSTOP) for 3 s under 64 silent acquisitions of an expired token: a timer task every 10 ms is never more than 100 ms late; once it thaws, all 64 are served by one refresh")
    func frozenPostgres() async throws {
        let database = try PostgresServer.start()
        defer { database.remove() }
        let server = try IdentityServer()
        let store = PostgresTokenCache(endpoint: try PostgresEndpoint(spec: database.freshSpec(), environment: database.environment))
        defer { store.close() }
        let app = try PublicClientApplication(clientID: "cli-app", authority: server.authority("organizations"), cache: store, options: AcquisitionTests.options())
        let account = try await SharedSilentTests.signInExpired(app, server)

        try database.pause()
        // Thawed from a thread of its own: the script's wait must not hold the pool either.
        DispatchQueue.global().asyncAfter(deadline: .now() + 3) { try? database.resume() }
        let started = ContinuousClock.now
        var sources: [AuthenticationResult.TokenSource?] = []
        let longest = try await Self.longestTick { sources = try await Self.silentTogether(app, account) }
        #expect(ContinuousClock.now - started >= .milliseconds(2_500), "the calls waited for the frozen server")
        #expect(longest < .milliseconds(100), "the timer waited \(longest)")
        #expect(sources.count == Self.tasks && !sources.contains(nil))
        #expect(try await SharedSilentTests.tokenRequests(server).count == 1)
    }

    @Test("A cache file whose lock an MSAL Python process (msal-extensions' CrossPlatLock) holds for 3 s, under 64 silent acquisitions of an expired token: the timer is never more than 100 ms late; all 64 are served by one refresh, saved once the lock is free")
    func lockedFile() async throws {
        try #require(PythonPeer.shouldRun, "MSAL Python is not installed; run the README's test command")
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let (app, account, file) = try await SharedSilentTests.fileApp(server, in: folder)
            let holder = try PythonPeer.start(["-c", """
                import sys, time
                from msal_extensions.cache_lock import CrossPlatLock
                with CrossPlatLock(sys.argv[1]):
                    print("locked", flush=True)
                    time.sleep(3)
                """, file.path + ".lockfile"], portalocker: true)
            try #require(holder.waitForOutput("locked"), "the Python process did not take the lock: \(holder.currentErrors())")
            let started = ContinuousClock.now
            var sources: [AuthenticationResult.TokenSource?] = []
            let longest = try await Self.longestTick { sources = try await Self.silentTogether(app, account) }
            #expect(holder.wait().status == 0)
            #expect(ContinuousClock.now - started >= .milliseconds(2_000), "the refresh's save waited for the lock")
            #expect(longest < .milliseconds(100), "the timer waited \(longest)")
            #expect(sources.count == Self.tasks && !sources.contains(nil))
            #expect(try await SharedSilentTests.tokenRequests(server).count == 1)
        }
    }
}

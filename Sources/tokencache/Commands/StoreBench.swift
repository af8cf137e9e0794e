import CacheBackends
import Foundation
import TokenCache

/// `tokencache bench --store SPEC`: the timings of a real cache, read without writing to
/// it: opening it up to the first lookup, `accounts()`, and silent lookups of its own
/// users' access tokens.
struct StoreBench {
    let spec: String
    let seconds: Double
    /// Whether MSAL Python runs on a copy too (see ``MSALPythonBench``).
    var comparesMSALPython = false

    /// What `bench --store --json` prints.
    struct Result: Encodable {
        let store: String
        let accounts: Int
        let accessTokens: Int
        let firstLookupMilliseconds: Double
        let accountsMilliseconds: Double?
        let batches: Int
        let lookupMedianMicroseconds: Double?
        let lookupP99Microseconds: Double?
        let hits: Int
        let refreshDue: Int
        let misses: Int
        let msalPython: MSALPythonBench.Result?
    }

    func run() throws -> Result {
        let opened = ContinuousClock.now
        let session = try StoreSession(spec: spec)
        let store = session.store
        // The first lookup a new process makes: open, read, answer (for a user the store
        // does not know, so the answer is the same whatever the store holds).
        let probe = AccessTokenQuery(clientID: "bench-probe", environment: "login.microsoftonline.com", realm: "organizations",
                                     homeAccountID: "bench-probe.bench-probe", scopes: ["User.Read"], now: Self.now())
        _ = try store.lookupAccessToken(probe)
        let firstLookup = ContinuousClock.now - opened

        let snapshot = try store.snapshot()
        let tokens = snapshot.entries(AccessToken.self)
        let queries: [AccessTokenQuery] = tokens.compactMap { token in
            guard let clientID = token.clientID, let environment = token.environment, let realm = token.realm,
                  let scope = token.target?.split(separator: " ").first else { return nil }
            let home = token.homeAccountID.flatMap { $0.isEmpty ? nil : $0 }
            return AccessTokenQuery(clientID: clientID, environment: environment, realm: realm, homeAccountID: home, scopes: [String(scope)], now: Self.now())
        }
        let environments = Set(snapshot.entries(Account.self).compactMap(\.environment)).sorted()
        var accountTimes: [Double] = []
        for _ in 0..<5 where !environments.isEmpty {
            let start = ContinuousClock.now
            for environment in environments { _ = try store.accounts(environment: environment) }
            accountTimes.append((ContinuousClock.now - start).timeInterval)
        }

        var hits = 0, refreshDue = 0, misses = 0
        var timing = LookupTiming(perLookup: [])
        if !queries.isEmpty {
            var random = SystemRandomNumberGenerator()
            timing = try LookupTiming.run("timing lookups of the store's own tokens", seconds: seconds,
                                          query: { queries[Int.random(in: 0..<queries.count, using: &random)] },
                                          lookup: { try store.lookupAccessToken($0) },
                                          answered: { answer in
                                              switch answer {
                                              case .hit: hits += 1
                                              case .refreshDue: refreshDue += 1
                                              case .miss: misses += 1
                                              }
                                          })
        }
        accountTimes.sort()
        let python = comparesMSALPython && !queries.isEmpty ? try MSALPythonBench.run(snapshot, queries: queries) : nil
        return Result(store: session.description.kindName, accounts: snapshot.entries(Account.self).count, accessTokens: tokens.count,
                      firstLookupMilliseconds: firstLookup.timeInterval * 1e3,
                      accountsMilliseconds: accountTimes.isEmpty ? nil : accountTimes[accountTimes.count / 2] * 1e3,
                      batches: timing.perLookup.count,
                      lookupMedianMicroseconds: timing.median.map { $0 * 1e6 }, lookupP99Microseconds: timing.p99.map { $0 * 1e6 },
                      hits: hits, refreshDue: refreshDue, misses: misses, msalPython: python)
    }

    /// The result as the text lines `bench` prints.
    static func lines(_ result: Result) -> [String] {
        var lines = ["\(result.store) store: \(result.accounts) accounts, \(result.accessTokens) access tokens",
                     "open and first lookup: \(String(format: "%.2f ms", result.firstLookupMilliseconds)) (in this process, the file already in the page cache)"]
        if let accounts = result.accountsMilliseconds { lines.append("accounts(): \(String(format: "%.3f ms", accounts)) (median of 5)") }
        if let median = result.lookupMedianMicroseconds, let p99 = result.lookupP99Microseconds {
            lines.append("lookup: median \(BenchCommand.format(median / 1e6)), p99 \(BenchCommand.format(p99 / 1e6)) (\(result.batches) batches of 64 of the store's own tokens)")
            lines.append("answers: \(result.hits) hits, \(result.refreshDue) due for refresh, \(result.misses) expired")
        } else {
            lines.append("no access tokens to look up")
        }
        if let python = result.msalPython {
            let ratio = result.lookupMedianMicroseconds.map { String(format: " (%.0fx)", python.lookupMedianMicroseconds / max($0, 0.001)) } ?? ""
            lines.append("MSAL Python on a copy: load \(String(format: "%.2f ms", python.loadMilliseconds)), acquire_token_silent median \(BenchCommand.format(python.lookupMedianMicroseconds / 1e6))\(ratio) (\(python.calls) calls)")
        }
        return lines
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}

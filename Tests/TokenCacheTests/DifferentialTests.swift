import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// This library against the real MSAL Python on generated token responses: the same bytes
/// after every add, the same lookup decisions, refresh-token order, accounts and removals.
@Suite("Differential against MSAL Python", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
struct DifferentialTests {
    @Test("200+ generated responses: identical bytes and decisions")
    func generatedResponsesMatch() throws {
        let scenarios = DifferentialRun.makeScenarios(seed: 20261121, cacheCount: 24, responsesPerCache: 10)
        let responseCount = scenarios.flatMap { $0 }.filter { if case .add = $0 { return true } else { return false } }.count
        #expect(responseCount >= 200)
        let expected = try Oracle.run(scenarios)
        try #require(expected.count == scenarios.count)
        let outcome = try DifferentialRun.compare(scenarios, expected: expected, makeStore: { _ in TokenCache() }, reopen: { store in
            try TokenCache(serialized: try store.snapshot().serialize())
        })
        for mismatch in outcome.mismatches { Issue.record(Comment(rawValue: mismatch)) }
        #expect(outcome.comparisons > 2000)
        // The generated cases exercise every decision, not just one.
        #expect(outcome.decisions["hit", default: 0] > 100)
        #expect(outcome.decisions["refresh_due", default: 0] > 20)
        #expect(outcome.decisions["miss", default: 0] > 100)
    }
}

public import TokenCache

/// Runs the differential scenarios against MSAL Python's results on any
/// ``TokenCache/TokenCacheStore``: the same bytes after every add, the same lookup
/// decisions, refresh-token order, accounts and removals.
public enum DifferentialRun {
    /// Builds `cacheCount` caches of `responsesPerCache` responses each, followed by queries.
    public static func makeScenarios(seed: UInt64, cacheCount: Int, responsesPerCache: Int) -> [[ScenarioOp]] {
        var generator = ResponseGenerator(seed: seed)
        var caches: [[ScenarioOp]] = []
        for cacheIndex in 0..<cacheCount {
            var ops: [ScenarioOp] = []
            let users = (0..<4).map { generator.user(cacheIndex * 10 + $0) }
            let authority = ResponseGenerator.authorities[cacheIndex % ResponseGenerator.authorities.count]
            let familyClients = Array(ResponseGenerator.clients.prefix(2))
            var now = generator.baseTime + Int64(cacheIndex * 1000)
            var lookups: [(client: String, hid: String?, scopes: [String], data: [String: String])] = []
            for _ in 0..<responsesPerCache {
                now += Int64(generator.int(1...900))
                let user = generator.pick(users)
                let client = generator.pick(ResponseGenerator.clients)
                let (response, context): (JSONObject, TokenResponseContext)
                switch generator.int(0...9) {
                case 0, 1:
                    let fmi = generator.chance(40) ? generator.pick(["SomeFmiPath/FmiCredentialPath", "Path/Ä/2"]) : nil
                    (response, context) = generator.appResponse(client: client, authority: authority, now: now, fmiPath: fmi)
                    lookups.append((client, nil, context.requestedScopes, fmi.map { ["fmi_path": $0] } ?? [:]))
                case 2:
                    (response, context) = generator.adfsResponse(user: user, client: client, now: now)
                case 3:
                    let keyID = generator.pick(["key-1", "key-2"])
                    (response, context) = generator.sshResponse(user: user, client: client, authority: authority, now: now, keyID: keyID)
                    lookups.append((client, user.homeAccountID, context.requestedScopes, ["key_id": keyID, "token_type": "ssh-cert", "req_cnf": "{\"kty\":\"RSA\"}"]))
                default:
                    let foci = familyClients.contains(client) && generator.chance(60)
                    (response, context) = generator.userResponse(user: user, client: client, authority: authority, now: now, foci: foci)
                    let asked = context.requestedScopes.filter { !["openid", "profile", "offline_access"].contains($0) }
                    lookups.append((client, user.homeAccountID, Array(asked.prefix(generator.int(1...max(1, asked.count)))), [:]))
                }
                ops.append(.add(response: response, context: context))
                ops.append(.serialize)
            }
            ops.append(.reload)
            ops.append(.serialize)
            // Time only moves forward: MSAL Python deletes expired tokens on a miss, which
            // must not change a later decision.
            for offset: Int64 in [0, 299, 301, 1000, 1799, 1801, 3000, 3400, 7200] {
                for lookup in lookups {
                    ops.append(.lookup(clientID: lookup.client, authority: authority, scopes: lookup.scopes, homeAccountID: lookup.hid, data: lookup.data, now: now + offset))
                }
            }
            for user in users {
                for client in ResponseGenerator.clients {
                    ops.append(.refreshCandidates(clientID: client, authority: authority, scopes: ["User.Read"], homeAccountID: user.homeAccountID, now: now))
                }
            }
            for client in ResponseGenerator.clients {
                ops.append(.accounts(clientID: client, authority: authority))
            }
            ops.append(.removeAccount(clientID: ResponseGenerator.clients[0], authority: authority, homeAccountID: users[0].homeAccountID, now: now + 7200))
            ops.append(.serialize)
            ops.append(.accounts(clientID: ResponseGenerator.clients[0], authority: authority))
            caches.append(ops)
        }
        return caches
    }

    /// What a comparison found.
    public struct Outcome: Sendable {
        /// How many results were compared.
        public var comparisons = 0
        /// How often MSAL Python decided each lookup outcome (hit, refresh_due, miss).
        public var decisions: [String: Int] = [:]
        /// The first difference in each cache, described.
        public var mismatches: [String] = []
    }

    /// Runs `scenarios` on a store per cache (`makeStore(cacheIndex)`) and compares every
    /// result with `expected`, MSAL Python's. `reopen` gives a fresh instance on the same
    /// data for the `reload` op.
    public static func compare(_ scenarios: [[ScenarioOp]], expected: [[JSONValue]], makeStore: (Int) throws -> any TokenCacheStore, reopen: (any TokenCacheStore) throws -> any TokenCacheStore) throws -> Outcome {
        var outcome = Outcome()
        for (cacheIndex, ops) in scenarios.enumerated() {
            var store = try makeStore(cacheIndex)
            for (opIndex, op) in ops.enumerated() {
                let ours = try op.run(on: &store, reopen: reopen)
                let theirs = expected[cacheIndex][opIndex]
                outcome.comparisons += 1
                if case .lookup = op, let result = theirs.objectValue?.string("result") { outcome.decisions[result, default: 0] += 1 }
                if ours != theirs {
                    outcome.mismatches.append("cache \(cacheIndex) op \(opIndex) (\(op.label)): \(Differences.describe(ours: ours, theirs: theirs))")
                    break
                }
            }
        }
        return outcome
    }
}

/// Describes how two results differ, pointing at the first differing line of a file.
public enum Differences {
    /// Where `ours` and `theirs` first differ.
    public static func describe(ours: JSONValue, theirs: JSONValue) -> String {
        if case .string(let a) = ours, case .string(let b) = theirs {
            let left = a.split(separator: "\n", omittingEmptySubsequences: false)
            let right = b.split(separator: "\n", omittingEmptySubsequences: false)
            for index in 0..<max(left.count, right.count) {
                let l = index < left.count ? String(left[index]) : "<end>"
                let r = index < right.count ? String(right[index]) : "<end>"
                if l != r { return "line \(index + 1) differs:\n  ours:   \(l)\n  python: \(r)" }
            }
            return "strings differ"
        }
        return "ours \(ours.pythonJSONText) vs python \(theirs.pythonJSONText)"
    }
}

import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// One cache shared by many tasks: every write lands, every read sees a consistent cache.
/// The test command also runs this suite under the thread sanitizer.
@Suite("Concurrency")
struct ConcurrencyTests {
    static let endpoint = "https://login.microsoftonline.com/common/oauth2/v2.0/token"

    static func response(user: Int) -> JSONObject {
        let info = Data("{\"uid\":\"u\(user)\",\"utid\":\"t\"}".utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "")
        return ["access_token": .string("at-\(user)"), "refresh_token": .string("rt-\(user)"), "expires_in": 3600, "client_info": .string(info)]
    }

    @Test("16 tasks adding, looking up, listing and serializing at once lose nothing")
    func parallelWritersAndReaders() async throws {
        let cache = TokenCache()
        let now: Int64 = 1_700_000_000
        let tasks = 16
        let perTask = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    for index in 0..<perTask {
                        let user = task * perTask + index
                        try cache.add(response: ConcurrencyTests.response(user: user), context: TokenResponseContext(
                            clientID: "app", requestedScopes: ["User.Read"], tokenEndpoint: ConcurrencyTests.endpoint,
                            grantType: "authorization_code", now: now))
                        let query = AccessTokenQuery(clientID: "app", environment: "login.microsoftonline.com", realm: "common", homeAccountID: "u\(user).t", scopes: ["User.Read"], now: now)
                        #expect(cache.lookupAccessToken(query).token?.secret == "at-\(user)")
                        if index % 10 == 0 {
                            let snapshot = cache.serialize()
                            _ = try TokenCache(serialized: snapshot)
                            _ = cache.accounts(environment: "login.microsoftonline.com")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(cache.accounts(environment: "login.microsoftonline.com").count == tasks * perTask)
        #expect(cache.entries(RefreshToken.self).count == tasks * perTask)
        let reloaded = try TokenCache(serialized: cache.serialize())
        #expect(reloaded.entries(AccessToken.self).count == tasks * perTask)
    }

    @Test("Removals racing with adds leave each account either fully present or fully gone")
    func removalsAndAdds() async throws {
        let cache = TokenCache()
        let now: Int64 = 1_700_000_000
        for user in 0..<100 {
            try cache.add(response: ConcurrencyTests.response(user: user), context: TokenResponseContext(clientID: "app", requestedScopes: ["User.Read"], tokenEndpoint: ConcurrencyTests.endpoint, now: now))
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for user in stride(from: 0, to: 100, by: 2) {
                    cache.removeAccount(homeAccountID: "u\(user).t", environment: "login.microsoftonline.com", clientID: "app", now: now)
                }
            }
            group.addTask {
                for user in 100..<150 {
                    try? cache.add(response: ConcurrencyTests.response(user: user), context: TokenResponseContext(clientID: "app", requestedScopes: ["User.Read"], tokenEndpoint: ConcurrencyTests.endpoint, now: now))
                }
            }
        }
        let accounts = Set(cache.accounts(environment: "login.microsoftonline.com").compactMap(\.homeAccountID))
        #expect(accounts.count == 100)
        for user in 0..<150 {
            let present = accounts.contains("u\(user).t")
            #expect(present == (user >= 100 || user % 2 == 1))
            let hasToken = cache.refreshTokenCandidates(clientID: "app", environment: "login.microsoftonline.com", homeAccountID: "u\(user).t").isEmpty == false
            #expect(hasToken == present)
        }
    }
}

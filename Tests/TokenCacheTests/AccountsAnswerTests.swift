import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// `accounts()` keeps its answer until the Account section changes, and never serves it past
/// a change: a sign-in, a sign-out, a reload, another question.
@Suite("The accounts answer")
struct AccountsAnswerTests {
    static let environment = "login.microsoftonline.com"

    static func ids(_ cache: TokenCache, environment: String = environment, username: String? = nil) -> [String] {
        cache.accounts(environment: environment, username: username).map { $0.homeAccountID ?? "-" }
    }

    @Test("Asked again it is the same; a sign-in, a sign-out, a token refresh, a reload, another host or user name each get their own answer")
    func keptUntilChanged() throws {
        let cache = TokenCache()
        for user in 0..<3 { try cache.add(response: DocumentPatchTests.response(user: user), context: DocumentPatchTests.context()) }
        #expect(AccountsAnswerTests.ids(cache) == ["u0.t", "u1.t", "u2.t"])
        #expect(AccountsAnswerTests.ids(cache) == ["u0.t", "u1.t", "u2.t"])
        #expect(AccountsAnswerTests.ids(cache, environment: "login.windows.net").isEmpty)
        #expect(AccountsAnswerTests.ids(cache, username: "nobody@contoso.com").isEmpty)
        try cache.add(response: DocumentPatchTests.response(user: 3), context: DocumentPatchTests.context())
        #expect(AccountsAnswerTests.ids(cache) == ["u0.t", "u1.t", "u2.t", "u3.t"])
        _ = cache.removeAccount(homeAccountID: "u1.t", environment: AccountsAnswerTests.environment, clientID: "app", now: DocumentPatchTests.now)
        #expect(AccountsAnswerTests.ids(cache) == ["u0.t", "u2.t", "u3.t"])
        try cache.add(response: DocumentPatchTests.response(user: 2, round: 1), context: DocumentPatchTests.context())
        #expect(AccountsAnswerTests.ids(cache) == ["u0.t", "u2.t", "u3.t"])

        let other = TokenCache()
        for user in 5..<7 { try other.add(response: DocumentPatchTests.response(user: user), context: DocumentPatchTests.context()) }
        try cache.replace(withSerialized: other.serialize())
        #expect(AccountsAnswerTests.ids(cache) == ["u5.t", "u6.t"])
        try cache.replace(withSerialized: Data())
        #expect(AccountsAnswerTests.ids(cache).isEmpty)
        cache.replace(with: other)
        #expect(AccountsAnswerTests.ids(cache) == ["u5.t", "u6.t"])
    }
}

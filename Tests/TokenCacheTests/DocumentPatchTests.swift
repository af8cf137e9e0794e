import Foundation
import Testing
@testable import TokenCache
import TokenCacheTesting

/// A reload patched from the loaded document (`DocumentPatch`) is exactly what a full parse
/// of the new text gives, for the changes writers make and for damaged or reordered text.
@Suite("Reloads patched from the loaded document")
struct DocumentPatchTests {
    static let endpoint = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    static let environment = "login.microsoftonline.com"
    static let now: Int64 = 1_700_000_000

    static func response(user: Int, round: Int = 0, scopes: String = "User.Read") -> JSONObject {
        let info = Data("{\"uid\":\"u\(user)\",\"utid\":\"t\"}".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        return ["access_token": .string("at-\(user)-\(round)"), "refresh_token": .string("rt-\(user)-\(round)"), "expires_in": .number(JSONNumber(integerText: String(600 + round))),
                "client_info": .string(info), "scope": .string(scopes)]
    }

    static func context(scopes: String = "User.Read", now: Int64 = now) -> TokenResponseContext {
        TokenResponseContext(clientID: "app", requestedScopes: scopes.split(separator: " ").map(String.init), tokenEndpoint: endpoint, grantType: "authorization_code", now: now)
    }

    /// What a writer does between two reloads, chosen by `choice`.
    static func change(_ cache: TokenCache, choice: Int, users: inout Int, round: Int) throws {
        switch choice % 5 {
        case 0:  // a new user signs in
            try cache.add(response: response(user: users), context: context())
            users += 1
        case 1:  // a refresh: new access and refresh tokens for an existing user, in place
            try cache.add(response: response(user: choice % users, round: round), context: context())
        case 2:  // another scope set: a new access token in the middle of the user's tokens
            try cache.add(response: response(user: choice % users, round: round, scopes: "Mail.Read"), context: context(scopes: "Mail.Read"))
        case 3:  // a sign-out
            _ = cache.removeAccount(homeAccountID: "u\(choice % users).t", environment: environment, clientID: "app", now: now)
        default:  // expired access tokens cleaned up
            _ = cache.removeExpiredAccessTokens(now: now + 600 + Int64(choice % 8))
        }
    }

    /// Everything a query sees, for comparing two caches.
    static func view(_ cache: TokenCache, users: Int) -> [String] {
        var lines = [String(decoding: cache.serialize(), as: UTF8.self)]
        lines.append(cache.accounts(environment: environment).map { $0.homeAccountID ?? "-" }.joined(separator: ","))
        for user in 0..<users {
            for scopes in [["User.Read"], ["Mail.Read"]] {
                let query = AccessTokenQuery(clientID: "app", environment: environment, realm: "common", homeAccountID: "u\(user).t", scopes: scopes, now: now + 300)
                lines.append("\(user) \(scopes): \(String(describing: cache.lookupAccessToken(query).token?.secret))")
            }
            let candidates = cache.refreshTokenCandidates(clientID: "app", environment: environment, homeAccountID: "u\(user).t")
            lines.append("\(user) rt: \(candidates.map { $0.secret ?? "" })")
        }
        return lines
    }

    /// A writer's cache with `count` users signed in, and that count.
    static func signedIn(_ count: Int) throws -> (TokenCache, Int) {
        let writer = TokenCache()
        var users = 0
        for _ in 0..<count { try change(writer, choice: 0, users: &users, round: 0) }
        return (writer, users)
    }

    @Test("Sign-ins, refreshes, new scopes, sign-outs and clean-ups by another writer: each reload is a patch and sees exactly what a full parse sees")
    func writersChanges() throws {
        var (writer, users) = try DocumentPatchTests.signedIn(40)
        let reader = try TokenCache(serialized: writer.serialize())
        var random = SeededGenerator(seed: 20261203)
        for round in 1...150 {
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                try DocumentPatchTests.change(writer, choice: Int.random(in: 0..<1000, using: &random), users: &users, round: round)
            }
            let text = writer.serialize()
            try reader.replace(withSerialized: text)
            #expect(DocumentPatchTests.view(reader, users: users) == DocumentPatchTests.view(try TokenCache(serialized: text), users: users), "round \(round)")
        }
        #expect(reader.patchedReloadCount > 100, "\(reader.patchedReloadCount) of 150 reloads were patches")
    }

    @Test("Damaged, truncated, reordered or duplicated text: the patched reload fails as a full parse fails, or gives what it gives")
    func damagedText() throws {
        var (writer, users) = try DocumentPatchTests.signedIn(30)
        let base = try TokenCache(serialized: writer.serialize())
        try DocumentPatchTests.change(writer, choice: 1, users: &users, round: 1)
        try DocumentPatchTests.change(writer, choice: 0, users: &users, round: 1)
        let next = writer.serialize()
        var random = SeededGenerator(seed: 7)
        var patched = 0
        for trial in 0..<400 {
            var text = next
            switch trial % 6 {
            case 0: break
            case 1: text[Int.random(in: 0..<text.count, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
            case 2:
                let start = Int.random(in: 0..<text.count, using: &random)
                text.removeSubrange(start..<min(text.count, start + Int.random(in: 1...400, using: &random)))
            case 3: text.removeLast(Int.random(in: 1...200, using: &random))
            default:
                // An entry repeated or moved: its text inserted before another entry.
                let entries = DocumentPatchTests.entryRanges(text)
                let moved = entries[Int.random(in: 0..<entries.count, using: &random)]
                let target = entries[Int.random(in: 0..<entries.count, using: &random)]
                let copy = Array(text[moved])
                if trial % 6 == 5, moved.lowerBound > target.upperBound {
                    text.removeSubrange(moved)
                }
                text.insert(contentsOf: copy, at: target.lowerBound)
            }
            let reloaded = TokenCache()
            reloaded.replace(with: base)
            let ours = Result { try reloaded.replace(withSerialized: text) }
            let full = Result { try TokenCache(serialized: text) }
            switch (ours, full) {
            case (.success, .success(let expected)):
                #expect(DocumentPatchTests.view(reloaded, users: users) == DocumentPatchTests.view(expected, users: users), "trial \(trial)")
                patched += reloaded.patchedReloadCount
            case (.failure(let error), .failure(let expected)):
                #expect("\(error)" == "\(expected)", "trial \(trial)")
            default:
                Issue.record("trial \(trial): the patched reload and the full parse disagree")
            }
        }
        #expect(patched > 60)
    }

    /// The ranges of `,\n        "key": {...}` members (an entry with the separator before it).
    static func entryRanges(_ text: [UInt8]) -> [Range<Int>] {
        let marker = Array(",\n        \"".utf8)
        var starts: [Int] = []
        var index = 0
        while index + marker.count <= text.count {
            if text[index] == marker[0], Array(text[index..<(index + marker.count)]) == marker { starts.append(index) }
            index += 1
        }
        return zip(starts, starts.dropFirst()).map { $0..<$1 }
    }

    @Test("Keys and field names that Swift holds equal but Python keeps apart (k\\u00e9, ke\\u0301) are kept by a patch as a full parse keeps them")
    func canonicallyEquivalentNames() throws {
        func document(_ entries: [String]) -> [UInt8] {
            let body = entries.joined(separator: ",\n")
            return Array("{\n    \"AccessToken\": {},\n    \"Account\": {\n\(body)\n    }\n}".utf8)
        }
        func account(_ key: String, _ fields: String) -> String {
            "        \"\(key)\": {\n            \"environment\": \"login.microsoftonline.com\",\n            \"home_account_id\": \"u.t\",\n\(fields)            \"realm\": \"t\"\n        }"
        }
        let plain = account("a", "")
        let base = document([plain, account("k\\u00e9", "")])
        let cases = [
            document([plain, account("ke\\u0301", "")]),
            document([plain, account("k\\u00e9", ""), account("ke\\u0301", "")]),
            document([plain, account("k\\u00e9", "            \"x\\u00e9\": \"1\",\n            \"xe\\u0301\": \"2\",\n")]),
        ]
        for text in cases {
            let reloaded = try TokenCache(serialized: base)
            try reloaded.replace(withSerialized: text)
            let full = try TokenCache(serialized: text)
            #expect(reloaded.serialize() == full.serialize(), "\(String(decoding: text, as: UTF8.self))")
        }
    }
}

import Foundation
import Testing
@testable import TokenCache
import TokenCacheTesting

/// Files written by MSAL Python, carrying what other SDKs write, load and save back byte
/// for byte.
@Suite("Round trip of foreign data", .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
struct RoundTripTests {
    @Test("Foreign sections, fields, keys and numbers survive exactly as MSAL Python keeps them")
    func foreignDataSurvives() throws {
        try withTemporaryDirectory { folder in
            try PythonPeer.run([PythonPeer.script("foreign_cache.py"), folder.path])
            let foreign = try Data(contentsOf: folder.appendingPathComponent("foreign.json"))
            let normalized = try Data(contentsOf: folder.appendingPathComponent("normalized.json"))
            let updated = try Data(contentsOf: folder.appendingPathComponent("updated.json"))

            // .NET-style text: we normalize it exactly as Python does.
            let fromForeign = try TokenCache(serialized: foreign, location: "foreign.json")
            #expect(Data(fromForeign.serialize()) == normalized)
            // Python's own files come back unchanged.
            for file in [normalized, updated] {
                let cache = try TokenCache(serialized: file)
                #expect(Data(cache.serialize()) == file)
            }
            // The same token response added on our side gives Python's bytes.
            let ours = try TokenCache(serialized: normalized)
            try ours.add(response: [
                "access_token": "python-at", "refresh_token": "python-rt", "expires_in": 3600, "token_type": "Bearer",
                "client_info": "eyJ1aWQiOiJ1aWQiLCJ1dGlkIjoidXRpZCJ9",
            ], context: TokenResponseContext(
                clientID: "app", requestedScopes: ["User.Read"],
                tokenEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                environment: "login.microsoftonline.com", grantType: "authorization_code", now: 1_700_000_100))
            #expect(Data(ours.serialize()) == updated)
            #expect(ours.sectionNames.contains("UnknownSection"))
        }
    }

    @Test("Keys that Swift's String holds equal but Python keeps apart (k\\u00e9, ke\\u0301, raw or escaped) stay apart, in MSAL Python's bytes; a plain key is held as a slice of the file")
    func keysCompareByCodePoints() throws {
        func account(_ key: String) -> String {
            "        \"\(key)\": {\n            \"environment\": \"login.microsoftonline.com\",\n            \"home_account_id\": \"u.t\",\n            \"realm\": \"t\"\n        }"
        }
        let text = "{\n    \"Account\": {\n" + [account("plain-key"), account("k\\u00e9"), account("ke\\u0301"), account("k\u{00E9}x"), account("ke\u{0301}x")].joined(separator: ",\n") + "\n    }\n}"
        try withTemporaryDirectory { folder in
            let file = folder.appendingPathComponent("keys.json")
            try Data(text.utf8).write(to: file)
            let theirs = try PythonPeer.run(["-c", "import sys, msal; c = msal.SerializableTokenCache(); c.deserialize(open(sys.argv[1], encoding='utf-8').read()); sys.stdout.write(c.serialize())", file.path])
            let ours = try TokenCache(serialized: Data(text.utf8))
            #expect(ours.entries(Account.self).count == 5)
            #expect(String(decoding: ours.serialize(), as: UTF8.self) == theirs)
            #expect(ours.entries(Account.self).map(\.key) == ["plain-key", "k\u{00E9}", "ke\u{0301}", "k\u{00E9}x", "ke\u{0301}x"])
        }
        let loaded = try TokenCache(serialized: Data(text.utf8))
        #expect(loaded.entries(Account.self).first?.entryKey.isText == true)
    }

    @Test("A loaded entry replaced in place by a parsed one keeps its place and no longer holds the file's text for its key")
    func replacedEntriesLetTheTextGo() throws {
        let text = "{\n    \"Account\": {\n        \"a\": {\n            \"environment\": \"e\",\n            \"home_account_id\": \"u.t\"\n        },\n        \"b\": {\n            \"environment\": \"e\",\n            \"home_account_id\": \"v.t\"\n        }\n    }\n}"
        var document = try TokenCache.parse(Data(text.utf8), location: nil)
        #expect(document.accounts.entries.map(\.key.isText) == [true, true])
        let replacement: JSONObject = ["environment": "e", "home_account_id": "u.t", "username": "x"]
        document.withSection(.account) { (section: inout EntrySection) -> Void in section.upsert(replacement, forKey: "a") }
        #expect(document.accounts.entries.map(\.key.string) == ["a", "b"])
        #expect(document.accounts.entries.map(\.key.isText) == [false, true])
    }

    @Test("Lookups see .NET-keyed entries and removal deletes them under their own keys")
    func foreignKeysAreMatchedByValue() throws {
        try withTemporaryDirectory { folder in
            try PythonPeer.run([PythonPeer.script("foreign_cache.py"), folder.path])
            let cache = try TokenCache(serialized: try Data(contentsOf: folder.appendingPathComponent("normalized.json")))
            let query = AccessTokenQuery(clientID: "app", environment: "login.windows.net", realm: "utid", homeAccountID: "uid.utid", scopes: ["User.Read"], now: 1_700_000_100)
            #expect(cache.lookupAccessToken(query).token?.secret == "dotnet-at")
            // App metadata has family_id "" (not in a family), so the FRT is not tried first,
            // and it is not this app's own token either... except that client_id matches.
            #expect(cache.refreshTokenCandidates(clientID: "app", environment: "login.windows.net", homeAccountID: "uid.utid").map(\.secret) == ["dotnet-frt"])
            let change = cache.removeAccount(homeAccountID: "uid.utid", environment: "login.windows.net", clientID: "app", now: 1_700_000_100)
            #expect(change.removed.contains(EntryReference(type: .refreshToken, key: "uid.utid-login.windows.net-refreshtoken-1--")))
            #expect(cache.entries(AccessToken.self).isEmpty)
            #expect(cache.entries(Account.self).isEmpty)
            #expect(cache.entries(AppMetadata.self).count == 2)
        }
    }
}

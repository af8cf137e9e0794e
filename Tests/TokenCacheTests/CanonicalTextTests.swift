import Foundation
import Testing
@testable import TokenCache
import TokenCacheTesting

/// Entries loaded from text written exactly as MSAL Python writes it stay as text, come
/// back byte for byte, and read the same as parsed entries.
@Suite("Canonical entry text")
struct CanonicalTextTests {
    static func sampleCache() throws -> TokenCache {
        let cache = TokenCache()
        let info = "eyJ1aWQiOiJ1aWQxIiwidXRpZCI6InRpZDEifQ"
        try cache.add(response: [
            "access_token": "at-é/\"x\"", "refresh_token": "rt", "expires_in": 3600, "refresh_in": 1800, "client_info": .string(info),
            "id_token": "e30.eyJzdWIiOiJzIiwicHJlZmVycmVkX3VzZXJuYW1lIjoiWm_DqyDwn5iAIn0.", "foci": "1",
        ], context: TokenResponseContext(clientID: "c", requestedScopes: ["User.Read", "Ωmega"], tokenEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/token", grantType: "authorization_code", now: 1_700_000_000))
        return cache
    }

    @Test("A file this library wrote loads as text entries and saves back unchanged")
    func textEntries() throws {
        let original = try CanonicalTextTests.sampleCache()
        let bytes = original.serialize()
        let loaded = try TokenCache(serialized: bytes)
        let isText = loaded.read { document in document.accessTokens.textCount == document.accessTokens.count }
        #expect(isText)
        #expect(loaded.serialize() == bytes)
        // Text entries read exactly like parsed ones.
        for (a, b) in zip(loaded.entries(AccessToken.self), original.entries(AccessToken.self)) {
            #expect(a.fields == b.fields)
            #expect(a.secret == b.secret)
            #expect(a.secret == "at-é/\"x\"")
            #expect(a.expiresOn == b.expiresOn && a.refreshOn == b.refreshOn && a.target == b.target)
        }
        #expect(loaded.entries(Account.self).first?.username == "Zoë 😀")
    }

    @Test("Text in another layout is parsed instead, and written in Python's layout", arguments: [
        #"{"AccessToken": {"k": {"expires_on": "1", "secret": "s", "target": "a"}}}"#,
        "{\n    \"AccessToken\": {\n        \"k\": {\n            \"expires_on\": 1.5,\n            \"target\": \"a\"\n        }\n    }\n}",
        "{\n    \"AccessToken\": {\n        \"k\": {\n            \"expires_on\": \"1\",\n            \"target\": \"\u{e9}\"\n        }\n    }\n}",
        "{\n    \"AccessToken\": {\n        \"k\": {\n            \"expires_on\": \"1\",\n            \"target\": \"\\/\"\n        }\n    }\n}",
        "{\n    \"AccessToken\": {\n        \"k\": {\n            \"expires_on\": \"1\",\n            \"target\": \"a\",\n            \"target\": \"b\"\n        }\n    }\n}",
        "{\n    \"AccessToken\": {\n        \"k\": {\n            \"expires_on\": \"1\",\n            \"target\": \"\\u00E9\"\n        }\n    }\n}",
        "{\n    \"AccessToken\": {\n        \"k\": {\n            \"expires_on\": \"1\",\n            \"x\": -0\n        }\n    }\n}",
        "{\n    \"AccessToken\": {\n        \"k\": {\n           \"expires_on\": \"1\"\n        }\n    }\n}",
    ])
    func otherLayouts(_ text: String) throws {
        let cache = try TokenCache(serialized: Array(text.utf8))
        let isText = cache.read { document in document.accessTokens.textCount > 0 }
        #expect(!isText)
        let written = cache.serialize()
        // What we write is canonical: it reads back as text and is stable.
        let again = try TokenCache(serialized: written)
        #expect(again.serialize() == written)
    }
}

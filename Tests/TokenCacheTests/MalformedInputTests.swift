import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// Every file of `Tests/Fixtures/malformed` is rejected with the error its name announces
/// (`json-`, `encoding-`, `schema-`), naming the file, and nothing is changed.
@Suite("Malformed caches")
struct MalformedInputTests {
    static let folder = PythonPeer.repositoryRoot.appendingPathComponent("Tests/Fixtures/malformed")

    static var files: [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test("The corpus has at least 15 files")
    func corpusIsLargeEnough() {
        #expect(MalformedInputTests.files.count >= 15)
    }

    @Test("Each malformed file gives a typed error naming the file and the problem", arguments: MalformedInputTests.files)
    func rejects(_ file: URL) throws {
        let bytes = try Data(contentsOf: file)
        let name = file.lastPathComponent
        let expected: TokenCacheError.Code = name.hasPrefix("json-") ? .malformedJSON : name.hasPrefix("encoding-") ? .invalidEncoding : .invalidSchema
        let cache = TokenCache()
        try cache.add(response: ["access_token": "kept", "expires_in": 3600], context: TokenResponseContext(clientID: "c", requestedScopes: ["s"], tokenEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/token", now: 1_700_000_000))
        let before = cache.serialize()
        do {
            try cache.replace(withSerialized: bytes, location: file.path)
            Issue.record("\(name) was accepted")
        } catch {
            #expect(error.code == expected, "\(name): \(error)")
            #expect(error.description.contains(file.path))
            #expect(error.reason.count > 10)
        }
        // A failed reload leaves the cache as it was.
        #expect(cache.serialize() == before)
    }

    @Test("An empty file is an empty cache, as in MSAL Python")
    func emptyIsEmpty() throws {
        let cache = try TokenCache(serialized: Data())
        #expect(cache.serialize() == Array("{}".utf8))
    }
}

import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// The keyring storage as every serialized storage is checked, against the private
/// gnome-keyring of the README's test command.
@Suite("Keyring storage")
struct KeyringStorageTests {
    @Test("The storage conformance checks pass on a keyring item, as msal-extensions and azure-identity store it")
    func conformance() throws {
        try #require(PythonPeer.hasPrivateKeyring, "needs the private keyring session of the README's test command")
        try withTemporaryDirectory { folder in
            let signal = folder.appendingPathComponent("cache.json").path
            #expect(StorageConformance.check(KeyringStorage(profile: .msalExtensions(signalPath: signal), signalPath: signal)) == [])
            let other = folder.appendingPathComponent("azure.json").path
            #expect(StorageConformance.check(KeyringStorage(profile: .azureIdentity(name: "tokencache.test.\(UUID().uuidString)"), signalPath: other)) == [])
        }
    }
}

public import Foundation
public import TokenCache

/// The checks every ``CacheStorage`` must pass, whatever it stores into. A backend's tests
/// call ``check(_:)`` with a fresh, empty store and expect no problems.
public enum StorageConformance {
    /// Runs every check on `storage` (which must start empty) and returns the problems
    /// found; an empty list means the store conforms.
    public static func check(_ storage: any CacheStorage) -> [String] {
        var found = ProblemList()
        found.expect(try storage.load() == nil, "a store that was never saved must load as nil")
        found.expect(try storage.changeToken() == nil, "a store that was never saved has no change token")
        let first = Data("{\n    \"AccessToken\": {}\n}".utf8)
        found.expect(try { try storage.save(first); return true }(), "save must succeed")
        found.expect(try storage.load() == first, "load must return exactly the bytes saved")
        let token = try? storage.changeToken()
        found.expect(token != nil, "a saved store has a change token")
        found.expect(try storage.changeToken() == token, "the change token must not move without a write")
        let second = Data("{\n    \"Account\": {}\n}".utf8)
        found.expect(try { try storage.save(second); return true }(), "a second save must succeed")
        found.expect(try storage.load() == second, "a second save replaces the content")
        found.expect(try storage.changeToken() != token, "a write must move the change token")
        let large = Data(repeating: UInt8(ascii: "x"), count: 3_000_000)
        found.expect(try { try storage.save(large); return true }(), "a large save must succeed")
        found.expect(try storage.load() == large, "large content must round-trip")
        found.expect(try { try storage.save(Data()); return true }(), "saving nothing must succeed")
        found.expect(try storage.load() == Data(), "empty content must load as empty, not nil")
        found.expect(try { try storage.remove(); return true }(), "remove must succeed")
        found.expect(try storage.load() == nil, "a removed store loads as nil")
        found.expect(try { try storage.remove(); return true }(), "removing a removed store is not an error")
        found.expect(!storage.location.isEmpty, "a store names its location")
        return found.problems
    }
}

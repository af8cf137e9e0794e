public import Foundation
public import TokenCache

/// The checks every ``CacheStorage`` must pass, whatever it stores into. A backend's tests
/// call ``check(_:)`` with a fresh, empty store and expect no problems.
public enum StorageConformance {
    /// Runs every check on `storage` (which must start empty) and returns the problems
    /// found; an empty list means the store conforms.
    public static func check(_ storage: any CacheStorage) -> [String] {
        var problems: [String] = []
        func expect(_ condition: @autoclosure () throws -> Bool, _ message: String) {
            do {
                if try !condition() { problems.append(message) }
            } catch {
                problems.append("\(message): threw \(error)")
            }
        }
        expect(try storage.load() == nil, "a store that was never saved must load as nil")
        expect(try storage.changeToken() == nil, "a store that was never saved has no change token")
        let first = Data("{\n    \"AccessToken\": {}\n}".utf8)
        expect(try { try storage.save(first); return true }(), "save must succeed")
        expect(try storage.load() == first, "load must return exactly the bytes saved")
        let token = try? storage.changeToken()
        expect(token != nil, "a saved store has a change token")
        expect(try storage.changeToken() == token, "the change token must not move without a write")
        let second = Data("{\n    \"Account\": {}\n}".utf8)
        expect(try { try storage.save(second); return true }(), "a second save must succeed")
        expect(try storage.load() == second, "a second save replaces the content")
        expect(try storage.changeToken() != token, "a write must move the change token")
        let large = Data(repeating: UInt8(ascii: "x"), count: 3_000_000)
        expect(try { try storage.save(large); return true }(), "a large save must succeed")
        expect(try storage.load() == large, "large content must round-trip")
        expect(try { try storage.save(Data()); return true }(), "saving nothing must succeed")
        expect(try storage.load() == Data(), "empty content must load as empty, not nil")
        expect(try { try storage.remove(); return true }(), "remove must succeed")
        expect(try storage.load() == nil, "a removed store loads as nil")
        expect(try { try storage.remove(); return true }(), "removing a removed store is not an error")
        expect(!storage.location.isEmpty, "a store names its location")
        return problems
    }
}

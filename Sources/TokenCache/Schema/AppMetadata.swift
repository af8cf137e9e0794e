/// An `AppMetadata` entry: which family (FOCI) an app belongs to.
public struct AppMetadata: CacheEntry, KeyedCacheEntry {
    public static let credentialType = CredentialType.appMetadata
    public var key: String { entryKey.string }
    public let storage: EntryStorage
    let entryKey: EntryKey

    public init(key: String, storage: EntryStorage) {
        self.init(entryKey: EntryKey(key), storage: storage)
    }

    init(entryKey: EntryKey, storage: EntryStorage) {
        self.entryKey = entryKey
        self.storage = storage
    }

    /// `family_id`, when the app is in a family. Empty strings and nulls count as none.
    public var familyID: String? {
        guard let value = field(FieldName.familyID), value.isTruthy else { return nil }
        return value.stringValue
    }
}

/// An `AppMetadata` entry: which family (FOCI) an app belongs to.
public struct AppMetadata: CacheEntry {
    public static let credentialType = CredentialType.appMetadata
    public let key: String
    public let storage: EntryStorage

    public init(key: String, storage: EntryStorage) {
        self.key = key
        self.storage = storage
    }

    /// `family_id`, when the app is in a family. Empty strings and nulls count as none.
    public var familyID: String? {
        guard let value = field(FieldName.familyID), value.isTruthy else { return nil }
        return value.stringValue
    }
}

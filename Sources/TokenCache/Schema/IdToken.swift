/// An `IdToken` entry.
public struct IdToken: CredentialEntry, KeyedCacheEntry {
    public static let credentialType = CredentialType.idToken
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

    /// The tenant (`realm`).
    public var realm: String? { string(FieldName.realm) }
}

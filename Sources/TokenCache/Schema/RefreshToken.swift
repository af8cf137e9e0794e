/// A `RefreshToken` entry.
public struct RefreshToken: CredentialEntry, KeyedCacheEntry {
    public static let credentialType = CredentialType.refreshToken
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

    /// The scopes of the response that produced the token (`target`), when recorded.
    public var target: String? { string(FieldName.target) }
    /// `family_id`: `"1"` for a family (FOCI) refresh token.
    public var familyID: String? { string(FieldName.familyID) }
    /// `last_modification_time`, in Unix seconds; newer tokens are tried first.
    public var lastModificationTime: Int64? { storage.value(FieldName.lastModificationTimeField).flatMap(PythonText.int) }
}

/// An `IdToken` entry.
public struct IdToken: CredentialEntry {
    public static let credentialType = CredentialType.idToken
    public let key: String
    public let storage: EntryStorage

    public init(key: String, storage: EntryStorage) {
        self.key = key
        self.storage = storage
    }

    /// The tenant (`realm`).
    public var realm: String? { string(FieldName.realm) }
}

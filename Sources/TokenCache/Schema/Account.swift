/// An `Account` entry.
public struct Account: CacheEntry, KeyedCacheEntry {
    public static let credentialType = CredentialType.account
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

    /// The tenant (`realm`) of the authority the account signed in through.
    public var realm: String? { storage.string(FieldName.realmField) }
    /// `local_account_id`: the object id in the tenant (or `sub`).
    public var localAccountID: String? { storage.string(FieldName.localAccountIDField) }
    /// `username`, often the UPN; empty when unknown.
    public var username: String? { storage.string(FieldName.usernameField) }
    /// `authority_type`: `MSSTS`, `ADFS` or `CLOUDSHELL`.
    public var authorityType: String? { storage.string(FieldName.authorityTypeField) }
    /// `account_source`: the grant type that created the account.
    public var accountSource: String? { storage.string(FieldName.accountSourceField) }
}

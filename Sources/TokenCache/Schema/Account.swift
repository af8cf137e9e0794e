/// An `Account` entry.
public struct Account: CacheEntry {
    public static let credentialType = CredentialType.account
    public let key: String
    public let storage: EntryStorage

    public init(key: String, storage: EntryStorage) {
        self.key = key
        self.storage = storage
    }

    /// The tenant (`realm`) of the authority the account signed in through.
    public var realm: String? { string(FieldName.realm) }
    /// `local_account_id`: the object id in the tenant (or `sub`).
    public var localAccountID: String? { string(FieldName.localAccountID) }
    /// `username`, often the UPN; empty when unknown.
    public var username: String? { string(FieldName.username) }
    /// `authority_type`: `MSSTS`, `ADFS` or `CLOUDSHELL`.
    public var authorityType: String? { string(FieldName.authorityType) }
    /// `account_source`: the grant type that created the account.
    public var accountSource: String? { string(FieldName.accountSource) }
}

/// An `Account` entry.
public struct Account: CacheEntry {
    public static let credentialType = CredentialType.account
    public let key: String
    public let fields: JSONObject

    public init(key: String, fields: JSONObject) {
        self.key = key
        self.fields = fields
    }

    /// The tenant (`realm`) of the authority the account signed in through.
    public var realm: String? { fields.string(FieldName.realm) }
    /// `local_account_id`: the object id in the tenant (or `sub`).
    public var localAccountID: String? { fields.string(FieldName.localAccountID) }
    /// `username`, often the UPN; empty when unknown.
    public var username: String? { fields.string(FieldName.username) }
    /// `authority_type`: `MSSTS`, `ADFS` or `CLOUDSHELL`.
    public var authorityType: String? { fields.string(FieldName.authorityType) }
    /// `account_source`: the grant type that created the account.
    public var accountSource: String? { fields.string(FieldName.accountSource) }
}

/// A `RefreshToken` entry.
public struct RefreshToken: CacheEntry {
    public static let credentialType = CredentialType.refreshToken
    public let key: String
    public let fields: JSONObject

    public init(key: String, fields: JSONObject) {
        self.key = key
        self.fields = fields
    }

    /// The scopes of the response that produced the token (`target`), when recorded.
    public var target: String? { fields.string(FieldName.target) }
    /// `family_id`: `"1"` for a family (FOCI) refresh token.
    public var familyID: String? { fields.string(FieldName.familyID) }
    /// `last_modification_time`, in Unix seconds; newer tokens are tried first.
    public var lastModificationTime: Int64? { time(FieldName.lastModificationTime) }
}

/// An `IdToken` entry.
public struct IdToken: CacheEntry {
    public static let credentialType = CredentialType.idToken
    public let key: String
    public let fields: JSONObject

    public init(key: String, fields: JSONObject) {
        self.key = key
        self.fields = fields
    }

    /// The tenant (`realm`).
    public var realm: String? { fields.string(FieldName.realm) }
}

/// An `AccessToken` entry.
public struct AccessToken: CredentialEntry, KeyedCacheEntry {
    public static let credentialType = CredentialType.accessToken
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

    /// The tenant (`realm`) the token was issued for, as the token endpoint path spelled it.
    public var realm: String? { string(FieldName.realm) }
    /// The scopes, space-separated (`target`).
    public var target: String? { storage.string(FieldName.targetField) }
    /// The scopes as a list.
    public var scopes: [String] { target.map { PythonText.split($0).map(String.init) } ?? [] }
    /// `token_type`, such as `Bearer` or `ssh-cert`.
    public var tokenType: String? { string(FieldName.tokenType) }
    /// `cached_at`, in Unix seconds.
    public var cachedAt: Int64? { time(FieldName.cachedAt) }
    /// `expires_on`, in Unix seconds.
    public var expiresOn: Int64? { storage.value(FieldName.expiresOnField).flatMap(PythonText.int) }
    /// `extended_expires_on`, in Unix seconds.
    public var extendedExpiresOn: Int64? { time(FieldName.extendedExpiresOn) }
    /// `refresh_on`, in Unix seconds: from then on the token should be refreshed proactively.
    public var refreshOn: Int64? { storage.value(FieldName.refreshOnField).flatMap(PythonText.int) }
    /// `key_id`, for SSH certificates and proof-of-possession tokens.
    public var keyID: String? { string(FieldName.keyID) }
    /// `ext_cache_key`, the hash of extra request parameters (FMI path, client claims).
    public var extCacheKey: String? { string(FieldName.extCacheKey) }
}

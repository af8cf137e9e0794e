/// The field and section names of MSAL's cache schema.
///
/// The parser hands out these literal strings for member names it recognises, so a large
/// cache does not allocate one copy of `"extended_expires_on"` per entry.
enum FieldName {
    static let credentialType = "credential_type"
    static let secret = "secret"
    static let homeAccountID = "home_account_id"
    static let environment = "environment"
    static let clientID = "client_id"
    static let target = "target"
    static let realm = "realm"
    static let tokenType = "token_type"
    static let cachedAt = "cached_at"
    static let expiresOn = "expires_on"
    static let extendedExpiresOn = "extended_expires_on"
    static let keyID = "key_id"
    static let extCacheKey = "ext_cache_key"
    static let refreshOn = "refresh_on"
    static let lastModificationTime = "last_modification_time"
    static let familyID = "family_id"
    static let localAccountID = "local_account_id"
    static let username = "username"
    static let authorityType = "authority_type"
    static let accountSource = "account_source"

    private static let known: [String] = [
        credentialType, secret, homeAccountID, environment, clientID, target, realm, tokenType,
        cachedAt, expiresOn, extendedExpiresOn, keyID, extCacheKey, refreshOn, lastModificationTime,
        familyID, localAccountID, username, authorityType, accountSource,
        "AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata",
    ]

    private static let byLength: [Int: [(bytes: [UInt8], name: String)]] = {
        var table: [Int: [(bytes: [UInt8], name: String)]] = [:]
        for name in known { table[name.utf8.count, default: []].append((Array(name.utf8), name)) }
        return table
    }()

    /// The shared literal for a known name spelled by `bytes`, or `nil`.
    static func intern(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let candidates = byLength[bytes.count] else { return nil }
        for candidate in candidates where candidate.bytes.withUnsafeBytes({ $0.elementsEqual(bytes) }) {
            return candidate.name
        }
        return nil
    }
}

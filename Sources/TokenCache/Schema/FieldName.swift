#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The field and section names of MSAL's cache schema.
///
/// The parser hands out these literal strings for member names it recognises, so a large
/// cache does not allocate one copy of `"extended_expires_on"` per entry, and with them
/// what the loader needs to know about each field, so it never hashes a name.
package enum FieldName {
    package static let credentialType = "credential_type"
    package static let secret = "secret"
    package static let homeAccountID = "home_account_id"
    package static let environment = "environment"
    package static let clientID = "client_id"
    package static let target = "target"
    package static let realm = "realm"
    package static let tokenType = "token_type"
    package static let cachedAt = "cached_at"
    package static let expiresOn = "expires_on"
    package static let extendedExpiresOn = "extended_expires_on"
    package static let keyID = "key_id"
    package static let extCacheKey = "ext_cache_key"
    package static let refreshOn = "refresh_on"
    package static let lastModificationTime = "last_modification_time"
    package static let familyID = "family_id"
    package static let localAccountID = "local_account_id"
    package static let username = "username"
    package static let authorityType = "authority_type"
    package static let accountSource = "account_source"
    /// MSAL .NET's field on an on-behalf-of token: the base64url SHA-256 of the user
    /// assertion it was obtained for (MSAL Python keeps it as an unknown field).
    package static let userAssertionHash = "user_assertion_hash"

    /// What the schema says about a field.
    struct Info {
        let name: String
        /// The field must hold a string (or null).
        let isString: Bool
        /// The field must hold a whole number of seconds.
        let isTime: Bool
        /// Queries read the field, so loaded entries keep it decoded.
        let isSummarised: Bool
        /// Its values repeat across entries (hosts, client ids, tenants, scope lists).
        let isShared: Bool
        /// A small number identifying the field, for per-field caches.
        let ordinal: Int
    }

    static let table: [Info] = {
        let rows: [(String, Bool, Bool, Bool, Bool)] = [
            // name, string, time, summarised, shared
            (credentialType, true, false, false, false), (secret, true, false, false, false),
            (homeAccountID, true, false, true, true), (environment, true, false, true, true),
            (clientID, true, false, true, true), (target, true, false, true, true), (realm, true, false, true, true),
            (tokenType, true, false, true, true), (cachedAt, false, true, false, false),
            (expiresOn, false, true, true, false), (extendedExpiresOn, false, true, false, false),
            (keyID, true, false, true, false), (extCacheKey, true, false, true, false),
            (refreshOn, false, true, true, false), (lastModificationTime, false, true, true, false),
            (familyID, true, false, true, true), (localAccountID, true, false, true, false),
            (username, true, false, true, false), (authorityType, true, false, true, true),
            (accountSource, true, false, true, true),
            ("AccessToken", false, false, false, false), ("RefreshToken", false, false, false, false),
            ("IdToken", false, false, false, false), ("Account", false, false, false, false),
            ("AppMetadata", false, false, false, false), (userAssertionHash, true, false, true, false),
        ]
        return rows.enumerated().map { index, row in
            Info(name: row.0, isString: row.1, isTime: row.2, isSummarised: row.3, isShared: row.4, ordinal: index)
        }
    }()

    private static let byLength: [[(bytes: [UInt8], info: Info)]] = {
        var table = [[(bytes: [UInt8], info: Info)]](repeating: [], count: 32)
        for info in FieldName.table { table[info.name.utf8.count].append((Array(info.name.utf8), info)) }
        return table
    }()

    /// What is known about the field spelled by `bytes`, or `nil`.
    static func info(_ bytes: UnsafeRawBufferPointer) -> Info? {
        guard bytes.count > 0, bytes.count < byLength.count else { return nil }
        for candidate in byLength[bytes.count] {
            let equal = candidate.bytes.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
            if equal { return candidate.info }
        }
        return nil
    }

    /// What is known about the field named `name`, or `nil`.
    static func info(named name: String) -> Info? {
        var copy = name
        return copy.withUTF8 { info(UnsafeRawBufferPointer($0)) }
    }

    /// The summarised fields, by name.
    static let homeAccountIDField = info(named: homeAccountID)!
    static let environmentField = info(named: environment)!
    static let clientIDField = info(named: clientID)!
    static let realmField = info(named: realm)!
    static let targetField = info(named: target)!
    static let expiresOnField = info(named: expiresOn)!
    static let refreshOnField = info(named: refreshOn)!
    static let keyIDField = info(named: keyID)!
    static let extCacheKeyField = info(named: extCacheKey)!
    static let familyIDField = info(named: familyID)!
    static let lastModificationTimeField = info(named: lastModificationTime)!
    static let localAccountIDField = info(named: localAccountID)!
    static let usernameField = info(named: username)!
    static let authorityTypeField = info(named: authorityType)!
    static let accountSourceField = info(named: accountSource)!
    static let userAssertionHashField = info(named: userAssertionHash)!

    /// The shared literal for a known name spelled by `bytes`, or `nil`.
    static func intern(_ bytes: UnsafeRawBufferPointer) -> String? {
        info(bytes)?.name
    }
}

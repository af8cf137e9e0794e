/// Builds cache keys exactly as MSAL Python 1.39's key makers do.
///
/// Parts are joined with `-` and the whole key is lower-cased with Python's `str.lower()`,
/// except AppMetadata keys, which keep their case. A missing or null part is empty.
public enum CacheKey {
    /// The key of an access token: home account, environment, `AccessToken` (or `atext`
    /// with an extended cache key), client, realm, target, and the extended cache key.
    public static func accessToken(homeAccountID: String?, environment: String?, clientID: String?, realm: String?, target: String?, extCacheKey: String? = nil) -> String {
        let hasExtKey = !(extCacheKey ?? "").isEmpty
        var parts = [homeAccountID ?? "", environment ?? "", hasExtKey ? "atext" : "AccessToken", clientID ?? "", realm ?? "", target ?? ""]
        if hasExtKey { parts.append(extCacheKey!) }
        return PythonText.lower(parts.joined(separator: "-"))
    }

    /// The key of a refresh token: home account, environment, `RefreshToken`, client, an
    /// empty realm (refresh tokens work across tenants) and target.
    public static func refreshToken(homeAccountID: String?, environment: String?, clientID: String?, target: String?) -> String {
        PythonText.lower([homeAccountID ?? "", environment ?? "", "RefreshToken", clientID ?? "", "", target ?? ""].joined(separator: "-"))
    }

    /// The key of an ID token: home account, environment, `IdToken`, client, realm and an
    /// empty target.
    public static func idToken(homeAccountID: String?, environment: String?, clientID: String?, realm: String?) -> String {
        PythonText.lower([homeAccountID ?? "", environment ?? "", "IdToken", clientID ?? "", realm ?? "", ""].joined(separator: "-"))
    }

    /// The key of an account: home account, environment and realm.
    public static func account(homeAccountID: String?, environment: String?, realm: String?) -> String {
        PythonText.lower([homeAccountID ?? "", environment ?? "", realm ?? ""].joined(separator: "-"))
    }

    /// The key of an app's metadata, `appmetadata-<environment>-<client id>`, not lower-cased.
    public static func appMetadata(environment: String?, clientID: String?) -> String {
        "appmetadata-\(environment ?? "")-\(clientID ?? "")"
    }

    /// The target of a scope list: sorted by code point and joined with single spaces.
    public static func target(scopes: [String]) -> String {
        PythonText.sortedByCodePoint(scopes).joined(separator: " ")
    }

    /// The `user_assertion_hash` of an on-behalf-of token, as MSAL .NET computes it: the
    /// base64url SHA-256 of the user assertion (the caller's token), so the cached token is
    /// found again for that assertion only.
    public static func userAssertionHash(_ assertion: String) -> String {
        Base64URL.encode(SHA256.hash(Array(assertion.utf8)))
    }

    /// The key MSAL Python computes from an entry's own fields (what `modify()` uses).
    ///
    /// A field that holds something other than a string or null makes Python's key maker
    /// raise; this returns `nil` then.
    public static func make(for type: CredentialType, fields: JSONObject) -> String? {
        func part(_ name: String) -> String?? {
            switch fields[name] {
            case nil, .null?: return .some(nil)
            case .string(let value)?: return .some(value)
            case .bool(false)?: return .some(nil)
            default: return nil
            }
        }
        guard let hid = part(FieldName.homeAccountID), let env = part(FieldName.environment),
              let client = part(FieldName.clientID), let realm = part(FieldName.realm),
              let target = part(FieldName.target), let ext = part(FieldName.extCacheKey) else { return nil }
        switch type {
        case .accessToken:
            return accessToken(homeAccountID: hid, environment: env, clientID: client, realm: realm, target: target, extCacheKey: ext)
        case .refreshToken:
            return refreshToken(homeAccountID: hid, environment: env, clientID: client, target: target)
        case .idToken:
            return idToken(homeAccountID: hid, environment: env, clientID: client, realm: realm)
        case .account:
            return account(homeAccountID: hid, environment: env, realm: realm)
        case .appMetadata:
            return appMetadata(environment: env, clientID: client)
        default:
            return nil
        }
    }
}

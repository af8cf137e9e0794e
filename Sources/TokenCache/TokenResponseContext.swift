/// The request a token response answers: what MSAL Python's `add()` receives as its event,
/// apart from the response itself.
public struct TokenResponseContext: Sendable {
    /// The app's client id.
    public var clientID: String
    /// The scopes the request asked for (for user flows MSAL adds `openid`, `profile` and
    /// `offline_access`). When the response has a `scope` member, that wins.
    public var requestedScopes: [String]
    /// The token endpoint (or authority) URL; its first path segment becomes the `realm`.
    public var tokenEndpoint: String
    /// The `environment` to record: the configured authority's host. The default is the
    /// token endpoint's host.
    public var environment: String?
    /// The OAuth2 grant type of the request, such as `authorization_code`.
    public var grantType: String?
    /// Extra request body fields the caller supplied (`key_id`, `fmi_path`, ...). Only
    /// `key_id` is stored; the rest feed the extended cache key.
    public var requestData: [String: String]
    /// Whether to leave Account entries alone: set for refresh-token grants so a silent
    /// refresh never re-creates an account that was just removed.
    public var skipAccountCreation: Bool
    /// An account id a broker supplied (`_account_id`), preferred as `local_account_id`.
    public var brokerAccountID: String?
    /// An `authority_type` to record instead of the derived one.
    public var authorityType: String?
    /// A username known from the request (federated password flow).
    public var username: String?
    /// The time to record, in Unix seconds.
    public var now: Int64

    /// Creates a context.
    public init(
        clientID: String,
        requestedScopes: [String],
        tokenEndpoint: String,
        environment: String? = nil,
        grantType: String? = nil,
        requestData: [String: String] = [:],
        skipAccountCreation: Bool = false,
        brokerAccountID: String? = nil,
        authorityType: String? = nil,
        username: String? = nil,
        now: Int64
    ) {
        self.clientID = clientID
        self.requestedScopes = requestedScopes
        self.tokenEndpoint = tokenEndpoint
        self.environment = environment
        self.grantType = grantType
        self.requestData = requestData
        self.skipAccountCreation = skipAccountCreation
        self.brokerAccountID = brokerAccountID
        self.authorityType = authorityType
        self.username = username
        self.now = now
    }
}

/// The request-data fields that never feed the extended cache key (msal 1.39's, and
/// `user_assertion_hash`, which this library records on on-behalf-of tokens itself).
enum ExtendedCacheKey {
    static let excludedFields: Set<String> = [
        "client_id", "grant_type", "scope", "claims", "username", "password", "refresh_token", "code",
        "redirect_uri", "code_verifier", "device_code", "assertion", "requested_token_use",
        "client_assertion", "client_assertion_type", "client_secret", "token_type", "req_cnf", "key_id", "user_assertion_hash",
        "user_federated_identity_credential", "user_id", "client_info",
    ]

    /// MSAL 1.38+'s `ext_cache_key`: the sorted, length-prefixed `key`/`value` pairs of the
    /// non-excluded, non-empty request fields, SHA-256 hashed, base64url without padding,
    /// lower-cased. Empty when no field counts.
    static func compute(_ data: [String: String]) -> String {
        if data.isEmpty { return "" }
        let counted = data.filter { !excludedFields.contains($0.key) && !$0.value.isEmpty }
        guard !counted.isEmpty else { return "" }
        var text = ""
        for key in PythonText.sortedByCodePoint(Array(counted.keys)) {
            let value = counted[key]!
            text += "\(key.utf8.count):\(key)\(value.utf8.count):\(value)"
        }
        return PythonText.lower(Base64URL.encode(SHA256.hash(Array(text.utf8))))
    }
}

public import TokenCache

/// Who is signed in to a browser session: enough to find the user's tokens in the cache
/// (their partition is their home account id), and to greet them. It travels sealed in the
/// session cookie; it holds no token.
public struct SignedInUser: Codable, Sendable, Equatable {
    /// The home account id (`uid.utid`): the user's partition of the token cache.
    public let homeAccountID: String
    /// The authority host the user signed in through.
    public let environment: String
    /// The user's sign-in name (`preferred_username`), when the provider gave one.
    public let username: String?
    /// The user's display name (`name`), when the provider gave one.
    public let name: String?

    /// A user with these names.
    public init(homeAccountID: String, environment: String, username: String?, name: String?) {
        self.homeAccountID = homeAccountID
        self.environment = environment
        self.username = username
        self.name = name
    }

    /// The cache account to pass to `acquireTokenSilent` and `removeAccount`.
    public var account: Account {
        var fields: JSONObject = ["home_account_id": .string(homeAccountID), "environment": .string(environment)]
        if let username { fields["username"] = .string(username) }
        return Account(key: "\(homeAccountID)-\(environment)-", storage: EntryStorage(fields: fields))
    }
}

/// An entry of one of the five MSAL cache sections: its key and all of its fields.
///
/// Typed accessors read the fields MSAL defines; every other field stays in ``fields``
/// and is written back unchanged.
public protocol CacheEntry: Sendable, Hashable {
    /// The section this kind of entry lives in.
    static var credentialType: CredentialType { get }
    /// The key the entry is stored under (which, for entries written by other SDKs, may
    /// differ from the key MSAL Python would compute).
    var key: String { get }
    /// All of the entry's fields, in file order.
    var fields: JSONObject { get }
    /// Wraps a stored entry.
    init(key: String, fields: JSONObject)
}

extension CacheEntry {
    /// The entry's `home_account_id`, or `nil` when it is null or missing.
    public var homeAccountID: String? { fields.string(FieldName.homeAccountID) }
    /// The entry's `environment` (the authority host).
    public var environment: String? { fields.string(FieldName.environment) }

    func time(_ name: String) -> Int64? {
        fields[name].flatMap(PythonText.int)
    }
}

/// Fields shared by the three credential entries.
extension CacheEntry {
    /// The `secret`: the token itself. Never log it.
    public var secret: String? { fields.string(FieldName.secret) }
    /// The `client_id` of the app that obtained the entry.
    public var clientID: String? { fields.string(FieldName.clientID) }
}

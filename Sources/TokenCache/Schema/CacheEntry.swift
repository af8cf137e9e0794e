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
    /// How the entry is held.
    var storage: EntryStorage { get }
    /// Wraps a stored entry.
    init(key: String, storage: EntryStorage)
}

extension CacheEntry {
    /// Wraps an entry given as its fields.
    public init(key: String, fields: JSONObject) {
        self.init(key: key, storage: EntryStorage(fields: fields))
    }

    /// All of the entry's fields, in file order.
    public var fields: JSONObject { storage.fields }

    /// The value of one field, or `nil` when the entry does not have it.
    public func field(_ name: String) -> JSONValue? { storage.field(name) }

    /// The string value of one field, or `nil` when it is missing or not a string.
    public func string(_ name: String) -> String? { storage.field(name)?.stringValue }

    /// The entry's `home_account_id`, or `nil` when it is null or missing.
    public var homeAccountID: String? { storage.string(FieldName.homeAccountIDField) }
    /// The entry's `environment` (the authority host).
    public var environment: String? { storage.string(FieldName.environmentField) }
    /// The `client_id` of the app that obtained the entry.
    public var clientID: String? { storage.string(FieldName.clientIDField) }

    func time(_ name: String) -> Int64? {
        storage.field(name).flatMap(PythonText.int)
    }
}

/// An entry type of this module, made from its stored key without turning the key into a
/// string (most keys are slices of the loaded file).
protocol KeyedCacheEntry: CacheEntry {
    init(entryKey: EntryKey, storage: EntryStorage)
}

extension CacheEntry {
    /// The entry stored under `key`.
    static func stored(_ key: EntryKey, _ storage: EntryStorage) -> Self {
        if let keyed = Self.self as? any KeyedCacheEntry.Type, let entry = keyed.init(entryKey: key, storage: storage) as? Self {
            return entry
        }
        return Self(key: key.string, storage: storage)
    }
}

/// The secret of the three credential entries.
extension CacheEntry where Self: CredentialEntry {
    /// The `secret`: the token itself. Never log it.
    public var secret: String? { storage.secretValue?.stringValue }
}

/// An entry that carries a token: an access, refresh or ID token.
public protocol CredentialEntry: CacheEntry {}

import OrderedCollections

/// Who owns an entry: its environment and home account (nil for app-only tokens).
struct OwnerKey: Hashable, Sendable {
    let environment: String
    let homeAccountID: String?
}

/// The fields an access-token lookup matches exactly.
struct AccessTokenSlot: Hashable, Sendable {
    let homeAccountID: String?
    let environment: String
    let clientID: String
    let realm: String
}

/// One of the five known sections: its entries in file order plus the indexes that let
/// queries touch only the entries of one account or one app.
///
/// An entry is indexed under a value only when the field holds a string (or, for
/// `home_account_id`, null): MSAL Python's exact-match queries can match nothing else.
struct EntrySection: Sendable {
    let type: CredentialType
    private(set) var entries: OrderedDictionary<String, JSONObject> = [:]
    private var owners: [OwnerKey: [String]] = [:]
    private var slots: [AccessTokenSlot: [String]] = [:]

    init(type: CredentialType) {
        self.type = type
    }

    var count: Int { entries.count }

    subscript(key: String) -> JSONObject? { entries[key] }

    /// Stores `fields` under `key`: in place when the key exists, else at the end.
    mutating func upsert(_ fields: JSONObject, forKey key: String) {
        if let old = entries.updateValue(fields, forKey: key) {
            unindex(old, key: key)
        }
        index(fields, key: key)
    }

    /// Removes the entry stored under `key`; returns whether there was one.
    @discardableResult
    mutating func remove(forKey key: String) -> Bool {
        guard let old = entries.removeValue(forKey: key) else { return false }
        unindex(old, key: key)
        return true
    }

    /// Removes every entry `shouldRemove` accepts, in one pass; returns their keys.
    mutating func removeAll(where shouldRemove: (String, JSONObject) -> Bool) -> [String] {
        var removed: [String] = []
        for (key, fields) in entries where shouldRemove(key, fields) { removed.append(key) }
        guard !removed.isEmpty else { return [] }
        let doomed = Set(removed)
        entries.removeAll { doomed.contains($0.key) }
        owners = [:]
        slots = [:]
        for (key, fields) in entries { index(fields, key: key) }
        return removed
    }

    /// The keys of the entries owned by `owner`, in file order.
    func keys(ownedBy owner: OwnerKey) -> [String] {
        inFileOrder(owners[owner] ?? [])
    }

    /// The keys of the access tokens in `slot`, in file order.
    func keys(in slot: AccessTokenSlot) -> [String] {
        inFileOrder(slots[slot] ?? [])
    }

    private func inFileOrder(_ keys: [String]) -> [String] {
        guard keys.count > 1 else { return keys }
        return keys.sorted { (entries.index(forKey: $0) ?? 0) < (entries.index(forKey: $1) ?? 0) }
    }

    private mutating func index(_ fields: JSONObject, key: String) {
        if let owner = EntrySection.owner(of: fields) {
            owners[owner, default: []].append(key)
        }
        if type == .accessToken, let slot = EntrySection.slot(of: fields) {
            slots[slot, default: []].append(key)
        }
    }

    private mutating func unindex(_ fields: JSONObject, key: String) {
        if let owner = EntrySection.owner(of: fields) {
            EntrySection.removeKey(key, from: &owners, at: owner)
        }
        if type == .accessToken, let slot = EntrySection.slot(of: fields) {
            EntrySection.removeKey(key, from: &slots, at: slot)
        }
    }

    private static func removeKey<K: Hashable>(_ key: String, from index: inout [K: [String]], at indexKey: K) {
        guard var bucket = index[indexKey], let position = bucket.firstIndex(of: key) else { return }
        bucket.remove(at: position)
        index[indexKey] = bucket.isEmpty ? nil : bucket
    }

    private static func homeAccount(of fields: JSONObject) -> String?? {
        switch fields[FieldName.homeAccountID] {
        case .string(let value)?: return .some(value)
        case .null?: return .some(nil)
        default: return nil
        }
    }

    static func owner(of fields: JSONObject) -> OwnerKey? {
        guard let environment = fields.string(FieldName.environment), let hid = homeAccount(of: fields) else { return nil }
        return OwnerKey(environment: environment, homeAccountID: hid)
    }

    static func slot(of fields: JSONObject) -> AccessTokenSlot? {
        guard let environment = fields.string(FieldName.environment), let hid = homeAccount(of: fields),
              let client = fields.string(FieldName.clientID), let realm = fields.string(FieldName.realm) else { return nil }
        return AccessTokenSlot(homeAccountID: hid, environment: environment, clientID: client, realm: realm)
    }
}

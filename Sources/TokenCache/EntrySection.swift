import OrderedCollections
import Synchronization

/// Who owns an entry: its environment and home account (nil for app-only tokens).
struct OwnerKey: Hashable, Sendable {
    let environment: String
    let homeAccountID: String?

    // Hosts repeat across a cache; the home account alone spreads the keys.
    func hash(into hasher: inout Hasher) { hasher.combine(homeAccountID) }
}

/// The fields an access-token lookup matches exactly.
struct AccessTokenSlot: Hashable, Sendable {
    let homeAccountID: String?
    let environment: String
    let clientID: String
    let realm: String

    // Hosts and tenants repeat across a cache; the account and client spread the keys.
    func hash(into hasher: inout Hasher) {
        hasher.combine(homeAccountID)
        hasher.combine(clientID)
    }
}

/// The entries filed under one index value, in file order, with their fields, so a query
/// reads them without looking each key up again.
typealias IndexBucket = [(key: EntryKey, entry: EntryStorage)]

/// One of the five known sections: its entries in file order plus the indexes that let
/// queries touch only the entries of one account or one app.
///
/// Refresh tokens are indexed by owner (silent refresh looks them up per account) and
/// access tokens by slot (silent lookups); owner queries on other sections, which only
/// sign-out makes, scan. An entry is indexed under a value only when the field holds a
/// string (or, for `home_account_id`, null): MSAL Python's exact-match queries can match
/// nothing else. Each bucket lists its entries in file order, so queries never sort.
struct EntrySection: Sendable {
    let type: CredentialType
    private(set) var entries: OrderedDictionary<EntryKey, EntryStorage> = [:]
    private var owners: [OwnerKey: IndexBucket] = [:]
    private var slots: [AccessTokenSlot: IndexBucket] = [:]
    /// For the Account section, a number no other content of any section has had: it
    /// changes with every change, so an answer computed from the section (the accounts a
    /// `get_accounts()` lists) holds while it stays. 0 for an empty section never changed.
    private(set) var revision: UInt64 = 0
    private static let revisions = Atomic<UInt64>(0)

    init(type: CredentialType) {
        self.type = type
    }

    /// Marks a change of the Account section's content.
    private mutating func changed() {
        guard type == .account else { return }
        revision = EntrySection.revisions.add(1, ordering: .relaxed).newValue
    }

    var count: Int { entries.count }

    /// How many entries are held as the text they were loaded from.
    var textCount: Int { entries.values.reduce(0) { $0 + ($1.text == nil ? 0 : 1) } }

    subscript(key: String) -> EntryStorage? { entries[EntryKey(key)] }

    mutating func reserveCapacity(_ count: Int) {
        entries.reserveCapacity(count)
    }

    /// Stores `fields` under `key`: in place when the key exists, else at the end.
    mutating func upsert(_ fields: JSONObject, forKey key: String) {
        upsert(EntryStorage(fields: fields), forKey: EntryKey(key))
    }

    /// Stores `entry` under `key`: in place when the key exists, else at the end.
    mutating func upsert(_ entry: EntryStorage, forKey key: String) {
        upsert(entry, forKey: EntryKey(key))
    }

    /// Stores `entry` under `key`: in place when the key exists, else at the end.
    mutating func upsert(_ fields: EntryStorage, forKey given: EntryKey) {
        changed()
        var key = given
        let old: EntryStorage?
        if fields.text == nil, let index = entries.index(forKey: key), entries.keys[index].isText {
            // The stored key is a slice of a loaded file, and the entry that replaces it is
            // not: the key becomes a string of its own, in the same place, so that the file's
            // text (with the secrets it held) is let go once no entry needs it.
            old = entries.remove(at: index).value
            key = EntryKey(key.string)
            entries.updateValue(fields, forKey: key, insertingAt: index)
        } else {
            old = entries.updateValue(fields, forKey: key)
        }
        guard old != nil else {
            // A new key goes at the end of the section, so at the end of its buckets.
            if type == .refreshToken, let owner = EntrySection.owner(of: fields) { owners[owner, default: []].append((key, fields)) }
            if type == .accessToken, let slot = EntrySection.slot(of: fields) { slots[slot, default: []].append((key, fields)) }
            return
        }
        if type == .refreshToken {
            EntrySection.refile(key, from: old.flatMap(EntrySection.owner), to: EntrySection.owner(of: fields), fields: fields, entries: entries, in: &owners)
        }
        guard type == .accessToken else { return }
        EntrySection.refile(key, from: old.flatMap(EntrySection.slot), to: EntrySection.slot(of: fields), fields: fields, entries: entries, in: &slots)
    }

    /// Removes the entry stored under `key`; returns whether there was one.
    @discardableResult
    mutating func remove(forKey key: String) -> Bool {
        remove(forKey: EntryKey(key))
    }

    /// Removes the entry stored under `key`; returns whether there was one.
    @discardableResult
    mutating func remove(forKey key: EntryKey) -> Bool {
        guard let old = entries.removeValue(forKey: key) else { return false }
        changed()
        if type == .refreshToken {
            EntrySection.refile(key, from: EntrySection.owner(of: old), to: nil, fields: old, entries: entries, in: &owners)
        }
        if type == .accessToken {
            EntrySection.refile(key, from: EntrySection.slot(of: old), to: nil, fields: old, entries: entries, in: &slots)
        }
        return true
    }

    /// Removes every entry `shouldRemove` accepts, in one pass; returns their keys.
    mutating func removeAll(where shouldRemove: (EntryKey, EntryStorage) -> Bool) -> [EntryKey] {
        var removed: [EntryKey] = []
        for (key, fields) in entries where shouldRemove(key, fields) { removed.append(key) }
        guard !removed.isEmpty else { return [] }
        changed()
        let doomed = Set(removed)
        entries.removeAll { doomed.contains($0.key) }
        owners = [:]
        slots = [:]
        for (key, fields) in entries {
            if type == .refreshToken, let owner = EntrySection.owner(of: fields) { owners[owner, default: []].append((key, fields)) }
            if type == .accessToken, let slot = EntrySection.slot(of: fields) { slots[slot, default: []].append((key, fields)) }
        }
        return removed
    }

    /// The entries owned by `owner`, in file order.
    func entries(ownedBy owner: OwnerKey) -> IndexBucket {
        if type == .refreshToken { return owners[owner] ?? [] }
        return entries.compactMap { key, entry in EntrySection.owner(of: entry) == owner ? (key, entry) : nil }
    }

    /// The access tokens in `slot`, in file order.
    func entries(in slot: AccessTokenSlot) -> IndexBucket {
        slots[slot] ?? []
    }

    /// Moves `key` from the bucket `old` to the bucket `new` (either may be nil), keeping
    /// every bucket in file order and its copy of the fields current.
    private static func refile<K: Hashable>(_ key: EntryKey, from old: K?, to new: K?, fields: EntryStorage, entries: OrderedDictionary<EntryKey, EntryStorage>, in index: inout [K: IndexBucket]) {
        if let old, old == new, var bucket = index[old], let position = bucket.firstIndex(where: { $0.key == key }) {
            index[old] = nil
            bucket[position] = (key, fields)
            index[old] = bucket
            return
        }
        if let old, var bucket = index.removeValue(forKey: old), let position = bucket.firstIndex(where: { $0.key == key }) {
            bucket.remove(at: position)
            if !bucket.isEmpty { index[old] = bucket }
        }
        guard let new else { return }
        var bucket = index.removeValue(forKey: new) ?? []
        let filePosition = entries.index(forKey: key) ?? entries.count
        if let last = bucket.last, (entries.index(forKey: last.key) ?? 0) > filePosition {
            // A replaced entry moved into an existing bucket: insert it at its file position.
            let slot = bucket.firstIndex { (entries.index(forKey: $0.key) ?? 0) > filePosition } ?? bucket.count
            bucket.insert((key, fields), at: slot)
        } else {
            bucket.append((key, fields))
        }
        index[new] = bucket
    }

    private static func homeAccount(of fields: EntryStorage) -> String?? {
        switch fields.value(FieldName.homeAccountIDField) {
        case .string(let value)?: return .some(value)
        case .null?: return .some(nil)
        default: return nil
        }
    }

    static func owner(of entry: EntryStorage) -> OwnerKey? {
        guard let environment = entry.string(FieldName.environmentField), let hid = homeAccount(of: entry) else { return nil }
        return OwnerKey(environment: environment, homeAccountID: hid)
    }

    static func slot(of entry: EntryStorage) -> AccessTokenSlot? {
        guard let environment = entry.string(FieldName.environmentField), let hid = homeAccount(of: entry),
              let client = entry.string(FieldName.clientIDField), let realm = entry.string(FieldName.realmField) else { return nil }
        return AccessTokenSlot(homeAccountID: hid, environment: environment, clientID: client, realm: realm)
    }
}

public import Foundation

/// What a cache document holds and what is wrong with it, read at the JSON level so that
/// documents this library refuses to load (schema violations) can be examined too.
///
/// It backs `tokencache inspect` and `tokencache repair`. Nothing it reports contains a
/// secret: entries are named by their keys, which hold account and client ids only.
public struct CacheInspection: Sendable {
    /// One problem found in the document.
    public struct Problem: Sendable, Equatable, Encodable {
        /// What kind of problem it is.
        public enum Kind: String, Sendable, Encodable {
            /// Several refresh tokens for the same account, client and scopes, under
            /// different keys (left by a key format change between library versions): MSAL
            /// may refresh with a stale one, and rotation updates only one of them.
            case duplicateRefreshToken = "duplicate-refresh-token"
            /// Another kind of entry stored twice under different keys.
            case duplicateEntry = "duplicate-entry"
            /// An entry under a key MSAL Python would not compute from its fields: MSAL can
            /// neither update nor remove it.
            case keyMismatch = "key-mismatch"
            /// An entry that breaks MSAL's schema (no `expires_on`, a null target, no secret,
            /// a field of the wrong type): MSAL Python fails or misbehaves on it.
            case schema
        }

        /// What kind of problem it is.
        public let kind: Kind
        /// The section (`AccessToken`, `RefreshToken`, ...).
        public let section: String
        /// The entry's key as stored.
        public let key: String
        /// What is wrong.
        public let detail: String
        /// What `repair` does about it.
        public let fix: String
        /// Whether `repair` can fix it.
        public let fixable: Bool
    }

    /// An account entry.
    public struct AccountSummary: Sendable, Equatable, Encodable {
        public let username: String
        public let homeAccountID: String
        public let environment: String
        public let realm: String
    }

    /// The tokens one client holds.
    public struct ClientSummary: Sendable, Equatable, Encodable {
        public let clientID: String
        public var accessTokens = 0
        /// Access tokens past `expires_on`.
        public var expired = 0
        /// Access tokens expiring within five minutes (MSAL no longer hands them out).
        public var expiringSoon = 0
        public var refreshTokens = 0
        public var idTokens = 0
    }

    /// The accounts, sorted by username.
    public let accounts: [AccountSummary]
    /// The clients and their tokens, sorted by client id.
    public let clients: [ClientSummary]
    /// The problems, in document order.
    public let problems: [Problem]
    /// The document with every fixable problem fixed, in MSAL Python's layout.
    let repaired: JSONObject

    /// Examines a serialized cache at the clock `now` (Unix seconds).
    ///
    /// - Throws: ``TokenCacheError`` `malformedJSON`/`invalidEncoding` when the text is not
    ///   JSON, `invalidSchema` when it is not an object.
    public init(document bytes: some DataProtocol, now: Int64) throws(TokenCacheError) {
        guard case .object(let top) = try JSONValue(parsing: bytes) else {
            throw TokenCacheError(code: .invalidSchema, reason: "the cache is not a JSON object; restore it from a backup, or delete it and sign in again")
        }
        var problems: [Problem] = []
        var repaired = top
        var clients: [String: ClientSummary] = [:]
        var accounts: [AccountSummary] = []
        for type in CredentialType.allCases {
            guard let value = top[type.rawValue] else { continue }
            guard case .object(let section) = value else {
                problems.append(Problem(kind: .schema, section: type.rawValue, key: "", detail: "the section is \(value.typeName), not an object",
                                        fix: "none: restore the file from a backup", fixable: false))
                continue
            }
            var kept = JSONObject()
            var storedKey: [String: String] = [:]
            // What makes two entries the same one, mapped to the derived key of the one kept.
            var keptUnder: [String: String] = [:]
            for (key, entry) in section {
                func report(_ kind: Problem.Kind, _ detail: String, _ fix: String, fixable: Bool = true) {
                    problems.append(Problem(kind: kind, section: type.rawValue, key: key, detail: detail, fix: fix, fixable: fixable))
                }
                guard var fields = entry.objectValue else {
                    report(.schema, "the entry is \(entry.typeName), not an object", "removed")
                    continue
                }
                if let verdict = Self.schemaVerdict(type, &fields) {
                    report(.schema, verdict.detail, verdict.fix, fixable: verdict.keep != Keep.unchanged)
                    if verdict.keep == .drop { continue }
                }
                guard let derived = CacheKey.make(for: type, fields: fields) else {
                    kept[key] = .object(fields)
                    continue
                }
                let identity = Self.sameness(type, fields) ?? derived
                if let earlierDerived = keptUnder[identity], case .object(let earlier)? = kept[earlierDerived], let earlierKey = storedKey[earlierDerived] {
                    let newer = Self.isNewer(fields, than: earlier)
                    let kind: Problem.Kind = type == .refreshToken ? .duplicateRefreshToken : .duplicateEntry
                    report(kind, "the same \(Self.identity(type)) as \"\(earlierKey)\"\(type == .refreshToken ? "; MSAL looks refresh tokens up without their scopes, so it may refresh with the stale one" : "")",
                           newer ? "kept this one, the newer, under \"\(derived)\"; the older removed" : "removed; the newer \"\(earlierKey)\" kept")
                    if newer {
                        kept[earlierDerived] = nil
                        storedKey[earlierDerived] = nil
                        kept[derived] = .object(fields)
                        storedKey[derived] = key
                        keptUnder[identity] = derived
                    }
                    continue
                }
                if derived != key {
                    report(.keyMismatch, "MSAL Python would store it under \"\(derived)\", so it can neither update nor remove it", "moved to \"\(derived)\"")
                }
                kept[derived] = .object(fields)
                storedKey[derived] = key
                keptUnder[identity] = derived
            }
            repaired[type.rawValue] = .object(kept)
            for (_, entry) in kept {
                guard let fields = entry.objectValue else { continue }
                Self.count(type, fields, now: now, into: &clients, accounts: &accounts)
            }
        }
        self.problems = problems
        self.repaired = repaired
        self.clients = clients.values.sorted { $0.clientID < $1.clientID }
        self.accounts = accounts.sorted { ($0.username, $0.homeAccountID) < ($1.username, $1.homeAccountID) }
    }

    /// The repaired document as MSAL Python writes it, or `nil` when there is nothing that
    /// repair can fix.
    public var repairedDocument: [UInt8]? {
        problems.contains(where: \.fixable) ? JSONValue.object(repaired).pythonJSONBytes : nil
    }

    // MARK: - Rules

    enum Keep: Equatable {
        case drop, patched, unchanged
    }

    /// What is wrong with an entry's schema and what repair does: drop it (an access
    /// token, ID token or account can be obtained again; a refresh token only when it has
    /// no secret), patch it, or leave it.
    static func schemaVerdict(_ type: CredentialType, _ fields: inout JSONObject) -> (detail: String, fix: String, keep: Keep)? {
        let secret = fields[FieldName.secret]?.stringValue ?? ""
        if type != .account && type != .appMetadata && secret.isEmpty {
            return ("it has no secret, so it cannot be used", "removed", .drop)
        }
        do {
            try SchemaRules.check(fields, type: type, key: "")
            return nil
        } catch {
            let detail = error.reason.replacingOccurrences(of: "entry \"\" in section \"\(type)\": ", with: "")
            guard type == .refreshToken else { return (detail, "removed (it is obtained again at the next sign-in or refresh)", .drop) }
            // A refresh token with a secret is kept: the bad fields go, the token stays.
            var patched = fields
            for (name, value) in fields where SchemaRules.timeFields.contains(name) && PythonText.int(value) == nil {
                _ = patched.removeValue(forKey: name)
            }
            for (name, value) in fields where SchemaRules.stringFields.contains(name) && value.stringValue == nil && value != .null {
                patched[name] = .null
            }
            if (try? SchemaRules.check(patched, type: type, key: "")) != nil {
                fields = patched
                return (detail, "the bad fields removed or set to null; the token kept", .patched)
            }
            return (detail, "none: the token is kept as is", .unchanged)
        }
    }

    /// Whether `fields` is a newer copy than `other`: by `last_modification_time`, then
    /// `cached_at` (MSAL Python writes both).
    static func isNewer(_ fields: JSONObject, than other: JSONObject) -> Bool {
        func stamp(_ entry: JSONObject) -> (Int64, Int64) {
            (entry[FieldName.lastModificationTime].flatMap(PythonText.int) ?? 0, entry[FieldName.cachedAt].flatMap(PythonText.int) ?? 0)
        }
        return stamp(fields) > stamp(other)
    }

    /// What makes two entries of `type` the same one when their keys differ, or `nil` for
    /// their derived key. Refresh tokens: the account, environment and client, whatever
    /// their scopes or key form (MSAL Python's key carries the scopes, MSAL .NET's none, and
    /// MSAL looks them up without scopes); a family's tokens of different clients differ.
    static func sameness(_ type: CredentialType, _ fields: JSONObject) -> String? {
        guard type == .refreshToken else { return nil }
        let parts = [FieldName.homeAccountID, FieldName.environment, FieldName.clientID].map { fields.string($0)?.lowercased() }
        guard !parts.contains(nil) else { return nil }
        return parts.map { $0! }.joined(separator: "\n")
    }

    static func identity(_ type: CredentialType) -> String {
        switch type {
        case .refreshToken: "account, environment and client"
        case .accessToken: "account, client, tenant and scopes"
        case .idToken: "account, client and tenant"
        case .account: "account and tenant"
        default: "app"
        }
    }

    static func count(_ type: CredentialType, _ fields: JSONObject, now: Int64, into clients: inout [String: ClientSummary], accounts: inout [AccountSummary]) {
        if type == .account {
            accounts.append(AccountSummary(username: fields.string(FieldName.username) ?? "", homeAccountID: fields.string(FieldName.homeAccountID) ?? "",
                                           environment: fields.string(FieldName.environment) ?? "", realm: fields.string(FieldName.realm) ?? ""))
            return
        }
        guard type != .appMetadata else { return }
        let clientID = fields.string(FieldName.clientID) ?? ""
        var summary = clients[clientID] ?? ClientSummary(clientID: clientID)
        switch type {
        case .accessToken:
            summary.accessTokens += 1
            let expiresOn = fields[FieldName.expiresOn].flatMap(PythonText.int) ?? 0
            if expiresOn <= now {
                summary.expired += 1
            } else if expiresOn <= now + 300 {
                summary.expiringSoon += 1
            }
        case .refreshToken: summary.refreshTokens += 1
        default: summary.idTokens += 1
        }
        clients[clientID] = summary
    }
}

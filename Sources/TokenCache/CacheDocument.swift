import OrderedCollections

/// The whole cache document: the five known sections (indexed) and any other top-level
/// member, all in file order.
struct CacheDocument: Sendable {
    /// Top-level member names in file order; new sections are appended.
    private(set) var order: [String] = []
    private(set) var opaque: [String: JSONValue] = [:]
    var accessTokens = EntrySection(type: .accessToken)
    var refreshTokens = EntrySection(type: .refreshToken)
    var idTokens = EntrySection(type: .idToken)
    var accounts = EntrySection(type: .account)
    var appMetadata = EntrySection(type: .appMetadata)

    init() {}

    static func isKnown(_ name: String) -> Bool {
        CredentialType.allCases.contains(CredentialType(rawValue: name))
    }

    func section(_ type: CredentialType) -> EntrySection {
        switch type {
        case .accessToken: return accessTokens
        case .refreshToken: return refreshTokens
        case .idToken: return idTokens
        case .account: return accounts
        default: return appMetadata
        }
    }

    /// Adds (or replaces) a top-level member this library does not model.
    mutating func appendOpaque(_ name: String, _ value: JSONValue) {
        if !order.contains(name) { order.append(name) }
        opaque[name] = value
    }

    /// Runs `body` on a known section, creating it at the end of the document first.
    mutating func withSection<R, E: Error>(_ type: CredentialType, _ body: (inout EntrySection) throws(E) -> R) throws(E) -> R {
        if !order.contains(type.rawValue) { order.append(type.rawValue) }
        switch type {
        case .accessToken: return try body(&accessTokens)
        case .refreshToken: return try body(&refreshTokens)
        case .idToken: return try body(&idTokens)
        case .account: return try body(&accounts)
        default: return try body(&appMetadata)
        }
    }

    var entryCount: Int {
        accessTokens.count + refreshTokens.count + idTokens.count + accounts.count + appMetadata.count
    }

    // MARK: - Reading

    /// Builds a document from a parsed top-level object's members, in order. A repeated
    /// name keeps its first position and its last value, as in Python.
    init(members: [JSONParser.TopLevelMember], loader: inout EntryLoader) throws(TokenCacheError) {
        for member in members {
            switch member {
            case .other(let name, let value):
                if CacheDocument.isKnown(name) {
                    throw TokenCacheError(code: .invalidSchema, reason: "section \"\(name)\" is \(value.typeName), but it must be an object")
                }
                if !order.contains(name) { order.append(name) }
                opaque[name] = value
            case .object(let name, let entries):
                if !order.contains(name) { order.append(name) }
                guard CacheDocument.isKnown(name) else {
                    var object = JSONObject()
                    for (key, entry) in entries {
                        if case .value(let value) = entry { object[key.string(in: loader.bytes)] = value }
                    }
                    opaque[name] = .object(object)
                    continue
                }
                let type = CredentialType(rawValue: name)
                var section = EntrySection(type: type)
                section.reserveCapacity(entries.count)
                for (key, entry) in entries {
                    let stored = try loader.load(entry, type: type, key: key)
                    section.upsert(stored, forKey: loader.key(key, for: stored))
                }
                opaque[name] = nil
                switch type {
                case .accessToken: accessTokens = section
                case .refreshToken: refreshTokens = section
                case .idToken: idTokens = section
                case .account: accounts = section
                default: appMetadata = section
                }
            }
        }
    }

    // MARK: - Writing

    /// The document as MSAL Python's `serialize()` writes it.
    func serialized(capacityHint: Int = 0) -> [UInt8] {
        var writer = PythonJSONWriter(reservingCapacity: capacityHint)
        writer.writeMembers(count: order.count, level: 0) { writer in
            for name in order {
                if let value = opaque[name] {
                    writer.append(member: name, value: value, level: 1)
                    continue
                }
                let section = self.section(CredentialType(rawValue: name))
                writer.appendMember(name, level: 1) { writer in
                    writer.writeMembers(count: section.count, level: 1) { writer in
                        for (key, entry) in section.entries {
                            writer.appendMember(key, level: 2) { writer in
                                if let (source, range) = entry.text {
                                    source.withBytes(range) { writer.appendRaw($0) }
                                } else {
                                    writer.writeObject(entry.fields, level: 2)
                                }
                            }
                        }
                    }
                }
            }
        }
        return writer.output
    }
}

/// The field rules a cache must follow for MSAL Python to work with it.
enum SchemaRules {
    static let stringFields: Set<String> = [
        FieldName.credentialType, FieldName.secret, FieldName.homeAccountID, FieldName.environment,
        FieldName.clientID, FieldName.realm, FieldName.target, FieldName.tokenType, FieldName.keyID,
        FieldName.extCacheKey, FieldName.familyID, FieldName.localAccountID, FieldName.username,
        FieldName.authorityType, FieldName.accountSource,
    ]
    static let timeFields: Set<String> = [
        FieldName.cachedAt, FieldName.expiresOn, FieldName.extendedExpiresOn, FieldName.refreshOn,
        FieldName.lastModificationTime,
    ]

    static func check(_ fields: JSONObject, type: CredentialType, key: @autoclosure () -> String) throws(TokenCacheError) {
        for (name, value) in fields.storage {
            try checkField(name, value, isString: stringFields.contains(name), isTime: timeFields.contains(name), type: type, key: key())
        }
        try checkEntry(type: type, key: key(), expiresOn: fields[FieldName.expiresOn], target: fields[FieldName.target])
    }

    /// Checks one field's type.
    @inline(__always)
    static func checkField(_ name: String, _ value: JSONValue, isString: Bool, isTime: Bool, type: CredentialType, key: @autoclosure () -> String) throws(TokenCacheError) {
        if isString {
            switch value {
            case .string, .null: return
            default: throw failure(type, key, "field \"\(name)\" is \(value.typeName), but it must be a string")
            }
        }
        if isTime, PythonText.int(value) == nil {
            throw failure(type, key, "field \"\(name)\" is not a whole number of seconds")
        }
    }

    /// Checks what an entry as a whole must have.
    static func checkEntry(type: CredentialType, key: @autoclosure () -> String, expiresOn: JSONValue?, target: JSONValue?) throws(TokenCacheError) {
        guard type == .accessToken else { return }
        if expiresOn == nil {
            throw failure(type, key, "the access token has no \"expires_on\", which MSAL Python requires")
        }
        if target == .null {
            throw failure(type, key, "field \"target\" is null, but it must be a string")
        }
    }

    private static func failure(_ type: CredentialType, _ key: () -> String, _ problem: String) -> TokenCacheError {
        TokenCacheError(code: .invalidSchema, reason: "entry \"\(key())\" in section \"\(type)\": \(problem)")
    }
}

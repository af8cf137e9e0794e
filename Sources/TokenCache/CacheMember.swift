/// One top-level member of a cache document, whole: how a store that keeps entries apart
/// (a database row each) hands a cache over and gets it back.
package enum CacheMember: Sendable {
    /// A known section (AccessToken, RefreshToken, IdToken, Account, AppMetadata) and its
    /// entries in file order.
    case entries(CredentialType, [(key: String, fields: JSONObject)])
    /// Any other member (another SDK's section or value), kept as it is.
    case value(String, JSONValue)
}

extension CacheDocument {
    /// Builds a document from whole members, in order, checking every entry as loading a
    /// file does.
    init(members: [CacheMember]) throws(TokenCacheError) {
        for member in members {
            switch member {
            case .value(let name, let value):
                if CacheDocument.isKnown(name) {
                    throw TokenCacheError(code: .invalidSchema, reason: "section \"\(name)\" is \(value.typeName), but it must be an object")
                }
                appendOpaque(name, value)
            case .entries(let type, let entries):
                try withSection(type) { section throws(TokenCacheError) in
                    section.reserveCapacity(entries.count)
                    for (key, fields) in entries {
                        try SchemaRules.check(fields, type: type, key: key)
                        section.upsert(fields, forKey: key)
                    }
                }
            }
        }
    }

    /// The members in file order.
    var members: [CacheMember] {
        order.map { name in
            if let value = opaque[name] { return .value(name, value) }
            let section = section(CredentialType(rawValue: name))
            return .entries(section.type, section.entries.map { ($0.key.string, $0.value.fields) })
        }
    }
}

extension TokenCache {
    /// A cache holding `members`, in order.
    ///
    /// - Throws: ``TokenCacheError`` for an entry that breaks the schema, naming `location`.
    package convenience init(members: [CacheMember], location: String) throws(TokenCacheError) {
        self.init()
        let document: CacheDocument
        do {
            document = try CacheDocument(members: members)
        } catch {
            throw error.at(location)
        }
        mutate { current in
            current = document
            return ((), true)
        }
    }

    /// The cache's members, in file order.
    package var members: [CacheMember] {
        read { $0.members }
    }
}

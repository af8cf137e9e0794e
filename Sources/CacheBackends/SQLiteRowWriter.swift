import TokenCache

/// The row changes of the SQLite store, made inside a write transaction its caller holds.
struct SQLiteRowWriter {
    let connection: SQLiteConnection
    let codec: RowCodec

    /// Writes a token response's entries under the keys MSAL computes, each in place when
    /// its key exists (an upsert keeps the row's position in file order).
    func upsert(_ entries: [(CredentialType, JSONObject)]) throws -> CacheChange {
        try TokenResponseEntries.write(entries) { type, key, fields in try upsert(type, key: key, fields: fields) }
    }

    /// Writes one entry, creating its section at the end of the document if needed.
    func upsert(_ type: CredentialType, key: String, fields: JSONObject) throws {
        try ensureSection(type.rawValue)
        let columns = RowCodec.columns(of: fields)
        let body = try codec.body(.object(fields), section: type.rawValue, key: key)
        try connection.run("""
            INSERT INTO entries (credential_type, key, home_account_id, app_only, environment, client_id, realm, family_id, target, expires_on, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (credential_type, key) DO UPDATE SET
                home_account_id = excluded.home_account_id, app_only = excluded.app_only,
                environment = excluded.environment, client_id = excluded.client_id, realm = excluded.realm,
                family_id = excluded.family_id, target = excluded.target, expires_on = excluded.expires_on, body = excluded.body
            """, [
                .text(type.rawValue), .text(key), .text(columns.homeAccountID), .integer(columns.appOnly ? 1 : 0),
                .text(columns.environment), .text(columns.clientID), .text(columns.realm), .text(columns.familyID), .text(columns.target),
                columns.expiresOn.map(SQLiteValue.integer) ?? .null, .blob(body),
            ])
    }

    /// Adds a section name at the end of the document unless it is there.
    private func ensureSection(_ name: String) throws {
        try connection.run("INSERT INTO sections (name, position) VALUES (?, (SELECT ifnull(max(position), 0) + 1 FROM sections)) ON CONFLICT (name) DO NOTHING", [.text(name)])
    }

    /// Deletes one entry; returns whether it was there.
    func delete(_ reference: EntryReference) throws -> Bool {
        try connection.run("DELETE FROM entries WHERE credential_type = ? AND key = ?", [.text(reference.type.rawValue), .text(reference.key)])
        return connection.changes > 0
    }

    /// Deletes every access token whose `expires_on` is before `now`, in one statement.
    func deleteExpiredAccessTokens(now: Int64) throws -> [EntryReference] {
        try connection.strings("DELETE FROM entries WHERE credential_type = ? AND expires_on < ? RETURNING key", [.text(CredentialType.accessToken.rawValue), .integer(now)])
            .map { EntryReference(type: .accessToken, key: $0) }
    }

    /// Deletes every entry and section.
    func deleteAll() throws {
        try connection.run("DELETE FROM entries")
        try connection.run("DELETE FROM sections")
    }

    /// Writes a whole top-level member (an import or a merge): a value replaces the one of
    /// the same name; entries are upserted.
    func append(_ member: CacheMember) throws {
        switch member {
        case .value(let name, let value):
            let body = try codec.body(value, section: "", key: name)
            try connection.run("INSERT INTO sections (name, position, value) VALUES (?, (SELECT ifnull(max(position), 0) + 1 FROM sections), ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [.text(name), .blob(body)])
        case .entries(let type, let entries):
            try ensureSection(type.rawValue)
            for (key, fields) in entries { try upsert(type, key: key, fields: fields) }
        }
    }
}

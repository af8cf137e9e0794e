#if canImport(Glibc)
@preconcurrency import Glibc
#endif
package import Foundation
package import TokenCache

/// How cache entries become rows of the database stores (SQLite, PostgreSQL) and back.
///
/// An entry's row holds its lookup columns in the clear and its whole JSON (every field,
/// known or not) in `body`. In an encrypted store `body` is
/// `0x01 ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)` under the store's key, with the
/// row's section and key as associated data (after the store's ``label``), so a body
/// moved to another row, or to another kind of store, does not decrypt. A plain body is the
/// JSON text itself (it starts with `{`).
package struct RowCodec: Sendable {
    /// The store's key; `nil` for a plain store.
    package let key: SecretBytes?
    /// The database, for messages.
    package let location: String
    /// The kind of store, first in every row's associated data, such as `tokencache-sqlite v1`.
    package let label: String

    /// Creates a codec for a store's rows.
    package init(key: SecretBytes?, location: String, label: String) {
        self.key = key
        self.location = location
        self.label = label
    }

    static let sealedVersion: UInt8 = 1

    /// The columns an entry is found by.
    package struct Columns: Sendable, Equatable {
        package var homeAccountID: String?
        /// Whether `home_account_id` is JSON null (an app's own token), as opposed to
        /// missing or not a string (never matched).
        package var appOnly = false
        package var environment: String?
        package var clientID: String?
        package var realm: String?
        package var familyID: String?
        package var target: String?
        package var expiresOn: Int64?

        /// Columns as a row holds them.
        package init(homeAccountID: String? = nil, appOnly: Bool = false, environment: String? = nil, clientID: String? = nil, realm: String? = nil,
                     familyID: String? = nil, target: String? = nil, expiresOn: Int64? = nil) {
            self.homeAccountID = homeAccountID
            self.appOnly = appOnly
            self.environment = environment
            self.clientID = clientID
            self.realm = realm
            self.familyID = familyID
            self.target = target
            self.expiresOn = expiresOn
        }

        /// The names of the columns in which `other` differs.
        func differences(from other: Columns) -> [String] {
            var names: [String] = []
            if homeAccountID != other.homeAccountID || appOnly != other.appOnly { names.append("home_account_id") }
            if environment != other.environment { names.append("environment") }
            if clientID != other.clientID { names.append("client_id") }
            if realm != other.realm { names.append("realm") }
            if familyID != other.familyID { names.append("family_id") }
            if target != other.target { names.append("target") }
            if expiresOn != other.expiresOn { names.append("expires_on") }
            return names
        }
    }

    /// The lookup columns the row stores selected by, in this order after `key, body`:
    /// `home_account_id, app_only, environment, client_id, realm, family_id, target,
    /// expires_on`.
    package static let columnList = "home_account_id, app_only, environment, client_id, realm, family_id, target, expires_on"

    /// The lookup columns of an entry: string fields as they are; anything else NULL, which
    /// never matches a lookup (as in the in-memory indexes).
    package static func columns(of fields: JSONObject) -> Columns {
        var columns = Columns()
        switch fields[FieldName.homeAccountID] {
        case .string(let value)?: columns.homeAccountID = value
        case .null?: columns.appOnly = true
        default: break
        }
        columns.environment = fields.string(FieldName.environment)
        columns.clientID = fields.string(FieldName.clientID)
        columns.realm = fields.string(FieldName.realm)
        columns.familyID = fields.string(FieldName.familyID)
        columns.target = fields.string(FieldName.target)
        columns.expiresOn = fields[FieldName.expiresOn].flatMap(PythonText.int)
        return columns
    }

    /// The stored form of `value`, bound to its row: a `section` entry under `key`, or a
    /// top-level member (`section` empty, `key` its name).
    package func body(_ value: JSONValue, section: String, key: String) throws -> Data {
        var text = value.pythonJSONBytes
        defer { text.wipe() }
        guard let sealingKey = self.key else { return Data(text) }
        let nonce = try OpenSSL.randomBytes(EncryptedEnvelope.nonceLength)
        let binding = binding(section: section, key: key)
        return try binding.withUnsafeBytes { aad in
            try text.withUnsafeBytes { try OpenSSL.seal(key: sealingKey, nonce: nonce, aad: aad, plaintext: $0, header: [RowCodec.sealedVersion] + nonce) }
        }
    }

    /// Reads a stored body back; see ``body(_:section:key:)``.
    package func value(from stored: UnsafeRawBufferPointer, section: String, key: String) throws(CacheStorageError) -> JSONValue {
        let what = section.isEmpty ? "member \"\(key)\"" : "entry \"\(key)\" in section \"\(section)\""
        func damaged(_ problem: String) -> CacheStorageError {
            CacheStorageError(code: .damaged, location: location, reason: "\(what) \(problem). Restore the database from a backup, or remove the entry")
        }
        guard let openingKey = self.key else {
            guard stored.first == UInt8(ascii: "{") || section.isEmpty else { throw damaged("is not JSON (is it encrypted? then open the store with its key source)") }
            do {
                return try JSONValue(parsingRaw: stored)
            } catch {
                throw damaged("is not valid JSON: \(error.reason)")
            }
        }
        let headerLength = 1 + EncryptedEnvelope.nonceLength
        guard stored.count >= headerLength + EncryptedEnvelope.tagLength, stored[0] == RowCodec.sealedVersion else {
            throw damaged("is not encrypted in a form this version knows (it may have been written in the clear)")
        }
        let nonce = Array(stored[1..<headerLength])
        let plain = SecretBytes(copying: UnsafeRawBufferPointer(rebasing: stored[headerLength...]))
        let binding = binding(section: section, key: key)
        let opened: Bool
        do {
            opened = try binding.withUnsafeBytes { aad in try plain.withMutableBytes { try OpenSSL.openInPlace(key: openingKey, nonce: nonce, aad: aad, sealed: $0) } }
        } catch {
            throw damaged("could not be decrypted (\(error))")
        }
        guard opened else { throw damaged("failed its authentication check: it was changed, or moved from another row") }
        let parsed = plain.withBytes { bytes in
            Result { () throws(TokenCacheError) in try JSONValue(parsingRaw: UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - EncryptedEnvelope.tagLength)])) }
        }
        switch parsed {
        case .success(let value): return value
        case .failure(let error): throw damaged("decrypted to invalid JSON: \(error.reason)")
        }
    }

    /// An entry read back as its fields, checked against the lookup columns of the row it
    /// was found by. The columns are in the clear, and a reader selects rows by them, so a
    /// row moved to another user (or app, or tenant) or edited in the database must never be
    /// served: an encrypted body authenticates the fields the columns are computed from, and
    /// a plain one is checked the same way.
    package func fields(from stored: UnsafeRawBufferPointer, section: String, key: String, row columns: Columns) throws(CacheStorageError) -> JSONObject {
        let fields = try fields(from: stored, section: section, key: key)
        let differences = RowCodec.columns(of: fields).differences(from: columns)
        guard differences.isEmpty else {
            throw CacheStorageError(code: .damaged, location: location, reason: "entry \"\(key)\" in section \"\(section)\" does not match its row: the row's \(differences.joined(separator: ", ")) \(differences.count == 1 ? "is" : "are") not the entry's, so the row was moved to another account or app, or edited outside this library. It is not used. Restore the database from a backup, or remove the entry")
        }
        return fields
    }

    /// An entry read back as its fields.
    package func fields(from stored: UnsafeRawBufferPointer, section: String, key: String) throws(CacheStorageError) -> JSONObject {
        guard case .object(let fields) = try value(from: stored, section: section, key: key) else {
            throw CacheStorageError(code: .damaged, location: location, reason: "entry \"\(key)\" in section \"\(section)\" is not a JSON object. Restore the database from a backup or remove the entry")
        }
        return fields
    }

    /// The associated data that ties a sealed body to its row.
    private func binding(section: String, key: String) -> [UInt8] {
        Array(label.utf8) + [0] + Array(section.utf8) + [0] + Array(key.utf8)
    }
}

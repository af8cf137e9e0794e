import Foundation

/// How an encrypted database store (SQLite, PostgreSQL) records its key in its meta table:
/// `encryption` (`none` or `aes-256-gcm`), `key_source` (1 Secret Service, 2 passphrase, 3 key
/// file, 4 kernel keyring), `salt` and `scrypt` (`logN r p`) for a passphrase, and `key_check`, which tells a
/// wrong key from a damaged row (the same check value as the encrypted file's envelope).
package enum RowKeyMeta {
    /// A meta value as the store writes it.
    package enum Value: Sendable {
        case text(String)
        case integer(Int64)
        case blob([UInt8])
    }

    /// Reads meta values back by name; `nil` when a name is absent.
    package struct Reader {
        package let text: (String) throws -> String?
        package let integer: (String) throws -> Int64?
        package let blob: (String) throws -> [UInt8]?

        /// Creates a reader from the store's three typed lookups.
        package init(text: @escaping (String) throws -> String?, integer: @escaping (String) throws -> Int64?, blob: @escaping (String) throws -> [UInt8]?) {
            self.text = text
            self.integer = integer
            self.blob = blob
        }
    }

    /// A new store's key and the rows that describe it.
    package struct Created: Sendable {
        package var meta: [(String, Value)]
        var kind: EncryptedEnvelope.Source?
        package var salt: [UInt8]
        package var key: SecretBytes?
    }

    static let sealed = "aes-256-gcm"

    /// The meta rows for a new store (and its key, derived or made now).
    package static func create(_ keys: EncryptionKeys?) throws -> Created {
        guard let keys else { return Created(meta: [("encryption", .text("none"))], salt: [], key: nil) }
        let scrypt = EncryptedEnvelope.Scrypt()
        let salt = keys.derives ? try OpenSSL.randomBytes(16) : []
        let (kind, key) = try keys.newKey(salt: salt, scrypt: scrypt)
        var meta: [(String, Value)] = [
            ("encryption", .text(sealed)),
            ("key_source", .integer(Int64(kind.rawValue))),
            ("key_check", .blob(EncryptedEnvelope.keyCheck(for: key))),
        ]
        if keys.derives {
            meta.append(("salt", .blob(salt)))
            meta.append(("scrypt", .text("\(scrypt.logN) \(scrypt.r) \(scrypt.p)")))
        }
        return Created(meta: meta, kind: kind, salt: salt, key: key)
    }

    /// The key the store's rows are sealed with, checked against `key_check`; `nil` for a
    /// store in the clear. `how` names the store's SPEC form in messages (`sqlite:PATH`).
    ///
    /// - Throws: ``CacheStorageError`` `wrongKey` when the key source or key does not match
    ///   the store's, `keyUnavailable` when the key cannot be had.
    package static func key(from meta: Reader, keys: EncryptionKeys?, created: Created?, location: String, spec how: String) throws -> SecretBytes? {
        let encryption = try meta.text("encryption") ?? "none"
        switch (encryption, keys) {
        case ("none", nil):
            return nil
        case ("none", .some):
            throw CacheStorageError(code: .wrongKey, location: location, reason: "the database is not encrypted, but was opened with a key. Open it as \(how), or copy its content into an encrypted store")
        case (sealed, nil):
            throw CacheStorageError(code: .wrongKey, location: location, reason: "the database is encrypted. Open it with the key source it was written with: ?encrypt=keyring, ?encrypt=kernel, ?passphrase-env=VAR, ?passphrase-file=PATH or ?key-file=PATH")
        case (sealed, .some(let keys)):
            guard let storedSource = try meta.integer("key_source"),
                  let source = EncryptedEnvelope.Source(rawValue: UInt8(clamping: storedSource)) else {
                throw CacheStorageError(code: .damaged, location: location, reason: "the database's key description is missing or unknown. Restore it from a backup")
            }
            let salt = try meta.blob("salt") ?? []
            let key: SecretBytes
            if let created, created.kind == source, created.salt == salt, let made = created.key {
                key = made
            } else {
                key = try keys.key(stored: source, salt: salt, scrypt: try scrypt(try meta.text("scrypt"), location: location))
            }
            guard try meta.blob("key_check") == EncryptedEnvelope.keyCheck(for: key) else {
                throw CacheStorageError(code: .wrongKey, location: location, reason: "the key (\(source.name)) does not match the one the database was encrypted with. Check the passphrase or key")
            }
            return key
        default:
            throw CacheStorageError(code: .incompatible, location: location, reason: "the database uses encryption \"\(encryption)\", which this version does not know. Use a newer version")
        }
    }

    private static func scrypt(_ text: String?, location: String) throws -> EncryptedEnvelope.Scrypt? {
        guard let text else { return nil }
        let parts = text.split(separator: " ").compactMap { UInt32($0) }
        guard parts.count == 3 else {
            throw CacheStorageError(code: .damaged, location: location, reason: "the database's scrypt parameters are not three numbers. Restore it from a backup")
        }
        return try EncryptedEnvelope.Scrypt.checked(logN: parts[0], r: parts[1], p: parts[2], location: location, what: "the database")
    }
}

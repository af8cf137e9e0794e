#if canImport(Glibc)
@preconcurrency import Glibc
#endif
public import Foundation
public import TokenCache

/// Where an encrypted store's key comes from.
public enum EncryptionKeySource: Sendable, Equatable {
    /// A random 256-bit data key kept in the Secret Service keyring (the default), so no
    /// secret sits on disk.
    case keyring
    /// A passphrase read from an environment variable, stretched with scrypt.
    case passphraseEnvironment(String)
    /// A passphrase read from a file (its first line), stretched with scrypt.
    case passphraseFile(String)
    /// A raw 256-bit key: 32 bytes, or 64 hexadecimal digits, in a file that only its
    /// owner may read (mode 0600).
    case keyFile(String)
}

/// An MSAL cache encrypted with AES-256-GCM in the envelope of `EncryptedEnvelope`,
/// written atomically like ``FileStorage`` (and locked the same way by ``FileLock``).
///
/// Every write uses a fresh random nonce. A wrong key gives a ``CacheStorageError`` with
/// code `wrongKey` (CLI exit 77); a changed or damaged file gives `damaged` (exit 65).
/// Decrypted text lives in memory that is wiped when the cache lets it go; derived keys
/// are wiped when the store is released.
public final class EncryptedFileStorage: CacheStorage, @unchecked Sendable {
    // @unchecked: `cachedKey` is only touched while `lock` is held.
    /// The encrypted file's path.
    public let path: String
    /// Where the key comes from.
    public let keySource: EncryptionKeySource
    private let file: FileStorage
    private let keys: EncryptionKeys
    private let scrypt: EncryptedEnvelope.Scrypt
    private let lock = NSLock()
    /// The last key used, with the salt it was derived with (empty for underived keys).
    private var cachedKey: (salt: [UInt8], key: SecretBytes)?

    public var location: String { path }
    public var isEncrypted: Bool { true }
    /// Whether the key is had without another service: `false` for a key in the keyring.
    public var answersLocally: Bool { keySource != .keyring }

    /// Creates a store for the encrypted file at `path`.
    public init(path: String, keySource: EncryptionKeySource) {
        file = FileStorage(path: path)
        self.path = file.path
        self.keySource = keySource
        keys = EncryptionKeys(source: keySource, location: file.path)
        scrypt = EncryptedEnvelope.Scrypt()
    }

    private var sourceKind: EncryptedEnvelope.Source { keys.kind }

    public func load() throws -> Data? {
        guard var sealed = try file.loadWiping() else { return nil }
        let headerLength = try sealed.withUnsafeMutableBytes { bytes -> Int in
            let (envelope, headerLength) = try EncryptedEnvelope.parse(UnsafeRawBufferPointer(bytes), location: path)
            guard envelope.source == sourceKind else {
                throw CacheStorageError(code: .wrongKey, location: path, reason: "the cache is encrypted with \(envelope.source.name), but was opened with \(sourceKind.name). Open it with the key source it was written with")
            }
            let key = try key(salt: envelope.salt, scrypt: envelope.scrypt, creating: false)
            guard EncryptedEnvelope.keyCheck(for: key) == envelope.keyCheck else {
                throw CacheStorageError(code: .wrongKey, location: path, reason: "the key (\(sourceKind.name)) does not match the one the cache was encrypted with. Check the passphrase or key")
            }
            // Decrypted where it was read: the whole buffer is wiped when the cache lets go.
            guard try OpenSSL.openInPlace(key: key, nonce: envelope.nonce, aad: UnsafeRawBufferPointer(rebasing: bytes[..<headerLength]), sealed: UnsafeMutableRawBufferPointer(rebasing: bytes[headerLength...])) else {
                throw CacheStorageError(code: .damaged, location: path, reason: "the file was changed or is damaged (its authentication tag does not match). Restore it from a backup, or remove it and sign in again")
            }
            lock.withLock { cachedKey = (envelope.salt, key) }
            return headerLength
        }
        return sealed[(sealed.startIndex + headerLength)..<(sealed.endIndex - EncryptedEnvelope.tagLength)]
    }

    public func save(_ data: Data) throws {
        try save(data, nonce: try OpenSSL.randomBytes(EncryptedEnvelope.nonceLength), salt: nil)
    }

    /// Encrypts with a given nonce and salt: for golden test vectors only.
    func save(_ data: Data, nonce: [UInt8], salt fixedSalt: [UInt8]?) throws {
        let derives = sourceKind == .passphrase
        let salt: [UInt8]
        if let fixedSalt {
            salt = fixedSalt
        } else if let cached = lock.withLock({ cachedKey }) {
            salt = cached.salt
        } else {
            salt = derives ? try OpenSSL.randomBytes(16) : []
        }
        let key = try key(salt: salt, scrypt: derives ? scrypt : nil, creating: true)
        let envelope = EncryptedEnvelope(source: sourceKind, scrypt: derives ? scrypt : nil, salt: salt, keyCheck: EncryptedEnvelope.keyCheck(for: key), nonce: nonce)
        let header = envelope.header
        let sealed = try data.withUnsafeBytes { try OpenSSL.seal(key: key, nonce: nonce, aad: header, plaintext: $0) }
        try file.save(sealed)
        lock.withLock { cachedKey = (salt, key) }
    }

    public func changeToken() throws -> StorageChangeToken? { try file.changeToken() }
    public func remove() throws { try file.remove() }
    public func moveAside() throws -> String { try file.moveAside() }

    // MARK: - Keys

    private func key(salt: [UInt8], scrypt parameters: EncryptedEnvelope.Scrypt?, creating: Bool) throws -> SecretBytes {
        if let cached = lock.withLock({ cachedKey }), cached.salt == salt { return cached.key }
        return try keys.key(salt: salt, scrypt: parameters, creating: creating)
    }
}

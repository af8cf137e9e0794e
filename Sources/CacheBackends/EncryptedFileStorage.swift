#if canImport(Glibc)
@preconcurrency import Glibc
#endif
public import Foundation
public import TokenCache

/// Where an encrypted store's key comes from.
public enum EncryptionKeySource: Sendable, Equatable {
    /// A random 256-bit data key in the Secret Service keyring when it answers, else in the
    /// kernel keyring (the default of an encrypted file): encrypted at rest on a desktop and
    /// on a headless machine alike. A new store records which it used, and an existing one
    /// is always opened with the source it was written with.
    case automatic
    /// A random 256-bit data key kept in the Secret Service keyring, so no secret sits on
    /// disk. It survives reboots; it needs a D-Bus session with an unlocked keyring.
    case keyring
    /// A random 256-bit data key kept in the user's kernel keyring (`keyctl`): no D-Bus,
    /// daemon or desktop, never on disk. It is gone after a reboot, or once the persistent
    /// keyring has gone unused for its expiry (three days by default), and the store with it.
    case kernelKeyring
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
    /// The last key used, the kind of source it came from, and the salt it was derived with
    /// (empty for underived keys).
    private var cachedKey: (kind: EncryptedEnvelope.Source, salt: [UInt8], key: SecretBytes)?

    public var location: String { path }
    public var isEncrypted: Bool { true }
    /// Whether the key is had without another service: `false` for a key that may be in the
    /// Secret Service.
    public var answersLocally: Bool { keySource != .keyring && keySource != .automatic }

    /// Where the key of the file as last read or written came from (for
    /// ``EncryptionKeySource/automatic``: which keyring it chose), such as "a data key in
    /// the kernel keyring"; `nil` before the first read or write.
    public var keyOrigin: String? { lock.withLock { cachedKey?.kind.name } }

    /// Creates a store for the encrypted file at `path`.
    public init(path: String, keySource: EncryptionKeySource) {
        file = FileStorage(path: path)
        self.path = file.path
        self.keySource = keySource
        keys = EncryptionKeys(source: keySource, location: file.path)
        scrypt = EncryptedEnvelope.Scrypt()
    }

    public func load() throws -> Data? {
        guard var sealed = try file.loadWiping() else { return nil }
        let headerLength = try sealed.withUnsafeMutableBytes { bytes -> Int in
            let (envelope, headerLength) = try EncryptedEnvelope.parse(UnsafeRawBufferPointer(bytes), location: path)
            let key = try key(stored: envelope.source, salt: envelope.salt, scrypt: envelope.scrypt, check: envelope.keyCheck)
            guard EncryptedEnvelope.keyCheck(for: key) == envelope.keyCheck else {
                throw CacheStorageError(code: .wrongKey, location: path, reason: "the key (\(envelope.source.name)) does not match the one the cache was encrypted with. Check the passphrase or key")
            }
            // Decrypted where it was read: the whole buffer is wiped when the cache lets go.
            guard try OpenSSL.openInPlace(key: key, nonce: envelope.nonce, aad: UnsafeRawBufferPointer(rebasing: bytes[..<headerLength]), sealed: UnsafeMutableRawBufferPointer(rebasing: bytes[headerLength...])) else {
                throw CacheStorageError(code: .damaged, location: path, reason: "the file was changed or is damaged (its authentication tag does not match). Restore it from a backup, or remove it and sign in again")
            }
            lock.withLock { cachedKey = (envelope.source, envelope.salt, key) }
            return headerLength
        }
        return sealed[(sealed.startIndex + headerLength)..<(sealed.endIndex - EncryptedEnvelope.tagLength)]
    }

    public func save(_ data: Data) throws {
        try save(data, nonce: try OpenSSL.randomBytes(EncryptedEnvelope.nonceLength), salt: nil)
    }

    /// Encrypts with a given nonce and salt: for golden test vectors only.
    func save(_ data: Data, nonce: [UInt8], salt fixedSalt: [UInt8]?) throws {
        // The key of the file as read (the same source, salt and key), else a new one.
        let kind: EncryptedEnvelope.Source, salt: [UInt8], key: SecretBytes
        if let cached = lock.withLock({ cachedKey }), fixedSalt == nil || fixedSalt == cached.salt {
            (kind, salt) = (cached.kind, cached.salt)
            // The keyring's key (asking keeps it alive); the one in hand if the keyring
            // cannot answer now (a full quota): the file stays readable by this process.
            key = (try? keys.keyForWriting(kind: kind, held: cached.key)) ?? cached.key
        } else {
            salt = try fixedSalt ?? (keys.derives ? OpenSSL.randomBytes(16) : [])
            (kind, key) = try keys.newKey(salt: salt, scrypt: scrypt)
        }
        let derived = kind == .passphrase ? scrypt : nil
        let envelope = EncryptedEnvelope(source: kind, scrypt: derived, salt: salt, keyCheck: EncryptedEnvelope.keyCheck(for: key), nonce: nonce)
        let header = envelope.header
        let sealed = try data.withUnsafeBytes { try OpenSSL.seal(key: key, nonce: nonce, aad: header, plaintext: $0) }
        try file.save(sealed)
        lock.withLock { cachedKey = (kind, salt, key) }
    }

    /// Whether the file as it is now was written with a passphrase and a salt whose key this
    /// store has not derived yet: scrypt takes about a tenth of a second, which a writer
    /// spends without the lock rather than while every other writer waits for it.
    public func loadWouldDeriveKey() -> Bool {
        guard keys.derives, let prefix = try? file.loadPrefix(EncryptedEnvelope.longestHeaderAndTag),
              let (envelope, _) = try? prefix.withUnsafeBytes({ try EncryptedEnvelope.parse($0, location: path) }),
              envelope.source == .passphrase else { return false }
        return lock.withLock { cachedKey.map { $0.kind != .passphrase || $0.salt != envelope.salt } ?? true }
    }

    public func changeToken() throws -> StorageChangeToken? { try file.changeToken() }
    public func remove() throws { try file.remove() }
    public func moveAside(reason: String) throws -> String { try file.moveAside(reason: reason) }

    /// Whether `error` is ``CacheStorageError/Code/keyLost``: the file's random data key is
    /// gone (a kernel keyring's after a reboot), so the file can never be decrypted again.
    public func isKeyLost(_ error: any Error) -> Bool { (error as? CacheStorageError)?.code == .keyLost }

    // MARK: - Keys

    /// The key of a file written with `stored`, `salt` and the key check `check`: the one in
    /// hand when it is that file's (a passphrase is not stretched again), else from the source.
    private func key(stored: EncryptedEnvelope.Source, salt: [UInt8], scrypt parameters: EncryptedEnvelope.Scrypt?, check: [UInt8]) throws -> SecretBytes {
        if let cached = lock.withLock({ cachedKey }), cached.kind == stored, cached.salt == salt,
           EncryptedEnvelope.keyCheck(for: cached.key) == check {
            return cached.key
        }
        return try keys.key(stored: stored, salt: salt, scrypt: parameters)
    }
}

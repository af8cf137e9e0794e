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

/// An MSAL cache encrypted with AES-256-GCM in the envelope of ``EncryptedEnvelope``,
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
    private let keyring: KeyringDataKeys?
    private let scrypt: EncryptedEnvelope.Scrypt
    private let lock = NSLock()
    /// The last key used, with the salt it was derived with (empty for underived keys).
    private var cachedKey: (salt: [UInt8], key: SecretBytes)?

    public var location: String { path }
    public var isEncrypted: Bool { true }

    /// Creates a store for the encrypted file at `path`.
    public init(path: String, keySource: EncryptionKeySource) {
        file = FileStorage(path: path)
        self.path = file.path
        self.keySource = keySource
        keyring = keySource == .keyring ? KeyringDataKeys(cachePath: file.path) : nil
        scrypt = EncryptedEnvelope.Scrypt()
    }

    private var sourceKind: EncryptedEnvelope.Source {
        switch keySource {
        case .keyring: return .keyring
        case .passphraseEnvironment, .passphraseFile: return .passphrase
        case .keyFile: return .keyFile
        }
    }

    public func load() throws -> Data? {
        guard var sealed = try file.loadWiping() else { return nil }
        let headerLength = try sealed.withUnsafeMutableBytes { bytes -> Int in
            let (envelope, headerLength) = try EncryptedEnvelope.parse(UnsafeRawBufferPointer(bytes), location: path)
            guard envelope.source == sourceKind else {
                throw CacheStorageError(code: .wrongKey, location: path, reason: "the cache is encrypted with \(envelope.source.name), but was opened with \(sourceKind.name). Open it with the key source it was written with, or use tokencache rekey")
            }
            let key = try key(salt: envelope.salt, scrypt: envelope.scrypt, creating: false)
            guard EncryptedEnvelope.keyCheck(for: key) == envelope.keyCheck else {
                throw CacheStorageError(code: .wrongKey, location: path, reason: "the key (\(sourceKind.name)) does not match the one the cache was encrypted with. Check the passphrase or key, or use tokencache rekey with the right one")
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
        switch keySource {
        case .keyring:
            return try keyring!.dataKey(creating: creating)
        case .keyFile(let keyPath):
            return try EncryptedFileStorage.readKeyFile(keyPath)
        case .passphraseEnvironment(let variable):
            guard let value = getenv(variable) else {
                throw CacheStorageError(code: .keyUnavailable, location: path, reason: "the passphrase variable \(variable) is not set. Export it, or choose another key source")
            }
            let passphrase = SecretBytes(copying: UnsafeRawBufferPointer(start: value, count: strlen(value)))
            return try derive(passphrase, salt: salt, parameters ?? scrypt)
        case .passphraseFile(let passphrasePath):
            let passphrase = try EncryptedFileStorage.readPassphraseFile(passphrasePath)
            return try derive(passphrase, salt: salt, parameters ?? scrypt)
        }
    }

    private func derive(_ passphrase: SecretBytes, salt: [UInt8], _ parameters: EncryptedEnvelope.Scrypt) throws -> SecretBytes {
        guard passphrase.count > 0 else {
            throw CacheStorageError(code: .keyUnavailable, location: path, reason: "the passphrase is empty. Set a non-empty passphrase")
        }
        return try OpenSSL.scrypt(passphrase: passphrase, salt: salt, logN: parameters.logN, r: parameters.r, p: parameters.p)
    }

    /// Reads a file that holds secret material, refusing one others may read.
    static func readSecretFile(_ path: String, what: String) throws -> SecretBytes {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw CacheStorageError(code: .keyUnavailable, location: path, reason: "the \(what) cannot be read (\(String(cString: strerror(errno)))). Check the path")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw CacheStorageError(code: .insecurePath, location: path, reason: "the \(what) must be a regular file of yours that only you can read; run chmod 600 on it")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw POSIX.error(errno, path, "open the \(what)") }
        defer { close(fd) }
        let size = Int(info.st_size)
        guard size <= 4096 else {
            throw CacheStorageError(code: .keyUnavailable, location: path, reason: "the \(what) is larger than 4 KiB, so it is not a key or passphrase file")
        }
        let buffer = SecretBytes(count: size)
        let got = buffer.withMutableBytes { read(fd, $0.baseAddress, size) }
        guard got == size else { throw POSIX.error(errno, path, "read the \(what)") }
        return buffer
    }

    static func readKeyFile(_ path: String) throws -> SecretBytes {
        let raw = try readSecretFile(path, what: "key file")
        if raw.count == 32 { return raw }
        // 64 hexadecimal digits, with an optional trailing newline.
        let key: SecretBytes? = raw.withBytes { bytes in
            var digits = bytes[...]
            while let last = digits.last, last == 0x0A || last == 0x0D { digits = digits.dropLast() }
            guard digits.count == 64 else { return nil }
            let key = SecretBytes(count: 32)
            let valid = key.withMutableBytes { out -> Bool in
                for index in 0..<32 {
                    guard let high = hexValue(digits[digits.startIndex + 2 * index]), let low = hexValue(digits[digits.startIndex + 2 * index + 1]) else { return false }
                    out[index] = high << 4 | low
                }
                return true
            }
            return valid ? key : nil
        }
        guard let key else {
            throw CacheStorageError(code: .keyUnavailable, location: path, reason: "a key file must hold 32 bytes or 64 hexadecimal digits; generate one with: head -c 32 /dev/urandom > KEYFILE && chmod 600 KEYFILE")
        }
        return key
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static func readPassphraseFile(_ path: String) throws -> SecretBytes {
        let raw = try readSecretFile(path, what: "passphrase file")
        // The first line, without its line break.
        return raw.withBytes { bytes in
            let end = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) ?? bytes.count
            return SecretBytes(copying: bytes[..<end])
        }
    }
}

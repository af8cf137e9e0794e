#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation

/// Gets the 256-bit key an encrypted store uses from its ``EncryptionKeySource``: a random
/// data key in the Secret Service or the kernel keyring, a passphrase stretched with
/// scrypt, or a raw key file.
package struct EncryptionKeys: Sendable {
    let source: EncryptionKeySource
    /// The store the key is for, for messages (and, for the keyrings, the key's name).
    let location: String

    package init(source: EncryptionKeySource, location: String) {
        self.source = source
        self.location = location
    }

    /// The kind of key a new store records: `nil` for ``EncryptionKeySource/automatic``,
    /// which decides when it makes the key.
    var kind: EncryptedEnvelope.Source? {
        switch source {
        case .automatic: return nil
        case .keyring: return .keyring
        case .kernelKeyring: return .kernelKeyring
        case .passphraseEnvironment, .passphraseFile: return .passphrase
        case .keyFile: return .keyFile
        }
    }

    /// Whether the key is derived from a passphrase (and so needs a salt).
    var derives: Bool { kind == .passphrase }

    /// How the source is named in messages.
    var name: String { kind?.name ?? "a data key in the Secret Service or the kernel keyring" }

    /// The key of a store written with `stored`. A passphrase is stretched with `scrypt`
    /// and `salt`.
    ///
    /// - Throws: ``CacheStorageError`` `wrongKey` when this source cannot open a store of
    ///   that kind, `keyLost` when its random data key is gone.
    func key(stored: EncryptedEnvelope.Source, salt: [UInt8], scrypt parameters: EncryptedEnvelope.Scrypt?) throws -> SecretBytes {
        let opens = kind.map { $0 == stored } ?? (stored == .keyring || stored == .kernelKeyring)
        guard opens else {
            throw CacheStorageError(code: .wrongKey, location: location, reason: "the cache is encrypted with \(stored.name), but was opened with \(name). Open it with the key source it was written with")
        }
        switch stored {
        case .keyring:
            do {
                return try KeyringDataKeys(cachePath: location).dataKey(creating: false)
            } catch let error as CacheStorageError where error.code == .unavailable && source == .automatic {
                throw CacheStorageError(code: .keyUnavailable, location: location, reason: "the cache's data key is in the Secret Service keyring, where it was written, and no Secret Service answers here (\(error.reason)). Open it where the keyring runs, or rekey it there to ?key=kernel or a passphrase")
            }
        case .kernelKeyring:
            return try KernelDataKeys(location: location).dataKey(creating: false)
        case .passphrase, .keyFile:
            return try fixedKey(salt: salt, scrypt: parameters)
        }
    }

    /// The key of a new store and the kind it records; a random data key is made and kept.
    /// ``EncryptionKeySource/automatic`` keeps it in the Secret Service when one answers,
    /// else in the kernel keyring.
    func newKey(salt: [UInt8], scrypt parameters: EncryptedEnvelope.Scrypt?) throws -> (kind: EncryptedEnvelope.Source, key: SecretBytes) {
        switch source {
        case .automatic:
            // The kernel keyring only where no Secret Service can answer: a locked or failing
            // one is an error to fix, not a reason to make a key that a reboot loses.
            if KeyringDataKeys.serviceMayAnswer {
                switch KeyringStorage.diagnose()?.problem {
                case nil, .locked?, .noDefaultCollection?, .failed?:
                    return (.keyring, try KeyringDataKeys(cachePath: location).dataKey(creating: true))
                case .noSessionBus?, .noSecretService?, .libsecretMissing?:
                    break
                }
            }
            return (.kernelKeyring, try KernelDataKeys(location: location).dataKey(creating: true))
        case .keyring:
            return (.keyring, try KeyringDataKeys(cachePath: location).dataKey(creating: true))
        case .kernelKeyring:
            return (.kernelKeyring, try KernelDataKeys(location: location).dataKey(creating: true))
        case .passphraseEnvironment, .passphraseFile:
            return (.passphrase, try fixedKey(salt: salt, scrypt: parameters))
        case .keyFile:
            return (.keyFile, try fixedKey(salt: salt, scrypt: parameters))
        }
    }

    /// The key a writer that holds `held` (of a file written with `kind`) writes with: for a
    /// data key in the kernel keyring, the keyring's, asked for on every write so that the
    /// persistent keyring's expiry starts again, and put back if the keyring lost it; else
    /// `held`.
    func keyForWriting(kind: EncryptedEnvelope.Source, held: SecretBytes) throws -> SecretBytes {
        guard kind == .kernelKeyring else { return held }
        return try KernelDataKeys(location: location).keyForWriting(held: held)
    }

    /// The key of a passphrase or key file (the default scrypt parameters when `nil`).
    private func fixedKey(salt: [UInt8], scrypt parameters: EncryptedEnvelope.Scrypt?) throws -> SecretBytes {
        switch source {
        case .keyFile(let keyPath):
            return try EncryptionKeys.readKeyFile(keyPath)
        case .passphraseEnvironment(let variable):
            guard let value = getenv(variable) else {
                throw CacheStorageError(code: .keyUnavailable, location: location, reason: "the passphrase variable \(variable) is not set. Export it, or choose another key source")
            }
            let passphrase = SecretBytes(copying: UnsafeRawBufferPointer(start: value, count: strlen(value)))
            return try derive(passphrase, salt: salt, parameters ?? EncryptedEnvelope.Scrypt())
        case .passphraseFile(let passphrasePath):
            let passphrase = try EncryptionKeys.readPassphraseFile(passphrasePath)
            return try derive(passphrase, salt: salt, parameters ?? EncryptedEnvelope.Scrypt())
        case .automatic, .keyring, .kernelKeyring:
            throw CacheStorageError(code: .wrongKey, location: location, reason: "the cache is encrypted with a passphrase or key file, but was opened with \(name). Open it with the key source it was written with")
        }
    }

    private func derive(_ passphrase: SecretBytes, salt: [UInt8], _ parameters: EncryptedEnvelope.Scrypt) throws -> SecretBytes {
        guard passphrase.count > 0 else {
            throw CacheStorageError(code: .keyUnavailable, location: location, reason: "the passphrase is empty. Set a non-empty passphrase")
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

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import TokenCache

/// The data keys of encrypted stores kept in the kernel keyring: one random 256-bit key per
/// cache, a key of type `user` named `tokencache:data-key:<absolute path or URL>` in the
/// user's persistent keyring (the user keyring where the kernel has none). It needs no
/// D-Bus, daemon or desktop and is never written to disk, so it is gone after a reboot, and
/// once the persistent keyring has gone unused for its expiry (three days by default).
struct KernelDataKeys: Sendable {
    /// The cache the key is for, as messages name it.
    let location: String
    /// The key's name in the keyring.
    let description: String

    init(location: String) {
        self.location = location
        description = KernelDataKeys.description(for: location)
    }

    /// The name of the key of the cache at `location`: its absolute path, normalized as
    /// Python's `os.path.normpath` does (`.`, `..` and repeated slashes removed; links are
    /// not followed), or a URL as it is, so that two caches never share a key. The Python
    /// module names it the same way.
    static func description(for location: String) -> String {
        var name = location
        if !name.contains("://") {
            if !name.hasPrefix("/") { name = FileManager.default.currentDirectoryPath + "/" + name }
            name = normalized(name)
        }
        // A description may have 4,095 bytes; a longer name is replaced by its digest.
        if name.utf8.count > 3_900 {
            name = "sha256:" + SHA256.hexHash(Array(name.utf8))
        }
        return "tokencache:data-key:" + name
    }

    /// An absolute path as Python's `os.path.normpath` writes it.
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
            } else {
                parts.append(part)
            }
        }
        // POSIX lets exactly two leading slashes mean something else, so Python keeps them.
        let root = path.hasPrefix("//") && !path.hasPrefix("///") ? "//" : "/"
        return root + parts.joined(separator: "/")
    }

    /// The cache's key; with `creating`, a new random one is made when there is none.
    ///
    /// - Throws: ``CacheStorageError`` `keyLost` when the key of an existing cache is gone,
    ///   `unavailable` when the kernel refuses the keyring (a seccomp profile that blocks
    ///   `keyctl`, a full quota).
    func dataKey(creating: Bool) throws(CacheStorageError) -> SecretBytes {
        try checked {
            if let key = try stored() { return key }
            guard creating else {
                throw CacheStorageError(code: .keyLost, location: location, reason: "the data key in the kernel keyring is gone, as it is after a reboot or once the keyring went unused for its expiry (or the cache was written by another user or container, whose keyring this is not); the cache cannot be decrypted. Start it afresh (recoverLostKey moves it aside; users sign in again) or open it where its key is; a cache that must survive reboots needs a passphrase or key file (rekey it beforehand)")
            }
            let key: SecretBytes
            do {
                key = try OpenSSL.randomKey()
            } catch {
                throw CacheStorageError(code: .ioFailure, location: location, reason: "the random generator failed, so no data key was made. Retry")
            }
            return try place(key)
        }
    }

    /// The key to write with, for a writer that holds `held`: the keyring's (asking for it
    /// resets the persistent keyring's expiry, so a long-running writer keeps it alive), or
    /// `held` put back when the keyring lost it meanwhile.
    func keyForWriting(held: SecretBytes) throws(CacheStorageError) -> SecretBytes {
        try checked { try stored() ?? place(held) }
    }

    /// The key in the keyring, or `nil`; asking resets the persistent keyring's expiry.
    private func stored() throws -> SecretBytes? {
        let keyring = try KernelKeyring.persistentKeyring().id
        guard let id = try KernelKeyring.search(keyring, description: description) else { return nil }
        return try KernelKeyring.read(id, length: 32)
    }

    /// Puts `key` in the keyring unless another thread or process put one there first, and
    /// returns the one that is there.
    private func place(_ key: SecretBytes) throws -> SecretBytes {
        let keyring = try KernelKeyring.persistentKeyring().id
        // Made in this thread's keyring and moved only if nobody made one meanwhile:
        // add_key straight into the shared keyring would replace another's key.
        let staged = try KernelKeyring.addPrivate(description: description, payload: key)
        switch try KernelKeyring.moveIfAbsent(staged, from: KernelKeyring.threadKeyring, to: keyring) {
        case true?:
            return key
        case false?:
            KernelKeyring.unlink(staged, from: KernelKeyring.threadKeyring)
        case nil:
            // A kernel without KEYCTL_MOVE (before 5.1): added directly, unless one
            // appeared meanwhile (a race this kernel gives no way to close).
            KernelKeyring.unlink(staged, from: KernelKeyring.threadKeyring)
            if try stored() == nil {
                _ = try KernelKeyring.addPrivate(description: description, payload: key, to: keyring)
                return key
            }
        }
        if let winner = try stored() { return winner }
        throw CacheStorageError(code: .unavailable, location: location, reason: "another process made this cache's data key in the kernel keyring and it was gone again at once. Retry")
    }

    /// Runs `body`, turning the keyring's refusals into ``CacheStorageError``s.
    private func checked<R>(_ body: () throws -> R) throws(CacheStorageError) -> R {
        do {
            return try body()
        } catch let failure as KernelKeyring.Failure where failure.errno == KernelKeyring.wrongLength {
            throw CacheStorageError(code: .keyUnavailable, location: location, reason: "the kernel keyring holds a key named \(description) that is not a 32-byte data key, so it was not made by this library. Remove it (keyctl purge user NAME) if nothing else uses it")
        } catch let failure as KernelKeyring.Failure {
            throw KernelDataKeys.unusable(failure, location: location)
        } catch let error as CacheStorageError {
            throw error
        } catch {
            throw CacheStorageError(code: .ioFailure, location: location, reason: "\(error)")
        }
    }

    /// Why the kernel keyring cannot be used, and what to do.
    static func unusable(_ failure: KernelKeyring.Failure, location: String) -> CacheStorageError {
        switch failure.errno {
        case EDQUOT:
            return CacheStorageError(code: .unavailable, location: location, reason: "this user's kernel keyring quota is full (\(failure.message)); remove unused keys (keyctl show @u) or raise /proc/sys/kernel/keys/maxkeys and maxbytes", errno: failure.errno)
        default:
            return CacheStorageError(code: .unavailable, location: location, reason: "the kernel keyring cannot be used here (\(failure.message)), as in a container whose seccomp profile blocks keyctl. Allow keyctl and add_key, or use a passphrase or key file", errno: failure.errno)
        }
    }
}

/// Whether this process can keep data keys in the kernel keyring, and for how long (for
/// diagnostics such as `tokencache doctor`).
public struct KernelKeyringStatus: Sendable {
    /// Why the kernel keyring cannot be used, or `nil` when it can.
    public var problem: CacheStorageError?
    /// Whether keys go to the user's persistent keyring (`false`: the user keyring, which
    /// lives only while one of the user's processes runs).
    public var isPersistent: Bool
    /// How long the persistent keyring lives after its last use, in seconds.
    public var expirySeconds: Int?

    /// Where keys are kept and for how long, in words.
    public var summary: String {
        guard isPersistent else { return "the user keyring: keys last while one of this user's processes runs" }
        let days = expirySeconds.map { $0 % 86_400 == 0 ? "\($0 / 86_400) days" : "\($0) s" } ?? "its expiry"
        return "the persistent keyring of uid \(geteuid()): keys last \(days) after the last use"
    }

    /// Asks the kernel for this user's persistent keyring and searches it once.
    public static func probe() -> KernelKeyringStatus {
        do {
            let keyring = try KernelKeyring.persistentKeyring()
            _ = try KernelKeyring.search(keyring.id, description: "tokencache:probe")
            return KernelKeyringStatus(problem: nil, isPersistent: keyring.isPersistent, expirySeconds: KernelKeyring.persistentExpiry)
        } catch {
            return KernelKeyringStatus(problem: KernelDataKeys.unusable(error, location: "kernel keyring"), isPersistent: false, expirySeconds: nil)
        }
    }
}

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

    /// The name of the key of the cache at `location`: its absolute path (a URL as it is),
    /// so that two caches never share a key. The Python module names it the same way.
    static func description(for location: String) -> String {
        var name = location
        if !name.contains("://"), !name.hasPrefix("/") {
            name = FileManager.default.currentDirectoryPath + "/" + name
        }
        // A description may have 4,095 bytes; a longer name is replaced by its digest.
        if name.utf8.count > 3_900 {
            name = "sha256:" + SHA256.hash(Array(name.utf8)).map { String(format: "%02x", $0) }.joined()
        }
        return "tokencache:data-key:" + name
    }

    /// The cache's key; with `creating`, a new random one is made when there is none.
    ///
    /// - Throws: ``CacheStorageError`` `keyLost` when the key of an existing cache is gone,
    ///   `unavailable` when the kernel refuses the keyring (a seccomp profile that blocks
    ///   `keyctl`, a full quota).
    func dataKey(creating: Bool) throws(CacheStorageError) -> SecretBytes {
        do {
            let keyring = try KernelKeyring.persistentKeyring().id
            if let id = try KernelKeyring.search(keyring, description: description), let key = try KernelKeyring.read(id, length: 32) {
                return key
            }
            guard creating else {
                throw CacheStorageError(code: .keyLost, location: location, reason: "the data key in the kernel keyring is gone, as it is after a reboot (or once the persistent keyring expired, or in another user's session); the cache cannot be decrypted. Sign in again, or rekey beforehand to a passphrase if it must survive reboots")
            }
            let key: SecretBytes
            do {
                key = try OpenSSL.randomKey()
            } catch {
                throw CacheStorageError(code: .ioFailure, location: location, reason: "the random generator failed, so no data key was made. Retry")
            }
            // Made in this process's keyring and moved only if no other process made one
            // meanwhile; else that one is the key.
            let made = try KernelKeyring.addPrivate(description: description, payload: key)
            if try KernelKeyring.moveIfAbsent(made, from: KernelKeyring.processKeyring, to: keyring) { return key }
            KernelKeyring.unlink(made, from: KernelKeyring.processKeyring)
            if let id = try KernelKeyring.search(keyring, description: description), let winner = try KernelKeyring.read(id, length: 32) {
                return winner
            }
            throw CacheStorageError(code: .unavailable, location: location, reason: "another process made this cache's data key in the kernel keyring and it was gone again at once. Retry")
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

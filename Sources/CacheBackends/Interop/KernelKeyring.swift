#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CKeyctl
import Foundation

/// The kernel's key retention service (keyrings(7)), through the `keyctl` and `add_key`
/// system calls: no libkeyutils, no D-Bus, no daemon. Keys are named by `Int32` serials;
/// no C type leaves this file.
///
/// Failures are `errno` values in ``Failure``; the caller words them for its store.
enum KernelKeyring {
    /// A refused call and its `errno`.
    struct Failure: Error {
        let call: String
        let errno: Int32
        var message: String { "\(call): \(String(cString: strerror(errno)))" }
    }

    // keyctl operations (linux/keyctl.h).
    private static let setPermissions: Int32 = 5
    private static let unlinkOperation: Int32 = 9
    private static let searchOperation: Int32 = 10
    private static let readOperation: Int32 = 11
    private static let getPersistent: Int32 = 22
    private static let moveOperation: Int32 = 30
    private static let moveExclusive: UInt = 1

    /// The calling thread's own keyring (created on first use): where a new key is made
    /// before it is moved, so that threads making one at once never share it.
    static let threadKeyring: Int32 = -1
    /// The calling process's own keyring (created on first use).
    static let processKeyring: Int32 = -2
    /// The user's keyring, shared by the user's processes while any of them runs.
    static let userKeyring: Int32 = -4

    /// The possessor may do everything, the user may see that the key exists; nobody else
    /// anything (`KEY_POS_ALL | KEY_USR_VIEW`).
    static let possessorOnly: UInt32 = 0x3f01_0000

    /// Where a data key lives: the user's persistent keyring (linked into this process's
    /// keyring, so its keys are possessed), or the user keyring where the kernel has no
    /// persistent keyrings.
    static func persistentKeyring() throws(Failure) -> (id: Int32, isPersistent: Bool) {
        let id = ckeyctl(getPersistent, UInt(bitPattern: -1), argument(processKeyring), 0, 0)
        if id >= 0 { return (Int32(truncatingIfNeeded: id), true) }
        let code = errno
        guard code == EOPNOTSUPP else { throw Failure(call: "keyctl(KEYCTL_GET_PERSISTENT)", errno: code) }
        return (userKeyring, false)
    }

    /// The key of type `user` named `description` in `keyring` (or a keyring it links),
    /// or `nil` when there is none.
    static func search(_ keyring: Int32, description: String) throws(Failure) -> Int32? {
        let id = "user".withCString { type in
            description.withCString { name in
                ckeyctl(searchOperation, argument(keyring), UInt(bitPattern: type), UInt(bitPattern: name), 0)
            }
        }
        if id >= 0 { return Int32(truncatingIfNeeded: id) }
        let code = errno
        // ENOKEY: no such key; EKEYEXPIRED/EKEYREVOKED: one that can no longer be used.
        if code == ENOKEY || code == EKEYEXPIRED || code == EKEYREVOKED { return nil }
        throw Failure(call: "keyctl(KEYCTL_SEARCH)", errno: code)
    }

    /// The payload of key `id`: `nil` when the key is gone, `.wrongLength` when it does not
    /// hold `length` bytes.
    static func read(_ id: Int32, length: Int) throws(Failure) -> SecretBytes? {
        let payload = SecretBytes(count: length)
        let size = payload.withMutableBytes { ckeyctl(readOperation, argument(id), UInt(bitPattern: $0.baseAddress), UInt(length), 0) }
        if size < 0 {
            let code = errno
            if code == ENOKEY || code == EKEYEXPIRED || code == EKEYREVOKED { return nil }
            throw Failure(call: "keyctl(KEYCTL_READ)", errno: code)
        }
        guard size == length else { throw Failure(call: "keyctl(KEYCTL_READ)", errno: wrongLength) }
        return payload
    }

    /// The `errno` of ``Failure`` for a key that does not hold the expected number of bytes.
    static let wrongLength: Int32 = EBADMSG

    /// Adds a key of type `user` named `description` holding `payload` to `keyring` (this
    /// thread's by default), readable only by its possessors; returns its serial.
    static func addPrivate(description: String, payload: SecretBytes, to keyring: Int32 = threadKeyring) throws(Failure) -> Int32 {
        let id = payload.withBytes { bytes in
            ckeyctl_add_key("user", description, bytes.baseAddress, bytes.count, keyring)
        }
        guard id >= 0 else { throw Failure(call: "add_key", errno: errno) }
        guard ckeyctl(setPermissions, argument(id), UInt(possessorOnly), 0, 0) == 0 else {
            let code = errno
            unlink(id, from: keyring)
            throw Failure(call: "keyctl(KEYCTL_SETPERM)", errno: code)
        }
        return id
    }

    /// Moves key `id` from `source` to `destination` unless `destination` already holds a
    /// key of the same type and name: `false` then, and the key stays where it was. This is
    /// what makes creating a shared key race-free: `add_key` would replace the other's.
    /// `nil` on a kernel without `KEYCTL_MOVE` (before 5.1).
    static func moveIfAbsent(_ id: Int32, from source: Int32, to destination: Int32) throws(Failure) -> Bool? {
        if ckeyctl(moveOperation, argument(id), argument(source), argument(destination), moveExclusive) == 0 { return true }
        let code = errno
        if code == EEXIST { return false }
        if code == EOPNOTSUPP || code == EINVAL { return nil }
        throw Failure(call: "keyctl(KEYCTL_MOVE)", errno: code)
    }

    /// Unlinks key `id` from `keyring` (a key no keyring links is destroyed).
    static func unlink(_ id: Int32, from keyring: Int32) {
        _ = ckeyctl(unlinkOperation, argument(id), argument(keyring), 0, 0)
    }

    /// How long the persistent keyring lives after its last use, in seconds
    /// (`/proc/sys/kernel/keys/persistent_keyring_expiry`), when the kernel says.
    static var persistentExpiry: Int? {
        (try? String(contentsOfFile: "/proc/sys/kernel/keys/persistent_keyring_expiry", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// A key serial as a system call argument (sign-extended, as the kernel reads it back).
    private static func argument(_ value: Int32) -> UInt {
        UInt(bitPattern: Int(value))
    }
}

import Foundation

/// The data keys of encrypted files, kept in the Secret Service keyring.
struct KeyringDataKeys: Sendable {
    let cachePath: String

    func dataKey(creating: Bool) throws -> SecretBytes {
        throw CacheStorageError(code: .unavailable, location: cachePath, reason: "keyring data keys are not available yet; use ?passphrase-env=VAR, ?passphrase-file=PATH or ?key-file=PATH")
    }
}

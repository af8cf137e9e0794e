import Foundation
import TokenCache

/// The data keys of encrypted files, kept in the Secret Service keyring: one random
/// 256-bit key per cache path (schema `io.tokencache.data-key`, attribute `path`).
struct KeyringDataKeys: Sendable {
    let cachePath: String

    private var storage: KeyringStorage {
        KeyringStorage(profile: KeyringProfile(schema: "io.tokencache.data-key", attributes: ["path": cachePath], label: "tokencache data key for \(cachePath)", encoding: .base64),
                       signalPath: KeyringDataKeys.signalPath(for: cachePath))
    }

    /// Where the keyring item's signal file goes: beside a cache file; for a cache that is
    /// not a file (a `postgres://` URL), in the user's cache folder under the SHA-256 of the
    /// URL, never a path made of the URL (which would create folders in the current one).
    static func signalPath(for cachePath: String) -> String {
        guard cachePath.contains("://") else { return cachePath + ".keysignal" }
        let digest = SHA256.hexHash(Array(cachePath.utf8))
        let cacheHome = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "~/.cache"
        return "\(cacheHome)/tokencache/key-signals/\(digest).keysignal"
    }

    /// Whether a Secret Service may answer in this session: there is a session bus address,
    /// the standard bus socket in `XDG_RUNTIME_DIR`, or a display D-Bus could autolaunch a
    /// bus for. Where none is, asking libsecret would only fail.
    static var serviceMayAnswer: Bool {
        let environment = ProcessInfo.processInfo.environment
        func set(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if set("DBUS_SESSION_BUS_ADDRESS") != nil || set("DISPLAY") != nil { return true }
        return set("XDG_RUNTIME_DIR").map { FileManager.default.fileExists(atPath: $0 + "/bus") } ?? false
    }

    /// The cache's key; a new random one is stored when there is none and `creating` is set.
    func dataKey(creating: Bool) throws -> SecretBytes {
        if var stored = try storage.load() {
            defer { stored.wipe() }
            guard stored.count == 32 else {
                throw CacheStorageError(code: .keyUnavailable, location: cachePath, reason: "the keyring holds a data key for this cache that is not 32 bytes long; remove the item io.tokencache.data-key for this path with secret-tool")
            }
            return SecretBytes(copying: stored)
        }
        guard creating else {
            throw CacheStorageError(code: .keyUnavailable, location: cachePath, reason: "the keyring has no data key for this cache (it was encrypted on another machine, by another user, or the key was deleted). Open it with the key source it was written with")
        }
        let key = try OpenSSL.randomKey()
        try key.withBytes { bytes in
            var copy = Data(bytes)
            defer { copy.wipe() }
            try storage.save(copy)
        }
        return key
    }
}

import CacheBackends
import Foundation
import TokenCache

/// A store's cache document as bytes, for `inspect` and `repair`, which read it at the JSON
/// level (a document the library refuses to load can still be examined), and how the
/// store protects it.
struct RawCache {
    let store: StoreDescription
    let location: String
    let bytes: Data
    /// Where an encrypted file's key came from (the keyring the default chose, for one).
    var keyOrigin: String?

    /// Reads the store named by `spec`.
    init(spec: String) throws {
        let store = try StoreSession.describe(spec)
        if store.isSerialized {
            try self.init(store, storage: store.storage())
        } else {
            let session = try StoreSession(spec: spec)
            self.init(store, location: session.location, bytes: Data(try session.store.snapshot().serialize()))
        }
    }

    /// Reads `storage`, the serialized storage (file, encrypted file or keyring item) of
    /// `store`.
    init(_ store: StoreDescription, storage: any CacheStorage) throws {
        guard let bytes = try storage.load() else {
            throw InputFileError(path: storage.location, missing: true, reason: "no cache is stored there. Check the SPEC")
        }
        self.init(store, location: storage.location, bytes: bytes)
        keyOrigin = (storage as? EncryptedFileStorage)?.keyOrigin
    }

    private init(_ store: StoreDescription, location: String, bytes: Data) {
        self.store = store
        self.location = location
        self.bytes = bytes
    }

    /// How the cache is protected, with the modes of its file and folder when it is one.
    var protection: String {
        let kind: String = switch store {
        case .file: "plain JSON, not encrypted"
        case .encrypted: "AES-256-GCM encrypted file" + (keyOrigin.map { ", key: " + $0 } ?? "")
        case .keyring: "the desktop keyring (Secret Service)"
        case .sqlite: store.isEncrypted ? "SQLite, entries encrypted" : "SQLite, not encrypted"
        case .external: store.isEncrypted ? "PostgreSQL, entries encrypted" : "PostgreSQL, not encrypted"
        }
        guard store.localPath != nil else { return kind }
        func mode(_ path: String) -> String? {
            fileMode(path).map { String(format: "%04o", $0) }
        }
        let folder = (location as NSString).deletingLastPathComponent
        var text = kind + " (file \(mode(location) ?? "?"), folder \(mode(folder.isEmpty ? "." : folder) ?? "?"))"
        if let bits = fileMode(location), bits & 0o077 != 0 {
            text += "; others can read it: chmod 600 \(location)"
        }
        return text
    }
}

/// The permission bits of `path` (following a symbolic link, as opening it would), or
/// `nil` when it does not exist.
func fileMode(_ path: String) -> mode_t? {
    var info = stat()
    return stat(path, &info) == 0 ? info.st_mode & 0o777 : nil
}

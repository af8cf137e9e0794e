import CacheBackends
import CachePostgres
import Foundation
import TokenCache

/// A store's cache document as bytes, for `inspect` and `repair`, which read it at the JSON
/// level (a document the library refuses to load can still be examined), and how the
/// store protects it.
struct RawCache {
    let spec: String
    let location: String
    let bytes: Data
    let isEncrypted: Bool

    /// Reads the store named by `spec`.
    init(spec: String) throws {
        if PostgresEndpoint.isPostgres(spec) || spec.hasPrefix("sqlite:") {
            let session = try StoreSession(spec: spec)
            self.init(spec: spec, location: session.location, bytes: Data(try session.store.snapshot().serialize()), isEncrypted: session.store.isEncrypted)
        } else {
            try self.init(spec: spec, storage: StoreSpec.parse(spec))
        }
    }

    /// Reads `storage`, the file, encrypted or keyring storage `spec` names.
    init(spec: String, storage: any CacheStorage) throws {
        guard let bytes = try storage.load() else {
            throw InputFileError(path: storage.location, missing: true, reason: "no cache is stored there. Check the SPEC")
        }
        self.init(spec: spec, location: storage.location, bytes: bytes, isEncrypted: spec.hasPrefix("encrypted:"))
    }

    private init(spec: String, location: String, bytes: Data, isEncrypted: Bool) {
        self.spec = spec
        self.location = location
        self.bytes = bytes
        self.isEncrypted = isEncrypted
    }

    /// How the cache is protected, with the modes of its file and folder when it is one.
    var protection: String {
        let kind: String = switch spec.prefix(while: { $0 != ":" }) {
        case "file": "plain JSON, not encrypted"
        case "encrypted": "AES-256-GCM encrypted file"
        case "keyring": "the desktop keyring (Secret Service)"
        case "sqlite": isEncrypted ? "SQLite, entries encrypted" : "SQLite, not encrypted"
        default: isEncrypted ? "PostgreSQL, entries encrypted" : "PostgreSQL, not encrypted"
        }
        guard spec.hasPrefix("file:") || spec.hasPrefix("encrypted:") || spec.hasPrefix("sqlite:") else { return kind }
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

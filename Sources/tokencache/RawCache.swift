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
    /// The storage behind a file, encrypted or keyring store; `nil` for a database.
    let storage: (any CacheStorage)?

    init(spec: String) throws {
        self.spec = spec
        if PostgresEndpoint.isPostgres(spec) || spec.hasPrefix("sqlite:") {
            let session = try StoreSession(spec: spec)
            location = session.location
            isEncrypted = session.store.isEncrypted
            bytes = Data(try session.store.snapshot().serialize())
            storage = nil
        } else {
            let storage = try StoreSpec.parse(spec)
            guard let bytes = try storage.load() else {
                throw InputFileError(path: storage.location, missing: true, reason: "no cache is stored there. Check the SPEC")
            }
            self.storage = storage
            self.bytes = bytes
            location = storage.location
            isEncrypted = spec.hasPrefix("encrypted:")
        }
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
            var info = stat()
            return stat(path, &info) == 0 ? String(format: "%04o", info.st_mode & 0o777) : nil
        }
        let folder = (location as NSString).deletingLastPathComponent
        var text = kind + " (file \(mode(location) ?? "?"), folder \(mode(folder.isEmpty ? "." : folder) ?? "?"))"
        if let fileMode = mode(location), let bits = Int(fileMode, radix: 8), bits & 0o077 != 0 {
            text += "; others can read it: chmod 600 \(location)"
        }
        return text
    }
}

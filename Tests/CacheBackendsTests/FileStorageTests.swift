import CacheBackends
import Foundation
import Testing
import TokenCache
import TokenCacheTesting

@Suite("FileStorage")
struct FileStorageTests {
    @Test("FileStorage passes the storage conformance checks")
    func conformance() throws {
        try withTemporaryDirectory { folder in
            #expect(StorageConformance.check(FileStorage(path: folder.appendingPathComponent("a/cache.json").path)) == [])
        }
    }

    func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("filestore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("A missing file loads as nil; a save round-trips and creates 0700/0600 under umask 000")
    func roundTripAndModes() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("new/sub/cache.json").path
        let storage = FileStorage(path: path)
        #expect(try storage.load() == nil)
        #expect(try storage.changeToken() == nil)
        let previous = umask(0)
        defer { umask(previous) }
        try storage.save(Data("{}".utf8))
        #expect(try storage.load() == Data("{}".utf8))
        let fileMode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        let folderMode = try FileManager.default.attributesOfItem(atPath: (path as NSString).deletingLastPathComponent)[.posixPermissions] as? Int
        #expect(fileMode == 0o600)
        #expect(folderMode == 0o700)
        let before = try storage.changeToken()
        try storage.save(Data("{\"a\": 1}".utf8))
        #expect(try storage.changeToken() != before)
        try storage.remove()
        #expect(try storage.load() == nil)
    }

    @Test("A symlinked cache path is refused")
    func refusesSymlink() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let real = folder.appendingPathComponent("real.json")
        try Data("{}".utf8).write(to: real)
        let link = folder.appendingPathComponent("link.json")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: real)
        let storage = FileStorage(path: link.path)
        #expect(throws: CacheStorageError.self) { try storage.load() }
        #expect(throws: CacheStorageError.self) { try storage.save(Data("{\"x\": 1}".utf8)) }
        #expect(try Data(contentsOf: real) == Data("{}".utf8))
    }

    @Test("Unknown store kinds are refused with invalidSpec")
    func storeSpecs() throws {
        #expect(try StoreDescription(spec: "file:/tmp/x.json").storage().location == "/tmp/x.json")
        for bad in ["nope:/x", "file:", "/just/a/path", "sqlite:", "sqlite:/x.db?encrypt=maybe", "encrypted:/x.bin?passphrase-env=A&key-file=/k",
                    "keyring:msal-extensions", "keyring:nope?signal=/s", "encrypted:/x?novalue", "\u{0}:\u{FFFF}",
                    "encrypted:/x.bin?key=kernel&key=keyring", "encrypted:/x.bin?key=", "sqlite:/x.db?encrypt=kernel&key-file=/k"] {
            #expect { try StoreDescription(spec: bad) } throws: { ($0 as? CacheStorageError)?.code == .invalidSpec }
        }
        // Garbage after a known kind: a typed error that does not echo a value that could be
        // a passphrase.
        for secret in ["sqlite:/x.db?passphrase=hunter2", "encrypted:/x.bin?key=hunter2"] {
            #expect { try StoreDescription(spec: secret) } throws: { error in
                (error as? CacheStorageError)?.code == .invalidSpec && !"\(error)".contains("hunter2")
            }
        }
        // A database store is not one serialized document.
        #expect { try StoreDescription.sqlite("/x.db").storage() } throws: { ($0 as? CacheStorageError)?.code == .invalidSpec }
    }

    @Test("postgres:// SPECs are read only once CachePostgres registered them; the description answers what tools ask without string tests")
    func descriptions() throws {
        // This test module does not link CachePostgres: the SPEC is refused with what to do.
        #expect { try StoreDescription(spec: "postgres://app@db/tokens") } throws: { error in
            (error as? CacheStorageError)?.code == .invalidSpec && "\(error)".contains("registerPostgres()")
        }
        let sqliteKeyring = try StoreDescription(spec: "sqlite:/x/tokens.db?encrypt=keyring")
        #expect(sqliteKeyring.usesKeyring && sqliteKeyring.isEncrypted && sqliteKeyring.localPath == "/x/tokens.db" && !sqliteKeyring.isSerialized)
        let passphrase = try StoreDescription(spec: "encrypted:/x/c.bin?passphrase-env=VAR")
        #expect(!passphrase.usesKeyring && passphrase.isEncrypted && passphrase.lockPath == "/x/c.bin.lockfile" && passphrase.isSerialized)
        let keyring = try StoreDescription(spec: "keyring:msal-extensions?signal=/x/signal")
        #expect(keyring.usesKeyring && keyring.localPath == nil && keyring.lockPath == "/x/signal.lockfile")
        #expect(!StoreDescription.file("/x/c.json").isEncrypted && !StoreDescription.file("/x/c.json").usesKeyring)
    }
}

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
        for bad in ["nope:/x", "file:", "/just/a/path"] {
            #expect { try StoreDescription(spec: bad).storage() } throws: { ($0 as? CacheStorageError)?.code == .invalidSpec }
        }
    }
}

import Foundation
import Testing
import TokenCacheTesting

/// The README's Swift examples are compiled code: every ```swift block in README.md is the
/// whole of one file in `Examples/ReadmeExamples`, which the package builds. This checks
/// that each block appears verbatim in one of those files, so the README cannot drift from
/// code that compiles.
@Suite("README examples")
struct ReadmeExamplesTests {
    static let root = PythonPeer.repositoryRoot

    /// The text of every ```swift block in `markdown`, each ending with a newline.
    static func swiftBlocks(in markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if var lines = current {
                if line == "```" {
                    blocks.append(lines.map { $0 + "\n" }.joined())
                    current = nil
                } else {
                    lines.append(line)
                    current = lines
                }
            } else if line == "```swift" {
                current = []
            }
        }
        return blocks
    }

    @Test("every swift block of the README is in an example file")
    func readmeBlocksAreCompiled() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let folder = Self.root.appendingPathComponent("Examples/ReadmeExamples")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }.sorted()
        let files = try names.map { try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8) }
        let blocks = Self.swiftBlocks(in: readme)
        #expect(blocks.count >= 3, "README.md has \(blocks.count) swift blocks")
        for block in blocks {
            let firstLines = block.split(separator: "\n").prefix(6).joined(separator: "\n")
            #expect(files.contains { $0.contains(block) }, "this README block is in no file of Examples/ReadmeExamples (\(names.joined(separator: ", "))):\n\(firstLines)")
        }
    }

    @Test("The store-choosing example opens every kind through its typed description (file, encrypted with the keyring and with a passphrase, keyring, SQLite with a key file, PostgreSQL), writes a token into each and finds it; the files are 0600")
    func everyKindThroughTypedDescriptions() throws {
        try #require(PythonPeer.hasPrivateKeyring || PythonPeer.isCI, "needs the private keyring session of the README's test command")
        let database = try PostgresServer.shared
        let examples = URL(fileURLWithPath: CLIProcess.executable).deletingLastPathComponent().appendingPathComponent("ReadmeExamples").path
        try withTemporaryDirectory { folder in
            let result = try CLIProcess.runProcess(examples, ["stores", folder.path, database.freshSpec("passphrase-env=APP_CACHE_PASSPHRASE")],
                                                   environment: database.environment.merging(["APP_CACHE_PASSPHRASE": "correct horse battery staple"]) { $1 })
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 6, "\(result.stdout)")
            #expect(lines.allSatisfy { $0.hasSuffix("token written and found") })
            #expect(lines.filter { $0.contains(": plain,") }.count == 1, "only the file: store is in the clear")
            for name in ["msal_token_cache.json", "tokens.bin", "tokens-p.bin", "tokens.db"] {
                let mode = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(name): \(String(mode ?? 0, radix: 8))")
            }
            #expect(!result.stdout.contains("example-access-token") && !result.stderr.contains("example-access-token"))
        }
    }
}

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
}

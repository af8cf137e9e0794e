public import Foundation

/// Opens URLs in the user's browser, the way desktop tools on Linux do: the command in
/// `$BROWSER` when it is set (the URL is appended, or replaces `%s`), else `xdg-open`.
public enum SystemBrowser {
    /// Opens `url` without waiting for the browser to exit.
    ///
    /// - Throws: ``MSALError`` `noBrowser` when there is no command to run or it cannot be
    ///   started (a server, a container, an SSH session).
    @Sendable
    public static func open(_ url: URL) async throws(MSALError) {
        let environment = ProcessInfo.processInfo.environment
        let command: [String]
        if let browser = environment["BROWSER"], !browser.trimmingCharacters(in: .whitespaces).isEmpty {
            // Several commands may be listed with ':'; the first one is used.
            let words = (browser.split(separator: ":").first.map(String.init) ?? browser).split(separator: " ").map(String.init)
            command = words.contains("%s") ? words.map { $0 == "%s" ? url.absoluteString : $0 } : words + [url.absoluteString]
        } else {
            command = ["xdg-open", url.absoluteString]
        }
        guard let program = resolve(command[0], path: environment["PATH"] ?? "/usr/bin:/bin") else {
            throw MSALError(code: .noBrowser, reason: "no browser to open: '\(command[0])' was not found. Set BROWSER to a browser command, install xdg-utils, or sign in with the device code flow")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = Array(command.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw MSALError(code: .noBrowser, reason: "the browser command '\(command[0])' could not be started (\(error)); set BROWSER, or sign in with the device code flow")
        }
    }

    /// The path of `program`: itself when it holds a '/', else the first match in `path`.
    static func resolve(_ program: String, path: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

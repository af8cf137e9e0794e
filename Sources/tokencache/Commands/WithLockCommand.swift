import ArgumentParser
import CacheBackends
import Foundation
import TokenCache

/// `tokencache with-lock`: run a command while holding a store's lock.
struct WithLockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "with-lock",
        abstract: "Run a command while holding the store's cross-process lock.",
        discussion: """
        MSAL Python, MSAL .NET and tokencache wait while it runs, so the command sees a \
        cache nobody changes (for example to back it up). Exits with the command's status.

        Example: tokencache with-lock --store file:cache.json -- cp cache.json cache.backup.json
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(help: "Seconds to wait for the lock.")
    var timeout: Double = 5
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("Give the command to run after --.") }
        guard timeout.isFinite, timeout >= 0, timeout <= 3600 else {
            throw ValidationError("--timeout takes a number of seconds from 0 to 3600")
        }
        if let description = try? StoreSession.describe(store.store), description.lockPath == nil {
            throw ValidationError("a postgres:// store has no lock file: every write is its own transaction, so there is nothing to hold. Use with-lock with file:, encrypted:, keyring: or sqlite: stores")
        }
    }

    func run() throws {
        var status: Int32 = 0
        try reportingErrors {
            let session = try StoreSession(spec: store.store, lockTimeout: .milliseconds(Int(timeout * 1000)))
            try session.lock.withLock {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = command.first == "--" ? Array(command.dropFirst()) : command
                try process.run()
                process.waitUntilExit()
                status = process.terminationStatus
            }
        }
        if status != 0 { throw ExitCode(status) }
    }
}

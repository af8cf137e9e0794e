import ArgumentParser
import Foundation
import MSALLite
import TokenCache

/// `tokencache remove-account`: sign an account out of an app, as MSAL Python does.
struct RemoveAccountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-account",
        abstract: "Remove an account's tokens for an app (MSAL Python's remove_account scope).",
        discussion: "Example: tokencache remove-account --store file:cache.json --client-id ID --authority https://login.microsoftonline.com/common --account UID.UTID"
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var app: AppOptions
    @Option(help: "The account's home account id.")
    var account: String
    @Option(help: "The current time, in Unix seconds. The default is now.")
    var now: Int64?

    func run() throws {
        try reportingErrors {
            let parsedAuthority = try app.parsedAuthority()
            let session = try store.open()
            let change = try session.store.removeAccount(homeAccountID: account, environment: parsedAuthority.host, clientID: app.clientID, now: resolveNow(now))
            if let moved = session.persistent?.quarantined {
                emit("The cache was unreadable; it was moved to \(moved) and the account is signed out.")
            }
            emit("Removed \(change.removed.count) entries.")
        }
    }
}

/// `tokencache prune`: drop expired access tokens.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Drop expired access tokens; refresh tokens, accounts and app metadata stay.",
        discussion: "Example: tokencache prune --store file:cache.json"
    )

    @OptionGroup var store: StoreOptions
    @Option(help: "The current time, in Unix seconds. The default is now.")
    var now: Int64?

    func run() throws {
        try reportingErrors {
            let session = try store.open()
            let change = try session.store.removeExpiredAccessTokens(now: resolveNow(now))
            emit("Removed \(change.removed.count) expired access tokens.")
        }
    }
}

/// `tokencache copy`: copy a cache losslessly from one store to another.
struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a cache to another store, keeping every section and field.",
        discussion: "Example: tokencache copy --from file:old.json --to file:new.json"
    )

    @Option(help: ArgumentHelp("The store to read.", valueName: "SPEC"))
    var from: String
    @Option(help: ArgumentHelp("The store to write.", valueName: "SPEC"))
    var to: String
    @Flag(help: "Replace a destination that already holds tokens.")
    var force = false

    func run() throws {
        try reportingErrors {
            let source = try StoreSession(spec: from)
            let destination = try StoreSession(spec: to)
            let copied = try Progress.step("reading \(source.location)") { try source.store.snapshot() }
            let count = copied.entryCounts.values.reduce(0, +)
            if !force {
                let existing = try destination.store.snapshot().entryCounts.values.reduce(0, +)
                if existing > 0 {
                    throw ValidationError("\(destination.location) already holds \(existing) entries; pass --force to replace them")
                }
            }
            try Progress.step("writing \(count) entries to \(destination.location)") { try destination.store.replaceContents(with: copied) }
            emit("Copied \(count) entries to \(destination.location).")
        }
    }
}

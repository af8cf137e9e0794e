import ArgumentParser
import Foundation
import TokenCache

/// `tokencache inspect`: what a cache holds and what is wrong with it.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a cache holds and what is wrong with it.",
        discussion: """
        Prints the accounts, the tokens of each client (with expired and soon-expiring access \
        tokens), the size and how the store protects the cache, then each problem: duplicate \
        refresh tokens, entries under keys MSAL would not compute, entries that break MSAL's \
        schema. No secret is printed.

        Exit status 0 when the cache has no problem, 1 when it has some (run \
        `tokencache repair`), or the documented error codes.

        Examples:
          tokencache inspect --store file:~/.azure/msal_token_cache.json
          tokencache inspect --store sqlite:~/.cache/tokens.db --json
        """
    )

    @OptionGroup var store: StoreOptions
    @Flag(help: "Print JSON instead of text.")
    var json = false
    @Option(help: "The clock for the expiry counts, in Unix seconds (default: now).")
    var now: Int64?

    func run() throws {
        try reportingErrors {
            let raw = try RawCache(spec: store.store)
            let report = try CacheInspection(document: raw.bytes, now: resolveNow(now))
            if json {
                try emitJSON(InspectionReport(raw: raw, report: report))
            } else {
                InspectionReport(raw: raw, report: report).printText()
            }
            if !report.problems.isEmpty { throw ExitCode(1) }
        }
    }
}

/// The report `inspect` prints, as text or JSON.
struct InspectionReport: Encodable {
    let store: String
    let protection: String
    let sizeBytes: Int
    let accounts: [CacheInspection.AccountSummary]
    let clients: [CacheInspection.ClientSummary]
    let problems: [CacheInspection.Problem]

    init(raw: RawCache, report: CacheInspection) {
        store = raw.location
        protection = raw.protection
        sizeBytes = raw.bytes.count
        accounts = report.accounts
        clients = report.clients
        problems = report.problems
    }

    func printText() {
        emit("store       \(store)")
        emit("protection  \(protection)")
        emit("size        \(sizeBytes) bytes")
        emit("accounts    \(accounts.count)")
        for account in accounts {
            emit("  \(account.username.isEmpty ? "(no username)" : account.username)  \(account.homeAccountID)  \(account.environment)  \(account.realm)")
        }
        emit("clients     \(clients.count)")
        for client in clients {
            emit("  \(client.clientID.isEmpty ? "(no client id)" : client.clientID): \(client.accessTokens) access (\(client.expired) expired, \(client.expiringSoon) expiring within 5 min), \(client.refreshTokens) refresh, \(client.idTokens) ID")
        }
        emit("problems    \(problems.count)")
        for problem in problems {
            emit("  [\(problem.kind.rawValue)] \(problem.section) \"\(problem.key)\"")
            emit("    \(problem.detail)")
            emit("    repair: \(problem.fix)")
        }
        if problems.contains(where: \.fixable) {
            emit("run `tokencache repair --store SPEC` to fix them; it writes a backup first")
        }
    }
}

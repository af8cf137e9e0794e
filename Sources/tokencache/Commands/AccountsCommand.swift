import ArgumentParser
import MSALLite
import TokenCache

/// `tokencache accounts`: the accounts in a cache.
struct AccountsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "List the accounts in a cache.",
        discussion: """
        Without --authority every Account entry is listed. With it, the list is what MSAL \
        Python's get_accounts() returns for an app using that authority.

        Example: tokencache accounts --store file:~/.azure/msal_token_cache.json --json
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(help: "List the accounts an app with this authority sees (with cloud aliases).")
    var authority: String?
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        try reportingErrors {
            let session = try store.open()
            let parsed = try authority.map { try Authority($0) }
            let accounts: [Account]
            if let parsed {
                accounts = try session.store.accounts(environment: parsed.host, aliases: parsed.aliases, username: nil)
            } else {
                accounts = try session.store.snapshot().entries(Account.self)
            }
            if json {
                emit(JSONValue.array(accounts.map { .object(Rendering.accountSummary($0)) }).pythonJSONText)
            } else if accounts.isEmpty {
                emit("No accounts.")
            } else {
                for account in accounts {
                    emit("\(account.username ?? "") \(account.homeAccountID ?? "-") \(account.environment ?? "-") realm=\(account.realm ?? "-") type=\(account.authorityType ?? "-")")
                }
            }
        }
    }
}

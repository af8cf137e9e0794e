import ArgumentParser
import Foundation
import MSALLite

/// `tokencache logout`: signs accounts out of an app, as MSAL's `remove_account` does.
struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Sign accounts out of an app: their tokens for it (and its family) and their account entries go.",
        discussion: """
        Example: tokencache logout --client-id ID --authority https://login.microsoftonline.com/organizations \
        --store file:~/.cache/tokens.json --username ann@contoso.com
        """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var app: AppOptions
    @Option(help: "Only this user's account; the default is every account of the app.")
    var username: String?
    @OptionGroup var provider: ProviderOptions

    func run() async throws {
        try await reportingErrors {
            let session = try store.open()
            // No instance discovery: signing out works without reaching the provider.
            let application = try provider.application(app, session, instanceDiscovery: false)
            let accounts = try await application.accounts(username: username)
            for account in accounts { try await application.removeAccount(account) }
            emit("signed out \(accounts.count) account\(accounts.count == 1 ? "" : "s")")
        }
    }
}

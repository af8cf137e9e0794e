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
    @Option(name: .customLong("client-id"), help: "The app's client id.")
    var clientID: String
    @Option(help: "The app's authority.")
    var authority: String
    @Option(help: "Only this user's account; the default is every account of the app.")
    var username: String?
    @Flag(name: .customLong("allow-loopback-http"), help: "Allow an http:// authority on 127.0.0.1 (a local test identity server only).")
    var allowLoopbackHTTP = false

    func run() async throws {
        try await reportingErrors {
            let session = try store.open()
            // No instance discovery: signing out works without reaching the provider.
            let application = try PublicClientApplication(clientID: clientID, authority: authority, cache: session.store,
                                                          options: ApplicationOptions(http: HTTPOptions(allowsPlainHTTPOnLoopback: allowLoopbackHTTP), instanceDiscovery: false))
            let accounts = try await application.accounts(username: username)
            for account in accounts { try application.removeAccount(account) }
            emit("signed out \(accounts.count) account\(accounts.count == 1 ? "" : "s")")
        }
    }
}

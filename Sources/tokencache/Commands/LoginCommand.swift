import ArgumentParser
import Foundation
import MSALLite

/// `tokencache login`: signs a user in with the device code flow and caches the tokens.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign a user in with the device code flow and keep the tokens in the store.",
        discussion: """
        The instructions (a URL and a code) are printed on standard error; the command waits \
        until the sign-in finishes or the code expires (exit 75).

        Example: tokencache login --client-id ID --authority https://login.microsoftonline.com/organizations \
        --scopes "https://graph.microsoft.com/User.Read" --store file:~/.cache/tokens.json --device-code
        """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var app: AppOptions
    @Option(help: "The scopes to ask for, space-separated, e.g. \"https://graph.microsoft.com/User.Read\".")
    var scopes: String
    @OptionGroup var provider: ProviderOptions
    @Flag(name: .customLong("device-code"), help: "Use the device code flow (the default, and today the only one).")
    var deviceCode = false

    func run() async throws {
        try await reportingErrors {
            let session = try store.open()
            let application = try provider.application(app, session)
            let flow = try await application.initiateDeviceFlow(scopes: splitScopes(scopes))
            FileHandle.standardError.write(Data((flow.message + "\n").utf8))
            let result = try await application.acquireToken(byDeviceFlow: flow)
            emit("signed in: \(result.username ?? "?") (account \(result.homeAccountID ?? "?")), tokens kept in \(session.location)")
        }
    }
}

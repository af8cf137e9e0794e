import ArgumentParser
import Foundation
import MSALLite

/// `tokencache login`: signs a user in (device code, or the system browser) and caches the
/// tokens.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign a user in and keep the tokens in the store.",
        discussion: """
        --device-code (the default): the instructions (a URL and a code) are printed on standard \
        error; the command waits until the sign-in finishes or the code expires (exit 75).

        --browser: opens the system browser ($BROWSER, else xdg-open) at the sign-in page and \
        listens on 127.0.0.1 and ::1 for its redirect to http://localhost:PORT (register http://localhost \
        for the app). When no browser opens, the URL is printed on standard error to open by hand.

        Examples:
          tokencache login --client-id ID --authority https://login.microsoftonline.com/organizations \
            --scopes "https://graph.microsoft.com/User.Read" --store file:~/.cache/tokens.json --device-code
          tokencache login --client-id ID --authority https://login.microsoftonline.com/organizations \
            --scopes "https://graph.microsoft.com/User.Read" \
            --store "keyring:msal-extensions?signal=$HOME/.cache/tokens.signal" --browser --login-hint ann@contoso.com
        """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var app: AppOptions
    @Option(help: "The scopes to ask for, space-separated, e.g. \"https://graph.microsoft.com/User.Read\".")
    var scopes: String
    @OptionGroup var provider: ProviderOptions
    @Flag(help: "How the user signs in: --device-code (the default) or --browser.")
    var method: SignInMethod = .deviceCode
    @Option(name: .customLong("redirect-port"), help: "With --browser: the loopback port to listen on (0: any free port).")
    var redirectPort = 0
    @Option(name: .customLong("login-hint"), help: "With --browser: the username to prefill.")
    var loginHint: String?
    @Option(help: "With --browser: seconds to wait for the sign-in to finish.")
    var timeout = 300

    /// How the user signs in.
    enum SignInMethod: String, EnumerableFlag {
        case deviceCode
        case browser
    }

    func run() async throws {
        try await reportingErrors {
            let session = try store.open()
            let application = try provider.application(app, session)
            let result: AuthenticationResult
            switch method {
            case .deviceCode:
                let flow = try await application.initiateDeviceFlow(scopes: splitScopes(scopes))
                FileHandle.standardError.write(Data((flow.message + "\n").utf8))
                result = try await application.acquireToken(byDeviceFlow: flow)
            case .browser:
                result = try await application.acquireTokenInteractive(scopes: splitScopes(scopes), loginHint: loginHint, port: redirectPort,
                                                                       timeout: .seconds(timeout)) { url throws(MSALError) in
                    do throws(MSALError) {
                        try await SystemBrowser.open(url)
                        FileHandle.standardError.write(Data("Sign in in the browser window that opened; waiting for it to come back.\n".utf8))
                    } catch {
                        // The URL carries no secret (the PKCE verifier stays here).
                        FileHandle.standardError.write(Data("No browser could be opened (\(error.reason)).\nOpen this URL to sign in: \(url.absoluteString)\n".utf8))
                    }
                }
            }
            emit("signed in: \(result.username ?? "?") (account \(result.homeAccountID ?? "?")), tokens kept in \(session.location)")
        }
    }
}

import ArgumentParser
import Foundation
import MSALLite
import TokenCache

/// `tokencache token`: an access token for a signed-in user, silently: from the store, or
/// refreshed with a stored refresh token.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Get an access token silently (cache, then refresh); exit 3 when the user must sign in again.",
        discussion: """
        Example: tokencache token --client-id ID --authority https://login.microsoftonline.com/organizations \
        --scopes "https://graph.microsoft.com/User.Read" --store file:~/.cache/tokens.json --show-secrets
        """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var app: AppOptions
    @Option(help: "The scopes to ask for, space-separated, e.g. \"https://graph.microsoft.com/User.Read\".")
    var scopes: String
    @OptionGroup var provider: ProviderOptions
    @Option(help: "The account's username; the default is the only account in the store.")
    var username: String?
    @Flag(name: .customLong("force-refresh"), help: "Skip the cached access token and refresh.")
    var forceRefresh = false
    @Flag(help: "Print JSON (token_source, expires_on, scopes, and the token with --show-secrets).")
    var json = false
    @Flag(name: .customLong("show-secrets"), help: "Print the token itself. Anyone who sees it can use it.")
    var showSecrets = false

    func run() async throws {
        var signInNeeded = false
        try await reportingErrors {
            let session = try store.open()
            let application = try provider.application(app, session)
            let accounts = try await application.accounts(username: username)
            guard accounts.count == 1, let account = accounts.first else {
                FileHandle.standardError.write(Data("tokencache: \(accounts.isEmpty ? "no signed-in account for this app; run tokencache login" : "\(accounts.count) accounts; choose one with --username")\n".utf8))
                signInNeeded = accounts.isEmpty
                if !accounts.isEmpty { throw ExitCode(64) }
                return
            }
            guard let result = try await application.acquireTokenSilent(scopes: splitScopes(scopes), account: account, forceRefresh: forceRefresh) else {
                FileHandle.standardError.write(Data("tokencache: nothing in the store can be used silently; run tokencache login\n".utf8))
                signInNeeded = true
                return
            }
            if json {
                var object: JSONObject = ["token_source": .string(result.tokenSource.rawValue), "expires_on": .number(JSONNumber(result.expiresOn)),
                                          "scopes": .array(result.scopes.map { .string($0) })]
                if let reason = result.refreshReason { object["refresh_reason"] = .string(reason.rawValue) }
                if showSecrets { object["access_token"] = .string(result.accessToken) }
                emit(JSONValue.object(object).pythonJSONText)
            } else if showSecrets {
                emit(result.accessToken)
            } else {
                emit("\(result.tokenSource.rawValue): expires_on=\(result.expiresOn) (add --show-secrets to print the token)")
            }
        }
        if signInNeeded { throw ExitCode(3) }
    }
}

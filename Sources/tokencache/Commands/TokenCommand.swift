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
        With --managed-identity, a token for the Azure resource's managed identity instead \
        (App Service and Functions, Azure Machine Learning, Azure Arc, or a virtual machine's IMDS, as the \
        platform's variables say), cached in the store as MSAL Python caches it: \
        system-assigned, or user-assigned by --client-id, --resource-id or --object-id.

        Examples:
          tokencache token --client-id ID --authority https://login.microsoftonline.com/organizations \
            --scopes "https://graph.microsoft.com/User.Read" --store file:~/.cache/tokens.json --show-secrets
          tokencache token --managed-identity --resource https://management.azure.com --store file:~/.cache/mi.json
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(name: .customLong("client-id"), help: "The app's client id; with --managed-identity, a user-assigned identity's.")
    var clientID: String?
    @Option(help: "The app's authority, e.g. https://login.microsoftonline.com/common.")
    var authority: String?
    @Option(help: "The scopes to ask for, space-separated, e.g. \"https://graph.microsoft.com/User.Read\".")
    var scopes: String?
    @Flag(name: .customLong("managed-identity"), help: "A token for the Azure resource's managed identity (with --resource).")
    var managedIdentity = false
    @Option(help: "With --managed-identity: the resource the token is for, e.g. https://management.azure.com.")
    var resource: String?
    @Option(name: .customLong("resource-id"), help: "With --managed-identity: a user-assigned identity's Azure resource id.")
    var resourceID: String?
    @Option(name: .customLong("object-id"), help: "With --managed-identity: a user-assigned identity's object id.")
    var objectID: String?
    @OptionGroup var provider: ProviderOptions
    @Option(help: "The account's username; the default is the only account in the store.")
    var username: String?
    @Flag(name: .customLong("force-refresh"), help: "Skip the cached access token and refresh.")
    var forceRefresh = false
    @Flag(help: "Print JSON (token_source, expires_on, scopes, and the token with --show-secrets).")
    var json = false
    @Flag(name: .customLong("show-secrets"), help: "Print the token itself. Anyone who sees it can use it.")
    var showSecrets = false

    func validate() throws {
        if managedIdentity {
            guard resource != nil else { throw ValidationError("--managed-identity needs --resource URL, the resource the token is for") }
            guard [clientID, resourceID, objectID].compactMap({ $0 }).count <= 1 else {
                throw ValidationError("name a user-assigned identity by one of --client-id, --resource-id or --object-id")
            }
            guard authority == nil, scopes == nil, username == nil, !forceRefresh else {
                throw ValidationError("--managed-identity takes --resource, not --authority, --scopes, --username or --force-refresh")
            }
        } else {
            guard clientID != nil, authority != nil, scopes != nil else {
                throw ValidationError("give --client-id, --authority and --scopes (or --managed-identity with --resource)")
            }
            guard resource == nil, resourceID == nil, objectID == nil else {
                throw ValidationError("--resource, --resource-id and --object-id go with --managed-identity")
            }
        }
    }

    func run() async throws {
        if managedIdentity { return try await managedIdentityToken() }
        var signInNeeded = false
        try await reportingErrors {
            let session = try store.open()
            let application = try provider.application(clientID: clientID ?? "", authority: authority ?? "", session)
            let accounts = try await application.accounts(username: username)
            guard accounts.count == 1, let account = accounts.first else {
                FileHandle.standardError.write(Data("tokencache: \(accounts.isEmpty ? "no signed-in account for this app; run tokencache login" : "\(accounts.count) accounts; choose one with --username")\n".utf8))
                signInNeeded = accounts.isEmpty
                if !accounts.isEmpty { throw ExitCode(64) }
                return
            }
            guard let result = try await application.acquireTokenSilent(scopes: splitScopes(scopes ?? ""), account: account, forceRefresh: forceRefresh) else {
                FileHandle.standardError.write(Data("tokencache: nothing in the store can be used silently; run tokencache login\n".utf8))
                signInNeeded = true
                return
            }
            show(result)
        }
        if signInNeeded { throw ExitCode(3) }
    }

    /// `--managed-identity`: the identity's token, from the store or the platform's endpoint.
    private func managedIdentityToken() async throws {
        try await reportingErrors {
            let session = try store.open()
            let identity: ManagedIdentity = clientID.map { .clientID($0) } ?? resourceID.map { .resourceID($0) } ?? objectID.map { .objectID($0) } ?? .systemAssigned
            show(try await provider.managedIdentity(identity, session).acquireToken(resource: resource ?? ""))
        }
    }

    private func show(_ result: AuthenticationResult) {
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
}

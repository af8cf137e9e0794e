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
        (App Service and Functions, Azure Machine Learning, Azure Arc, Service Fabric, or a virtual machine's IMDS, as the \
        platform's variables say), cached in the store as MSAL Python caches it: \
        system-assigned, or user-assigned by --client-id, --resource-id or --object-id.

        With --app, a token for a confidential client itself (client credentials, scope \
        RESOURCE/.default), from the store or the provider, then cached: its secret from an \
        environment variable (--secret-env NAME) or a file only its owner can read \
        (--secret-file PATH, mode 0600 or stricter), or a certificate (--certificate PATH, mode \
        0600 or stricter: PEM with the key and certificate, or PKCS#12 .pfx/.p12; a passphrase from \
        --certificate-passphrase-env NAME; --send-certificate-chain for subject name and issuer \
        authentication).

        Examples:
          tokencache token --client-id ID --authority https://login.microsoftonline.com/organizations \
            --scopes "https://graph.microsoft.com/User.Read" --store file:~/.cache/tokens.json --show-secrets
          tokencache token --managed-identity --resource https://management.azure.com --store file:~/.cache/mi.json
          tokencache token --app --client-id ID --authority https://login.microsoftonline.com/TENANT \
            --scopes https://graph.microsoft.com/.default --secret-env APP_SECRET --store sqlite:~/.cache/app.db
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
    @Flag(help: "A token for the confidential client itself (client credentials), with a secret or certificate option.")
    var app = false
    @Option(name: .customLong("secret-env"), help: ArgumentHelp("With --app: the environment variable that holds the client secret.", valueName: "NAME"))
    var secretEnv: String?
    @Option(name: .customLong("secret-file"), help: ArgumentHelp("With --app: a file (mode 0600 or stricter) that holds the client secret.", valueName: "PATH"))
    var secretFile: String?
    @Option(help: ArgumentHelp("With --app: the client certificate and its key (mode 0600), PEM or PKCS#12 (.pfx, .p12).", valueName: "PATH"))
    var certificate: String?
    @Option(name: .customLong("certificate-passphrase-env"), help: ArgumentHelp("With --certificate: the environment variable that holds its passphrase.", valueName: "NAME"))
    var certificatePassphraseEnv: String?
    @Flag(name: .customLong("send-certificate-chain"), help: "With --certificate: send the chain (x5c), for subject name and issuer authentication.")
    var sendCertificateChain = false
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
        let credentials = [secretEnv, secretFile, certificate].compactMap { $0 }.count
        if app {
            guard !managedIdentity, clientID != nil, authority != nil, scopes != nil else {
                throw ValidationError("--app needs --client-id, --authority and --scopes (one scope ending in /.default)")
            }
            guard credentials == 1 else { throw ValidationError("--app needs one credential: --secret-env NAME, --secret-file PATH or --certificate PATH") }
            guard username == nil, resource == nil, resourceID == nil, objectID == nil else {
                throw ValidationError("--app takes no --username, --resource, --resource-id or --object-id")
            }
            if certificate == nil, certificatePassphraseEnv != nil || sendCertificateChain {
                throw ValidationError("--certificate-passphrase-env and --send-certificate-chain go with --certificate")
            }
            return
        }
        guard credentials == 0, certificatePassphraseEnv == nil, !sendCertificateChain else {
            throw ValidationError("--secret-env, --secret-file and --certificate go with --app")
        }
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
        if app { return try await appToken() }
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

    /// `--app`: the confidential client's own token, from the store or the provider.
    private func appToken() async throws {
        try await reportingErrors {
            let session = try store.open()
            let application = try provider.confidentialApplication(clientID: clientID ?? "", authority: authority ?? "", credential: try credential(), session)
            show(try await application.acquireTokenForClient(scopes: splitScopes(scopes ?? ""), forceRefresh: forceRefresh))
        }
    }

    /// The client credential the options name.
    private func credential() throws -> ClientCredential {
        let environment = ProcessInfo.processInfo.environment
        if let secretEnv {
            guard let secret = environment[secretEnv], !secret.isEmpty else {
                throw ValidationError("the environment variable \(secretEnv) (--secret-env) is not set or empty; set it to the client secret")
            }
            return .secret(secret)
        }
        if let secretFile {
            let secret = String(decoding: try readPrivateFile(secretFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !secret.isEmpty else { throw InputFileError(path: secretFile, missing: false, reason: "the file is empty; write the client secret in it") }
            return .secret(secret)
        }
        let path = certificate ?? ""
        var passphrase: String?
        if let name = certificatePassphraseEnv {
            guard let value = environment[name] else {
                throw ValidationError("the environment variable \(name) (--certificate-passphrase-env) is not set; set it to the certificate's passphrase")
            }
            passphrase = value
        }
        // It holds the private key: the same rule as a secret file.
        let bytes = try readPrivateFile(path)
        let pem = String(decoding: bytes, as: UTF8.self)
        let credential: CertificateCredential
        if pem.contains("-----BEGIN") {
            credential = try CertificateCredential(privateKeyPEM: pem, certificatePEM: pem, passphrase: passphrase, sendsCertificateChain: sendCertificateChain)
        } else {
            credential = try CertificateCredential(pkcs12: bytes, passphrase: passphrase, sendsCertificateChain: sendCertificateChain)
        }
        return .certificate(credential)
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

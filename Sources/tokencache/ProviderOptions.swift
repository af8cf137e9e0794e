import ArgumentParser
import Foundation
import MSALLite

/// How the commands that talk to an identity provider reach it.
struct ProviderOptions: ParsableArguments {
    @Flag(name: .customLong("allow-loopback-http"), help: "Allow an http:// authority on 127.0.0.1 (a local test identity server only).")
    var allowLoopbackHTTP = false
    @Flag(name: .customLong("no-validate-authority"), help: "Trust an https authority that Microsoft's instance discovery does not know (an identity provider you run).")
    var noValidateAuthority = false
    @Option(name: .customLong("request-timeout"), help: ArgumentHelp("How long one request to the provider may take, in seconds (default 30).", valueName: "SECONDS"))
    var requestTimeout: Double?

    func validate() throws {
        if let requestTimeout, !(requestTimeout > 0 && requestTimeout <= 3600) {
            throw ValidationError("--request-timeout takes a number of seconds above 0 and at most 3600")
        }
    }

    /// The public client application of `app`, over `session`'s store. A silent request
    /// waits for another process's refresh of the same account as long as for the store's
    /// lock.
    func application(_ app: AppOptions, _ session: StoreSession, instanceDiscovery: Bool = true) throws -> PublicClientApplication {
        try application(clientID: app.clientID, authority: app.authority, session, instanceDiscovery: instanceDiscovery)
    }

    /// The public client application `clientID` of `authority`, over `session`'s store.
    func application(clientID: String, authority: String, _ session: StoreSession, instanceDiscovery: Bool = true) throws -> PublicClientApplication {
        try PublicClientApplication(clientID: clientID, authority: authority, cache: session.store,
                                    options: ApplicationOptions(http: http, logger: VerboseLog.logger, instanceDiscovery: instanceDiscovery,
                                                                refreshClaimTimeout: session.lockTimeout, validateAuthority: !noValidateAuthority))
    }

    /// The confidential client application `clientID` of `authority` with `credential`,
    /// over `session`'s store.
    func confidentialApplication(clientID: String, authority: String, credential: ClientCredential, _ session: StoreSession) throws -> ConfidentialClientApplication {
        try ConfidentialClientApplication(clientID: clientID, authority: authority, credential: credential, cache: session.store,
                                          options: ApplicationOptions(http: http, logger: VerboseLog.logger, refreshClaimTimeout: session.lockTimeout,
                                                                      validateAuthority: !noValidateAuthority))
    }

    /// The managed identity client of `identity`, over `session`'s store.
    func managedIdentity(_ identity: ManagedIdentity, _ session: StoreSession) -> ManagedIdentityClient {
        ManagedIdentityClient(identity, cache: session.store, options: ApplicationOptions(http: http, logger: VerboseLog.logger))
    }

    /// The HTTP options the flags ask for.
    private var http: HTTPOptions {
        var http = HTTPOptions(allowsPlainHTTPOnLoopback: allowLoopbackHTTP)
        if let requestTimeout { http.timeout = .milliseconds(Int(requestTimeout * 1000)) }
        return http
    }
}

extension MSALError {
    /// The CLI's exit code for this error (see the README's table).
    var exitCode: Int32 {
        switch code {
        case .invalidArgument, .insecureAuthority, .untrustedAuthority: return 64
        case .interactionRequired: return 3
        case .cacheFailure:
            // The store's own code: a lock time-out 75, a wrong key 77, a damaged store 65...
            guard let underlying, case let status = CLIFailure.exitCode(for: underlying), status != 70 else { return 69 }
            return status
        case .network, .providerUnavailable, .noBrowser, .notSupported: return 69
        case .timedOut, .deviceCodeExpired, .cancelled: return 75
        case .serverError where ["invalid_client", "unauthorized_client"].contains(server?.error ?? ""): return 77
        default: return 65
        }
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, mapping errors to one stderr line and the documented exit code.
    func reportingErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as MSALError {
            CLIFailure.report(error)
            throw ExitCode(error.exitCode)
        } catch {
            CLIFailure.report(error)
            throw ExitCode(CLIFailure.exitCode(for: error))
        }
    }
}

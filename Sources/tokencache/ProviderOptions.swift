import ArgumentParser
import Foundation
import MSALLite

/// How the commands that talk to an identity provider reach it.
struct ProviderOptions: ParsableArguments {
    @Flag(name: .customLong("allow-loopback-http"), help: "Allow an http:// authority on 127.0.0.1 (a local test identity server only).")
    var allowLoopbackHTTP = false

    /// The public client application of `app`, over `session`'s store.
    func application(_ app: AppOptions, _ session: StoreSession, instanceDiscovery: Bool = true) throws -> PublicClientApplication {
        try PublicClientApplication(clientID: app.clientID, authority: app.authority, cache: session.store,
                                    options: ApplicationOptions(http: HTTPOptions(allowsPlainHTTPOnLoopback: allowLoopbackHTTP), logger: VerboseLog.logger, instanceDiscovery: instanceDiscovery))
    }
}

extension MSALError {
    /// The CLI's exit code for this error (see the README's table).
    var exitCode: Int32 {
        switch code {
        case .invalidArgument, .insecureAuthority: return 64
        case .interactionRequired: return 3
        case .network, .cacheFailure, .noBrowser: return 69
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
            FileHandle.standardError.write(Data("tokencache: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        } catch {
            FileHandle.standardError.write(Data("tokencache: \(error)\n".utf8))
            throw ExitCode(CLIFailure.exitCode(for: error))
        }
    }
}

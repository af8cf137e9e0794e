import ArgumentParser
import CacheBackends
import CachePostgres
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Logging
import MSALHummingbird
import MSALLite
import TokenCache

/// The web app example: three small servers, each a subcommand.
///
/// - `web`: a page that signs the user in and shows the answer of the protected API called
///   with the user's token;
/// - `api`: the protected API; it checks the caller's token and calls the downstream API
///   on the user's behalf;
/// - `downstream`: the API the protected API calls; its `/sensitive` route needs an
///   authentication context, and answers a token without it with a claims challenge.
///
/// Each prints `LISTENING <port>` once it serves. Client secrets and the cookie key come
/// from the environment, never from the command line.
@main
struct WebAppExample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webapp-example",
        abstract: "A web app that signs users in and calls an API for them, the API, and the API it calls.",
        subcommands: [WebCommand.self, APICommand.self, DownstreamCommand.self])
}

/// Options every server has.
struct ServerOptions: ParsableArguments {
    @Option(help: "The authority URL, such as https://login.microsoftonline.com/contoso.onmicrosoft.com.")
    var authority: String

    @Option(help: "The application (client) id of this server's registration.")
    var clientID: String

    @Option(help: "The environment variable that holds the client secret.")
    var clientSecretEnv = "CLIENT_SECRET"

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port, printed once listening).")
    var port = 0

    @Option(help: "The token store: a SPEC such as sqlite:cache.db or postgres://user@host/db?l1=on.")
    var store = "sqlite:webapp-cache.db"

    @Flag(help: "Allow a plain-http identity provider on loopback (a local test provider only).")
    var allowHTTPLoopback = false

    /// The confidential client of this server, on its store.
    func application() throws -> ConfidentialClientApplication {
        guard let secret = ProcessInfo.processInfo.environment[clientSecretEnv], !secret.isEmpty else {
            throw ValidationError("set \(clientSecretEnv) to the client secret of \(clientID)")
        }
        StoreDescription.registerPostgres()
        let cache = try StoreDescription(spec: store).open()
        var options = ApplicationOptions()
        options.http.allowsPlainHTTPOnLoopback = allowHTTPLoopback
        return try ConfidentialClientApplication(clientID: clientID, authority: authority, credential: .secret(secret), cache: cache, options: options)
    }

    /// Serves `router` until the process is stopped, printing the port once listening.
    func serve(_ router: Router<BasicRequestContext>) async throws {
        var logger = Logger(label: "webapp-example")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)), onServerRunning: { channel in
            FileHandle.standardOutput.write(Data("LISTENING \(channel.localAddress?.port ?? 0)\n".utf8))
        }, logger: logger)
        try await app.runService()
    }
}

/// Calls an API with a bearer token over HTTP.
enum APICall {
    /// The answer of `GET url` with `token`: its status, body and `WWW-Authenticate`.
    static func get(_ url: String, token: String) async throws -> (status: Int, body: String, challenge: String?) {
        guard let target = URL(string: url) else { throw ValidationError("not a URL: \(url)") }
        var request = URLRequest(url: target)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 30
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, String(decoding: data, as: UTF8.self), http?.value(forHTTPHeaderField: "WWW-Authenticate"))
    }
}

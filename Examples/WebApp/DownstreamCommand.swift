import ArgumentParser
import Foundation
import Hummingbird
import MSALHummingbird
import MSALLite
import TokenCache

/// `downstream`: the API the protected API calls. `/data` answers any valid token;
/// `/sensitive` needs the authentication context `--required-context` (a Conditional
/// Access step-up) and answers a token without it with a claims challenge.
struct DownstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "downstream", abstract: "The downstream API.")

    @OptionGroup var server: ServerOptions

    @Option(help: "An identifier tokens for this API may carry in aud (its client id is always accepted).")
    var audience: [String] = []

    @Option(help: "The authentication context /sensitive requires.")
    var requiredContext = "c1"

    func run() async throws {
        let api = WebAPIAuthentication(application: try server.application(), options: .init(audiences: [server.clientID] + audience))
        let router = Router()
        router.get("/data") { request, _ -> Response in
            let caller = try await api.authenticate(request)
            return JSONText.response(["message": .string("downstream data for \(caller.username ?? "an app")")])
        }
        router.get("/sensitive") { request, _ -> Response in
            let caller = try await api.authenticate(request)
            guard caller.authenticationContexts.contains(requiredContext) else {
                let claims = #"{"access_token":{"acrs":{"essential":true,"value":"\#(requiredContext)"}}}"#
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: ClaimsChallenge.header(claims: claims)])
            }
            return JSONText.response(["message": .string("sensitive data for \(caller.username ?? "an app")")])
        }
        router.get("/health") { _, _ in "ok" }
        try await server.serve(router)
    }
}

import ArgumentParser
import Foundation
import Hummingbird
import MSALHummingbird
import MSALLite
import TokenCache

/// `api`: the protected API. `/hello` and `/sensitive` check the caller's token, get a
/// token for the downstream API on the caller's behalf, and return the downstream answer;
/// a claims challenge of the downstream API goes back to the caller. `/me` stops after the
/// on-behalf-of token (the path the benchmark measures).
struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api", abstract: "The protected API, which calls the downstream API for its caller.")

    @OptionGroup var server: ServerOptions

    @Option(help: "An identifier tokens for this API may carry in aud (its client id is always accepted), such as api://my-api.")
    var audience: [String] = []

    @Option(help: "The scope a caller's token must carry.")
    var requiredScope = "access_as_user"

    @Option(help: "The downstream API's base URL.")
    var downstreamURL: String

    @Option(help: "The downstream API's scope to ask for on the caller's behalf.")
    var downstreamScope: String

    func run() async throws {
        let api = WebAPIAuthentication(application: try server.application(),
                                       options: .init(audiences: [server.clientID] + audience, requiredScopes: [requiredScope]))
        let router = Router()
        router.get("/hello") { request, _ in try await call(api, request, path: "data") }
        router.get("/sensitive") { request, _ in try await call(api, request, path: "sensitive") }
        router.get("/me") { request, _ -> Response in
            let caller = try await api.authenticate(request)
            let downstream = try await api.tokenOnBehalfOf(caller, scopes: [downstreamScope])
            return JSONText.response(["user": .string(caller.username ?? ""), "downstream_token_expires_on": .string(String(downstream.expiresOn))])
        }
        router.get("/health") { _, _ in "ok" }
        try await server.serve(router)
    }

    func call(_ api: WebAPIAuthentication, _ request: Request, path: String) async throws -> Response {
        let caller = try await api.authenticate(request)
        let downstream = try await api.tokenOnBehalfOf(caller, scopes: [downstreamScope])
        let answer = try await APICall.get("\(downstreamURL)/\(path)", token: downstream.accessToken)
        if answer.status == 401, let claims = answer.challenge.flatMap(ClaimsChallenge.claims(fromWWWAuthenticate:)) {
            throw api.claimsChallenge(claims)
        }
        guard answer.status == 200 else { return JSONText.response(["error": .string("the downstream API answered \(answer.status)")], status: .badGateway) }
        return JSONText.response(["user": .string(caller.username ?? ""), "downstream": .string(answer.body)])
    }
}

/// JSON answers.
enum JSONText {
    static func response(_ object: JSONObject, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: JSONValue.object(object).pythonCompactJSONText)))
    }
}

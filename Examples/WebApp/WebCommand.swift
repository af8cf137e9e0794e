import ArgumentParser
import Foundation
import Hummingbird
import MSALHummingbird
import MSALLite

/// `web`: the page users see. `/` greets the signed-in user and shows the protected API's
/// answer to `/hello`, called with the user's token; `/sensitive` does the same with the
/// API's `/sensitive`, whose downstream API asks for an authentication context.
struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "web", abstract: "The web app: sign-in, sign-out, and a page that calls the API.")

    @OptionGroup var server: ServerOptions

    @Option(help: "The app's address as browsers see it (default: http://localhost:PORT).")
    var publicURL: String?

    @Option(help: "The protected API's base URL.")
    var apiURL: String

    @Option(help: "The scope of the protected API to ask for, such as api://my-api/access_as_user.")
    var apiScope: String

    @Option(help: "The environment variable that holds the cookie key (32 bytes, base64), the same for every instance; without it, a random key for this process.")
    var cookieKeyEnv = "COOKIE_KEY"

    func run() async throws {
        guard server.port != 0 || publicURL != nil else {
            throw ValidationError("give --public-url, or a fixed --port (the redirect URI must be known before listening)")
        }
        let sealer = try ProcessInfo.processInfo.environment[cookieKeyEnv].map(CookieSealer.init(base64Key:)) ?? CookieSealer.random()
        let auth = WebAppAuthentication(application: try server.application(), sealer: sealer,
                                        configuration: .init(publicURL: publicURL ?? "http://localhost:\(server.port)", scopes: [apiScope]))
        let router = Router()
        auth.addRoutes(to: router)
        router.get("/") { request, _ in try await page(auth, request, path: "hello") }
        router.get("/sensitive") { request, _ in try await page(auth, request, path: "sensitive") }
        router.get("/health") { _, _ in "ok" }
        try await server.serve(router)
    }

    /// The page: who is signed in, and the API's answer to `path` with their token.
    func page(_ auth: WebAppAuthentication, _ request: Request, path: String) async throws -> Response {
        guard let user = auth.user(in: request) else {
            return Page.html(title: "Web app example", body: "<p id=\"user\">Not signed in.</p><p><a id=\"signin\" href=\"/signin?return=\(Page.escape(request.uri.path))\">Sign in</a></p>")
        }
        let token = try await auth.accessToken(scopes: [apiScope], for: request)
        let answer = try await APICall.get("\(apiURL)/\(path)", token: token.accessToken)
        if answer.status == 401, let claims = answer.challenge.flatMap(ClaimsChallenge.claims(fromWWWAuthenticate:)) {
            throw auth.challenge(request, claims: claims)
        }
        let result = answer.status == 200 ? answer.body : "the API answered \(answer.status)"
        return Page.html(title: "Web app example", body: """
            <p id="user">Signed in as \(Page.escape(user.username ?? user.homeAccountID))</p>
            <p>The API says: <code id="api">\(Page.escape(result))</code></p>
            <p><a id="sensitive" href="/sensitive">Sensitive data</a> · <a id="signout" href="/signout">Sign out</a></p>
            """)
    }
}

/// The example's HTML.
enum Page {
    static func html(title: String, body: String) -> Response {
        let text = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(escape(title))</title></head><body><h1>\(escape(title))</h1>\(body)</body></html>"
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}

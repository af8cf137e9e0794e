public import Foundation
public import Hummingbird
public import MSALLite
import TokenCache

/// Signs users in to a Hummingbird web app and gets tokens for them, as
/// Microsoft.Identity.Web does for ASP.NET Core:
///
/// - `GET /signin` starts the authorization code flow (PKCE, `state`, `nonce`,
///   `form_post`); the flow waits in a sealed cookie of the user's browser, so any instance
///   of the app can finish it;
/// - `POST /auth/redirect` redeems the code, caches the user's tokens in their partition
///   of the app's store, and opens a session (a sealed cookie naming the user);
/// - `GET /signout` removes the user's tokens (theirs only) and signs them out at the
///   provider;
/// - ``accessToken(scopes:for:)`` gets a token for the signed-in user from the cache,
///   refreshing it when it must; when only the user can help (no session, no usable
///   token, a claims challenge) it throws ``SignInRequired``, which Hummingbird turns into
///   a redirect to the sign-in.
///
/// An outage of the provider or the store is never reported as "sign in again": it
/// surfaces as a 503 with the library's one-line reason.
public final class WebAppAuthentication: Sendable {
    /// Paths, the public address and cookie settings.
    public struct Configuration: Sendable {
        /// The app's address as browsers see it, without a trailing slash (behind a proxy
        /// or a load balancer: the public one), such as `https://app.contoso.com`.
        public var publicURL: String
        /// The scopes to ask for at sign-in (the downstream API's), besides `openid`,
        /// `profile` and `offline_access`.
        public var scopes: [String]
        /// Where the sign-in starts.
        public var signInPath = "/signin"
        /// Where the provider posts the code: `publicURL` + this is the redirect URI to
        /// register.
        public var redirectPath = "/auth/redirect"
        /// Where the user signs out.
        public var signOutPath = "/signout"
        /// Where the user lands after signing out: `publicURL` + this is the front-channel
        /// logout URL to register.
        public var signedOutPath = "/"
        /// How long a session lasts, in seconds (8 hours by default). The user's tokens
        /// stay in the cache until they sign out or the provider refuses them.
        public var sessionLifetime = 8 * 3600
        /// Whether cookies are `Secure` (sent over https only; browsers also accept them on
        /// `http://localhost`). Keep it on: the sign-in's flow cookie must be
        /// `SameSite=None` to come back with the provider's cross-site `form_post`, which
        /// browsers allow only for secure cookies.
        public var secureCookies = true
        /// The session cookie's name.
        public var sessionCookie = "msal_session"
        /// The name of the cookie that holds a sign-in in progress.
        public var signInCookie = "msal_signin"

        /// A configuration for the app at `publicURL` asking for `scopes` at sign-in.
        public init(publicURL: String, scopes: [String]) {
            self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
            self.scopes = scopes
        }

        /// The redirect URI to register with the provider.
        public var redirectURI: String { publicURL + redirectPath }
    }

    /// The confidential client that signs users in and holds their tokens.
    public let application: ConfidentialClientApplication
    /// The configuration.
    public let configuration: Configuration
    private let sealer: CookieSealer

    /// How long a sign-in may take, from `/signin` to the redirect: 10 minutes.
    static let signInLifetime: TimeInterval = 600

    /// Signs users in with `application`, sealing cookies with `sealer` (give every
    /// instance of the app the same key).
    public init(application: ConfidentialClientApplication, sealer: CookieSealer, configuration: Configuration) {
        self.application = application
        self.sealer = sealer
        self.configuration = configuration
    }

    // MARK: - Routes

    /// Adds the sign-in, redirect and sign-out routes to `router`.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get(RouterPath(configuration.signInPath)) { request, _ in
            try await self.signIn(request)
        }
        router.post(RouterPath(configuration.redirectPath)) { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            return await self.redirected(request, fields: WebAppAuthentication.formFields(String(buffer: body)))
        }
        router.get(RouterPath(configuration.redirectPath)) { request, _ in
            await self.redirected(request, fields: WebAppAuthentication.formFields(request.uri.query ?? ""))
        }
        router.get(RouterPath(configuration.signOutPath)) { request, _ in
            try await self.signOut(request)
        }
    }

    /// `GET /signin?return=PATH&claims=JSON`: sends the browser to the provider. `return`
    /// is where the user goes afterwards (a path of this app only); `claims` is a claims
    /// challenge to satisfy. A user already signed in is hinted by name.
    func signIn(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let returnPath = WebAppAuthentication.localPath(query["return"].map(String.init))
        let claims = query["claims"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let flow: AuthCodeFlow
        do {
            flow = try await application.initiateAuthCodeFlow(scopes: configuration.scopes, redirectURI: configuration.redirectURI,
                                                              loginHint: user(in: request)?.username, claimsChallenge: claims, responseMode: .formPost)
        } catch {
            return WebAppAuthentication.failure(error)
        }
        let pending = PendingSignIn(flow: flow, returnPath: returnPath)
        let expiry = Date().addingTimeInterval(WebAppAuthentication.signInLifetime)
        var response = Response(status: .found, headers: [.location: flow.authorizationURL, .cacheControl: "no-store"])
        response.setCookie(cookie(configuration.signInCookie, value: try sealer.seal(pending, cookie: configuration.signInCookie, expiry: expiry),
                                  maxAge: Int(WebAppAuthentication.signInLifetime), crossSite: true))
        return response
    }

    /// The provider's redirect: redeems the code of the sign-in this browser started.
    func redirected(_ request: Request, fields: [String: String]) async -> Response {
        guard let text = request.cookies[configuration.signInCookie]?.value,
              let pending = sealer.open(PendingSignIn.self, from: text, cookie: configuration.signInCookie) else {
            return WebAppAuthentication.page(status: .badRequest, title: "Sign-in not started here",
                                             message: "This browser did not start this sign-in, or it took longer than 10 minutes.",
                                             link: (configuration.signInPath, "Sign in again"))
        }
        let result: AuthenticationResult
        do {
            result = try await application.acquireToken(byAuthCodeFlow: pending.flow, response: fields)
        } catch where error.code == .cancelled {
            return WebAppAuthentication.page(status: .forbidden, title: "Sign-in cancelled", message: "The sign-in was declined.",
                                             link: (configuration.signInPath, "Sign in"))
        } catch where error.code == .stateMismatch {
            return WebAppAuthentication.page(status: .badRequest, title: "Sign-in not started here", message: error.reason,
                                             link: (configuration.signInPath, "Sign in again"))
        } catch {
            return WebAppAuthentication.failure(error)
        }
        guard let homeAccountID = result.homeAccountID else {
            return WebAppAuthentication.page(status: .badGateway, title: "No account", message: "The provider's answer names no account.", link: nil)
        }
        let user = SignedInUser(homeAccountID: homeAccountID, environment: application.authority.host, username: result.username,
                                name: result.idTokenClaims?.string("name"))
        var response = Response(status: .found, headers: [.location: pending.returnPath, .cacheControl: "no-store"])
        do {
            let expiry = Date().addingTimeInterval(TimeInterval(configuration.sessionLifetime))
            response.setCookie(cookie(configuration.sessionCookie, value: try sealer.seal(user, cookie: configuration.sessionCookie, expiry: expiry),
                                      maxAge: configuration.sessionLifetime, crossSite: false))
        } catch {
            return WebAppAuthentication.page(status: .internalServerError, title: "Session not opened", message: "The session could not be sealed.", link: nil)
        }
        response.setCookie(cookie(configuration.signInCookie, value: "", maxAge: 0, crossSite: true))
        return response
    }

    /// `GET /signout`: removes the user's tokens from the cache (their partition only),
    /// closes the session and signs the user out at the provider.
    func signOut(_ request: Request) async throws -> Response {
        var destination = configuration.publicURL + configuration.signedOutPath
        if let user = user(in: request) {
            do {
                try await application.removeAccount(user.account)
                if let endSession = try await application.providerMetadata().endSessionEndpoint,
                   var components = URLComponents(url: endSession, resolvingAgainstBaseURL: false) {
                    components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "post_logout_redirect_uri", value: destination)]
                    destination = components.url?.absoluteString ?? destination
                }
            } catch {
                return WebAppAuthentication.failure(error)
            }
        }
        var response = Response(status: .found, headers: [.location: destination, .cacheControl: "no-store"])
        response.setCookie(cookie(configuration.sessionCookie, value: "", maxAge: 0, crossSite: false))
        return response
    }

    // MARK: - The signed-in user and their tokens

    /// The user signed in to `request`'s session, if any.
    public func user(in request: Request) -> SignedInUser? {
        guard let text = request.cookies[configuration.sessionCookie]?.value else { return nil }
        return sealer.open(SignedInUser.self, from: text, cookie: configuration.sessionCookie)
    }

    /// A token for `scopes` for the user signed in to `request`: from the cache, or
    /// refreshed with the user's refresh token (one refresh for every process and instance
    /// that shares the store).
    ///
    /// - Throws: ``SignInRequired`` when the user must sign in (no session, nothing usable
    ///   in the cache, the provider asks for interaction); ``ProviderUnavailable`` when
    ///   the provider or the store failed: the user's sign-in is fine, retry later.
    public func accessToken(scopes: [String], for request: Request) async throws -> AuthenticationResult {
        guard let user = user(in: request) else {
            throw SignInRequired(signInPath: configuration.signInPath, returnPath: request.uri.path)
        }
        do {
            if let result = try await application.acquireTokenSilent(scopes: scopes, account: user.account) {
                return result
            }
        } catch where error.code == .interactionRequired {
            throw SignInRequired(signInPath: configuration.signInPath, returnPath: request.uri.path, claims: error.server?.claims)
        } catch {
            throw ProviderUnavailable(error)
        }
        throw SignInRequired(signInPath: configuration.signInPath, returnPath: request.uri.path)
    }

    /// What to throw when an API answered a token of this user with a claims challenge
    /// (`WWW-Authenticate: Bearer ... claims="..."`; see ``ClaimsChallenge``): the user
    /// signs in again, and the sign-in asks for those claims.
    public func challenge(_ request: Request, claims: String?) -> SignInRequired {
        SignInRequired(signInPath: configuration.signInPath, returnPath: request.uri.path, claims: claims)
    }

    // MARK: - Helpers

    /// A cookie of this app: HttpOnly, for the whole site, `Secure` as configured;
    /// `SameSite=None` for the sign-in's cookie (it must come back with the provider's
    /// cross-site post), `Lax` for the session.
    private func cookie(_ name: String, value: String, maxAge: Int, crossSite: Bool) -> Cookie {
        let secure = configuration.secureCookies
        return Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true,
                      sameSite: crossSite && secure ? .none : .lax)
    }

    /// `text` as a path of this app (`/` when it is missing, absolute, or starts with `//`,
    /// which a browser would read as another host).
    static func localPath(_ text: String?) -> String {
        // Browsers drop tabs and line breaks from a URL: "/\t/evil" would read as "//evil".
        guard let text, text.hasPrefix("/"), !text.hasPrefix("//"), !text.contains("\\"),
              !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return "/" }
        return text
    }

    /// The fields of an `application/x-www-form-urlencoded` text.
    static func formFields(_ text: String) -> [String: String] {
        var components = URLComponents()
        components.percentEncodedQuery = text.replacingOccurrences(of: "+", with: "%20")
        var fields: [String: String] = [:]
        for item in components.queryItems ?? [] where fields[item.name] == nil {
            fields[item.name] = item.value ?? ""
        }
        return fields
    }

    /// The page for a failure of the library: 503 for an outage (retry later), 502 for a
    /// refusal or a bad answer of the provider.
    static func failure(_ error: MSALError) -> Response {
        let outage: Set<MSALError.Code> = [.network, .timedOut, .providerUnavailable, .cacheFailure]
        return page(status: outage.contains(error.code) ? .serviceUnavailable : .badGateway,
                    title: outage.contains(error.code) ? "Try again shortly" : "Sign-in failed", message: error.reason, link: nil)
    }

    /// A small HTML page.
    static func page(status: HTTPResponse.Status, title: String, message: String, link: (String, String)?) -> Response {
        let anchor = link.map { "<p><a href=\"\(HTML.escape($0.0))\">\(HTML.escape($0.1))</a></p>" } ?? ""
        let html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(HTML.escape(title))</title></head><body><h1>\(HTML.escape(title))</h1><p id=\"message\">\(HTML.escape(message))</p>\(anchor)</body></html>"
        return HTML.response(html, status: status)
    }
}

/// A sign-in in progress, sealed in the sign-in cookie.
struct PendingSignIn: Codable {
    var flow: AuthCodeFlow
    var returnPath: String
}

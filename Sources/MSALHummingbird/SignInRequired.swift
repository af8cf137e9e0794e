public import Foundation
public import Hummingbird
public import MSALLite

/// The signed-in user must sign in (again): thrown by
/// ``WebAppAuthentication/accessToken(scopes:for:)``; Hummingbird answers it with a
/// redirect to the sign-in, which comes back to the page that needed the token.
public struct SignInRequired: HTTPResponseError, CustomStringConvertible {
    /// The sign-in route.
    public let signInPath: String
    /// The page to come back to.
    public let returnPath: String
    /// The claims challenge the sign-in must answer, if any.
    public let claims: String?

    init(signInPath: String, returnPath: String, claims: String? = nil) {
        self.signInPath = signInPath
        self.returnPath = returnPath
        self.claims = claims
    }

    public var status: HTTPResponse.Status { .found }

    /// The sign-in URL, with where to come back and the claims to ask for.
    public var location: String {
        var components = URLComponents()
        components.path = signInPath
        components.queryItems = [URLQueryItem(name: "return", value: returnPath)] + (claims.map { [URLQueryItem(name: "claims", value: $0)] } ?? [])
        return components.string ?? signInPath
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }

    public var description: String { "sign-in required\(claims == nil ? "" : " (with a claims challenge)")" }
}

/// The provider or the token store failed while getting a token for the signed-in user:
/// their sign-in is fine; the request should be retried later. Hummingbird answers it with
/// 503 and the library's one-line reason.
public struct ProviderUnavailable: HTTPResponseError, CustomStringConvertible {
    /// The library's error.
    public let underlying: MSALError

    init(_ underlying: MSALError) {
        self.underlying = underlying
    }

    public var status: HTTPResponse.Status { .serviceUnavailable }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = WebAppAuthentication.page(status: .serviceUnavailable, title: "Try again shortly", message: underlying.reason, link: nil)
        response.headers[.retryAfter] = "5"
        return response
    }

    public var description: String { underlying.description }
}

/// HTML pages and escaping.
enum HTML {
    /// `text` safe inside HTML text and attribute values.
    static func escape(_ text: String) -> String {
        LoopbackPages.escapeHTML(text)
    }

    /// An HTML response that no cache keeps.
    static func response(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}

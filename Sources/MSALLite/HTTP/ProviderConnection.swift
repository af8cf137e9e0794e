import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import TokenCache

/// How an application talks to its identity provider.
public struct HTTPOptions: Sendable {
    /// The transport; ``URLSessionTransport`` by default.
    public var transport: any HTTPTransport
    /// How long one request may take. The default is 30 seconds.
    public var timeout: Duration
    /// How many times a request answered with 429 or a 5xx status is sent again (honouring
    /// `Retry-After`). The default is 2.
    public var maxRetries: Int
    /// The longest `Retry-After` obeyed; a longer one fails the request at once with the
    /// provider's answer. The default is 60 seconds.
    public var maxRetryAfter: Duration
    /// Whether an `http://` authority on a loopback address (127.0.0.1, ::1, localhost) is
    /// allowed: for tests and local identity servers only. Every other authority must be
    /// `https://`.
    public var allowsPlainHTTPOnLoopback: Bool

    /// Creates options.
    public init(transport: any HTTPTransport = URLSessionTransport(), timeout: Duration = .seconds(30), maxRetries: Int = 2,
                maxRetryAfter: Duration = .seconds(60), allowsPlainHTTPOnLoopback: Bool = false) {
        self.transport = transport
        self.timeout = timeout
        self.maxRetries = maxRetries
        self.maxRetryAfter = maxRetryAfter
        self.allowsPlainHTTPOnLoopback = allowsPlainHTTPOnLoopback
    }
}

/// The requests an application sends to its identity provider: GETs of JSON documents and
/// form POSTs to the token endpoint, with the retry, time-out and plain-HTTP rules of
/// ``HTTPOptions``, and typed errors. It logs what was asked and answered, never a form
/// value other than the grant type and scopes.
struct ProviderConnection: Sendable {
    let options: HTTPOptions
    let logger: Logger

    /// Whether `url` may be used: `https`, or `http` on loopback when allowed.
    func check(_ url: URL) throws(MSALError) {
        switch url.scheme?.lowercased() {
        case "https":
            return
        case "http" where ProviderConnection.isLoopback(url.host ?? ""):
            guard options.allowsPlainHTTPOnLoopback else {
                throw MSALError(code: .insecureAuthority, reason: "\(url.host ?? "")\(url.port.map { ":\($0)" } ?? "") is plain http://; tokens must travel over https. For a local test identity server only, set HTTPOptions.allowsPlainHTTPOnLoopback")
            }
        default:
            throw MSALError(code: .insecureAuthority, reason: "\(url.scheme ?? "no scheme")://\(url.host ?? "") is not https://; an identity provider must be reached over https")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// GETs a JSON object (a discovery document).
    func getJSON(_ url: URL, what: String) async throws(MSALError) -> JSONObject {
        try check(url)
        let response = try await send(HTTPRequest(method: "GET", url: url, headers: ["Accept": "application/json"]), what: what)
        return try object(response, what: what, url: url)
    }

    /// POSTs `form` to a token (or device code) endpoint and returns its JSON answer; an
    /// OAuth error answer throws ``MSALError/Code-swift.struct/serverError``.
    func postForm(_ url: URL, form: [(String, String)], headers: [String: String] = [:], what: String) async throws(MSALError) -> (JSONObject, correlationID: String) {
        try check(url)
        let correlationID = UUID().uuidString.lowercased()
        var allHeaders = headers
        allHeaders["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8"
        allHeaders["Accept"] = "application/json"
        allHeaders["client-request-id"] = correlationID
        allHeaders["return-client-request-id"] = "true"
        let body = Data(ProviderConnection.formEncode(form).utf8)
        let grant = form.first(where: { $0.0 == "grant_type" })?.1 ?? "-"
        logger.debug("POST \(what)", metadata: ["url": "\(ProviderConnection.redacted(url))", "grant_type": "\(grant)", "correlation_id": "\(correlationID)"])
        let response = try await send(HTTPRequest(method: "POST", url: url, headers: allHeaders, body: body), what: what)
        let object = try object(response, what: what, url: url)
        return (object, object.string("correlation_id") ?? response.headers["client-request-id"] ?? correlationID)
    }

    /// Sends `request`, retrying 429 and 5xx answers as ``HTTPOptions`` allows.
    private func send(_ request: HTTPRequest, what: String) async throws(MSALError) -> HTTPResponse {
        var attempt = 0
        while true {
            let started = ContinuousClock.now
            let response: HTTPResponse
            do {
                response = try await options.transport.send(request, timeout: options.timeout)
            } catch {
                throw transportError(error, what: what, url: request.url)
            }
            logger.debug("\(what) answered", metadata: ["status": "\(response.status)", "elapsed": "\(ContinuousClock.now - started)"])
            guard response.status == 429 || (500...599).contains(response.status), attempt < options.maxRetries else { return response }
            let pause = ProviderConnection.retryAfter(response.headers["retry-after"]) ?? .milliseconds(200 << attempt)
            guard pause <= options.maxRetryAfter else { return response }
            attempt += 1
            logger.info("\(what) answered \(response.status); retrying", metadata: ["attempt": "\(attempt)", "after": "\(pause)"])
            do {
                try await Task.sleep(for: pause)
            } catch {
                throw MSALError(code: .cancelled, reason: "the task was cancelled while waiting to retry \(what)")
            }
        }
    }

    /// The JSON object of `response`, or the typed error it stands for.
    private func object(_ response: HTTPResponse, what: String, url: URL) throws(MSALError) -> JSONObject {
        let parsed = try? JSONValue(parsing: response.body)
        guard let object = parsed?.objectValue else {
            throw MSALError(code: .invalidResponse, reason: "\(what) at \(ProviderConnection.redacted(url)) answered HTTP \(response.status) with \(response.body.isEmpty ? "an empty body" : "a body that is not a JSON object") (\(response.headers["content-type"] ?? "no content type")). Check the authority URL; if it is right, the provider is failing: retry later")
        }
        if let error = object.string("error") {
            let server = MSALError.ServerError(error: error, errorDescription: object.string("error_description"), suberror: object.string("suberror"),
                                               correlationID: object.string("correlation_id") ?? response.headers["client-request-id"], httpStatus: response.status)
            throw MSALError(code: .serverError, reason: "\(what) refused the request (HTTP \(response.status)). \(ProviderConnection.advice(for: server))", server: server)
        }
        guard (200...299).contains(response.status) else {
            throw MSALError(code: .invalidResponse, reason: "\(what) answered HTTP \(response.status) without an OAuth error. Retry later; if it persists, check the authority URL")
        }
        return object
    }

    private func transportError(_ error: any Error, what: String, url: URL) -> MSALError {
        if error is CancellationError {
            return MSALError(code: .cancelled, reason: "the task was cancelled during \(what)")
        }
        if let error = error as? URLError {
            if error.code == .timedOut {
                return MSALError(code: .timedOut, reason: "\(what) at \(ProviderConnection.redacted(url)) did not answer within \(options.timeout). Check the network, or raise HTTPOptions.timeout")
            }
            if error.code == .cancelled {
                return MSALError(code: .cancelled, reason: "\(what) was cancelled")
            }
            return MSALError(code: .network, reason: "cannot reach \(what) at \(ProviderConnection.redacted(url)) (URL error \(error.code.rawValue)). Check the network, a proxy, or the authority URL")
        }
        if let error = error as? MSALError { return error }
        return MSALError(code: .network, reason: "cannot reach \(what) at \(ProviderConnection.redacted(url)) (\(type(of: error))). Check the network, a proxy, or the authority URL")
    }

    /// What to do about a provider's OAuth error.
    static func advice(for server: MSALError.ServerError) -> String {
        switch server.error {
        case "invalid_grant": return "The grant (code, refresh token, password or assertion) is not valid any more: sign the user in again"
        case "invalid_client", "unauthorized_client": return "Check the client id and its credential (secret, certificate), and that the app is registered for this flow"
        case "invalid_scope": return "Check the scopes: they must be registered for the app and belong to one resource"
        case "interaction_required", "consent_required", "login_required": return "The user must sign in interactively"
        case "temporarily_unavailable", "server_error": return "The provider is failing; retry later"
        default: return "See the provider's description below"
        }
    }

    /// `url` without its query (which never carries secrets here, but may carry hints).
    static func redacted(_ url: URL) -> String {
        var components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        components?.query = nil
        components?.fragment = nil
        components?.user = nil
        components?.password = nil
        return components?.string ?? "the endpoint"
    }

    /// A `Retry-After` value (seconds or an HTTP date) as a duration.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(max(0, Int(date.timeIntervalSinceNow * 1000)))
    }

    /// `application/x-www-form-urlencoded` text.
    static func formEncode(_ form: [(String, String)]) -> String {
        form.map { "\(formEscape($0.0))=\(formEscape($0.1))" }.joined(separator: "&")
    }

    /// RFC 3986's unreserved characters, the only ones a form value keeps as they are.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func formEscape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}

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
    /// How long one request may take, from sending it to the last byte of the answer (a
    /// deadline, not an idle time-out: a provider that trickles its answer is cut off
    /// too). The default is 30 seconds.
    public var timeout: Duration
    /// How many times a request answered with 429 or a 5xx status is sent again (honouring
    /// `Retry-After`). Only requests that may safely be repeated are: discovery, refresh
    /// token, client credentials and on-behalf-of requests; an authorization code, a device
    /// code or a password is never sent twice. The default is 2.
    public var maxRetries: Int
    /// The longest `Retry-After` waited for before retrying; a longer one fails the request
    /// at once with the provider's answer (and the same request is not sent again before
    /// it passes). The default is 60 seconds.
    public var maxRetryAfter: Duration
    /// Whether an `http://` authority on a loopback address (127.0.0.1, ::1, localhost) is
    /// allowed: for tests and local identity servers only. Every other authority must be
    /// `https://`, and so must every redirect.
    public var allowsPlainHTTPOnLoopback: Bool
    /// The largest answer accepted, in bytes; a larger one is an `invalidResponse`. The
    /// default is 1 MiB (token responses are a few kilobytes).
    public var maxResponseBytes: Int

    /// Creates options.
    public init(transport: any HTTPTransport = URLSessionTransport(), timeout: Duration = .seconds(30), maxRetries: Int = 2,
                maxRetryAfter: Duration = .seconds(60), allowsPlainHTTPOnLoopback: Bool = false, maxResponseBytes: Int = 1 << 20) {
        self.transport = transport
        self.timeout = timeout
        self.maxRetries = maxRetries
        self.maxRetryAfter = maxRetryAfter
        self.allowsPlainHTTPOnLoopback = allowsPlainHTTPOnLoopback
        self.maxResponseBytes = maxResponseBytes
    }
}

/// The requests an application sends to its identity provider: GETs of JSON documents and
/// form POSTs to the token endpoint, with the retry, deadline, redirect, size and
/// plain-HTTP rules of ``HTTPOptions``, MSAL Python's throttling (``ProviderThrottle``),
/// and typed errors. It logs what was asked and answered, never a form value other than
/// the grant type and scopes.
struct ProviderConnection: Sendable {
    let options: HTTPOptions
    let logger: Logger
    /// The headers MSAL sends with every token request to describe itself (its
    /// `default_headers`): library, version, operating system, what it understands, and
    /// the app's name and version when it gives them.
    let clientHeaders: [String: String]

    /// The library's version, as `x-client-ver` reports it.
    static let libraryVersion = "1.0.0"

    /// The operating system as `x-client-os` names it: Python's `sys.platform`.
    #if os(Linux)
    static let platform = "linux"
    #elseif os(macOS)
    static let platform = "darwin"
    #else
    static let platform = "unknown"
    #endif

    init(options: HTTPOptions, logger: Logger, appName: String? = nil, appVersion: String? = nil) {
        self.options = options
        self.logger = logger
        var headers = ["x-client-sku": "MSAL.Swift", "x-client-ver": ProviderConnection.libraryVersion, "x-client-os": ProviderConnection.platform,
                       "x-ms-lib-capability": "retry-after, h429"]
        if let appName, !appName.isEmpty { headers["x-app-name"] = appName }
        if let appVersion, !appVersion.isEmpty { headers["x-app-ver"] = appVersion }
        clientHeaders = headers
    }
    /// Failures remembered so that the same request is not sent again too soon.
    let throttle = ProviderThrottle()

    /// The grants whose requests may be sent twice: answering one twice does no harm.
    static let repeatableGrants: Set<String> = ["refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"]

    /// Whether `url` may be used: `https`, or `http` on loopback when allowed.
    func check(_ url: URL) throws(MSALError) {
        switch url.scheme?.lowercased() {
        case "https":
            return
        case "http" where isLoopbackHost(url.host ?? ""):
            guard options.allowsPlainHTTPOnLoopback else {
                throw MSALError(code: .insecureAuthority, reason: "\(url.host ?? "")\(url.port.map { ":\($0)" } ?? "") is plain http://; tokens must travel over https. For a local test identity server only, set HTTPOptions.allowsPlainHTTPOnLoopback")
            }
        default:
            throw MSALError(code: .insecureAuthority, reason: "\(url.scheme ?? "no scheme")://\(url.host ?? "") is not https://; an identity provider must be reached over https")
        }
    }


    /// GETs a JSON object (a discovery document).
    func getJSON(_ url: URL, what: String) async throws(MSALError) -> JSONObject {
        try check(url)
        let request = HTTPRequest(method: "GET", url: url, headers: ["Accept": "application/json"])
        return try await exchange(request, what: what, repeatable: true, throttleKey: nil, grant: nil).object
    }

    /// GETs a token from a managed identity endpoint, as MSAL Python does: never retried (a
    /// retry is the caller's to decide), and a 429 or 5xx answer is remembered until its
    /// `Retry-After` (5 seconds without one), so the same request fails at once meanwhile.
    /// Plain `http://` is allowed: these endpoints are on the machine or link-local
    /// (169.254.169.254), as the platform sets them.
    func getManagedIdentityToken(_ url: URL, headers: [String: String], what: String) async throws(MSALError) -> JSONObject {
        try checkPlatformEndpoint(url)
        var allHeaders = headers
        allHeaders["Accept"] = "application/json"
        logger.debug("GET \(what)", metadata: ["url": "\(ProviderConnection.redacted(url))"])
        return try await exchange(HTTPRequest(method: "GET", url: url, headers: allHeaders), what: what, repeatable: false,
                                  throttleKey: ProviderThrottle.key(url: url, form: []), grant: nil, defaultRetryAfter: .seconds(5), followsRedirects: false,
                                  platformErrors: true).object
    }

    /// POSTs a form to an endpoint of the platform the process runs on (Cloud Shell's
    /// token endpoint) and returns the answer whatever its status: never retried, never
    /// redirected, and a 429 or 5xx answer remembered as for managed identity.
    func postPlatformForm(_ url: URL, form: [(String, String)], headers: [String: String], what: String) async throws(MSALError) -> HTTPResponse {
        try checkPlatformEndpoint(url)
        var allHeaders = headers
        allHeaders["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8"
        allHeaders["Accept"] = "application/json"
        let key = ProviderThrottle.key(url: url, form: form)
        if let remembered = throttle.remembered(key) { throw remembered }
        logger.debug("POST \(what)", metadata: ["url": "\(ProviderConnection.redacted(url))"])
        let request = HTTPRequest(method: "POST", url: url, headers: allHeaders, body: Data(ProviderConnection.formEncode(form).utf8))
        let response = try await send(request, what: what, repeatable: false, followsRedirects: false)
        if response.isProviderFailing {
            do {
                _ = try object(response, what: what, url: url)
            } catch {
                throttle.remember(error, response: response, key: key, grant: nil, defaultRetryAfter: .seconds(5))
                throw error
            }
        }
        return response
    }

    /// A managed identity endpoint, as the platform's variables name it, must be an http(s) URL.
    private func checkPlatformEndpoint(_ url: URL) throws(MSALError) {
        guard url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw MSALError(code: .invalidArgument, reason: "the managed identity endpoint \(ProviderConnection.redacted(url)) is not an http(s) URL. Check the platform's environment variables")
        }
    }

    /// Azure Arc's first step: GETs its endpoint without credentials and returns the realm of
    /// the `WWW-Authenticate: Basic realm=PATH` challenge of its 401 answer.
    func arcChallenge(_ url: URL, what: String) async throws(MSALError) -> String {
        try checkPlatformEndpoint(url)
        let request = HTTPRequest(method: "GET", url: url, headers: ["Metadata": "true", "Accept": "application/json"])
        let response = try await send(request, what: what, repeatable: false, followsRedirects: false)
        guard response.status == 401 else {
            _ = try object(response, what: what, url: url)  // the endpoint's own error, if it says one
            throw MSALError(code: .invalidResponse, reason: "\(what) answered HTTP \(response.status) instead of Azure Arc's challenge (401 with WWW-Authenticate). Check IDENTITY_ENDPOINT")
        }
        let parts = (response.headers["www-authenticate"] ?? "").split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0].lowercased() == "basic realm", !parts[1].isEmpty else {
            throw MSALError(code: .invalidResponse, reason: "\(what) answered 401 without the Basic realm challenge Azure Arc sends. Check IDENTITY_ENDPOINT")
        }
        return parts[1]
    }

    /// POSTs `form` to a token (or device code) endpoint and returns its JSON answer; an
    /// OAuth error answer throws ``MSALError/Code-swift.struct/serverError`` (or
    /// `providerUnavailable` for a 5xx or 429 status).
    func postForm(_ url: URL, form: [(String, String)], headers: [String: String] = [:], what: String) async throws(MSALError) -> (JSONObject, correlationID: String) {
        try check(url)
        let correlationID = UUID().uuidString.lowercased()
        var allHeaders = headers
        allHeaders["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8"
        allHeaders["Accept"] = "application/json"
        allHeaders["client-request-id"] = correlationID
        allHeaders["return-client-request-id"] = "true"
        allHeaders.merge(clientHeaders) { _, own in own }
        allHeaders["x-client-pid"] = String(ProcessInfo.processInfo.processIdentifier)
        let body = Data(ProviderConnection.formEncode(form).utf8)
        let grant = form.first(where: { $0.0 == "grant_type" })?.1
        logger.debug("POST \(what)", metadata: ["url": "\(ProviderConnection.redacted(url))", "grant_type": "\(grant ?? "-")", "correlation_id": "\(correlationID)"])
        let (object, response) = try await exchange(HTTPRequest(method: "POST", url: url, headers: allHeaders, body: body), what: what,
                                                    repeatable: grant.map(ProviderConnection.repeatableGrants.contains) ?? false,
                                                    throttleKey: ProviderThrottle.key(url: url, form: form), grant: grant)
        return (object, object.string("correlation_id") ?? response.headers["client-request-id"] ?? correlationID)
    }

    /// Sends `request` (unless the throttle remembers the same request failing), retrying
    /// as allowed, and returns its JSON object, or the typed error it stands for. The
    /// failures MSAL Python throttles are remembered under `throttleKey`.
    private func exchange(_ request: HTTPRequest, what: String, repeatable: Bool, throttleKey: String?,
                          grant: String?, defaultRetryAfter: Duration? = nil, followsRedirects: Bool = true,
                          platformErrors: Bool = false) async throws(MSALError) -> (object: JSONObject, response: HTTPResponse) {
        if let throttleKey, let remembered = throttle.remembered(throttleKey) {
            logger.info("\(what): not sent, the same request failed moments ago", metadata: ["error": "\(remembered.code)"])
            throw remembered
        }
        let response = try await send(request, what: what, repeatable: repeatable, followsRedirects: followsRedirects)
        do {
            return (try object(response, what: what, url: request.url, platformErrors: platformErrors), response)
        } catch {
            if let throttleKey { throttle.remember(error, response: response, key: throttleKey, grant: grant, defaultRetryAfter: defaultRetryAfter) }
            throw error
        }
    }

    /// Sends `request` with a deadline, following safe redirects and retrying 429 and 5xx
    /// answers as ``HTTPOptions`` allows when `repeatable`.
    private func send(_ request: HTTPRequest, what: String, repeatable: Bool, followsRedirects: Bool = true) async throws(MSALError) -> HTTPResponse {
        var request = request
        request.maxResponseBytes = options.maxResponseBytes
        var attempt = 0
        var redirects = 0
        while true {
            let started = ContinuousClock.now
            let response = try await sendOnce(request, what: what)
            logger.debug("\(what) answered", metadata: ["status": "\(response.status)", "elapsed": "\(ContinuousClock.now - started)"])
            if (300...399).contains(response.status), let location = response.headers["location"] {
                // A request that carries a platform credential in a header never follows one.
                guard followsRedirects else {
                    throw MSALError(code: .invalidResponse, reason: "\(what) redirected (HTTP \(response.status)); refused: the request carries the platform's credential, which goes to its own endpoint only")
                }
                redirects += 1
                request.url = try redirectTarget(location, from: request, status: response.status, hops: redirects, what: what)
                continue
            }
            guard repeatable, response.isProviderFailing, attempt < options.maxRetries else { return response }
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

    /// One exchange with the transport, bounded by ``HTTPOptions/timeout`` as a whole.
    private func sendOnce(_ request: HTTPRequest, what: String) async throws(MSALError) -> HTTPResponse {
        let transport = options.transport
        let timeout = options.timeout
        let outcome: Result<HTTPResponse?, any Error> = await withTaskGroup(of: Result<HTTPResponse?, any Error>.self) { group in
            group.addTask {
                do { return .success(try await transport.send(request, timeout: timeout)) } catch { return .failure(error) }
            }
            group.addTask {
                // The deadline: `nil` when it passes first.
                do { try await Task.sleep(for: timeout) } catch { return .failure(error) }
                return .success(nil)
            }
            let first = await group.next() ?? .success(nil)
            group.cancelAll()
            return first
        }
        switch outcome {
        case .success(let response?):
            if response.body.count > options.maxResponseBytes { throw tooLarge(what: what, url: request.url) }
            return response
        case .success(nil):
            if Task.isCancelled { throw MSALError(code: .cancelled, reason: "the task was cancelled during \(what)") }
            throw MSALError(code: .timedOut, reason: "\(what) at \(ProviderConnection.redacted(request.url)) did not answer within \(timeout). Check the network, or raise HTTPOptions.timeout")
        case .failure(let error):
            throw transportError(error, what: what, url: request.url)
        }
    }

    /// Where a redirect answer leads, if it may be followed: a `GET` anywhere over https
    /// (or allowed loopback http), a `POST` only by 307 or 308 (which keep the body), at
    /// most three hops.
    private func redirectTarget(_ location: String, from request: HTTPRequest, status: Int, hops: Int, what: String) throws(MSALError) -> URL {
        guard let target = URL(string: location, relativeTo: request.url)?.absoluteURL else {
            throw MSALError(code: .invalidResponse, reason: "\(what) redirected (HTTP \(status)) to an address that is not a URL; nothing was sent there")
        }
        let shown = ProviderConnection.redacted(target)
        do {
            try check(target)
        } catch {
            throw MSALError(code: .invalidResponse, reason: "\(what) redirected (HTTP \(status)) to \(shown), which is not https://; refused: the request carries credentials. Check the authority URL and any proxy")
        }
        guard hops <= 3 else {
            throw MSALError(code: .invalidResponse, reason: "\(what) redirected more than three times (last to \(shown)); refused. Check the authority URL")
        }
        guard request.method == "GET" || status == 307 || status == 308 else {
            throw MSALError(code: .invalidResponse, reason: "\(what) answered the POST with a redirect (HTTP \(status)) to \(shown) that would drop the form; refused. Check the authority URL")
        }
        logger.info("\(what) redirected", metadata: ["status": "\(status)", "to": "\(shown)"])
        return target
    }

    private func tooLarge(what: String, url: URL) -> MSALError {
        MSALError(code: .invalidResponse, reason: "\(what) at \(ProviderConnection.redacted(url)) answered with more than \(options.maxResponseBytes) bytes, which is no token response; refused. Check the authority URL, or raise HTTPOptions.maxResponseBytes")
    }

    /// The JSON object of `response`, or the typed error it stands for: a failing or
    /// throttling provider (5xx, 429) whatever its body, an OAuth error, or an answer that is
    /// not a JSON object. With `platformErrors` (a managed identity endpoint), a refusal in
    /// App Service's and Machine Learning's own shape is a server error too.
    private func object(_ response: HTTPResponse, what: String, url: URL, platformErrors: Bool = false) throws(MSALError) -> JSONObject {
        let object = (try? JSONValue(parsing: response.body))?.objectValue
        // Service Fabric and Cloud Shell nest theirs: {"error": {"code": ..., "message": ...}}.
        let nested = object?["error"]?.objectValue.flatMap { error in
            error.string("code").map { MSALError.ServerError(error: $0, errorDescription: error.string("message"), suberror: nil, correlationID: nil, httpStatus: response.status) }
        }
        let server = nested ?? object.flatMap { object in
            object.string("error").map { error in
                MSALError.ServerError(
                    error: error, errorDescription: object.string("error_description"), suberror: object.string("suberror"),
                    correlationID: object.string("correlation_id") ?? response.headers["client-request-id"], httpStatus: response.status,
                    errorCodes: (object["error_codes"]?.items ?? []).compactMap { $0.wholeNumber.map(Int.init) },
                    traceID: object.string("trace_id"), timestamp: object.string("timestamp"), claims: object.string("claims"))
            }
        }
        if response.isProviderFailing {
            throw MSALError(code: .providerUnavailable, reason: "\(what) at \(ProviderConnection.redacted(url)) answered HTTP \(response.status)\(retrySuffix(response)). The provider is failing or throttling, not refusing the sign-in: retry later", server: server)
        }
        guard let object else {
            throw MSALError(code: .invalidResponse, reason: "\(what) at \(ProviderConnection.redacted(url)) answered HTTP \(response.status) with \(response.body.isEmpty ? "an empty body" : "a body that is not a JSON object") (\(response.headers["content-type"] ?? "no content type")). Check the authority URL; if it is right, the provider is failing: retry later")
        }
        if let server {
            throw MSALError(code: .serverError, reason: "\(what) refused the request (HTTP \(response.status)). \(ProviderConnection.advice(for: server))", server: server)
        }
        if platformErrors, !(200...299).contains(response.status), let status = object["statusCode"], let message = object.string("message") {
            // App Service and Machine Learning answer {"statusCode": N, "message": ...};
            // MSAL Python reports it as invalid_scope with "N, message".
            let code = status.wholeNumber.map { String($0) } ?? status.stringValue ?? "\(response.status)"
            let platform = MSALError.ServerError(error: "invalid_scope", errorDescription: "\(code), \(message)", suberror: nil, correlationID: nil, httpStatus: response.status)
            throw MSALError(code: .serverError, reason: "\(what) refused the request (HTTP \(response.status)). Check the resource, that the identity is assigned to this resource, and the platform's variables", server: platform)
        }
        guard (200...299).contains(response.status) else {
            throw MSALError(code: .invalidResponse, reason: "\(what) answered HTTP \(response.status) without an OAuth error. Retry later; if it persists, check the authority URL")
        }
        return object
    }

    /// ` and asked to wait N s (Retry-After)`, for a failing provider's message.
    private func retrySuffix(_ response: HTTPResponse) -> String {
        guard let wait = ProviderConnection.retryAfter(response.headers["retry-after"]) else { return "" }
        return " and asked to wait \(wait.components.seconds) s (Retry-After)"
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
            if error.code == .dataLengthExceedsMaximum {
                return tooLarge(what: what, url: url)
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

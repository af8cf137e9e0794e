public import Foundation
#if canImport(FoundationNetworking)
public import FoundationNetworking
#endif
import TokenCache

/// One HTTP request to an identity provider.
public struct HTTPRequest: Sendable {
    /// `GET` or `POST`.
    public var method: String
    /// The URL.
    public var url: URL
    /// Header fields.
    public var headers: [String: String]
    /// The body (a form, for token requests).
    public var body: Data?

    /// Creates a request.
    public init(method: String, url: URL, headers: [String: String] = [:], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// An identity provider's HTTP answer.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields, names lower-cased.
    public var headers: [String: String]
    /// The body.
    public var body: Data

    /// Creates a response; header names are lower-cased.
    public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.body = body
    }
}

/// How MSALLite talks HTTP. The default, ``URLSessionTransport``, fits most apps; supply
/// your own to route through a proxy library, to pin certificates, or to inject faults in
/// tests.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the answer, whatever its status; throws only when no
    /// answer arrived (or it took longer than `timeout`).
    func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse
}

/// The default transport: Foundation's `URLSession` with an ephemeral configuration (no
/// cookies, no HTTP cache, no credential store).
public final class URLSessionTransport: HTTPTransport {
    private let session: URLSession

    /// Creates a transport that trusts the system's certificate store.
    public init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.httpShouldSetCookies = false
        session = URLSession(configuration: configuration)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// Sends `request` with `URLSession`.
    public func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        urlRequest.httpBody = request.body
        urlRequest.timeoutInterval = timeout.timeInterval
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await session.data(for: urlRequest)
        guard let http = response as? HTTPURLResponse else {
            throw URLError(.badServerResponse)
        }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name] = value }
        }
        return HTTPResponse(status: http.statusCode, headers: headers, body: data)
    }
}

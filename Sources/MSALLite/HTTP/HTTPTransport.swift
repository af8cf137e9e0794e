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
    /// The largest answer body to accept, in bytes: a transport stops reading past it and
    /// throws `URLError(.dataLengthExceedsMaximum)`. `nil` for no limit.
    public var maxResponseBytes: Int?

    /// Creates a request.
    public init(method: String, url: URL, headers: [String: String] = [:], body: Data? = nil, maxResponseBytes: Int? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.maxResponseBytes = maxResponseBytes
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

extension HTTPResponse {
    /// Whether the provider is failing or throttling (a 5xx or 429 status): such an answer
    /// is retried where the request may be repeated, remembered with its `Retry-After`, and
    /// never means that the sign-in was refused.
    var isProviderFailing: Bool { status == 429 || (500...599).contains(status) }
}

/// How MSALLite talks HTTP. The default, ``URLSessionTransport``, fits most apps; supply
/// your own to route through a proxy library, to pin certificates, or to inject faults in
/// tests.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the answer, whatever its status; throws only when no
    /// answer arrived (or it took longer than `timeout`). A redirect is returned as it is:
    /// MSALLite decides whether to follow it. Cancelling the task should stop the request.
    func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse
}

/// The default transport: Foundation's `URLSession` with an ephemeral configuration (no
/// cookies, no HTTP cache, no credential store). It follows no redirect, stops reading an
/// answer past ``HTTPRequest/maxResponseBytes``, and stops the request when the task is
/// cancelled.
public final class URLSessionTransport: HTTPTransport {
    private let session: URLSession
    private let exchanges: ExchangeDelegate

    /// Creates a transport that trusts the system's certificate store.
    public init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.httpShouldSetCookies = false
        exchanges = ExchangeDelegate()
        session = URLSession(configuration: configuration, delegate: exchanges, delegateQueue: nil)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// Sends `request` with `URLSession`.
    public func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        urlRequest.httpBody = request.body
        urlRequest.timeoutInterval = timeout.timeInterval
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        let task = session.dataTask(with: urlRequest)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                exchanges.start(task, limit: request.maxResponseBytes, continuation: continuation)
            }
        } onCancel: {
            task.cancel()
        }
    }
}

/// Collects each task's answer and hands it over when the task completes.
private final class ExchangeDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `exchanges` is only touched under its mutex.
    private struct Exchange {
        let continuation: CheckedContinuation<HTTPResponse, any Error>
        let limit: Int?
        var response: HTTPURLResponse?
        var body = Data()
        var tooLarge = false
    }

    private let exchanges = Locked<[Int: Exchange]>([:])

    func start(_ task: URLSessionDataTask, limit: Int?, continuation: CheckedContinuation<HTTPResponse, any Error>) {
        exchanges.withLock { $0[task.taskIdentifier] = Exchange(continuation: continuation, limit: limit) }
        task.resume()
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let tooLarge = exchanges.withLock { exchanges -> Bool in
            guard var exchange = exchanges[dataTask.taskIdentifier] else { return false }
            exchange.response = response as? HTTPURLResponse
            if let limit = exchange.limit, response.expectedContentLength > Int64(limit) { exchange.tooLarge = true }
            exchanges[dataTask.taskIdentifier] = exchange
            return exchange.tooLarge
        }
        completionHandler(tooLarge ? .cancel : .allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let tooLarge = exchanges.withLock { exchanges -> Bool in
            guard var exchange = exchanges[dataTask.taskIdentifier] else { return false }
            exchange.body.append(data)
            if let limit = exchange.limit, exchange.body.count > limit {
                exchange.tooLarge = true
                exchange.body = Data()
            }
            exchanges[dataTask.taskIdentifier] = exchange
            return exchange.tooLarge
        }
        if tooLarge { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        // The redirect itself is the answer: the caller checks where it leads.
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let exchange = exchanges.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        if exchange.tooLarge {
            exchange.continuation.resume(throwing: URLError(.dataLengthExceedsMaximum))
        } else if let error {
            exchange.continuation.resume(throwing: error)
        } else if let http = exchange.response ?? task.response as? HTTPURLResponse {
            var headers: [String: String] = [:]
            for (name, value) in http.allHeaderFields {
                if let name = name as? String, let value = value as? String { headers[name] = value }
            }
            exchange.continuation.resume(returning: HTTPResponse(status: http.statusCode, headers: headers, body: exchange.body))
        } else {
            exchange.continuation.resume(throwing: URLError(.badServerResponse))
        }
    }
}

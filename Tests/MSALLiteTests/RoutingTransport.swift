import Foundation
@testable import MSALLite

/// A transport that sends every `https://HOST/...` request to the local identity server
/// over plain HTTP, naming HOST in `X-Forwarded-Host`, as DNS and TLS would deliver it:
/// the server answers as that host. Tests of behaviour that depends on host names
/// (Microsoft's clouds, regional hosts, authority validation) use it; the requests are
/// real HTTP to a real server, only the name resolution is the test's.
struct RoutingTransport: HTTPTransport {
    let serverPort: Int
    let inner = URLSessionTransport()

    func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        var routed = request
        if request.url.scheme == "https", let host = request.url.host, var components = URLComponents(url: request.url, resolvingAgainstBaseURL: false) {
            components.scheme = "http"
            components.host = "127.0.0.1"
            components.port = serverPort
            routed.url = components.url ?? request.url
            routed.headers["X-Forwarded-Host"] = host
        }
        return try await inner.send(routed, timeout: timeout)
    }
}

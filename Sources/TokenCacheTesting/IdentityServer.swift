public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The local identity server of the tests (`Tests/IdentityServer/identity_server.py`), run
/// on a free loopback port for the lifetime of this object, and steered through its
/// `/_control` endpoints.
public final class IdentityServer: @unchecked Sendable {
    // @unchecked: the fields are set in `init` and only read afterwards.
    private let process: BackgroundProcess
    /// The port it listens on over plain HTTP.
    public let port: Int
    /// The port the same server listens on over HTTPS, when started with a certificate.
    public let securePort: Int?

    /// Starts a server over plain HTTP and, given a certificate and its key (PEM files),
    /// also over HTTPS on a second port, with one state behind both.
    public init(certificate: String? = nil, key: String? = nil) throws {
        let script = PythonPeer.repositoryRoot.appendingPathComponent("Tests/IdentityServer/identity_server.py").path
        var arguments = ["-u", script]
        if let certificate, let key { arguments += ["--tls", certificate, key] }
        let process = try BackgroundProcess(PythonPeer.python, arguments)
        self.process = process
        let expected = certificate == nil ? "PORT " : "TLS_PORT "
        func port(_ label: String) -> Int? {
            // A local function of `init` may not touch `self` before every field is set.
            process.currentOutput().split(separator: "\n").first(where: { $0.hasPrefix(label) }).flatMap { Int($0.dropFirst(label.count)) }
        }
        guard process.waitForOutput(expected, timeout: 20), let plain = port("PORT ") else {
            let result = process.wait()
            throw IdentityServerError(reason: "the identity server did not start: \(result.stderr.suffix(500))")
        }
        self.port = plain
        self.securePort = certificate == nil ? nil : port("TLS_PORT ")
    }

    /// Writes a self-signed certificate for 127.0.0.1 and localhost, and its key, into
    /// `folder` with the openssl command, and returns their paths.
    public static func makeCertificate(in folder: URL) throws -> (certificate: String, key: String) {
        let certificate = folder.appendingPathComponent("server-cert.pem").path
        let key = folder.appendingPathComponent("server-key.pem").path
        let process = try BackgroundProcess("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                             "-nodes", "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=localhost",
                                                             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        let result = process.wait()
        guard result.status == 0 else { throw IdentityServerError(reason: "openssl could not make a certificate: \(result.stderr.suffix(500))") }
        return (certificate, key)
    }

    deinit { process.send(SIGKILL) }

    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// `https://127.0.0.1:TLS_PORT`, when started with a certificate.
    public var secureBaseURL: String? { securePort.map { "https://127.0.0.1:\($0)" } }

    /// The authority of `tenant` on this server.
    public func authority(_ tenant: String = "common") -> String { "\(baseURL)/\(tenant)" }

    /// Sends `body` to `/_control/<what>`.
    public func control(_ what: String, _ body: [String: Any] = [:]) async throws {
        var request = URLRequest(url: URL(string: "\(baseURL)/_control/\(what)")!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (_, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw IdentityServerError(reason: "control \(what) failed") }
    }

    /// The requests the server received: endpoint, grant_type, client_id, scope, path,
    /// anchor, sku (the client library's `x-client-sku`), pid (its `x-client-pid`), time,
    /// and for refresh grants `rt` (a fingerprint of the refresh token sent), `status` and
    /// `issued_rt` (of the one issued).
    public func requests() async throws -> [[String: String]] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "\(baseURL)/_control/requests")!)
        let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
        return list.map { $0.compactMapValues { $0 as? String } }
    }

    /// Follows the authorize URL as a browser would, without following the redirect, and
    /// returns the redirect's query parameters, or, for `response_mode=form_post`, the
    /// fields of the form the page would post.
    public func signIn(at authorizationURL: String) async throws -> [String: String] {
        final class NoRedirect: NSObject, URLSessionTaskDelegate {
            func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                            newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
                completionHandler(nil)
            }
        }
        let session = URLSession(configuration: .ephemeral, delegate: NoRedirect(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let (body, response) = try await session.data(from: URL(string: authorizationURL)!)
        if (response as? HTTPURLResponse)?.statusCode == 200 {
            return try IdentityServer.postedFields(String(decoding: body, as: UTF8.self))
        }
        guard let http = response as? HTTPURLResponse, let location = http.value(forHTTPHeaderField: "Location"),
              let items = URLComponents(string: location)?.queryItems else {
            throw IdentityServerError(reason: "the authorize endpoint did not redirect")
        }
        return Dictionary(items.map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
    }
}

extension IdentityServer {
    /// The hidden fields of a `form_post` page (`<input type="hidden" name="N" value="V"/>`),
    /// unescaped.
    static func postedFields(_ page: String) throws -> [String: String] {
        var fields: [String: String] = [:]
        for input in page.components(separatedBy: "<input ").dropFirst() {
            func attribute(_ name: String) -> String? {
                guard let start = input.range(of: name + "=\""), let end = input[start.upperBound...].firstIndex(of: "\"") else { return nil }
                return String(input[start.upperBound..<end])
                    .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#x27;", with: "'")
                    .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
            }
            if let name = attribute("name"), let value = attribute("value") { fields[name] = value }
        }
        guard !fields.isEmpty else { throw IdentityServerError(reason: "the authorize endpoint answered with a page that posts nothing") }
        return fields
    }
}

/// A failure of the test identity server itself.
public struct IdentityServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public let reason: String
    public var description: String { reason }

    /// Creates an error.
    public init(reason: String) {
        self.reason = reason
    }
}

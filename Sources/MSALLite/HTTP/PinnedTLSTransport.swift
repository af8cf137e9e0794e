import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import TokenCache

/// An HTTPS transport that trusts exactly one server certificate, named by its SHA-1
/// thumbprint, and nothing else: no certificate authority, no host name check. Service
/// Fabric's managed identity endpoint presents a certificate of the cluster that no public
/// authority signed; the platform names its thumbprint (`IDENTITY_SERVER_THUMBPRINT`), and
/// MSAL Python pins it the same way. The request (with its secret header) is queued at
/// once but leaves only encrypted, after the handshake accepted the certificate: TLS holds
/// application data until then. TLS 1.2 at least; no trust roots are loaded.
///
/// One request per connection (`Connection: close`); redirects are returned, not followed.
struct PinnedTLSTransport: HTTPTransport {
    /// The SHA-1 digest of the one certificate trusted (the DER of the server's leaf).
    let thumbprint: [UInt8]

    func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        guard request.url.scheme?.lowercased() == "https", let host = request.url.host, !host.isEmpty else {
            throw MSALError(code: .invalidArgument, reason: "a pinned endpoint must be https:// with a host; check IDENTITY_ENDPOINT")
        }
        let port = request.url.port ?? 443
        var configuration = TLSConfiguration.makeClientConfiguration()
        // The pin replaces chain and host name checks (the callback below is the check).
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates([])
        configuration.minimumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: configuration)
        let expected = thumbprint
        let mismatch = Locked(false)
        let group = MultiThreadedEventLoopGroup.singleton
        let eventLoop = group.next()
        let answer = eventLoop.makePromise(of: HTTPResponse.self)
        let limit = request.maxResponseBytes
        let literalAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
            .channelInitializer { channel in
                do {
                    let tls = try NIOSSLClientHandler(context: context, serverHostname: literalAddress ? nil : host) { certificates, verdict in
                        let der = (try? certificates.first?.toDERBytes()) ?? []
                        if !der.isEmpty, CertificateSigner.sha1(der) == expected {
                            verdict.succeed(.certificateVerified)
                        } else {
                            mismatch.withLock { $0 = true }
                            verdict.succeed(.failed)
                        }
                    }
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(answer: answer, limit: limit))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            answer.fail(error)
            throw error
        }
        if Task.isCancelled {
            channel.close(promise: nil)
            answer.fail(CancellationError())
            throw CancellationError()
        }
        var headers = HTTPHeaders(request.headers.map { ($0.key, $0.value) })
        headers.replaceOrAdd(name: "Host", value: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        headers.replaceOrAdd(name: "Connection", value: "close")
        if let body = request.body { headers.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        var path = request.url.path.isEmpty ? "/" : request.url.path
        if let query = request.url.query { path += "?" + query }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body = request.body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        do {
            return try await withTaskCancellationHandler {
                try await answer.futureResult.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            channel.close(promise: nil)
            if mismatch.withLock({ $0 }) {
                throw MSALError(code: .untrustedAuthority, reason: "the server at \(host):\(port) presented a certificate whose thumbprint is not IDENTITY_SERVER_THUMBPRINT, so no request was sent. Check the cluster's certificate and the variable")
            }
            throw error
        }
    }
}

/// Collects one HTTP response (head, body up to a limit, end) into a promise.
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used on its channel's event loop only.
    typealias InboundIn = HTTPClientResponsePart

    private let answer: EventLoopPromise<HTTPResponse>
    private let limit: Int?
    private var head: HTTPResponseHead?
    private var body = Data()

    init(answer: EventLoopPromise<HTTPResponse>, limit: Int?) {
        self.answer = answer
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
        case .body(var buffer):
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
            if let limit, body.count > limit {
                answer.fail(URLError(.dataLengthExceedsMaximum))
                context.close(promise: nil)
            }
        case .end:
            guard let head else { return }
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name] = value }
            answer.succeed(HTTPResponse(status: Int(head.status.code), headers: headers, body: body))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        answer.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        answer.fail(URLError(.networkConnectionLost))
        context.fireChannelInactive()
    }
}

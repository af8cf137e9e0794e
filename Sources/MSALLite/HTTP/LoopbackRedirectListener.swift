import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A one-shot HTTP listener on the loopback addresses that receives the browser's redirect
/// at the end of a desktop sign-in (RFC 8252's loopback redirect).
///
/// The redirect URI says `localhost`, which a browser may resolve to 127.0.0.1 or to ::1, so
/// it listens on the same port at both: no other local program can take the address the
/// browser picks. It answers every request with a small page and hands on the first
/// redirect that carries the flow's `state` and a `code` or an `error`. Requests with
/// another state (another local program guessing) are answered and ignored, as MSAL does,
/// so they cannot end the sign-in.
final class LoopbackRedirectListener: Sendable {
    private let channels: [any Channel]
    private let redirects: AsyncStream<[String: String]>
    /// The port it listens on.
    let port: Int

    /// The redirect URI to register with the flow: `http://localhost:PORT`, the form Entra ID
    /// accepts for any port on public clients.
    var redirectURI: String { "http://localhost:\(port)" }

    /// How many free ports are tried when one is free on 127.0.0.1 but taken on ::1.
    private static let attempts = 8

    /// Listens on 127.0.0.1:`port` and [::1]:`port` (0: a port free on both) for a redirect
    /// carrying `state`. Where the machine has no IPv6 loopback, 127.0.0.1 alone.
    init(port: Int, state: String, pages: LoopbackPages = LoopbackPages()) async throws(MSALError) {
        guard (0...65535).contains(port) else {
            throw MSALError(code: .invalidArgument, reason: "the redirect port \(port) is not a TCP port; pass 0 for any free port")
        }
        let (redirects, continuation) = AsyncStream.makeStream(of: [String: String].self)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(RedirectHandler(state: state, pages: pages, continuation: continuation))
                }
            }
        var attempt = 0
        while true {
            attempt += 1
            let first: any Channel
            do {
                first = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
            } catch {
                throw MSALError(code: .invalidArgument, reason: "cannot listen on 127.0.0.1:\(port) for the browser's redirect (\(error)); pass another port, or 0 for any free one")
            }
            let chosen = first.localAddress?.port ?? port
            do {
                let second = try await bootstrap.bind(host: "::1", port: chosen).get()
                channels = [first, second]
            } catch let error as IOError where [EADDRNOTAVAIL, EAFNOSUPPORT].contains(error.errnoCode) {
                channels = [first]  // no IPv6 loopback: a browser cannot go there either
            } catch {
                try? await first.close()
                guard port == 0, attempt < LoopbackRedirectListener.attempts else {
                    throw MSALError(code: .invalidArgument, reason: "port \(chosen) is taken on ::1 by another program, where a browser may take localhost to be (\(error)); pass another port, or 0 for any free one")
                }
                continue
            }
            self.port = chosen
            break
        }
        self.redirects = redirects
    }

    /// The redirect's query parameters, once a browser delivers them.
    ///
    /// - Throws: ``MSALError`` `timedOut` when none arrives within `timeout`, `cancelled`
    ///   when the task is cancelled.
    func redirect(timeout: Duration) async throws(MSALError) -> [String: String] {
        let redirects = self.redirects
        let received: [String: String]? = await withTaskGroup(of: [String: String]?.self) { group in
            group.addTask {
                var iterator = redirects.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let received { return received }
        if Task.isCancelled {
            throw MSALError(code: .cancelled, reason: "the task was cancelled while waiting for the browser to come back")
        }
        throw MSALError(code: .timedOut, reason: "the browser did not come back to \(redirectURI) within \(timeout); sign in again, or use the device code flow on machines without a browser")
    }

    /// Stops listening.
    func close() async {
        for channel in channels { try? await channel.close() }
    }
}

/// Answers each request on the listener and passes on a redirect with the right state.
private final class RedirectHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: String
    private let pages: LoopbackPages
    private let continuation: AsyncStream<[String: String]>.Continuation

    init(state: String, pages: LoopbackPages, continuation: AsyncStream<[String: String]>.Continuation) {
        self.state = state
        self.pages = pages
        self.continuation = continuation
    }

    /// A query string decoded as HTML forms and Python's `parse_qs` decode it: `+` is a
    /// space, then percent escapes; the first value of a name wins.
    static func formDecoded(_ query: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return fields
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let query = RedirectHandler.formDecoded(head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? "")
        let status: HTTPResponseStatus
        let page: String
        if query["state"] == state, query["code"] != nil || query["error"] != nil {
            continuation.yield(query)
            continuation.finish()
            (status, page) = (.ok, pages.page(for: query))
        } else {
            (status, page) = (.notFound, "<!doctype html><title>Sign-in</title><p>This is not the sign-in you started. You can close this window.</p>")
        }
        var body = context.channel.allocator.buffer(capacity: page.utf8.count)
        body.writeString(page)
        var headers = HTTPHeaders([("Content-Type", "text/html; charset=utf-8"), ("Connection", "close"), ("Cache-Control", "no-store")])
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

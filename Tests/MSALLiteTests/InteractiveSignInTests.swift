import CacheBackends
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MSALLite
import Synchronization
import Testing
import TokenCache
import TokenCacheTesting

/// The desktop sign-in: a loopback listener on 127.0.0.1 receives the browser's redirect.
/// The "browser" here is a real HTTP client that follows the identity server's redirect to
/// the listener, as a browser does.
@Suite("Interactive sign-in through a loopback redirect")
struct InteractiveSignInTests {
    static let scopes = ["https://graph.example/User.Read"]

    /// Loads `url` following redirects, as a browser would; returns the last page's status
    /// and text.
    static func browse(_ url: URL) async throws -> (Int, String) {
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let (data, response) = try await session.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test("The browser comes back with a code: tokens cached in a file; a request with another state is answered and ignored")
    func signsIn() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            let cache = try StoreDescription(spec: "file:" + folder.appendingPathComponent("cache.json").path).open()
            let app = try PublicClientApplication(clientID: "desktop-app", authority: server.authority("organizations"), cache: cache, options: AcquisitionTests.options())
            let pages = Mutex<[(Int, String)]>([])
            let result = try await app.acquireTokenInteractive(scopes: Self.scopes, loginHint: "bob@contoso.example", timeout: .seconds(30)) { url throws(MSALError) in
                do {
                    let query = Dictionary((URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
                    let redirect = try #require(query["redirect_uri"].flatMap(URL.init(string:)))
                    #expect(redirect.host == "localhost" && redirect.port != nil)
                    // Another local program guessing: wrong state, a made-up code.
                    let noise = try #require(URL(string: "http://127.0.0.1:\(redirect.port!)/?code=made-up&state=guess"))
                    let answer = try await Self.browse(noise)
                    let page = try await Self.browse(url)
                    pages.withLock { $0 += [answer, page] }
                } catch {
                    throw MSALError(code: .noBrowser, reason: "the test browser failed: \(error)")
                }
            }
            #expect(result.tokenSource == .identityProvider)
            #expect(result.username == "bob@contoso.example")
            let seen = pages.withLock { $0 }
            #expect(seen.first?.0 == 404, "a redirect with another state is refused")
            #expect(seen.last?.0 == 200 && seen.last?.1.contains("Signed in") == true)

            // The tokens are in the file: a new app answers silently from it.
            let again = try PublicClientApplication(clientID: "desktop-app", authority: server.authority("organizations"),
                                                    cache: try StoreDescription(spec: "file:" + folder.appendingPathComponent("cache.json").path).open(), options: AcquisitionTests.options())
            let account = try #require(try await again.accounts().first)
            let silent = try await again.acquireTokenSilent(scopes: Self.scopes, account: account)
            #expect(silent?.tokenSource == .cache)
            let redeemed = try await server.requests().contains { $0["endpoint"] == "token" && $0["grant_type"] == "authorization_code" }
            #expect(redeemed)
        }
    }

    @Test("No browser comes back: timedOut, and the port is closed; the user declines: cancelled; no browser: noBrowser; nothing cached")
    func failures() async throws {
        let server = try IdentityServer()
        let cache = TokenCache()
        let app = try PublicClientApplication(clientID: "desktop-app", authority: server.authority("organizations"), cache: cache, options: AcquisitionTests.options())

        let port = Mutex<Int?>(nil)
        do {
            _ = try await app.acquireTokenInteractive(scopes: Self.scopes, timeout: .seconds(1)) { url in
                let redirect = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems?.first { $0.name == "redirect_uri" }?.value
                port.withLock { $0 = redirect.flatMap(URL.init(string:))?.port }
            }
            Issue.record("a sign-in nobody finished succeeded")
        } catch {
            #expect(error.code == .timedOut)
        }
        let listened = try #require(port.withLock { $0 })
        await #expect(throws: (any Error).self, "the listener is closed after the flow") {
            _ = try await Self.browse(URL(string: "http://127.0.0.1:\(listened)/")!)
        }

        do {
            _ = try await app.acquireTokenInteractive(scopes: Self.scopes, loginHint: "decline@contoso.example", timeout: .seconds(30)) { url in
                _ = try? await Self.browse(url)
            }
            Issue.record("a declined sign-in succeeded")
        } catch {
            #expect(error.code == .cancelled)
            #expect(error.server?.error == "access_denied")
        }

        do {
            _ = try await app.acquireTokenInteractive(scopes: Self.scopes, timeout: .seconds(5)) { _ throws(MSALError) in
                throw MSALError(code: .noBrowser, reason: "no browser here")
            }
            Issue.record("a sign-in without a browser succeeded")
        } catch {
            #expect(error.code == .noBrowser)
        }
        #expect(cache.snapshot().entryCounts.values.reduce(0, +) == 0)
    }

    /// A listening TCP socket on [::1] (another local program squatting); its port.
    static func squatOnIPv6Loopback() throws -> (fd: Int32, port: Int) {
        // A port free on 127.0.0.1 too, so that only the ::1 squat can refuse the listener.
        for _ in 0..<20 {
            let squat = try squatOnce()
            if isFreeOnIPv4Loopback(squat.port) { return squat }
            close(squat.fd)
        }
        throw IdentityServerError(reason: "no port free on 127.0.0.1 for a squat on [::1]")
    }

    /// Whether `port` can be bound on 127.0.0.1 now.
    static func isFreeOnIPv4Loopback(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func squatOnce() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard fd >= 0, bound else { throw IdentityServerError(reason: "cannot listen on [::1]") }
        return (fd, Int(UInt16(bigEndian: address.sin6_port)))
    }

    @Test("localhost means 127.0.0.1 or ::1: the listener takes the port on both, so a browser that goes to [::1] completes the sign-in, and a port another program holds on ::1 is refused clearly")
    func bothLoopbackAddresses() async throws {
        let server = try IdentityServer()
        let app = try PublicClientApplication(clientID: "desktop-app", authority: server.authority("organizations"), cache: TokenCache(), options: AcquisitionTests.options())
        let result = try await app.acquireTokenInteractive(scopes: Self.scopes, timeout: .seconds(30)) { url throws(MSALError) in
            do {
                let redirect = try await server.signIn(at: url.absoluteString)
                let port = try #require(URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems?.first { $0.name == "redirect_uri" }?.value
                    .flatMap(URL.init(string:))?.port)
                var back = URLComponents(string: "http://[::1]:\(port)/")!
                back.queryItems = redirect.map { URLQueryItem(name: $0.key, value: $0.value) }
                // Foundation's client on Linux takes no IPv6 literal: Python's does.
                let status = try PythonPeer.run(["-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).status)",
                                                 try #require(back.url?.absoluteString)])
                #expect(status.trimmingCharacters(in: .whitespacesAndNewlines) == "200")
            } catch {
                throw MSALError(code: .noBrowser, reason: "the test browser failed (\(type(of: error)))")
            }
        }
        #expect(result.tokenSource == .identityProvider)

        let squatter = try Self.squatOnIPv6Loopback()
        defer { close(squatter.fd) }
        do {
            _ = try await app.acquireTokenInteractive(scopes: Self.scopes, port: squatter.port, timeout: .seconds(5)) { _ throws(MSALError) in
                Issue.record("the sign-in started on a port another program holds")
            }
            Issue.record("a squatted port was used")
        } catch {
            #expect(error.code == .invalidArgument && error.reason.contains("::1"), "\(error)")
        }
    }
}

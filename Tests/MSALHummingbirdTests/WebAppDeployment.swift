#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import TokenCacheTesting

/// The web app example deployed for a test: the identity server (with its sign-in page),
/// the downstream API, the protected API, and one or more instances of the web app, each a
/// real process of the built `WebAppExample` on loopback.
///
/// Browsers reach the web app at `http://localhost:PORT` and the provider at
/// `http://127.0.0.1:PORT`: two sites, so the provider's `form_post` is a cross-site post,
/// as it is in production.
final class WebAppDeployment: @unchecked Sendable {
    let server: IdentityServer
    let folder: URL
    private(set) var processes: [BackgroundProcess] = []
    private(set) var webURLs: [String] = []
    private(set) var apiURL = ""
    /// The tenant, named by its domain, as apps usually name it.
    var authority: String { server.authority("contoso.onmicrosoft.com") }
    static let secrets = ["webapp": "web-secret-1", "api-id": "api-secret-1", "down-id": "down-secret-1"]
    static let apiScope = "api://example-api/access_as_user"
    static let cookieKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()

    /// Starts the provider, the downstream API and the API (on SQLite stores in `folder`),
    /// and web app instances on `webStores`.
    init(folder: URL, webStores: [String], environment: [String: String] = [:]) async throws {
        self.folder = folder
        server = try IdentityServer()
        try await server.control("config", ["login_page": true, "acrs_needs_sign_in": true])
        try await server.control("client", ["client_id": "webapp", "secret": Self.secrets["webapp"]!])
        try await server.control("client", ["client_id": "api-id", "secret": Self.secrets["api-id"]!, "app_id_uri": "api://example-api"])
        try await server.control("client", ["client_id": "down-id", "secret": Self.secrets["down-id"]!, "app_id_uri": "api://example-downstream"])
        let downstream = try start("downstream", client: "down-id", store: "sqlite:" + folder.appendingPathComponent("down.db").path,
                                   ["--audience", "api://example-downstream"], environment: environment)
        let api = try start("api", client: "api-id", store: "sqlite:" + folder.appendingPathComponent("api.db").path,
                            ["--audience", "api://example-api", "--downstream-url", "http://127.0.0.1:\(downstream)",
                             "--downstream-scope", "api://example-downstream/data.read"], environment: environment)
        apiURL = "http://127.0.0.1:\(api)"
        for store in webStores {
            let port = try WebAppDeployment.freePort()
            _ = try start("web", client: "webapp", store: store, ["--port", String(port), "--public-url", "http://localhost:\(port)",
                                                                  "--api-url", apiURL, "--api-scope", Self.apiScope], environment: environment)
            webURLs.append("http://localhost:\(port)")
        }
    }

    /// Starts one server of the example and returns its port.
    private func start(_ role: String, client: String, store: String, _ arguments: [String], environment: [String: String]) throws -> Int {
        let process = try BackgroundProcess(CLIProcess.product("WebAppExample"),
                                            [role, "--authority", authority, "--client-id", client, "--store", store, "--allow-http-loopback"] + arguments,
                                            environment: environment.merging(["CLIENT_SECRET": Self.secrets[client]!, "COOKIE_KEY": Self.cookieKey]) { $1 })
        processes.append(process)
        guard process.waitForOutput("LISTENING ", timeout: 60),
              let line = process.currentOutput().split(separator: "\n").first(where: { $0.hasPrefix("LISTENING ") }),
              let port = Int(line.dropFirst("LISTENING ".count)) else {
            throw IdentityServerError(reason: "the example's \(role) did not start: \(process.currentErrors().suffix(800))")
        }
        return port
    }

    /// Runs a browser scenario of `Tests/WebApp/browser_scenarios.py` and returns its report.
    func browse(_ scenario: String, _ extra: [String: Any] = [:]) throws -> [String: Any] {
        var config: [String: Any] = ["idp": server.baseURL, "web": webURLs]
        config.merge(extra) { $1 }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let script = PythonPeer.repositoryRoot.appendingPathComponent("Tests/WebApp/browser_scenarios.py").path
        let result = try CLIProcess.runProcess(PythonPeer.python, [script, scenario, text])
        guard result.status == 0, let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw IdentityServerError(reason: "the browser scenario \(scenario) failed (\(result.status)): \(result.stderr.suffix(1500))")
        }
        return report
    }

    /// What the example's processes wrote to standard error (for a failing test's message).
    var errors: String { processes.map { $0.currentErrors() }.joined(separator: "\n").suffix(2000).description }

    /// A free TCP port on loopback.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw IdentityServerError(reason: "no free port on loopback") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

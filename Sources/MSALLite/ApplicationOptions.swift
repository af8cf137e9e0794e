public import Logging

/// What every application is configured with besides its client id and authority.
public struct ApplicationOptions: Sendable {
    /// How it talks HTTP (transport, time-out, retries, plain HTTP on loopback).
    public var http: HTTPOptions
    /// Where it logs (swift-log). Requests, answers, cache decisions and errors are logged;
    /// tokens, codes, secrets, assertions and passwords never are, at any level.
    public var logger: Logger
    /// Whether log lines may carry personal data (usernames, account ids), as MSAL's
    /// `enable_pii_log`. Off by default.
    public var logsPersonalData: Bool
    /// Whether aliases of the authority's host are learnt from instance discovery (and
    /// tokens cached under them used). Never done for AD FS and B2C.
    public var instanceDiscovery: Bool
    /// How long a silent request waits for another caller of the same store (a task, a
    /// process, an app instance) that is refreshing the same account, before it refreshes
    /// on its own. While it waits, the other caller's token usually arrives and no request
    /// is sent. The default is 10 seconds.
    public var refreshClaimTimeout: Duration
    /// The capabilities the app declares to the provider, as MSAL Python's
    /// `client_capabilities`: `["cp1"]` says it can answer claims challenges (Conditional
    /// Access evaluation). Sent on every token request as the `claims` parameter's
    /// `access_token.xms_cc`, merged with the request's claims challenge when there is one.
    /// Empty by default.
    public var clientCapabilities: [String]
    /// Scopes not to add to user sign-ins, as MSAL Python's `exclude_scopes`: MSAL adds
    /// `openid`, `profile` and `offline_access`; `["offline_access"]` asks for no refresh
    /// token. Empty by default.
    public var excludeScopes: [String]

    /// Creates options; by default logs nowhere.
    public init(http: HTTPOptions = HTTPOptions(), logger: Logger = Logger(label: "msallite", factory: { _ in SwiftLogNoOpLogHandler() }),
                logsPersonalData: Bool = false, instanceDiscovery: Bool = true, refreshClaimTimeout: Duration = .seconds(10),
                clientCapabilities: [String] = [], excludeScopes: [String] = []) {
        self.clientCapabilities = clientCapabilities
        self.excludeScopes = excludeScopes
        self.http = http
        self.logger = logger
        self.logsPersonalData = logsPersonalData
        self.instanceDiscovery = instanceDiscovery
        self.refreshClaimTimeout = refreshClaimTimeout
    }
}

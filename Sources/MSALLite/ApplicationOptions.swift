public import Logging
import Foundation

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
    /// Whether an `https://` authority on a host outside Microsoft's clouds is checked
    /// before it is trusted, as MSAL Python's `validate_authority`: Microsoft's instance
    /// discovery (at `login.microsoftonline.com`) must know the host, else the app's first
    /// request fails with `untrustedAuthority` and no credential is sent to it. AD FS, B2C
    /// and ``ClientApplication`` `oidcAuthority` authorities are the developer's own and
    /// not checked; neither are loopback `http://` authorities (a local server allowed by
    /// ``HTTPOptions/allowsPlainHTTPOnLoopback``). On by default.
    public var validateAuthority: Bool
    /// The Azure region whose regional token service serves the app's own tokens
    /// (``ConfidentialClientApplication/acquireTokenForClient(scopes:forceRefresh:claimsChallenge:)``
    /// only), as MSAL Python's `azure_region`. `nil` (the default) takes the region from
    /// the `MSAL_FORCE_REGION` environment variable when a confidential client sets it.
    public var azureRegion: AzureRegion?
    /// The app's name and version, sent to the provider with every token request
    /// (`x-app-name`, `x-app-ver`) as MSAL Python's `app_name` and `app_version`, for the
    /// provider's diagnostics. Neither is sent by default.
    public var appName: String?
    /// See ``appName``.
    public var appVersion: String?
    /// The process environment the library reads (`MSAL_FORCE_REGION`, `REGION_NAME`);
    /// replaced by tests.
    var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Cloud Shell's token endpoint (fixed on the platform); replaced by tests.
    var cloudShellEndpoint = "http://localhost:50342/oauth2/token"

    /// Creates options; by default logs nowhere.
    public init(http: HTTPOptions = HTTPOptions(), logger: Logger = Logger(label: "msallite", factory: { _ in SwiftLogNoOpLogHandler() }),
                logsPersonalData: Bool = false, instanceDiscovery: Bool = true, refreshClaimTimeout: Duration = .seconds(10),
                clientCapabilities: [String] = [], excludeScopes: [String] = [], validateAuthority: Bool = true,
                azureRegion: AzureRegion? = nil, appName: String? = nil, appVersion: String? = nil) {
        self.clientCapabilities = clientCapabilities
        self.excludeScopes = excludeScopes
        self.validateAuthority = validateAuthority
        self.azureRegion = azureRegion
        self.appName = appName
        self.appVersion = appVersion
        self.http = http
        self.logger = logger
        self.logsPersonalData = logsPersonalData
        self.instanceDiscovery = instanceDiscovery
        self.refreshClaimTimeout = refreshClaimTimeout
    }
}

/// Which Azure region's token service a confidential client's own tokens come from, as
/// MSAL Python's `azure_region` (a legacy feature, for first-party applications).
public enum AzureRegion: Sendable, Hashable {
    /// This region, such as `westus2`: a lowercase DNS label.
    case named(String)
    /// The region the process runs in: the `REGION_NAME` environment variable, else the
    /// virtual machine's instance metadata (IMDS). Unreliable outside Azure; MSAL
    /// recommends a named region.
    case detect
    /// No region, whatever `MSAL_FORCE_REGION` says.
    case none
}

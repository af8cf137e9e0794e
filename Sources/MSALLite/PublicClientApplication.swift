public import Foundation
public import TokenCache
import Logging

/// An application that cannot keep a secret: a desktop or command-line app, or a device
/// without a browser. It signs users in with the device code flow, the authorization code
/// flow (see ``ClientApplication``), or (not recommended) a username and password.
public final class PublicClientApplication: ClientApplication, @unchecked Sendable {
    /// Creates an application.
    ///
    /// - Parameters:
    ///   - clientID: The application (client) id of the app registration.
    ///   - authority: For example `https://login.microsoftonline.com/common`, a tenant's
    ///     authority, a B2C or AD FS authority.
    ///   - cache: Any token cache of this library (in memory, file, encrypted, keyring,
    ///     SQLite, PostgreSQL).
    ///   - options: HTTP, logging and discovery settings.
    /// - Throws: ``MSALError`` `invalidArgument` for a bad client id or authority,
    ///   `insecureAuthority` for an `http://` authority not allowed by the options.
    public init(clientID: String, authority: String = "https://login.microsoftonline.com/common", cache: any TokenCacheStore = TokenCache(),
                options: ApplicationOptions = ApplicationOptions()) throws(MSALError) {
        super.init(core: try ClientCore(clientID: clientID, authority: authority, cache: cache, options: options, credential: nil))
    }

    /// Creates an application that signs in through any OpenID Connect provider, as MSAL
    /// Python's `oidc_authority`: the endpoints come from
    /// `oidcAuthority/.well-known/openid-configuration`, whose `issuer` must be the
    /// authority or of its host (else the first request fails with `untrustedAuthority`);
    /// no instance discovery is done.
    ///
    /// - Parameters:
    ///   - clientID: The client id the provider knows the app by.
    ///   - oidcAuthority: The provider's issuer URL with at least one path segment, such as
    ///     `https://id.example.com/realms/staff`.
    ///   - cache: Any token cache of this library.
    ///   - options: HTTP, logging and discovery settings.
    public init(clientID: String, oidcAuthority: String, cache: any TokenCacheStore = TokenCache(),
                options: ApplicationOptions = ApplicationOptions()) throws(MSALError) {
        super.init(core: try ClientCore(clientID: clientID, authority: oidcAuthority, cache: cache, options: options, credential: nil, oidc: true))
    }

    /// Starts a device code flow: show ``DeviceCodeFlow/message`` to the user, then call
    /// ``acquireToken(byDeviceFlow:exitCondition:)``.
    public func initiateDeviceFlow(scopes: [String], claimsChallenge: String? = nil) async throws(MSALError) -> DeviceCodeFlow {
        try ClientCore.validate(scopes, forClient: false)
        let endpoints = try await core.discovery.endpoints(of: core.authority)
        guard let endpoint = endpoints.deviceCodeEndpoint ?? URL(string: "\(core.authority.url)/oauth2/v2.0/devicecode") else {
            throw MSALError(code: .invalidArgument, reason: "the authority has no device code endpoint")
        }
        var form = [("client_id", core.clientID), ("scope", core.decorated(scopes).joined(separator: " "))]
        if let claims = try core.claimsParameter(claimsChallenge) { form.append(("claims", claims)) }
        let (answer, _) = try await core.connection.postForm(endpoint, form: form, what: "the device code endpoint")
        guard let deviceCode = answer.string("device_code"), let userCode = answer.string("user_code"),
              let verification = answer.string("verification_uri") ?? answer.string("verification_url") else {
            throw MSALError(code: .invalidResponse, reason: "the device code endpoint's answer lacks device_code, user_code or verification_uri. Check that the authority supports the device code flow")
        }
        // Bounded: a hostile answer's huge numbers must not overflow the arithmetic below.
        let expiresIn = min(max(answer["expires_in"]?.wholeNumber ?? 900, 0), 86_400)
        let interval = min(max(1, answer["interval"]?.wholeNumber ?? 5), 60)
        return DeviceCodeFlow(userCode: userCode, verificationURI: verification,
                              message: answer.string("message") ?? "To sign in, open \(verification) and enter the code \(userCode).",
                              expiresOn: ClientCore.now() + expiresIn, interval: Int(interval), scopes: scopes, deviceCode: deviceCode,
                              claimsChallenge: claimsChallenge)
    }

    /// Polls until the user finishes the device code flow (honouring `slow_down`), then
    /// caches the tokens.
    ///
    /// - Parameters:
    ///   - flow: The flow ``initiateDeviceFlow(scopes:claimsChallenge:)`` started (or one
    ///     decoded from storage: it is `Codable`).
    ///   - exitCondition: Asked before each poll; `true` stops polling with `cancelled`,
    ///     as MSAL Python's `exit_condition` (for example, the user closed the dialog).
    ///     Cancelling the task stops it too.
    /// - Throws: ``MSALError`` `deviceCodeExpired` when the code expires first, `cancelled`
    ///   when the user declines, the exit condition holds or the task is cancelled.
    public func acquireToken(byDeviceFlow flow: DeviceCodeFlow,
                             exitCondition: @Sendable () -> Bool = { false }) async throws(MSALError) -> AuthenticationResult {
        // Bounded again: a decoded flow may carry any number.
        var interval = min(max(1, flow.interval), 60)
        let grant = "urn:ietf:params:oauth:grant-type:device_code"
        while true {
            do {
                // Wakes each 100 ms to ask the exit condition, so stopping takes effect soon.
                let wake = ContinuousClock.now + .seconds(interval)
                while ContinuousClock.now < wake {
                    if exitCondition() { break }
                    try await Task.sleep(for: min(.milliseconds(100), wake - ContinuousClock.now))
                }
            } catch {
                throw MSALError(code: .cancelled, reason: "the task was cancelled while waiting for the user to sign in")
            }
            if exitCondition() {
                throw MSALError(code: .cancelled, reason: "the device flow's exit condition stopped polling before the sign-in finished")
            }
            if ClientCore.now() > flow.expiresOn {
                throw MSALError(code: .deviceCodeExpired, reason: "the device code expired before the sign-in finished; start a new device flow")
            }
            do {
                return try await core.acquire(grantType: grant, [("device_code", flow.deviceCode), ("client_info", "1")],
                                              scopes: flow.scopes, sentScopes: core.decorated(flow.scopes), scopeInRequest: false,
                                              claimsChallenge: flow.claimsChallenge)
            } catch where error.code == .serverError {
                switch error.server?.error {
                case "authorization_pending":
                    continue
                case "slow_down":
                    interval += 5
                case "expired_token", "code_expired":
                    throw MSALError(code: .deviceCodeExpired, reason: "the device code expired before the sign-in finished; start a new device flow", server: error.server)
                case "authorization_declined", "access_denied":
                    throw MSALError(code: .cancelled, reason: "the user declined the sign-in", server: error.server)
                default:
                    throw error
                }
            }
        }
    }

    /// Signs a user in through the system browser (the authorization code flow with PKCE,
    /// for desktop apps): listens on 127.0.0.1 and ::1 for the redirect, opens the browser at the
    /// sign-in page, waits for the browser to come back, then redeems the code and caches
    /// the tokens.
    ///
    /// The redirect URI is `http://localhost:PORT`; register `http://localhost` for the app
    /// (Entra ID accepts any port for it on public clients).
    ///
    /// - Parameters:
    ///   - scopes: The scopes to ask for; `openid`, `profile` and `offline_access` are added.
    ///   - loginHint: The username to prefill on the sign-in page, if known.
    ///   - prompt: The `prompt` parameter (`select_account`, `login`, `consent`), if any.
    ///     In Azure Cloud Shell, `"none"` gets the shell user's token from the shell itself,
    ///     without a browser, as MSAL Python does.
    ///   - claimsChallenge: The claims a resource asked for, sent on the sign-in page's
    ///     request and with the code (merged with the app's client capabilities).
    ///   - domainHint: The user's home domain (`domain_hint`), if known.
    ///   - maxAge: The most seconds since the user last authenticated (`max_age`); an older
    ///     `auth_time` fails with `authenticationTooOld`.
    ///   - extraScopesToConsent: Scopes of other resources the user consents to now (on the
    ///     sign-in page only), so that later silent requests for them need no prompt; the
    ///     token returned is for `scopes`.
    ///   - pages: The pages the browser shows when it comes back (MSAL Python's
    ///     `success_template` and `error_template`).
    ///   - data: Extra fields of the code's redemption, as MSAL Python's `data` (for
    ///     example an SSH certificate's `token_type`, `req_cnf` and `key_id`); recorded with
    ///     the token, so that silent calls with the same `data` find it.
    ///   - port: The loopback port to listen on; 0 picks a free one.
    ///   - timeout: How long to wait for the user to finish in the browser.
    ///   - openBrowser: Opens the sign-in URL; by default ``SystemBrowser/open(_:)``
    ///     (`$BROWSER`, else `xdg-open`). A command-line app can print the URL instead when
    ///     it throws.
    /// - Throws: ``MSALError`` `timedOut` when the browser does not come back in time,
    ///   `cancelled` when the user declines or the task is cancelled, `stateMismatch` or
    ///   `nonceMismatch` for a forged answer, `noBrowser` when no browser can be opened.
    public func acquireTokenInteractive(scopes: [String], loginHint: String? = nil, prompt: String? = nil, claimsChallenge: String? = nil,
                                        domainHint: String? = nil, maxAge: Int? = nil, extraScopesToConsent: [String] = [], pages: LoopbackPages = LoopbackPages(),
                                        data: [String: String] = [:], port: Int = 0, timeout: Duration = .seconds(300),
                                        openBrowser: @Sendable (URL) async throws(MSALError) -> Void = SystemBrowser.open) async throws(MSALError) -> AuthenticationResult {
        try ClientCore.validate(scopes, forClient: false)
        let state = AuthCodeFlow.randomText(bytes: 16)
        if prompt == "none", core.isInCloudShell {
            // In Azure Cloud Shell the shell signs its user in silently, as in MSAL Python.
            return try await core.cloudShellToken(scopes: scopes, data: data)
        }
        try ClientCore.validate(extraScopesToConsent, forClient: false)
        let listener = try await LoopbackRedirectListener(port: port, state: state, pages: pages)
        do throws(MSALError) {
            let flow = try await core.initiateAuthCodeFlow(scopes: scopes, redirectURI: listener.redirectURI, loginHint: loginHint, prompt: prompt,
                                                           claimsChallenge: claimsChallenge, domainHint: domainHint, maxAge: maxAge, state: state,
                                                           extraScopesToConsent: extraScopesToConsent, data: data)
            guard let url = URL(string: flow.authorizationURL) else {
                throw MSALError(code: .invalidResponse, reason: "the discovered authorization endpoint does not make a valid URL")
            }
            core.logger.debug("waiting for the browser's redirect", metadata: ["port": "\(listener.port)"])
            try await openBrowser(url)
            let response = try await listener.redirect(timeout: timeout)
            await listener.close()
            return try await core.redeem(flow, response: response)
        } catch {
            await listener.close()
            throw error
        }
    }
}

/// A device code flow in progress: what to show the user, and what to poll with. It is
/// `Codable`, so one process (or request) can start it and another poll; it holds the
/// device code, so keep it where only the app can read it.
public struct DeviceCodeFlow: Sendable, Codable {
    /// The code the user types at ``verificationURI``.
    public let userCode: String
    /// Where the user signs in.
    public let verificationURI: String
    /// The provider's instructions for the user.
    public let message: String
    /// When the code expires, in Unix seconds.
    public let expiresOn: Int64
    /// How many seconds to wait between polls.
    public let interval: Int
    /// The scopes asked for.
    public let scopes: [String]
    let deviceCode: String
    /// The claims challenge the sign-in answers, sent with every poll.
    let claimsChallenge: String?
}

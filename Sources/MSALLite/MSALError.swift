import TokenCache

/// The error thrown by MSALLite.
///
/// Every error says what went wrong and what to do. When an identity provider answered with
/// an OAuth error, its `error`, `error_description`, `suberror` and `correlation_id` are
/// kept in ``server``. No message ever contains a token, an authorization code, a client
/// secret, an assertion or a password.
public struct MSALError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is. New codes may be added; match the ones you handle.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String

        /// An argument is invalid (an authority, a scope list, a redirect URI...).
        public static let invalidArgument = Code(name: "invalid argument")
        /// The authority is `http://` and plain HTTP was not allowed for it.
        public static let insecureAuthority = Code(name: "insecure authority")
        /// The authority is not one the app can trust: Microsoft's instance discovery does
        /// not know its host (see ``ApplicationOptions/validateAuthority``), or an OpenID
        /// Connect authority's discovery document names an issuer of another host, or a
        /// pinned server certificate is not the expected one. Nothing was sent to it.
        public static let untrustedAuthority = Code(name: "untrusted authority")
        /// The identity provider could not be reached (connection refused, reset, DNS).
        public static let network = Code(name: "network")
        /// The identity provider did not answer within the time-out.
        public static let timedOut = Code(name: "timed out")
        /// The identity provider is failing or throttling: it answered with a 5xx or 429
        /// status after the retries, or asked (with `Retry-After`) not to be asked again
        /// yet. Nothing is wrong with the user's sign-in: retry later.
        public static let providerUnavailable = Code(name: "provider unavailable")
        /// The identity provider refused the request with an OAuth error (see ``server``).
        public static let serverError = Code(name: "server error")
        /// The identity provider answered with something that is not a usable response
        /// (not JSON, a missing field, a field of the wrong type).
        public static let invalidResponse = Code(name: "invalid response")
        /// The redirect's `state` is not the one the flow sent: the response belongs to
        /// another sign-in (or was forged).
        public static let stateMismatch = Code(name: "state mismatch")
        /// The ID token's `nonce` is not the one the flow sent.
        public static let nonceMismatch = Code(name: "nonce mismatch")
        /// Nothing in the cache can be used silently; the user must sign in again
        /// (``server`` holds the provider's last answer when a refresh was tried).
        public static let interactionRequired = Code(name: "interaction required")
        /// The user last authenticated longer ago than the flow's `maxAge` allows (the ID
        /// token's `auth_time`): sign the user in again with `prompt: "login"`.
        public static let authenticationTooOld = Code(name: "authentication too old")
        /// What was asked for is not supported by this version (a managed identity source
        /// it does not serve yet); the message says what is.
        public static let notSupported = Code(name: "not supported")
        /// The device code expired before the user finished signing in.
        public static let deviceCodeExpired = Code(name: "device code expired")
        /// The token cache failed; the message names the store's error.
        public static let cacheFailure = Code(name: "cache failure")
        /// No browser could be opened for an interactive sign-in (set `BROWSER`, or use
        /// the device code flow).
        public static let noBrowser = Code(name: "no browser")
        /// The sign-in was cancelled (the task was cancelled, or the user denied consent).
        public static let cancelled = Code(name: "cancelled")

        public var description: String { name }
    }

    /// What an identity provider said in an OAuth error response.
    public struct ServerError: Sendable, Equatable {
        /// The OAuth `error`, such as `invalid_grant`.
        public var error: String
        /// The provider's `error_description`.
        public var errorDescription: String?
        /// The `suberror`, such as `bad_token` or `client_mismatch`.
        public var suberror: String?
        /// The provider's `correlation_id`, to quote when asking its support.
        public var correlationID: String?
        /// The HTTP status of the answer.
        public var httpStatus: Int
        /// The provider's numeric error codes (Entra's `error_codes`, the AADSTS numbers).
        public var errorCodes: [Int] = []
        /// The provider's `trace_id`, to quote when asking its support.
        public var traceID: String?
        /// When the provider says the error happened (its `timestamp`).
        public var timestamp: String?
        /// A claims challenge the provider sent with the error (`claims`): pass it to
        /// ``ClientApplication/acquireTokenSilent(scopes:account:forceRefresh:claimsChallenge:data:)``
        /// or to an interactive sign-in.
        public var claims: String?
    }

    /// What kind of problem this is.
    public let code: Code
    /// What happened and what to do, without secrets.
    public let reason: String
    /// The provider's OAuth error, when it sent one.
    public let server: ServerError?
    /// The error that caused this one, when another component failed: for
    /// ``Code-swift.struct/cacheFailure``, the store's own error (for the stores of this
    /// package a `CacheStorageError` or `TokenCacheError`), so an app can tell a lock
    /// time-out, which is worth retrying, from a wrong key or an unavailable keyring.
    public let underlying: (any Error)?

    /// Creates an error.
    public init(code: Code, reason: String, server: ServerError? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.reason = reason
        self.server = server
        self.underlying = underlying
    }

    /// The error on one line: the provider's description, which spans several lines at
    /// Entra ID (Trace ID, Correlation ID, Timestamp), is joined with spaces.
    public var description: String {
        var text = "MSAL error (\(code)): \(reason)"
        if let server {
            text += " [server: \(server.error)"
            if let suberror = server.suberror { text += "/\(suberror)" }
            if let description = server.errorDescription { text += ": \(description)" }
            if let correlationID = server.correlationID, !(server.errorDescription ?? "").contains(correlationID) {
                text += "; correlation id \(correlationID)"
            }
            text += "]"
        }
        return oneLine(text)
    }
}

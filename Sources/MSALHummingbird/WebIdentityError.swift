public import MSALLite

/// What went wrong in the web integration, with the error it wraps when there is one.
/// Its description is one line and never holds a token, a code or a key.
public struct WebIdentityError: Error, Sendable, CustomStringConvertible {
    /// The kinds of failure.
    public enum Code: String, Sendable {
        /// The app's configuration is wrong (a key, a URL); fix it and restart.
        case configuration
        /// The sign-in redirect did not match a sign-in this browser started (no flow
        /// cookie, another state, or an expired one): start again.
        case signInNotStarted
        /// The provider or the library refused; ``WebIdentityError/underlying`` says why.
        case acquisition
    }

    /// What kind of failure this is.
    public let code: Code
    /// What happened and what to do, in one line.
    public let reason: String
    /// The library's error, when one caused this.
    public let underlying: MSALError?

    init(_ code: Code, _ reason: String, underlying: MSALError? = nil) {
        self.code = code
        self.reason = reason
        self.underlying = underlying
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}

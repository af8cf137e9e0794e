import Foundation
import TokenCache

/// What MSAL Python's throttled HTTP client remembers, so that an app that keeps asking
/// does not hammer a provider that already said no:
///
/// - an answer with a 5xx or 429 status and `Retry-After`: the same request is not sent
///   again until that time has passed (at most an hour), and fails at once with the
///   remembered error;
/// - an `invalid_grant` answer: the same request (the same refresh token and scopes, the
///   same password) is not sent again for 60 seconds. Device code polls are exempt: the
///   provider expects them.
///
/// Requests are told apart by a SHA-256 digest of the URL and the form (the secrets in the
/// form are kept only inside that digest); a client assertion, fresh for each request, is
/// left out. One instance serves one application.
final class ProviderThrottle: Sendable {
    private struct Remembered {
        let error: MSALError
        let until: ContinuousClock.Instant
    }

    private let entries = Locked<[String: Remembered]>([:])

    /// How long an `invalid_grant` answer is remembered.
    static let refusalMemory: Duration = .seconds(60)
    /// The longest `Retry-After` remembered.
    static let longestMemory: Duration = .seconds(3600)

    /// The key of a form POST to `url`.
    static func key(url: URL, form: [(String, String)]) -> String {
        var text = url.absoluteString
        for (name, value) in form.sorted(by: { $0.0 < $1.0 }) where name != "client_assertion" {
            text += "\n\(name)=\(value)"
        }
        return Base64URL.encode(SHA256.hash(Array(text.utf8)))
    }

    /// The error remembered for `key`, if its time has not passed, told as not sent.
    func remembered(_ key: String) -> MSALError? {
        let now = ContinuousClock.now
        let entry = entries.withLock { entries -> Remembered? in
            entries = entries.filter { $0.value.until > now }
            return entries[key]
        }
        guard let entry else { return nil }
        let left = max(1, Int((entry.until - now).components.seconds))
        return MSALError(code: entry.error.code,
                         reason: "not sent: the same request failed moments ago and may be sent again in \(left) s (\(entry.error.reason))",
                         server: entry.error.server)
    }

    /// Remembers `error`, the answer `response` stood for, when MSAL Python would.
    func remember(_ error: MSALError, response: HTTPResponse, key: String, grant: String?, defaultRetryAfter: Duration? = nil) {
        let memory: Duration
        if response.isProviderFailing {
            guard let retryAfter = ProviderConnection.retryAfter(response.headers["retry-after"]) ?? defaultRetryAfter else { return }
            memory = min(retryAfter, ProviderThrottle.longestMemory)
        } else if error.server?.error == "invalid_grant", grant != "urn:ietf:params:oauth:grant-type:device_code" {
            memory = ProviderThrottle.refusalMemory
        } else {
            return
        }
        guard memory > .zero else { return }
        entries.withLock { $0[key] = Remembered(error: error, until: ContinuousClock.now + memory) }
    }
}

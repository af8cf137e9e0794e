import Foundation
import Logging

/// `--verbose`: log lines on standard error, with anything that looks like a secret
/// redacted before it is written.
enum VerboseLog {
    /// Whether `--verbose` was given.
    nonisolated(unsafe) private(set) static var isOn = false

    /// The CLI's logger: silent unless `--verbose` was given.
    nonisolated(unsafe) private(set) static var logger = Logger(label: "tokencache", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Removes `--verbose` from `arguments` (before any `--`), and turns logging on when it
    /// was there. Called once, before parsing.
    static func take(from arguments: inout [String]) {
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        guard let index = arguments[..<end].firstIndex(of: "--verbose") else { return }
        arguments.remove(at: index)
        isOn = true
        logger = Logger(label: "tokencache", factory: { RedactingLogHandler(label: $0) })
        logger.logLevel = .debug
    }

    /// Logs `message` at debug level when `--verbose` is on.
    static func debug(_ message: @autoclosure () -> String, _ fields: [String: String] = [:]) {
        guard isOn else { return }
        logger.debug("\(message())", metadata: fields.mapValues { .string($0) })
    }
}

/// Writes log lines to standard error as `tokencache: LEVEL: message key=value ...`,
/// after `Redaction` has removed anything that looks like a token, a code or a password.
struct RedactingLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let fields = merged.keys.sorted().map { key in
            "\(key)=\(Redaction.value(named: key, "\(merged[key]!)"))"
        }
        let line = (["tokencache: \(event.level): \(Redaction.text(event.message.description))"] + fields).joined(separator: " ")
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Removes secrets from text bound for a log line.
enum Redaction {
    /// Metadata keys whose values are always withheld.
    static let secretNames = ["secret", "token", "password", "passphrase", "assertion", "code", "verifier", "key_material"]

    /// `value`, withheld entirely when `name` says it is a secret, otherwise scrubbed.
    static func value(named name: String, _ value: String) -> String {
        let lowered = name.lowercased()
        if secretNames.contains(where: lowered.contains), !lowered.hasSuffix("_id"), lowered != "token_type" {
            return "<redacted>"
        }
        return text(value)
    }

    /// `text` with JWTs, secret-bearing parameters (`code=`, `refresh_token=`, ...) and long
    /// opaque strings replaced.
    static func text(_ text: String) -> String {
        var scrubbed = text
        for (pattern, replacement) in patterns {
            scrubbed = scrubbed.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return scrubbed
    }

    private static let patterns: [(String, String)] = [
        // A JWT: header.payload[.signature].
        (#"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*)?"#, "<redacted jwt>"),
        // A form or query parameter that carries a secret.
        (#"(?i)\b(code|client_secret|refresh_token|access_token|id_token|password|assertion|client_assertion|code_verifier|device_code)=[^&\s"]+"#, "$1=<redacted>"),
        // A JSON field that carries a secret.
        (#"(?i)"(secret|refresh_token|access_token|id_token|password|client_secret|code)"\s*:\s*"[^"]*""#, "\"$1\": \"<redacted>\""),
        // Any other long run of token characters.
        (#"[A-Za-z0-9_\-+=~]{48,}"#, "<redacted>"),
    ]
}

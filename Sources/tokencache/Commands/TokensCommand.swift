import ArgumentParser
import TokenCache

/// `tokencache tokens`: the tokens in a cache, secrets hidden.
struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "List the access, refresh and ID tokens in a cache.",
        discussion: """
        Secrets are shown as ******** unless --show-secrets is given.

        Example: tokencache tokens --store file:cache.json --json
        """
    )

    @OptionGroup var store: StoreOptions
    @Flag(help: "Print JSON.")
    var json = false
    @Flag(help: "Print token secrets. Anyone who sees them can use them.")
    var showSecrets = false

    func run() throws {
        try reportingErrors {
            let session = try store.open()
            let cache = try session.store.snapshot()
            let rows: [(CredentialType, String, JSONObject)] = cache.entries(AccessToken.self).map { (.accessToken, $0.key, $0.fields) }
                + cache.entries(RefreshToken.self).map { (.refreshToken, $0.key, $0.fields) }
                + cache.entries(IdToken.self).map { (.idToken, $0.key, $0.fields) }
            if json {
                emit(JSONValue.array(rows.map { type, key, fields in
                    .object(["type": .string(type.rawValue), "key": .string(key), "fields": .object(Rendering.redacted(fields, showSecrets: showSecrets))])
                }).pythonJSONText)
                return
            }
            if rows.isEmpty { emit("No tokens.") }
            for (type, key, fields) in rows {
                var line = "\(type) \(key)"
                if let expires = fields["expires_on"].flatMap({ $0.stringValue }) { line += " expires_on=\(expires)" }
                if showSecrets, let secret = fields.string("secret") { line += " secret=\(secret)" }
                emit(line)
            }
        }
    }
}

/// How the CLI shows entries.
enum Rendering {
    static let mask = "********"

    /// The fields with `secret` masked unless asked for.
    static func redacted(_ fields: JSONObject, showSecrets: Bool) -> JSONObject {
        var copy = fields
        if !showSecrets, copy["secret"] != nil { copy["secret"] = .string(mask) }
        return copy
    }

    /// The account fields MSAL Python's `get_accounts()` returns.
    static func accountSummary(_ account: Account) -> JSONObject {
        var summary = JSONObject()
        for name in ["home_account_id", "environment", "username", "account_source", "authority_type", "local_account_id", "realm"] {
            summary[name] = account.fields[name] ?? .null
        }
        return summary
    }
}

import ArgumentParser
import MSALLite
import TokenCache

/// `tokencache lookup`: the access token a silent request would get from the cache.
struct LookupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Find the access token MSAL's silent flow would use; exit 3 when there is none.",
        discussion: """
        Example: tokencache lookup --store file:cache.json --client-id ID \
        --authority https://login.microsoftonline.com/common --scopes User.Read --account UID.UTID --show-secrets
        """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var appOptions: AppOptions
    @Option(help: "The scopes asked for, space-separated.")
    var scopes: String
    @Option(help: "The account's home account id.")
    var account: String?
    @Flag(help: "Look up an app-only (client credentials) token.")
    var app = false
    @Option(help: "The current time, in Unix seconds. The default is now.")
    var now: Int64?
    @Option(name: .customLong("data"), help: ArgumentHelp("An extra request field (key_id, fmi_path, ...); repeatable.", valueName: "NAME=VALUE"))
    var data: [String] = []
    @Flag(help: "Print JSON.")
    var json = false
    @Flag(help: "Print the token itself. Anyone who sees it can use it.")
    var showSecrets = false

    func validate() throws {
        guard (account != nil) != app else {
            throw ValidationError("Give exactly one of --account HOME_ACCOUNT_ID or --app.")
        }
    }

    func run() throws {
        var found = false
        try reportingErrors {
            let parsedAuthority = try appOptions.parsedAuthority()
            let requestData = try parseRequestData(data)
            let session = try store.open()
            let query = AccessTokenQuery(
                clientID: appOptions.clientID,
                environment: parsedAuthority.host,
                aliases: parsedAuthority.aliases,
                realm: parsedAuthority.tenant,
                homeAccountID: app ? nil : account,
                scopes: splitScopes(scopes),
                keyID: requestData["key_id"],
                requestData: requestData,
                now: resolveNow(now)
            )
            let result = try session.store.lookupAccessToken(query)
            let status: String
            switch result {
            case .hit: status = "hit"
            case .refreshDue: status = "refresh_due"
            case .miss(let expired): status = expired ? "expired" : "miss"
            }
            found = result.token != nil
            if json {
                var object: JSONObject = ["result": .string(status)]
                if let token = result.token {
                    object["key"] = .string(token.key)
                    object["token"] = .object(Rendering.redacted(token.fields, showSecrets: showSecrets))
                }
                emit(JSONValue.object(object).pythonJSONText)
            } else if let token = result.token {
                if showSecrets {
                    emit(token.secret ?? "")
                } else {
                    emit("\(status): \(token.key) expires_on=\(token.expiresOn.map(String.init) ?? "?") (add --show-secrets to print the token)")
                }
            } else {
                emit(status == "expired" ? "miss: the matching token expires within 5 minutes" : "miss: no matching access token")
            }
        }
        if !found { throw ExitCode(3) }
    }
}

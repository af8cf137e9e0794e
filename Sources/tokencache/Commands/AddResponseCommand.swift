import ArgumentParser
import MSALLite
import TokenCache

/// `tokencache add-response`: add a token endpoint response to a cache.
struct AddResponseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-response",
        abstract: "Add a token endpoint response to a cache, as MSAL Python's TokenCache.add() does.",
        discussion: """
        Example: tokencache add-response --store file:cache.json --client-id 04b07795-8ddb-461a-bbee-02f9e1bf7b46 \
        --authority https://login.microsoftonline.com/common --scopes "User.Read openid profile offline_access" \
        --response response.json --grant-type authorization_code
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(name: .customLong("client-id"), help: "The app's client id.")
    var clientID: String
    @Option(help: "The authority the token came from, e.g. https://login.microsoftonline.com/common.")
    var authority: String
    @Option(help: "The scopes the request asked for, space-separated.")
    var scopes: String
    @Option(help: "The response JSON file, or - for standard input.")
    var response: String
    @Option(name: .customLong("grant-type"), help: "The request's grant type, e.g. authorization_code.")
    var grantType: String?
    @Option(help: "The time to record, in Unix seconds. The default is now.")
    var now: Int64?
    @Option(name: .customLong("data"), help: ArgumentHelp("An extra request field (key_id, fmi_path, ...); repeatable.", valueName: "NAME=VALUE"))
    var data: [String] = []

    func run() throws {
        try reportingErrors {
            let parsedAuthority = try Authority(authority)
            var requestData: [String: String] = [:]
            for item in data {
                guard let equals = item.firstIndex(of: "=") else {
                    throw ValidationError("--data takes NAME=VALUE, got \"\(item.prefix(40))\"")
                }
                requestData[String(item[..<equals])] = String(item[item.index(after: equals)...])
            }
            let body = try readInputFile(response)
            let session = try store.open()
            let context = TokenResponseContext(
                clientID: clientID,
                requestedScopes: splitScopes(scopes),
                tokenEndpoint: parsedAuthority.tokenEndpoint,
                environment: parsedAuthority.host,
                grantType: grantType,
                requestData: requestData,
                now: resolveNow(now)
            )
            do {
                let change = try session.cache.add(responseJSON: body, context: context)
                try session.saveIfChanged()
                emit("Added \(change.written.count) entries to \(session.storage.location).")
            } catch let error as TokenCacheError where error.code == .invalidResponse {
                throw error.at(response)
            }
        }
    }
}

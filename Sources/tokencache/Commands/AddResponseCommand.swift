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
    @OptionGroup var app: AppOptions
    @Option(help: "The scopes the request asked for, space-separated.")
    var scopes: String
    @Option(help: "The response JSON file, or - for standard input; repeat it to add several responses, each as its own change.")
    var response: [String]
    @Option(name: .customLong("grant-type"), help: "The request's grant type, e.g. authorization_code.")
    var grantType: String?
    @Option(help: "The time to record, in Unix seconds. The default is now.")
    var now: Int64?
    @Option(name: .customLong("data"), help: ArgumentHelp("An extra request field (key_id, fmi_path, ...); repeatable.", valueName: "NAME=VALUE"))
    var data: [String] = []

    func run() throws {
        try reportingErrors {
            let parsedAuthority = try app.parsedAuthority()
            let requestData = try parseRequestData(data)
            let session = try store.open()
            let context = TokenResponseContext(
                clientID: app.clientID,
                requestedScopes: splitScopes(scopes),
                tokenEndpoint: parsedAuthority.tokenEndpoint,
                environment: parsedAuthority.host,
                grantType: grantType,
                requestData: requestData,
                now: resolveNow(now)
            )
            for file in response {
                let change = try add(file, to: session, context: context)
                // Written at once, so a caller sees each change as soon as it is committed.
                emitNow("Added \(change.written.count) entries to \(session.location).")
            }
        }
    }

    private func add(_ file: String, to session: StoreSession, context: TokenResponseContext) throws -> CacheChange {
        let body = try readInputFile(file)
        let parsed: JSONObject
        do {
            guard case .object(let object) = try JSONValue(parsing: body) else {
                throw TokenCacheError(code: .invalidResponse, reason: "the response is not a JSON object")
            }
            parsed = object
        } catch let error as TokenCacheError {
            throw TokenCacheError(code: .invalidResponse, reason: error.reason, location: file)
        }
        do {
            return try session.store.add(response: parsed, context: context)
        } catch let error as TokenCacheError where error.code == .invalidResponse {
            throw error.at(file)
        }
    }
}

import Foundation
import TokenCache

/// Azure Cloud Shell, served as MSAL Python serves it: in a Cloud Shell session
/// (`AZUREPS_HOST_ENVIRONMENT` starting with `cloud-shell`), an interactive request with
/// `prompt: "none"`, and a silent request for a Cloud Shell account, are answered by the
/// shell's own token endpoint for the signed-in user; the token is cached with an account
/// of authority type `cloudshell`.
extension ClientCore {
    /// Whether the process runs in Azure Cloud Shell.
    var isInCloudShell: Bool {
        options.environment["AZUREPS_HOST_ENVIRONMENT"]?.hasPrefix("cloud-shell") == true
    }

    /// The resource Cloud Shell's endpoint takes for `scope`, as MSAL Python's
    /// `_scope_to_resource`.
    static func cloudShellResource(of scope: String) -> String {
        let asIs = ["https://analysis.windows.net/powerbi/api", "https://pas.windows.net/CheckMyAccess/Linux/.default"]
        if let known = asIs.first(where: { scope.hasPrefix($0) }) { return known }
        guard let components = URLComponents(string: scope) else { return scope }
        if components.scheme == nil, components.host == nil {
            return String(components.path.split(separator: "/", omittingEmptySubsequences: false).first ?? "")  // "GUID/scope"
        }
        guard let scheme = components.scheme else { return scope }
        let trailer = components.path.hasPrefix("//") ? "/" : ""
        let netloc = (components.host ?? "") + (components.port.map { ":\($0)" } ?? "")
        return "\(scheme)://\(netloc)\(trailer)"
    }

    /// A token for `scopes` from Cloud Shell's endpoint, cached as MSAL Python caches it.
    ///
    /// - Throws: ``MSALError`` `serverError` with the shell's error, `serverError`
    ///   `broker_error` when it cannot issue the token type `data` asks for.
    func cloudShellToken(scopes: [String], data: [String: String]) async throws(MSALError) -> AuthenticationResult {
        try ClientCore.validate(scopes, forClient: false)
        guard let url = URL(string: options.cloudShellEndpoint) else {
            throw MSALError(code: .invalidArgument, reason: "Cloud Shell's token endpoint is not a URL")
        }
        let now = ClientCore.now()
        let resource = scopes.map(ClientCore.cloudShellResource).joined(separator: " ")
        let form = data.filter { $0.key != "resource" }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } + [("resource", resource)]
        let what = "Cloud Shell's token endpoint"
        let response = try await connection.postPlatformForm(url, form: form, headers: ["Metadata": "true"], what: what)
        let payload = (try? JSONValue(parsing: response.body))?.objectValue
        guard response.status < 300 else {
            let error = payload?["error"]?.objectValue
            let server = MSALError.ServerError(error: error?.string("code") ?? "cloud_shell_error", errorDescription: error?.string("message"),
                                              suberror: nil, correlationID: nil, httpStatus: response.status)
            throw MSALError(code: .serverError, reason: "\(what) refused the request (HTTP \(response.status)\(server.errorDescription.map { ": \(oneLine($0))" } ?? "")). Sign in to Cloud Shell again, or check the scopes", server: server)
        }
        guard let payload, let token = payload.string("access_token"), !token.isEmpty,
              let expiresIn = payload["expires_in"].flatMap(PythonText.int), (1...TokenResponseEntries.longestLifetime).contains(expiresIn) else {
            throw MSALError(code: .invalidResponse, reason: "\(what) answered without an access token and a usable expires_in. Nothing was cached")
        }
        let tokenType = payload.string("token_type") ?? "Bearer"
        let expectedType = data["token_type"] ?? "Bearer"
        guard tokenType == expectedType else {
            let server = MSALError.ServerError(error: "broker_error", errorDescription: "token_type \(expectedType) is not supported by this version of Azure Portal",
                                              suberror: nil, correlationID: nil, httpStatus: response.status)
            throw MSALError(code: .serverError, reason: "Cloud Shell cannot issue a token of type \(expectedType) here. Nothing was cached", server: server)
        }
        // MSAL Python's stand-in ID token claims and client_info, from the access token's
        // claims where it is a JWT, so that the Cloud Shell account matches the real one.
        var uid = "user", utid = "cloudshell"
        var claims: JSONObject = ["iss": "cloudshell", "sub": "user", "aud": .string(clientID), "exp": .number(JSONNumber(now + 3600)),
                                  "iat": .number(JSONNumber(now)), "preferred_username": "currentuser@cloudshell"]
        if let jwt = ClientCore.claims(of: token), let iss = jwt["iss"], let sub = jwt["sub"], let exp = jwt["exp"], let iat = jwt["iat"] {
            uid = jwt.string("oid") ?? "user"
            utid = jwt.string("tid") ?? "cloudshell"
            claims = ["iss": iss, "sub": sub, "aud": .string(clientID), "exp": exp, "iat": iat,
                      "preferred_username": .string(jwt.string("preferred_username") ?? jwt.string("unique_name") ?? "currentuser@cloudshell")]
        }
        claims["tid"] = .string(utid)
        let info: JSONObject = ["uid": .string(uid), "utid": .string(utid)]
        var answer: JSONObject = ["access_token": .string(token), "expires_in": .number(JSONNumber(expiresIn)), "token_type": .string(tokenType),
                                  "id_token_claims": .object(claims),
                                  "client_info": .string(Data(JSONValue.object(info).pythonJSONText.utf8).base64EncodedString())]
        if let refreshToken = payload.string("refresh_token"), !refreshToken.isEmpty { answer["refresh_token"] = .string(refreshToken) }
        let endpoints = try await discovery.endpoints(of: authority)
        var context = TokenResponseContext(clientID: clientID, requestedScopes: scopes, tokenEndpoint: ClientCore.cacheText(of: endpoints.tokenEndpoint),
                                           requestData: data, authorityType: AuthorityType.cloudShell, now: now)
        context.environment = nil
        try await store(answer, context: context)
        return AuthenticationResult(accessToken: token, tokenType: tokenType, expiresOn: now + expiresIn, refreshOn: nil, scopeText: scopes.joined(separator: " "),
                                    idToken: nil, idTokenClaims: claims, homeAccountID: "\(uid).\(utid)", username: claims.string("preferred_username"),
                                    tokenSource: .broker, refreshReason: nil, correlationID: nil)
    }
}

public import Foundation
public import TokenCache

/// Builds realistic token responses for differential tests: user sign-ins (with and
/// without FOCI, refresh_in, string lifetimes, server-returned scopes), client credentials
/// (with FMI paths), AD FS without client_info, B2C authorities, SSH certificates, and
/// non-ASCII names and scopes.
public struct ResponseGenerator {
    var random: SeededGenerator
    /// The time the generated caches start at.
    public let baseTime: Int64 = 1_700_000_000

    /// Creates a generator whose output depends only on `seed`.
    public init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    public static let authorities = [
        "https://login.microsoftonline.com/common",
        "https://login.microsoftonline.com/organizations",
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47",
        "https://login.microsoftonline.com/Contoso.OnMicrosoft.com",
        "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_SignUpSignIn",
    ]
    public static let adfsAuthority = "https://adfs.contoso.com/adfs"
    public static let clients = ["04b07795-8ddb-461a-bbee-02f9e1bf7b46", "1950a258-227b-4e31-a9cf-717495945fc2", "client-Ämne"]
    public static let scopeSets: [[String]] = [
        ["User.Read"], ["User.Read", "Mail.Read"], ["https://management.azure.com/.default"],
        ["api://Ресурс/Read", "ΑΣ.Write"], ["Files.ReadWrite", "Sites.Read.All", "User.Read"], ["a", "a", "B"],
        ["https://graph.microsoft.com/.default"], ["Calendars.Read", "offline_access"], ["ΟΔΟΣ", "İstanbul.Read", "ẞ.Scope", "ǅ"],
    ]
    public static let names = ["Ann@Contoso.com", "Zoë.Ωμέγα@contoso.com", "用户@例子.公司", "bob@fabrikam.onmicrosoft.com", "Ünïcødé 🙂 <x>\"q\"/\\@x.y"]

    public mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    public mutating func chance(_ percent: Int) -> Bool { int(1...100) <= percent }
    public mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    public mutating func secret(_ prefix: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        return prefix + String((0..<int(20...120)).map { _ in pick(alphabet) })
    }

    public static func base64url(_ text: String) -> String {
        Base64URL.encode(text)
    }

    public static func jwt(_ claims: JSONObject) -> String {
        base64url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + base64url(JSONValue.object(claims).pythonJSONText) + "."
    }

    /// A user with a home account id.
    public struct User {
        /// The user's object id.
        public let uid: String
        /// The home tenant.
        public let utid: String
        /// The sign-in name.
        public let name: String
        /// `uid.utid`.
        public var homeAccountID: String { "\(uid).\(utid)" }
    }

    public mutating func user(_ index: Int) -> User {
        User(uid: String(format: "%08x-0000-4000-8000-%012x", index * 7919, index), utid: pick(["72f988bf-86f1-41af-91ab-2d7cd011db47", "f8cdef31-a31e-4b4a-93e4-5f571e91255a"]), name: pick(ResponseGenerator.names))
    }

    /// A response for a user flow (authorization code, device code, password, or a refresh
    /// token redeemed through `add`), with the context it answers.
    public mutating func userResponse(user: User, client: String, authority: String, now: Int64, foci: Bool) -> (JSONObject, TokenResponseContext) {
        let scopes = pick(ResponseGenerator.scopeSets)
        let endpoint = try! TokenEndpoint(authority)
        var claims: JSONObject = [
            "aud": .string(client), "iss": .string("https://login.microsoftonline.com/\(user.utid)/v2.0"),
            "iat": .number(JSONNumber(now)), "exp": .number(JSONNumber(now + 3600)),
            "sub": .string("sub-\(user.uid)"), "oid": .string(user.uid), "tid": .string(user.utid),
            "name": .string("Näme \(user.uid.prefix(4)) 🙂"),
        ]
        if chance(85) { claims["preferred_username"] = .string(user.name) } else if chance(50) { claims["upn"] = .string(user.name) }
        var response: JSONObject = ["token_type": "Bearer"]
        switch int(0...3) {
        case 0: response["expires_in"] = .number(JSONNumber(Int64(int(600...5400))))
        case 1: response["expires_in"] = .string(String(int(600...5400)))
        case 2: response["expires_in"] = .number(JSONNumber(Int64(3599))); response["ext_expires_in"] = .number(JSONNumber(Int64(int(3600...10800))))
        default: response["expires_on"] = .string(String(now + Int64(int(900...7200))))
        }
        if chance(40) { response["refresh_in"] = .number(JSONNumber(Int64(int(300...1800)))) }
        response["access_token"] = .string(secret("at."))
        if chance(90) { response["refresh_token"] = .string(secret("rt.")) }
        if chance(90) { response["id_token"] = .string(ResponseGenerator.jwt(claims)) }
        response["client_info"] = .string(ResponseGenerator.base64url("{\"uid\":\"\(user.uid)\",\"utid\":\"\(user.utid)\"}"))
        if foci { response["foci"] = "1" }
        if chance(50) { response["scope"] = .string((scopes + ["openid", "profile", "offline_access"]).joined(separator: " ")) }
        if chance(20) { response["unknown_field"] = .string("dropped by MSAL") }
        let grant = pick(["authorization_code", "urn:ietf:params:oauth:grant-type:device_code", "password", "refresh_token", "user_fic"])
        var data: [String: String] = [:]
        if grant == "password" { data["username"] = user.name }
        let context = TokenResponseContext(
            clientID: client, requestedScopes: scopes + ["openid", "profile", "offline_access"],
            tokenEndpoint: tokenEndpoint(authority), environment: endpoint.host, grantType: grant,
            requestData: data, now: now)
        return (response, context)
    }

    /// A client credentials response, sometimes for an FMI path (extended cache key).
    public mutating func appResponse(client: String, authority: String, now: Int64, fmiPath: String?) -> (JSONObject, TokenResponseContext) {
        let endpoint = try! TokenEndpoint(authority)
        var response: JSONObject = [
            "token_type": "Bearer", "expires_in": .number(JSONNumber(Int64(int(600...3599)))),
            "access_token": .string(secret("app.")),
        ]
        if chance(30) { response["ext_expires_in"] = .number(JSONNumber(Int64(7200))) }
        if chance(20) { response["refresh_in"] = .number(JSONNumber(Int64(900))) }
        var data: [String: String] = [:]
        if let fmiPath { data["fmi_path"] = fmiPath }
        let scopes = [pick(["https://graph.microsoft.com/.default", "api://resource/.default", "https://vault.azure.net/.default"])]
        let context = TokenResponseContext(clientID: client, requestedScopes: scopes, tokenEndpoint: tokenEndpoint(authority), environment: endpoint.host, grantType: "client_credentials", requestData: data, now: now)
        return (response, context)
    }

    /// An AD FS response: no client_info, the account is named by the ID token's `sub`.
    public mutating func adfsResponse(user: User, client: String, now: Int64) -> (JSONObject, TokenResponseContext) {
        let claims: JSONObject = ["sub": .string("ADFS-Sub-\(user.uid.prefix(8))"), "upn": .string(user.name), "aud": .string(client), "iat": .number(JSONNumber(now))]
        let response: JSONObject = [
            "token_type": "bearer", "expires_in": .string("3600"), "access_token": .string(secret("adfs.")),
            "refresh_token": .string(secret("adfsrt.")), "id_token": .string(ResponseGenerator.jwt(claims)),
        ]
        let context = TokenResponseContext(clientID: client, requestedScopes: ["openid", "profile", "offline_access", "https://fs.contoso.com/api"], tokenEndpoint: tokenEndpoint(ResponseGenerator.adfsAuthority), environment: "adfs.contoso.com", grantType: "authorization_code", now: now)
        return (response, context)
    }

    /// An SSH certificate response: `token_type` ssh-cert and a `key_id` in the request.
    public mutating func sshResponse(user: User, client: String, authority: String, now: Int64, keyID: String) -> (JSONObject, TokenResponseContext) {
        let endpoint = try! TokenEndpoint(authority)
        let response: JSONObject = [
            "token_type": "ssh-cert", "expires_in": .number(JSONNumber(Int64(3600))), "access_token": .string(secret("ssh.")),
            "client_info": .string(ResponseGenerator.base64url("{\"uid\":\"\(user.uid)\",\"utid\":\"\(user.utid)\"}")),
            "scope": "https://pas.windows.net/CheckMyAccess/Linux/.default",
        ]
        let context = TokenResponseContext(clientID: client, requestedScopes: ["https://pas.windows.net/CheckMyAccess/Linux/.default"], tokenEndpoint: tokenEndpoint(authority), environment: endpoint.host, grantType: "refresh_token", requestData: ["key_id": keyID, "token_type": "ssh-cert", "req_cnf": "{\"kty\":\"RSA\"}"], skipAccountCreation: true, now: now)
        return (response, context)
    }

    func tokenEndpoint(_ authority: String) -> String {
        authority.hasSuffix("/adfs") ? authority + "/oauth2/token" : authority + "/oauth2/v2.0/token"
    }
}

import _CryptoExtras
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import MSALHummingbird
import Testing
import TokenCache
import TokenCacheTesting

/// The example's protected API, as a real process, refusing what it must refuse.
@Suite("A web API checks the tokens it is called with")
struct WebAPITests {
    /// A user's token for `scope` from the identity server (the password grant of a
    /// public client, straight to the token endpoint).
    static func token(_ server: IdentityServer, scope: String) async throws -> String {
        var request = URLRequest(url: URL(string: server.authority("contoso.onmicrosoft.com") + "/oauth2/v2.0/token")!)
        request.httpMethod = "POST"
        request.httpBody = Data("grant_type=password&client_id=test-cli&username=ann%40contoso.example&password=pw-ann-1&scope=\(scope.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)".utf8)
        let (data, _) = try await URLSession.shared.data(for: request)
        let answer = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(answer["access_token"] as? String, "\(answer["error"] ?? "")")
    }

    /// `GET path` of the API with `token`: the status and `WWW-Authenticate`.
    static func call(_ api: String, _ path: String, token: String?) async throws -> (status: Int, challenge: String?) {
        var request = URLRequest(url: URL(string: api + path)!)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (_, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, http.value(forHTTPHeaderField: "WWW-Authenticate"))
    }

    /// `token` with its claims changed by `edit` and signed with a new key named `kid`.
    static func forged(_ token: String, kid: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let parts = token.split(separator: ".").map(String.init)
        let payloadBytes = try #require(Base64URL.decode(parts[1]))
        var claims = try #require(try JSONSerialization.jsonObject(with: Data(payloadBytes)) as? [String: Any])
        edit(&claims)
        let header = Base64URL.encode(Array(#"{"alg":"RS256","typ":"JWT","kid":"\#(kid)"}"#.utf8))
        let payload = Base64URL.encode(Array(try JSONSerialization.data(withJSONObject: claims)))
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let signature = try key.signature(for: Data("\(header).\(payload)".utf8), padding: .insecurePKCS1v1_5)
        return "\(header).\(payload).\(Base64URL.encode(Array(signature.rawRepresentation)))"
    }

    @Test("Another audience, an expired token, a key the provider does not publish, a forged signature, no token and a missing scope are refused with 401 or 403 and WWW-Authenticate; a rolled key is fetched")
    func refusals() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let deployment = try await WebAppDeployment(folder: folder, webStores: [])
            let server = deployment.server
            let api = deployment.apiURL
            let valid = try await Self.token(server, scope: WebAppDeployment.apiScope)
            #expect(try await Self.call(api, "/me", token: valid).status == 200, "\(deployment.errors)")

            // The provider rolls its signing key: a token signed with the new key names a
            // kid the API has not seen, and the API fetches the keys again.
            try await server.control("rotate_key")
            #expect(try await Self.call(api, "/me", token: try await Self.token(server, scope: WebAppDeployment.apiScope)).status == 200)

            var refusals: [(String, String?, Int, String)] = [
                ("no token", nil, 401, "Bearer"),
                ("another audience", try await Self.token(server, scope: "api://example-downstream/data.read"), 401, "invalid_token"),
                ("a missing scope", try await Self.token(server, scope: "api://example-api/other"), 403, "insufficient_scope"),
                ("an unknown key", try Self.forged(valid, kid: "not-published"), 401, "invalid_token"),
            ]
            // The provider's own kid on a token signed with another key.
            let headerBytes = try #require(Base64URL.decode(String(valid.split(separator: ".")[0])))
            let kid = try #require((try JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any])?["kid"] as? String)
            refusals.append(("a forged signature", try Self.forged(valid, kid: kid) { $0["oid"] = "00000000-0000-4000-8000-0000000000b0" }, 401, "invalid_token"))
            try await server.control("config", ["expires_in": -600])
            refusals.append(("an expired token", try await Self.token(server, scope: WebAppDeployment.apiScope), 401, "invalid_token"))
            try await server.control("config", ["expires_in": 3600])
            for (what, token, status, error) in refusals {
                let answer = try await Self.call(api, "/me", token: token)
                #expect(answer.status == status, "\(what)")
                #expect(answer.challenge?.hasPrefix("Bearer") == true && answer.challenge?.contains(error) == true, "\(what): \(answer.challenge ?? "no WWW-Authenticate")")
                if let token { #expect(answer.challenge?.contains(token) != true) }
            }
            #expect(try await Self.call(api, "/me", token: try await Self.token(server, scope: WebAppDeployment.apiScope)).challenge?.contains("expired") == nil)
        }
    }

    @Test("Claims challenges: read from WWW-Authenticate (base64 or base64url, quoted or not, among other parameters) and written back")
    func claimsChallenges() {
        let claims = #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#
        let header = ClaimsChallenge.header(claims: claims)
        #expect(ClaimsChallenge.claims(fromWWWAuthenticate: header) == claims)
        let entra = #"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=""#
        #expect(ClaimsChallenge.claims(fromWWWAuthenticate: entra) == #"{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}"#)
        #expect(ClaimsChallenge.claims(fromWWWAuthenticate: #"Bearer error="invalid_token""#) == nil)
        #expect(ClaimsChallenge.claims(fromWWWAuthenticate: "Bearer claims=not-base64-json") == nil)
        #expect(ClaimsChallenge.quoted("a \"b\"\r\nc\\") == #"a \"b\" c\\"#)
    }

    @Test("Sealed cookies open only with their key, under their name, unchanged and in time; return paths stay on the app")
    func sealedCookies() throws {
        let sealer = CookieSealer.random()
        let user = SignedInUser(homeAccountID: "uid.utid", environment: "login.example", username: "ann@contoso.example", name: "Ann")
        let text = try sealer.seal(user, cookie: "session", expiry: Date().addingTimeInterval(60))
        #expect(sealer.open(SignedInUser.self, from: text, cookie: "session") == user)
        #expect(!text.contains("ann"))
        #expect(sealer.open(SignedInUser.self, from: text, cookie: "signin") == nil)
        #expect(CookieSealer.random().open(SignedInUser.self, from: text, cookie: "session") == nil)
        #expect(sealer.open(SignedInUser.self, from: text, cookie: "session", now: Date().addingTimeInterval(120)) == nil)
        var bytes = try #require(Base64URL.decode(text))
        bytes[bytes.count / 2] ^= 1
        #expect(sealer.open(SignedInUser.self, from: Base64URL.encode(bytes), cookie: "session") == nil)
        #expect(throws: WebIdentityError.self) { _ = try CookieSealer(key: [UInt8](repeating: 0, count: 16)) }
        for (path, expected) in [("/sensitive", "/sensitive"), ("//evil.example/", "/"), ("https://evil.example/", "/"), ("/\\evil", "/"), ("/\t/evil.example", "/"), (nil, "/")] {
            #expect(WebAppAuthentication.localPath(path) == expected)
        }
    }
}

import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// Every value that holds a token, secret, code, verifier or key shows none of it when
/// printed, interpolated, dumped or described for a debugger.
@Suite("Secrets never print")
struct RedactionTests {
    /// Every way a value reaches a log or a console.
    static func renderings(_ value: Any) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        return ["\(value)", String(describing: value), String(reflecting: value), dumped, "\(Mirror(reflecting: value).children.map { "\($0.value)" })"]
    }

    static func expectHidden(_ value: Any, _ secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for text in renderings(value) {
            let leaked = secrets.filter { text.contains($0) }
            // The secret itself is never quoted in the failure message.
            #expect(leaked.isEmpty, "\(type(of: value)) shows \(leaked.count) secret(s)", sourceLocation: sourceLocation)
        }
    }

    @Test("AuthenticationResult, ClientCredential, CertificateCredential, DeviceCodeFlow, AuthCodeFlow, HTTPRequest, HTTPResponse and cache entries")
    func nothingPrints() throws {
        let result = AuthenticationResult(accessToken: "at-SECRET-1", tokenType: "Bearer", expiresOn: 1, refreshOn: nil, scopeText: "a b",
                                          idToken: "id-SECRET-2", idTokenClaims: nil, homeAccountID: "uid.utid", username: "ann",
                                          tokenSource: .cache, refreshReason: nil, correlationID: nil)
        Self.expectHidden(result, ["at-SECRET-1", "id-SECRET-2"])
        Self.expectHidden(ClientCredential.secret("client-SECRET-3"), ["client-SECRET-3"])
        Self.expectHidden([ClientCredential.secret("client-SECRET-3")], ["client-SECRET-3"])

        try withTemporaryDirectory { folder in
            let (key, certificate) = try AcquisitionTests.makeCertificate(in: folder, name: "redaction")
            let credential = try CertificateCredential(privateKeyPEM: key, certificatePEM: certificate)
            let keyBody = key.split(separator: "\n").dropFirst().prefix(3).map(String.init)
            Self.expectHidden(credential, keyBody)
            Self.expectHidden(ClientCredential.certificate(credential), keyBody)
        }

        let device = DeviceCodeFlow(userCode: "ABCD", verificationURI: "https://login.example/device", message: "open it", expiresOn: 1, interval: 5,
                                    scopes: ["a"], deviceCode: "device-SECRET-4", claimsChallenge: nil)
        Self.expectHidden(device, ["device-SECRET-4"])
        let flow = AuthCodeFlow(authorizationURL: "https://login.example/authorize?x=1", redirectURI: "http://localhost", scopes: ["a"],
                                state: "state-SECRET-5", nonce: "nonce-SECRET-6", codeVerifier: "verifier-SECRET-7", claimsChallenge: nil, maxAge: nil)
        Self.expectHidden(flow, ["verifier-SECRET-7", "state-SECRET-5", "nonce-SECRET-6"])

        let request = HTTPRequest(method: "POST", url: URL(string: "https://login.example/t/oauth2/v2.0/token?hint=x")!,
                                  headers: ["Authorization": "Bearer header-SECRET-8"], body: Data("refresh_token=body-SECRET-9".utf8))
        Self.expectHidden(request, ["header-SECRET-8", "body-SECRET-9"])
        Self.expectHidden(HTTPResponse(status: 200, body: Data("{\"access_token\": \"answer-SECRET-10\"}".utf8)), ["answer-SECRET-10"])

        let token = AccessToken(key: "k", fields: ["credential_type": "AccessToken", "secret": "cached-SECRET-11", "home_account_id": "uid.utid"])
        Self.expectHidden(token, ["cached-SECRET-11"])
        let cache = TokenCache()
        try cache.add(response: ["access_token": "added-SECRET-12", "refresh_token": "added-SECRET-13", "expires_in": 3600],
                      context: TokenResponseContext(clientID: "c", requestedScopes: ["s"], tokenEndpoint: "https://login.example/t/oauth2/v2.0/token", now: 1))
        Self.expectHidden(cache.entries(AccessToken.self), ["added-SECRET-12"])
        Self.expectHidden(cache.entries(RefreshToken.self), ["added-SECRET-13"])
    }
}

import CacheBackends
import CachePostgres
import Foundation
import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// The web app example in a real browser (Debian's chromium, headless, driven by
/// Selenium), against the identity server's sign-in page, with the example's API and
/// downstream API as real processes.
@Suite("A web app signs users in and calls an API for them, in a real browser", .serialized)
struct WebAppTests {
    @Test("Two users in two browser contexts: sign-in, the API's answer, reloads from the cache, a step-up claims challenge, and a sign-out that clears one partition")
    func twoUsersInABrowser() async throws {
        try await withTemporaryDirectoryAsync { folder in
            let spec = "sqlite:" + folder.appendingPathComponent("web.db").path
            let deployment = try await WebAppDeployment(folder: folder, webStores: [spec])
            let report = try deployment.browse("two-users")
            let errors = deployment.errors
            for user in ["ann", "bob"] {
                let page = try #require(report["\(user)_signed_in"] as? [String: Any], "\(errors)")
                #expect(page["user"] as? String == "Signed in as \(user)@contoso.example")
                #expect((page["api"] as? String)?.contains("downstream data for \(user)@contoso.example") == true, "\(page)")
                let reload = try #require(report["\(user)_reload"] as? [String: Any])
                #expect(reload["user"] as? String == "Signed in as \(user)@contoso.example")
            }
            // Reloading both pages sent nothing to the token endpoint: the web app's token
            // and the API's on-behalf-of token both came from the caches.
            #expect(report["token_requests_during_reloads"] as? Int == 0)
            // The downstream API's claims challenge reached the browser as a new sign-in
            // asking for the authentication context, and the page then got its data.
            let sensitive = try #require(report["bob_sensitive"] as? [String: Any])
            #expect((sensitive["api"] as? String)?.contains("sensitive data for bob@contoso.example") == true, "\(sensitive) \(errors)")
            let claims = (report["authorize_claims"] as? [Any] ?? []).compactMap { $0 as? String }
            #expect(claims.contains { $0.contains("\"acrs\"") && $0.contains("c1") })
            // ann signed out (locally and at the provider); bob still served from the cache.
            #expect((report["ann_signed_out"] as? [String: Any])?["user"] as? String == "Not signed in.")
            #expect(report["logouts"] as? Int == 1)
            #expect((report["bob_after_ann_signed_out"] as? [String: Any])?["user"] as? String == "Signed in as bob@contoso.example")
            #expect(report["token_requests_after_sign_out"] as? Int == 0)
            #expect((report["ann_after_sign_out"] as? [String: Any])?["user"] as? String == "Not signed in.")
            // The store: bob's partition is there, ann's is gone.
            var options = ApplicationOptions()
            options.http.allowsPlainHTTPOnLoopback = true
            let app = try ConfidentialClientApplication(clientID: "webapp", authority: deployment.authority, credential: .secret(WebAppDeployment.secrets["webapp"]!),
                                                        cache: try StoreDescription(spec: spec).open(), options: options)
            #expect(try await app.accounts().compactMap(\.username) == ["bob@contoso.example"])
        }
    }

    @Test("Two instances on one PostgreSQL database with the L1: served by either, signed out through one, refused by the other; a rotating refresh token refreshed once for both")
    func twoInstancesOnPostgres() async throws {
        let postgres = try PostgresServer.shared
        let spec = postgres.freshSpec("l1=on")
        try await withTemporaryDirectoryAsync { folder in
            let deployment = try await WebAppDeployment(folder: folder, webStores: [spec, spec], environment: postgres.environment)
            let report = try deployment.browse("instances")
            let errors = deployment.errors
            #expect((report["signed_in_through_first"] as? [String: Any])?["user"] as? String == "Signed in as ann@contoso.example", "\(report) \(errors)")
            // Instance B serves the user signed in through A, from the shared store.
            let second = try #require(report["second"] as? [String: Any])
            #expect(second["user"] as? String == "Signed in as ann@contoso.example")
            #expect((second["api"] as? String)?.contains("downstream data for ann@contoso.example") == true, "\(second)")
            #expect(report["token_requests_on_second"] as? Int == 0)
            #expect(report["first_with_cookie_before"] as? Int == 200)
            // After signing out through B, A no longer serves ann's tokens, even to a
            // request that still carries her old session cookie: its L1 was invalidated.
            let replay = try #require(report["first_with_old_cookie"] as? [Any])
            #expect(replay.first as? Int == 302, "\(replay)")
            #expect((replay.last as? String)?.hasPrefix("/signin") == true, "\(replay)")
            #expect((report["first_in_browser"] as? [String: Any])?["user"] as? String == "Not signed in.")

            // Access tokens now expire within seconds (Entra's shortest lifetime is minutes;
            // MSAL treats a token as expired 5 minutes early), and every refresh rotates the
            // refresh token, while both instances serve bob.
            try await deployment.server.control("config", ["expires_in": 303])
            let rotation = try deployment.browse("rotation", ["seconds": 12])
            let requests = try #require(rotation["requests"] as? Int)
            #expect(requests > 8)
            #expect(rotation["served"] as? Int == requests, "\(rotation) \(deployment.errors)")
            #expect(rotation["refused_refreshes"] as? Int == 0, "\(rotation)")
            let refreshes = try #require(rotation["refreshes"] as? Int)
            #expect(refreshes >= 2 && refreshes <= 8, "one refresh per expiry for both instances: \(rotation)")
        }
    }
}

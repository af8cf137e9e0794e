import Foundation
@testable import MSALLite
import Testing
import TokenCache
import TokenCacheTesting

/// Certificate credentials beyond a PEM pair: PKCS#12 files, the certificate chain for
/// subject name and issuer authentication, PS256, the thumbprint-only form and extra
/// claims, each verified by the identity server's signature check.
@Suite("Certificate credentials")
struct CertificateCredentialTests {
    static let scope = ["https://graph.example/.default"]

    /// Runs openssl with `arguments` in `folder`.
    static func openssl(_ arguments: [String], in folder: URL) throws -> String {
        let result = try CLIProcess.runProcess("/bin/sh", ["-c", "cd \"$0\" && exec openssl \"$@\"", folder.path] + arguments)
        guard result.status == 0 else { throw IdentityServerError(reason: "openssl \(arguments.first ?? "") failed: \(result.stderr.suffix(300))") }
        return result.stdout
    }

    /// A CA, and a certificate for `subject` it issued, with PFX files of the certificate,
    /// its key and the CA: `<name>.pfx` (passphrase `pfx-pass-1`) and `<name>-open.pfx` (none).
    static func issue(_ name: String, subject: String, ca: String, in folder: URL) throws {
        if !FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(ca).pem").path) {
            _ = try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(ca).key", "-out", "\(ca).pem", "-subj", "/CN=\(ca)", "-days", "2"], in: folder)
        }
        _ = try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(subject)"], in: folder)
        _ = try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial", "-out", "\(name).pem", "-days", "2"], in: folder)
        _ = try openssl(["pkcs12", "-export", "-inkey", "\(name).key", "-in", "\(name).pem", "-certfile", "\(ca).pem", "-out", "\(name).pfx", "-passout", "pass:pfx-pass-1"], in: folder)
        _ = try openssl(["pkcs12", "-export", "-inkey", "\(name).key", "-in", "\(name).pem", "-certfile", "\(ca).pem", "-out", "\(name)-open.pfx", "-passout", "pass:"], in: folder)
    }

    static func read(_ name: String, in folder: URL) throws -> Data {
        try Data(contentsOf: folder.appendingPathComponent(name))
    }

    static func app(_ clientID: String, _ credential: CertificateCredential, _ server: IdentityServer) throws -> ConfidentialClientApplication {
        try ConfidentialClientApplication(clientID: clientID, authority: server.authority(AcquisitionTests.tenant), credential: .certificate(credential),
                                          cache: TokenCache(), options: AcquisitionTests.options())
    }

    /// The server's record of the last client credentials request.
    static func lastRequest(_ server: IdentityServer) async throws -> [String: String] {
        try #require(try await server.requests().last { $0["grant_type"] == "client_credentials" })
    }

    @Test("A PFX with and without a passphrase, PS256, the thumbprint-only form and extra claims: each verified by the server; a wrong passphrase is a typed error")
    func pfxAndAlgorithms() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            try Self.issue("daemon", subject: "daemon", ca: "test-ca", in: folder)
            let certificate = try String(contentsOf: folder.appendingPathComponent("daemon.pem"), encoding: .utf8)
            try await server.control("client", ["client_id": "pfx-daemon", "certificate_pem": certificate])

            let locked = try CertificateCredential(pkcs12: try Self.read("daemon.pfx", in: folder), passphrase: "pfx-pass-1")
            #expect(try await Self.app("pfx-daemon", locked, server).acquireTokenForClient(scopes: Self.scope).tokenSource == .identityProvider)
            #expect(try await Self.lastRequest(server)["assertion_alg"] == "RS256")
            let open = try CertificateCredential(pkcs12: try Self.read("daemon-open.pfx", in: folder))
            _ = try await Self.app("pfx-daemon", open, server).acquireTokenForClient(scopes: Self.scope)

            do {
                _ = try CertificateCredential(pkcs12: try Self.read("daemon.pfx", in: folder), passphrase: "not-the-passphrase")
                Issue.record("a wrong passphrase was accepted")
            } catch let error as MSALError {
                #expect(error.code == .invalidArgument)
                #expect(error.reason.contains("passphrase") && !error.description.contains("not-the-passphrase"))
            }
            #expect(throws: MSALError.self) { _ = try CertificateCredential(pkcs12: Data("not a pfx".utf8)) }

            let pss = try CertificateCredential(pkcs12: try Self.read("daemon.pfx", in: folder), passphrase: "pfx-pass-1", algorithm: .ps256)
            _ = try await Self.app("pfx-daemon", pss, server).acquireTokenForClient(scopes: Self.scope)
            #expect(try await Self.lastRequest(server)["assertion_alg"] == "PS256")

            let key = try String(contentsOf: folder.appendingPathComponent("daemon.key"), encoding: .utf8)
            let fingerprint = try Self.openssl(["x509", "-in", "daemon.pem", "-noout", "-fingerprint", "-sha1"], in: folder)
            let thumbprint = String(fingerprint.split(separator: "=").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let byThumbprint = try CertificateCredential(privateKeyPEM: key, thumbprint: thumbprint,
                                                         extraClaims: ["xms_test": "extra", "aud": "https://elsewhere.example"])
            _ = try await Self.app("pfx-daemon", byThumbprint, server).acquireTokenForClient(scopes: Self.scope)
            #expect(try await Self.lastRequest(server)["assertion_claims"] == "aud,exp,iat,iss,jti,nbf,sub,xms_test")
            #expect(throws: MSALError.self) { _ = try CertificateCredential(privateKeyPEM: key, thumbprint: "abcd") }
        }
    }

    @Test("Subject name and issuer: the chain (x5c) is sent and verified against the registered issuer; without it, or from another issuer, the server refuses")
    func subjectNameAndIssuer() async throws {
        let server = try IdentityServer()
        try await withTemporaryDirectoryAsync { folder in
            try Self.issue("sni", subject: "sni-daemon", ca: "trusted-ca", in: folder)
            try Self.issue("impostor", subject: "sni-daemon", ca: "other-ca", in: folder)
            let issuer = try String(contentsOf: folder.appendingPathComponent("trusted-ca.pem"), encoding: .utf8)
            try await server.control("client", ["client_id": "sni-daemon", "issuer_ca_pem": issuer, "subject": "sni-daemon"])

            let chained = try CertificateCredential(pkcs12: try Self.read("sni.pfx", in: folder), passphrase: "pfx-pass-1", sendsCertificateChain: true)
            _ = try await Self.app("sni-daemon", chained, server).acquireTokenForClient(scopes: Self.scope)
            #expect(try await Self.lastRequest(server)["assertion_x5c"] == "2")

            let pem = try CertificateCredential(privateKeyPEM: try String(contentsOf: folder.appendingPathComponent("sni.key"), encoding: .utf8),
                                                certificatePEM: try String(contentsOf: folder.appendingPathComponent("sni.pem"), encoding: .utf8) + issuer,
                                                algorithm: .ps256, sendsCertificateChain: true)
            _ = try await Self.app("sni-daemon", pem, server).acquireTokenForClient(scopes: Self.scope)

            for credential in [try CertificateCredential(pkcs12: try Self.read("sni.pfx", in: folder), passphrase: "pfx-pass-1"),
                               try CertificateCredential(pkcs12: try Self.read("impostor.pfx", in: folder), passphrase: "pfx-pass-1", sendsCertificateChain: true)] {
                do {
                    _ = try await Self.app("sni-daemon", credential, server).acquireTokenForClient(scopes: Self.scope)
                    Issue.record("the server accepted an assertion it should refuse")
                } catch let error as MSALError {
                    #expect(error.server?.error == "invalid_client")
                }
            }
        }
    }
}

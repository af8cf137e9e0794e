import COpenSSL
import Foundation
import TokenCache

/// A private key and its X.509 certificate (and the certificates that issued it), read from
/// PEM or PKCS#12 through libcrypto, that signs client assertions. The only file of
/// MSALLite that calls OpenSSL; no OpenSSL type leaves it.
final class CertificateSigner: @unchecked Sendable {
    // @unchecked: `key` is set in `init`, only read afterwards, and EVP_DigestSign on a
    // shared EVP_PKEY with a fresh context per call is thread-safe.
    private let key: OpaquePointer
    /// SHA-1 of the certificate's DER encoding (`x5t`).
    let sha1Thumbprint: [UInt8]
    /// SHA-256 of the certificate's DER encoding (`x5t#S256`); `nil` when only the SHA-1
    /// thumbprint was given.
    let sha256Thumbprint: [UInt8]?
    /// The certificate, then the certificates that issued it, in DER (for `x5c`).
    let chain: [[UInt8]]

    private init(key: OpaquePointer, sha1Thumbprint: [UInt8], sha256Thumbprint: [UInt8]?, chain: [[UInt8]]) {
        self.key = key
        self.sha1Thumbprint = sha1Thumbprint
        self.sha256Thumbprint = sha256Thumbprint
        self.chain = chain
    }

    deinit { EVP_PKEY_free(key) }

    /// Reads the key (`PEM_read_bio_PrivateKey`, decrypted with `passphrase` when given),
    /// the certificate and any certificates after it (`PEM_read_bio_X509`), and checks that
    /// the key belongs to the first.
    convenience init(privateKeyPEM: String, certificatePEM: String, passphrase: String?) throws(MSALError) {
        guard let loaded = CertificateSigner.readKey(privateKeyPEM, passphrase: passphrase) else {
            throw CertificateSigner.invalid("the private key cannot be read (not PEM, or a wrong passphrase)")
        }
        var certificates: [OpaquePointer] = []
        _ = CertificateSigner.withBIO(certificatePEM) { bio -> Bool? in
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { certificates.append(certificate) }
            return true
        }
        ERR_clear_error()  // the end of the text reads as an error
        defer { certificates.forEach { X509_free($0) } }
        try self.init(key: loaded, certificates: certificates)
    }

    /// Reads a PKCS#12 (PFX) file's key, certificate and chain (`PKCS12_parse`), with
    /// `passphrase` (none: the empty one).
    convenience init(pkcs12: Data, passphrase: String?) throws(MSALError) {
        let parsed: PKCS12Contents? = pkcs12.withUnsafeBytes { bytes in
            var start: UnsafePointer<UInt8>? = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
            guard start != nil, let archive = d2i_PKCS12(nil, &start, bytes.count) else { return nil }
            defer { PKCS12_free(archive) }
            var key: OpaquePointer?
            var certificate: OpaquePointer?
            var authorities: OpaquePointer?
            guard PKCS12_parse(archive, passphrase ?? "", &key, &certificate, &authorities) == 1 else {
                return PKCS12Contents(key: nil, certificates: [])
            }
            var certificates = certificate.map { [$0] } ?? []
            if let authorities {
                for index in 0..<OPENSSL_sk_num(authorities) {
                    if let next = OPENSSL_sk_value(authorities, index) { certificates.append(OpaquePointer(next)) }
                }
                OPENSSL_sk_free(authorities)
            }
            return PKCS12Contents(key: key, certificates: certificates)
        }
        ERR_clear_error()
        guard let parsed else {
            throw MSALError(code: .invalidArgument, reason: "the certificate file is not PKCS#12 (PFX). Pass the .pfx or .p12 file's bytes, or use the PEM form")
        }
        defer { parsed.certificates.forEach { X509_free($0) } }
        guard let key = parsed.key else {
            throw MSALError(code: .invalidArgument, reason: "the PKCS#12 (PFX) file cannot be opened with this passphrase (or holds no private key). Check the passphrase")
        }
        try self.init(key: key, certificates: parsed.certificates)
    }

    /// A key whose certificate is named by its SHA-1 thumbprint alone (`x5t`), as MSAL
    /// Python's `{"private_key": ..., "thumbprint": ...}`.
    convenience init(privateKeyPEM: String, thumbprint: String, passphrase: String?) throws(MSALError) {
        guard let bytes = CertificateSigner.sha1Thumbprint(thumbprint) else {
            throw MSALError(code: .invalidArgument, reason: "the thumbprint must be the certificate's SHA-1 thumbprint: 40 hexadecimal digits, as the portal shows it")
        }
        guard let loaded = CertificateSigner.readKey(privateKeyPEM, passphrase: passphrase) else {
            throw CertificateSigner.invalid("the private key cannot be read (not PEM, or a wrong passphrase)")
        }
        try CertificateSigner.requireRSA(loaded)
        self.init(key: loaded, sha1Thumbprint: bytes, sha256Thumbprint: nil, chain: [])
    }

    /// Takes `key` and `certificates` (the first is the key's), checking they belong
    /// together; frees `key` on failure.
    private convenience init(key: OpaquePointer, certificates: [OpaquePointer]) throws(MSALError) {
        guard let leaf = certificates.first else {
            EVP_PKEY_free(key)
            throw CertificateSigner.invalid("the certificate cannot be read")
        }
        guard X509_check_private_key(leaf, key) == 1 else {
            ERR_clear_error()
            EVP_PKEY_free(key)
            throw CertificateSigner.invalid("the private key does not belong to the certificate")
        }
        try CertificateSigner.requireRSA(key)
        var chain: [[UInt8]] = []
        for certificate in certificates {
            var derPointer: UnsafeMutablePointer<UInt8>?
            let length = i2d_X509(certificate, &derPointer)
            guard length > 0, let derPointer else {
                EVP_PKEY_free(key)
                throw CertificateSigner.invalid("the certificate cannot be encoded")
            }
            chain.append(Array(UnsafeBufferPointer(start: derPointer, count: Int(length))))
            CRYPTO_free(derPointer, #fileID, #line)
        }
        self.init(key: key, sha1Thumbprint: CertificateSigner.digest(chain[0], EVP_sha1()), sha256Thumbprint: SHA256.hash(chain[0]), chain: chain)
    }

    /// What `PKCS12_parse` gave.
    private struct PKCS12Contents {
        let key: OpaquePointer?
        let certificates: [OpaquePointer]
    }

    /// Refuses (and frees) a key that is not RSA: assertions are signed with RS256 or PS256.
    private static func requireRSA(_ key: OpaquePointer) throws(MSALError) {
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            EVP_PKEY_free(key)
            throw invalid("the private key is not an RSA key; client assertions are signed with RS256 or PS256")
        }
    }

    private static func invalid(_ what: String) -> MSALError {
        MSALError(code: .invalidArgument, reason: "\(what). Pass the PEM text of the certificate's RSA private key (\"-----BEGIN PRIVATE KEY-----\") and of the certificate itself")
    }

    /// A signature of `message` with SHA-256: RSASSA-PKCS1-v1_5 (RS256) or, with `pss`,
    /// RSASSA-PSS with a salt as long as the digest (PS256). The corresponding C function is
    /// `EVP_DigestSign`.
    func sign(_ message: [UInt8], pss: Bool) throws(MSALError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw MSALError(code: .invalidArgument, reason: "OpenSSL cannot create a signing context") }
        defer {
            EVP_MD_CTX_free(context)
            ERR_clear_error()  // a failure leaves nothing queued for this thread's next call
        }
        var parameters: OpaquePointer?
        guard EVP_DigestSignInit(context, &parameters, EVP_sha256(), nil, key) == 1 else {
            throw MSALError(code: .invalidArgument, reason: "the private key cannot sign with \(pss ? "PS256" : "RS256"); use an RSA key")
        }
        if pss {
            guard EVP_PKEY_CTX_set_rsa_padding(parameters, RSA_PKCS1_PSS_PADDING) == 1,
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(parameters, RSA_PSS_SALTLEN_DIGEST) == 1 else {
                throw MSALError(code: .invalidArgument, reason: "the private key cannot sign with PS256; use an RSA key")
            }
        }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
            throw MSALError(code: .invalidArgument, reason: "OpenSSL failed to size the signature")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
            throw MSALError(code: .invalidArgument, reason: "OpenSSL failed to sign the client assertion")
        }
        return Array(signature.prefix(length))
    }

    private static func readKey(_ pem: String, passphrase: String?) -> OpaquePointer? {
        defer { ERR_clear_error() }
        return withBIO(pem) { bio in
            // Without a passphrase, an encrypted key fails at once: OpenSSL's own callback
            // would ask for one on the terminal.
            guard let passphrase else { return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil) }
            return passphrase.withCString { secret in
                PEM_read_bio_PrivateKey(bio, nil, nil, UnsafeMutableRawPointer(mutating: secret))
            }
        }
    }

    private static func withBIO<T>(_ text: String, _ body: (OpaquePointer) -> T?) -> T? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { buffer -> T? in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return body(bio)
        }
    }

    /// The 20 bytes of a SHA-1 thumbprint written as 40 hexadecimal digits (colons and
    /// white space ignored, as the portal and MSAL Python write them); `nil` for anything else.
    static func sha1Thumbprint(_ text: String) -> [UInt8]? {
        let hex = text.filter { $0 != ":" && !$0.isWhitespace }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let end = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex), let byte = UInt8(hex[index..<end], radix: 16) {
            bytes.append(byte)
            index = end
        }
        return bytes.count == 20 && index == hex.endIndex ? bytes : nil
    }

    /// The SHA-1 digest of `data` (a certificate's thumbprint).
    static func sha1(_ data: [UInt8]) -> [UInt8] {
        digest(data, EVP_sha1())
    }

    private static func digest(_ data: [UInt8], _ type: OpaquePointer?) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = EVP_Digest(data, data.count, &output, &length, type, nil)
        return Array(output.prefix(Int(length)))
    }
}

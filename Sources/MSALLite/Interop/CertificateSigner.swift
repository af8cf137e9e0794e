import COpenSSL
import Foundation
import TokenCache

/// A private key and its X.509 certificate, read from PEM through libcrypto, that signs
/// client assertions. The only file of MSALLite that calls OpenSSL; no OpenSSL type leaves
/// it.
final class CertificateSigner: @unchecked Sendable {
    // @unchecked: `key` is set in `init`, only read afterwards, and EVP_DigestSign on a
    // shared EVP_PKEY with a fresh context per call is thread-safe.
    private let key: OpaquePointer
    /// SHA-1 of the certificate's DER encoding (`x5t`).
    let sha1Thumbprint: [UInt8]
    /// SHA-256 of the certificate's DER encoding (`x5t#S256`).
    let sha256Thumbprint: [UInt8]

    /// Reads the key (`PEM_read_bio_PrivateKey`, decrypted with `passphrase` when given)
    /// and the certificate (`PEM_read_bio_X509`), and checks that they belong together.
    init(privateKeyPEM: String, certificatePEM: String, passphrase: String?) throws(MSALError) {
        func invalid(_ what: String) -> MSALError {
            MSALError(code: .invalidArgument, reason: "\(what). Pass the PEM text of the certificate's RSA private key (\"-----BEGIN PRIVATE KEY-----\") and of the certificate itself")
        }
        guard let loaded = CertificateSigner.readKey(privateKeyPEM, passphrase: passphrase) else {
            throw invalid("the private key cannot be read (not PEM, or a wrong passphrase)")
        }
        guard let certificate = CertificateSigner.withBIO(certificatePEM, { PEM_read_bio_X509($0, nil, nil, nil) }) else {
            EVP_PKEY_free(loaded)
            throw invalid("the certificate cannot be read")
        }
        defer { X509_free(certificate) }
        guard X509_check_private_key(certificate, loaded) == 1 else {
            EVP_PKEY_free(loaded)
            throw invalid("the private key does not belong to the certificate")
        }
        var derPointer: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &derPointer)
        guard length > 0, let derPointer else {
            EVP_PKEY_free(loaded)
            throw invalid("the certificate cannot be encoded")
        }
        let der = Array(UnsafeBufferPointer(start: derPointer, count: Int(length)))
        CRYPTO_free(derPointer, #fileID, #line)
        key = loaded
        sha1Thumbprint = CertificateSigner.digest(der, EVP_sha1())
        sha256Thumbprint = SHA256.hash(der)
    }

    deinit { EVP_PKEY_free(key) }

    /// An RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) of `message`. The corresponding
    /// C function is `EVP_DigestSign`.
    func signRS256(_ message: [UInt8]) throws(MSALError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw MSALError(code: .invalidArgument, reason: "OpenSSL cannot create a signing context") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1 else {
            throw MSALError(code: .invalidArgument, reason: "the private key cannot sign with RS256; use an RSA key")
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
        withBIO(pem) { bio in
            guard let passphrase else { return PEM_read_bio_PrivateKey(bio, nil, nil, nil) }
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

    private static func digest(_ data: [UInt8], _ type: OpaquePointer?) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = EVP_Digest(data, data.count, &output, &length, type, nil)
        return Array(output.prefix(Int(length)))
    }
}

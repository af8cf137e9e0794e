#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import COpenSSL
import Foundation

/// Key material that is wiped when released. The corresponding C function is
/// `OPENSSL_cleanse`.
package final class SecretBytes: @unchecked Sendable {
    // @unchecked: the buffer is written once at creation and only read afterwards.
    package let count: Int
    private let pointer: UnsafeMutableRawPointer

    package init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
    }

    package init(copying bytes: some Collection<UInt8>) {
        count = bytes.count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        _ = UnsafeMutableRawBufferPointer(start: pointer, count: count).copyBytes(from: bytes)
    }

    deinit {
        OPENSSL_cleanse(pointer, count)
        pointer.deallocate()
    }

    package func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    package func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }
}

/// The libcrypto calls the encrypted stores use: AES-256-GCM, scrypt, SHA-256 and the
/// random generator. No OpenSSL type leaves this file.
enum OpenSSL {
    struct Failure: Error {
        let operation: String
    }

    /// `count` random bytes. The corresponding C function is `RAND_bytes`.
    static func randomBytes(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw Failure(operation: "RAND_bytes") }
        return bytes
    }

    /// A random key of `count` bytes.
    static func randomKey(_ count: Int = 32) throws -> SecretBytes {
        let key = SecretBytes(count: count)
        let ok = key.withMutableBytes { RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count)) }
        guard ok == 1 else { throw Failure(operation: "RAND_bytes") }
        return key
    }

    /// scrypt (RFC 7914). The corresponding C function is `EVP_PBE_scrypt`.
    static func scrypt(passphrase: SecretBytes, salt: [UInt8], logN: UInt8, r: UInt32, p: UInt32, length: Int = 32) throws -> SecretBytes {
        let key = SecretBytes(count: length)
        let n = UInt64(1) << UInt64(logN)
        // The working memory is 128·N·r bytes; allow that plus room.
        let memory = 128 * n * UInt64(r) * UInt64(max(p, 1)) + 64 * 1024 * 1024
        let ok = passphrase.withBytes { pass in
            key.withMutableBytes { out in
                EVP_PBE_scrypt(pass.baseAddress?.assumingMemoryBound(to: CChar.self), pass.count, salt, salt.count,
                               n, UInt64(r), UInt64(p), memory, out.baseAddress!.assumingMemoryBound(to: UInt8.self), length)
            }
        }
        guard ok == 1 else { throw Failure(operation: "EVP_PBE_scrypt") }
        return key
    }

    /// Encrypts with AES-256-GCM, authenticating `aad` too; returns `aad`, the ciphertext,
    /// then the 16-byte tag, in one buffer. The corresponding C functions are
    /// `EVP_EncryptInit_ex`, `EVP_EncryptUpdate`, `EVP_EncryptFinal_ex`.
    static func seal(key: SecretBytes, nonce: [UInt8], aad: [UInt8], plaintext: UnsafeRawBufferPointer) throws -> Data {
        try aad.withUnsafeBytes { try seal(key: key, nonce: nonce, aad: $0, plaintext: plaintext, header: aad) }
    }

    /// Encrypts with AES-256-GCM, authenticating `aad` too; returns `header`, the
    /// ciphertext, then the 16-byte tag, in one buffer.
    static func seal(key: SecretBytes, nonce: [UInt8], aad: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer, header: [UInt8]) throws -> Data {
        guard let context = EVP_CIPHER_CTX_new() else { throw Failure(operation: "EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        var output = Data(count: header.count + plaintext.count + 16)
        var written: Int32 = 0
        let ok: Bool = key.withBytes { keyBytes in
            guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
                  EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1,
                  EVP_EncryptInit_ex(context, nil, nil, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), nonce) == 1,
                  EVP_EncryptUpdate(context, nil, &written, aad.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1 else { return false }
            return output.withUnsafeMutableBytes { buffer in
                let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                header.withUnsafeBufferPointer { if let start = $0.baseAddress { base.update(from: start, count: header.count) } }
                let out = base + header.count
                var offset = 0
                while offset < plaintext.count {
                    let chunk = min(plaintext.count - offset, 1 << 30)
                    guard EVP_EncryptUpdate(context, out + offset, &written, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, Int32(chunk)) == 1 else { return false }
                    offset += Int(written)
                }
                guard EVP_EncryptFinal_ex(context, out + offset, &written) == 1 else { return false }
                return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, out + plaintext.count) == 1
            }
        }
        guard ok else { throw Failure(operation: "AES-256-GCM encryption") }
        return output
    }

    /// Decrypts AES-256-GCM `sealed` (ciphertext then tag) in place, checking the tag over
    /// it and `aad`. Returns whether the tag matched; when it does not (a wrong key or changed
    /// bytes) the buffer is wiped. The corresponding C functions are `EVP_DecryptInit_ex`,
    /// `EVP_DecryptUpdate`, `EVP_DecryptFinal_ex`.
    static func openInPlace(key: SecretBytes, nonce: [UInt8], aad: UnsafeRawBufferPointer, sealed: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard sealed.count >= 16, let base = sealed.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        guard let context = EVP_CIPHER_CTX_new() else { throw Failure(operation: "EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        let length = sealed.count - 16
        var written: Int32 = 0
        var tag = [UInt8](UnsafeRawBufferPointer(rebasing: sealed[length...]))
        let ok: Bool = key.withBytes { keyBytes in
            guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
                  EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1,
                  EVP_DecryptInit_ex(context, nil, nil, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), nonce) == 1,
                  EVP_DecryptUpdate(context, nil, &written, aad.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1 else { return false }
            var offset = 0
            while offset < length {
                let chunk = min(length - offset, 1 << 30)
                guard EVP_DecryptUpdate(context, base + offset, &written, base + offset, Int32(chunk)) == 1 else { return false }
                offset += Int(written)
            }
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, &tag) == 1 else { return false }
            // No error text is queued for a tag mismatch: a failed final step is the answer.
            return EVP_DecryptFinal_ex(context, base + offset, &written) == 1
        }
        if !ok {
            OPENSSL_cleanse(base, length)
            ERR_clear_error()
        }
        return ok
    }

    /// A zeroed buffer of `count` bytes, as `Data`, that is wiped when released.
    static func wipingBuffer(count: Int) -> Data {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        return Data(bytesNoCopy: pointer, count: count, deallocator: .custom { pointer, count in
            OPENSSL_cleanse(pointer, count)
            pointer.deallocate()
        })
    }
}

import Crypto
public import Foundation
import TokenCache

/// Seals small values into cookie text with AES-256-GCM, so the browser carries them but
/// can neither read nor change them: the user's session, and a sign-in in progress (its
/// PKCE verifier and nonce).
///
/// Every instance of an app that shares one address must use the same key: a session
/// sealed by one instance is opened by any other. Each sealed value names its cookie (as
/// authenticated data) and carries its expiry, so a value moved into another cookie, or
/// kept past its time, does not open.
public struct CookieSealer: Sendable {
    private let key: SymmetricKey

    /// A sealer with a 32-byte key.
    ///
    /// - Throws: ``WebIdentityError`` `configuration` when `key` is not 32 bytes.
    public init(key: some DataProtocol) throws(WebIdentityError) {
        guard key.count == 32 else {
            throw WebIdentityError(.configuration, "the cookie key must be 32 random bytes (it has \(key.count)); make one with `head -c 32 /dev/urandom | base64`")
        }
        self.key = SymmetricKey(data: Array(key))
    }

    /// A sealer with a key given in base64 (32 bytes once decoded), as read from the
    /// environment or a secret store.
    public init(base64Key: String) throws(WebIdentityError) {
        guard let bytes = Data(base64Encoded: base64Key.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw WebIdentityError(.configuration, "the cookie key is not base64; make one with `head -c 32 /dev/urandom | base64`")
        }
        try self.init(key: bytes)
    }

    /// A sealer with a new random key: sessions last only as long as this process, and no
    /// other instance can open them. For a single instance in development.
    public static func random() -> CookieSealer {
        // A fresh 32-byte key always fits.
        try! CookieSealer(key: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// `value`, sealed for the cookie `name` until `expiry`, as cookie-safe text.
    func seal<Value: Encodable>(_ value: Value, cookie name: String, expiry: Date) throws -> String {
        let payload = try JSONEncoder().encode(Sealed(value: value, expiry: Int64(expiry.timeIntervalSince1970)))
        let box = try AES.GCM.seal(payload, using: key, authenticating: Array(name.utf8))
        // `combined` is nonce + ciphertext + tag; it exists for the default 12-byte nonce.
        return Base64URL.encode(box.combined!)
    }

    /// The value sealed in `text` for the cookie `name`, or `nil` when it does not open
    /// (another key, another cookie, changed, or expired).
    func open<Value: Decodable>(_ type: Value.Type, from text: String, cookie name: String, now: Date = Date()) -> Value? {
        guard let bytes = Base64URL.decode(text), let box = try? AES.GCM.SealedBox(combined: bytes),
              let payload = try? AES.GCM.open(box, using: key, authenticating: Array(name.utf8)),
              let sealed = try? JSONDecoder().decode(Sealed<Value>.self, from: payload),
              Int64(now.timeIntervalSince1970) < sealed.expiry else { return nil }
        return sealed.value
    }

    fileprivate struct Sealed<Value> {
        var value: Value
        var expiry: Int64
    }
}

extension CookieSealer.Sealed: Encodable where Value: Encodable {}
extension CookieSealer.Sealed: Decodable where Value: Decodable {}

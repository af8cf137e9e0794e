import Crypto
import Foundation

/// SHA-256, through swift-crypto: MSAL's extended cache key, the refresh-claim
/// fingerprints, PKCE, key checks and names derived from paths all hash with it.
package enum SHA256 {
    /// The 32-byte digest of `message`.
    package static func hash(_ message: [UInt8]) -> [UInt8] {
        Array(Crypto.SHA256.hash(data: message))
    }

    /// The digest of `message` in lower-case hexadecimal (64 digits), as Python's
    /// `hashlib.sha256(...).hexdigest()` writes it.
    package static func hexHash(_ message: [UInt8]) -> String {
        hex(hash(message))
    }

    /// `bytes` in lower-case hexadecimal.
    package static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// The digest of `parts` one after the other, without copying them (a key among them
    /// stays where it is).
    package static func hash(_ parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        var hasher = Crypto.SHA256()
        for part in parts { hasher.update(bufferPointer: part) }
        return Array(hasher.finalize())
    }
}

/// Base64url without padding, as JWTs and MSAL's hashes use it.
package enum Base64URL {
    /// `bytes` in base64url, without padding.
    package static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.last == "=" { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    /// `text`'s UTF-8 in base64url, without padding.
    package static func encode(_ text: String) -> String {
        encode(Array(text.utf8))
    }

    /// Decodes base64url or standard base64, with or without padding, as Python's
    /// `urlsafe_b64decode` after MSAL's re-padding does. `nil` for anything else.
    package static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        var sawPadding = false
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"), UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "_"), UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): sawPadding = true; continue
            default: return nil
            }
            if sawPadding { return nil }
            values.append(value)
        }
        if values.count % 4 == 1 { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var n: UInt32 = 0
            for (offset, value) in chunk.enumerated() { n |= UInt32(value) << UInt32(18 - 6 * offset) }
            output.append(UInt8(truncatingIfNeeded: n >> 16))
            if chunk.count > 2 { output.append(UInt8(truncatingIfNeeded: n >> 8)) }
            if chunk.count > 3 { output.append(UInt8(truncatingIfNeeded: n)) }
            index += 4
        }
        return output
    }
}

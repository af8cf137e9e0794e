import Foundation
import TokenCache

/// The encrypted cache file format, version 1. All integers are big-endian.
///
/// | bytes | field |
/// |---|---|
/// | 4 | magic `TKCE` |
/// | 1 | version, `1` |
/// | 1 | key source: `1` data key in the Secret Service, `2` passphrase, `3` raw key file, `4` data key in the kernel keyring |
/// | 1 | key derivation: `0` none, `1` scrypt |
/// | 1 | scrypt log2(N) (0 without derivation) |
/// | 4 | scrypt r |
/// | 4 | scrypt p |
/// | 1 | salt length *s* (16 with scrypt, else 0) |
/// | *s* | salt |
/// | 8 | key check: the first 8 bytes of SHA-256(`"tokencache key check v1"` ‖ key) |
/// | 12 | nonce, fresh for every write |
/// | rest | AES-256-GCM ciphertext of the MSAL JSON, then its 16-byte tag |
///
/// Everything before the ciphertext is the header, authenticated as associated data, so no
/// bit of the file can change unnoticed. The key check tells a wrong key (exit 77) from a
/// damaged file (exit 65).
struct EncryptedEnvelope {
    enum Source: UInt8 {
        case keyring = 1, passphrase = 2, keyFile = 3, kernelKeyring = 4

        var name: String {
            switch self {
            case .keyring: return "a data key in the Secret Service keyring"
            case .kernelKeyring: return "a data key in the kernel keyring"
            case .passphrase: return "a passphrase"
            case .keyFile: return "a key file"
            }
        }
    }

    /// scrypt parameters: N = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s here).
    struct Scrypt: Equatable {
        var logN: UInt8 = 15
        var r: UInt32 = 8
        var p: UInt32 = 1

        /// The parameters a header or a database names, refused before any derivation when
        /// they ask for more than this version writes (or less than it ever wrote): the
        /// header is not authenticated, and N = 2^22 with r = 32 would take 16 GiB.
        static func checked(logN: UInt32, r: UInt32, p: UInt32, location: String, what: String) throws(CacheStorageError) -> Scrypt {
            let most = Scrypt()
            guard (10...UInt32(most.logN)).contains(logN), (1...most.r).contains(r), (1...most.p).contains(p) else {
                throw CacheStorageError(code: .damaged, location: location, reason: "\(what) asks for scrypt with log2(N) = \(logN), r = \(r), p = \(p), beyond what this version writes (at most log2(N) = \(most.logN), r = \(most.r), p = \(most.p)); it was changed or damaged, so no key is derived. Restore it from a backup")
            }
            return Scrypt(logN: UInt8(logN), r: r, p: p)
        }
    }

    static let magic: [UInt8] = Array("TKCE".utf8)
    static let version: UInt8 = 1
    static let nonceLength = 12
    static let tagLength = 16
    /// The longest header and tag: a prefix this long of any file is enough to ``parse(_:location:)``.
    static let longestHeaderAndTag = 17 + 255 + 8 + nonceLength + tagLength

    var source: Source
    var scrypt: Scrypt?
    var salt: [UInt8]
    var keyCheck: [UInt8]
    var nonce: [UInt8]

    /// The header bytes, which are also the associated data.
    var header: [UInt8] {
        var bytes = EncryptedEnvelope.magic
        bytes.append(EncryptedEnvelope.version)
        bytes.append(source.rawValue)
        bytes.append(scrypt == nil ? 0 : 1)
        bytes.append(scrypt?.logN ?? 0)
        bytes += bigEndian(scrypt?.r ?? 0)
        bytes += bigEndian(scrypt?.p ?? 0)
        bytes.append(UInt8(salt.count))
        bytes += salt
        bytes += keyCheck
        bytes += nonce
        return bytes
    }

    private func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// The key check of `key`.
    static func keyCheck(for key: SecretBytes) -> [UInt8] {
        let label = Array("tokencache key check v1".utf8)
        let digest = label.withUnsafeBytes { labelBytes in key.withBytes { SHA256.hash([labelBytes, $0]) } }
        return Array(digest.prefix(8))
    }

    /// Reads the header of `file`; returns it and its length.
    static func parse(_ file: UnsafeRawBufferPointer, location: String) throws(CacheStorageError) -> (EncryptedEnvelope, Int) {
        func damaged(_ problem: String) -> CacheStorageError {
            CacheStorageError(code: .damaged, location: location, reason: "\(problem). Restore the file from a backup, or remove it and sign in again")
        }
        guard file.count >= 4, Array(file.prefix(4)) == magic else {
            throw damaged("this is not an encrypted token cache (it does not start with TKCE); if it is a plain MSAL JSON file, use file:")
        }
        guard file.count > 4 else { throw damaged("the file is truncated") }
        guard file[4] == version else {
            throw damaged("the file uses envelope version \(file[4]), which this version of the library does not know; use a newer version")
        }
        guard file.count >= 17, let source = Source(rawValue: file[5]) else { throw damaged("the header is truncated or names an unknown key source") }
        let kdf = file[6]
        func u32(_ offset: Int) -> UInt32 { UInt32(file[offset]) << 24 | UInt32(file[offset + 1]) << 16 | UInt32(file[offset + 2]) << 8 | UInt32(file[offset + 3]) }
        var scrypt: Scrypt?
        if kdf == 1 {
            scrypt = try Scrypt.checked(logN: UInt32(file[7]), r: u32(8), p: u32(12), location: location, what: "the file's header")
        } else if kdf != 0 {
            throw damaged("the header names an unknown key derivation")
        }
        let saltLength = Int(file[16])
        let headerLength = 17 + saltLength + 8 + nonceLength
        guard file.count >= headerLength + tagLength else { throw damaged("the file is truncated") }
        let salt = Array(file[17..<(17 + saltLength)])
        let keyCheck = Array(file[(17 + saltLength)..<(25 + saltLength)])
        let nonce = Array(file[(25 + saltLength)..<headerLength])
        return (EncryptedEnvelope(source: source, scrypt: scrypt, salt: salt, keyCheck: keyCheck, nonce: nonce), headerLength)
    }
}

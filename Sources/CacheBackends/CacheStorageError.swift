/// The error thrown by the CacheBackends module.
///
/// Messages name the store and say what to do; they never contain tokens or keys.
public struct CacheStorageError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is. New codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable {
            case unavailable, permissionDenied, insecurePath, invalidSpec, ioFailure, lockTimeout, timedOut, wrongKey, keyUnavailable, keyLost, damaged, incompatible
        }

        let storage: Storage

        /// The store cannot be reached (a missing folder that cannot be created, a full disk).
        public static let unavailable = Code(storage: .unavailable)
        /// The operating system refused access.
        public static let permissionDenied = Code(storage: .permissionDenied)
        /// The path is a symbolic link or belongs to another user, so it is not trusted.
        public static let insecurePath = Code(storage: .insecurePath)
        /// A store specification string could not be understood.
        public static let invalidSpec = Code(storage: .invalidSpec)
        /// Reading or writing failed.
        public static let ioFailure = Code(storage: .ioFailure)
        /// The cache lock was held by a live process for longer than the timeout.
        public static let lockTimeout = Code(storage: .lockTimeout)
        /// A server did not answer in time; nothing of the call was committed. Retry later.
        public static let timedOut = Code(storage: .timedOut)
        /// The key or passphrase does not decrypt the store.
        public static let wrongKey = Code(storage: .wrongKey)
        /// The key or passphrase could not be had (an unset variable, a missing or malformed
        /// key file).
        public static let keyUnavailable = Code(storage: .keyUnavailable)
        /// The random data key the store was encrypted with is gone for good, as a key in the
        /// kernel keyring is after a reboot: the store can never be decrypted again. Start
        /// afresh (`PersistentTokenCache.Options.recoverLostKey` does it for a file).
        public static let keyLost = Code(storage: .keyLost)
        /// The stored bytes were changed or damaged (an authentication failure, a broken
        /// envelope).
        public static let damaged = Code(storage: .damaged)
        /// The store is intact but not one this version can use: written by a newer
        /// version, or another application's data.
        public static let incompatible = Code(storage: .incompatible)

        public var description: String {
            switch storage {
            case .unavailable: return "storage unavailable"
            case .permissionDenied: return "permission denied"
            case .insecurePath: return "insecure path"
            case .invalidSpec: return "invalid store"
            case .ioFailure: return "I/O error"
            case .lockTimeout: return "lock timeout"
            case .timedOut: return "timed out"
            case .wrongKey: return "wrong key"
            case .keyUnavailable: return "key unavailable"
            case .keyLost: return "key lost"
            case .damaged: return "damaged store"
            case .incompatible: return "incompatible store"
            }
        }
    }

    /// The kind of problem.
    public let code: Code
    /// The store or path involved.
    public let location: String
    /// What went wrong and what to do.
    public let reason: String
    /// The `errno` value, when a system call failed.
    public let errno: Int32?

    /// Creates an error.
    public init(code: Code, location: String, reason: String, errno: Int32? = nil) {
        self.code = code
        self.location = location
        self.reason = reason
        self.errno = errno
    }

    public var description: String { "\(location): \(code): \(reason)" }
}

public import Foundation

/// Where a serialized cache lives: a file, an encrypted file, a keyring item, a database.
///
/// The shape follows msal-extensions' `BasePersistence`: load, save, a change signal,
/// remove, and a location used for messages and for the lock file beside it.
///
/// ## Implementation requirements
/// - ``load()`` returns `nil` when nothing was ever saved (never an error), and the exact
///   bytes of the last ``save(_:)`` otherwise.
/// - ``save(_:)`` replaces the content atomically: a reader sees the old or the new bytes,
///   never a mix, and a failed save leaves the old content intact. It must not keep `data`
///   after it returns (callers pass memory they wipe afterwards).
/// - ``changeToken()`` changes whenever the content may have changed, so a reader can skip
///   reloading when it did not.
/// - No secret appears in a thrown error's description.
public protocol CacheStorage: Sendable {
    /// A path or URI naming the store, for messages and for the lock file beside it.
    var location: String { get }
    /// Whether the bytes are encrypted at rest.
    var isEncrypted: Bool { get }
    /// The stored bytes, or `nil` when nothing has been saved.
    func load() throws -> Data?
    /// Replaces the stored bytes.
    func save(_ data: Data) throws
    /// A value that changes whenever the stored content changes; `nil` when nothing is stored.
    func changeToken() throws -> StorageChangeToken?
    /// Deletes the stored content. Deleting nothing is not an error.
    func remove() throws
    /// Moves unreadable content aside (keeping it for inspection) and returns where it went;
    /// `reason` (`corrupt`, `key-lost`) is part of the new name.
    func moveAside(reason: String) throws -> String
    /// Whether `error`, thrown by ``load()``, says the content can never be decrypted again
    /// because its key is gone for good (a key in the kernel keyring after a reboot).
    func isKeyLost(_ error: any Error) -> Bool
    /// Whether loading and saving touch only local files (no other service, such as a
    /// keyring over D-Bus), so they never wait on anything but the disk.
    var answersLocally: Bool { get }
    /// Whether loading the content as it is now would first do slow work that needs no
    /// lock, such as stretching a passphrase with a salt not seen before. A writer that
    /// finds this inside the lock lets the lock go, loads without it, and takes it again, so
    /// other writers never wait on that work. It must be cheap (a header read at most).
    func loadWouldDeriveKey() -> Bool
}

extension CacheStorage {
    /// `false`: a storage is assumed to talk to another service unless it says otherwise.
    public var answersLocally: Bool { false }

    /// `false`: a storage whose key cannot be lost says so itself.
    public func isKeyLost(_ error: any Error) -> Bool { false }

    /// `false`: a storage with a slow key says so itself.
    public func loadWouldDeriveKey() -> Bool { false }
}

/// A storage whose content can be read in pieces, such as a plain file. A reload then
/// compares the new content with the loaded cache piece by piece, keeping the entries that
/// did not change, instead of reading all of it into new memory first.
public protocol PiecewiseCacheStorage: CacheStorage {
    /// Runs `body` with a function that reads the next bytes of the stored content into a
    /// buffer and returns how many it read (0 at the end); `nil` when nothing is stored.
    /// The function is valid only while `body` runs.
    func readInPieces<R>(_ body: (_ read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> R) throws -> R?
}

/// An opaque value that tells whether a store changed: equal tokens mean unchanged.
public struct StorageChangeToken: Hashable, Sendable {
    /// The parts that identify one version of the content (for a file: device, inode, size
    /// and modification time in nanoseconds).
    public let parts: [Int64]
    /// When the content was last modified, in nanoseconds since the epoch, when the store
    /// knows. File systems stamp times with a coarse clock, so two writes a few milliseconds
    /// apart can leave equal tokens; a reader that loaded the content less than a tick after
    /// this time reloads once more to be sure.
    public let modifiedAt: Int64?

    /// Creates a token from its parts.
    public init(_ parts: [Int64], modifiedAt: Int64? = nil) {
        self.parts = parts
        self.modifiedAt = modifiedAt
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
public import Foundation
public import TokenCache

/// How an MSAL cache is stored in the Secret Service keyring: which item, and how its
/// secret is encoded. The presets match what the peers store, so each reads the other's
/// item.
public struct KeyringProfile: Sendable, Equatable {
    /// How the cache text is kept in the secret.
    public enum Encoding: String, Sendable {
        /// The JSON text itself (msal-extensions, azure-identity).
        case raw
        /// Base64 of the UTF-8 JSON (MSAL .NET on Linux).
        case base64
    }

    /// The schema name (stored as the `xdg:schema` attribute).
    public var schema: String
    /// The item's attributes.
    public var attributes: [String: String]
    /// The item's label.
    public var label: String
    /// How the secret encodes the cache.
    public var encoding: Encoding
    /// Whether to match items by attributes only (MSAL .NET's `SECRET_SCHEMA_DONT_MATCH_NAME`).
    public var matchesByAttributesOnly: Bool

    /// Creates a profile.
    public init(schema: String, attributes: [String: String] = [:], label: String = "", encoding: Encoding = .raw, matchesByAttributesOnly: Bool = false) {
        self.schema = schema
        self.attributes = attributes
        self.label = label
        self.encoding = encoding
        self.matchesByAttributesOnly = matchesByAttributesOnly
    }

    /// msal-extensions' defaults (`build_encrypted_persistence(signal)`): schema = SHA-256
    /// hex of the signal path exactly as the app spells it, no attributes, empty label.
    public static func msalExtensions(signalPath: String) -> KeyringProfile {
        KeyringProfile(schema: SHA256.hexHash(Array(signalPath.utf8)))
    }

    /// azure-identity's `TokenCachePersistenceOptions(name="msal.cache")`: schema
    /// `msal.cache.nocae` (or `.cae`), attribute `MsalClientID`, label `MSALCache`.
    public static func azureIdentity(cae: Bool = false, name: String = "msal.cache") -> KeyringProfile {
        KeyringProfile(schema: name + (cae ? ".cae" : ".nocae"), attributes: ["MsalClientID": "Microsoft.Developer.IdentityService"], label: "MSALCache")
    }

    /// MSAL .NET's `WithLinuxKeyring` as Azure.Identity configures it: schema `msal.cache`
    /// matched by attributes only, two attributes, label `MSALCache`, base64 payload.
    public static let msalDotNet = KeyringProfile(
        schema: "msal.cache",
        attributes: ["MsalClientID": "Microsoft.Developer.IdentityService", "Microsoft.Developer.IdentityService": "1.0.0.0"],
        label: "MSALCache", encoding: .base64, matchesByAttributesOnly: true)

    var item: Libsecret.Item {
        Libsecret.Item(schema: schema, attributes: attributes, flags: matchesByAttributesOnly ? Libsecret.dontMatchName : 0)
    }
}

/// An MSAL cache kept in the Secret Service keyring (GNOME Keyring, KeePassXC, ...) through
/// libsecret, with a signal file whose modification time tells other processes (and
/// msal-extensions) that the item changed. The lock is `<signal>.lockfile`.
///
/// Without a usable keyring (no D-Bus session, no Secret Service, a locked or missing
/// collection, libsecret not installed) every operation throws a ``CacheStorageError`` with
/// code `unavailable` that says how to fix it. It never falls back to a plaintext file.
public struct KeyringStorage: CacheStorage {
    /// The item's profile.
    public let profile: KeyringProfile
    /// The signal file's path.
    public let signalPath: String

    public var location: String { signalPath }
    public var isEncrypted: Bool { true }

    /// Creates a store for the item `profile` names, signalled through `signalPath`.
    public init(profile: KeyringProfile, signalPath: String) {
        self.profile = profile
        self.signalPath = (signalPath as NSString).expandingTildeInPath
    }

    public func load() throws -> Data? {
        let library = try Libsecret.shared()
        let secret: Data?
        do {
            secret = try library.lookup(profile.item)
        } catch {
            throw KeyringStorage.explain(error, location: signalPath)
        }
        guard let secret else {
            // Not found, or in a locked collection: libsecret answers both with NULL.
            try KeyringStorage.probe(library, location: signalPath)
            return nil
        }
        switch profile.encoding {
        case .raw:
            return secret
        case .base64:
            var encoded = secret
            defer { encoded.wipe() }
            guard let decoded = Data(base64Encoded: encoded) else {
                throw CacheStorageError(code: .damaged, location: signalPath, reason: "the keyring item holds text that is not base64, but the profile expects base64 (as MSAL .NET writes)")
            }
            return decoded
        }
    }

    /// Whether `data` is valid UTF-8, checked without copying it into a string.
    static func isUTF8(_ data: Data) -> Bool {
        var parser = Unicode.UTF8.ForwardParser()
        var bytes = data.makeIterator()
        while true {
            switch parser.parseScalar(from: &bytes) {
            case .valid: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    public func save(_ data: Data) throws {
        let library = try Libsecret.shared()
        var secret: Data
        switch profile.encoding {
        case .raw:
            guard !data.contains(0), KeyringStorage.isUTF8(data) else {
                throw CacheStorageError(code: .damaged, location: signalPath, reason: "the cache is not NUL-free UTF-8 text, so it cannot be stored raw in the keyring; use encoding=base64")
            }
            secret = data
        case .base64:
            secret = data.base64EncodedData()
        }
        // A copy of the caller's bytes (which it wipes itself): wiped here.
        defer { secret.wipe() }
        do {
            try library.store(profile.item, label: profile.label, secret: secret)
        } catch {
            throw KeyringStorage.explain(error, location: signalPath)
        }
        try touchSignal()
    }

    public func changeToken() throws -> StorageChangeToken? {
        try FileStorage(path: signalPath).changeToken()
    }

    public func remove() throws {
        let library = try Libsecret.shared()
        do {
            try library.clear(profile.item)
        } catch {
            throw KeyringStorage.explain(error, location: signalPath)
        }
        try touchSignal()
    }

    public func moveAside(reason: String) throws -> String {
        guard let data = try load() else { return "nothing" }
        let aside = KeyringProfile(schema: profile.schema + "." + reason, attributes: profile.attributes, label: profile.label + " (unreadable, kept aside)", encoding: .base64)
        try KeyringStorage(profile: aside, signalPath: signalPath + "." + reason).save(data)
        try remove()
        return "keyring item \(aside.schema)"
    }

    /// Updates the signal file's modification time, creating it if needed.
    private func touchSignal() throws {
        let folder = (signalPath as NSString).deletingLastPathComponent
        try POSIX.makeDirectory(folder.isEmpty ? "." : folder)
        let fd = open(signalPath, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw POSIX.error(errno, signalPath, "touch the signal file") }
        _ = futimens(fd, nil)
        close(fd)
    }

    // MARK: - Diagnosis

    /// Tells "not found" from "locked": stores, reads and clears a probe item of its own
    /// schema (never the real item), as msal-extensions' trial run does.
    static func probe(_ library: Libsecret, location: String) throws {
        if let failure = probeFailure(library) { throw explain(failure, location: location) }
    }

    private static func probeFailure(_ library: Libsecret) -> Libsecret.Failure? {
        let item = Libsecret.Item(schema: "io.tokencache.probe", attributes: ["probe": "\(getpid())"], flags: 0)
        do {
            try library.store(item, label: "tokencache probe", secret: Data("probe".utf8))
            try library.clear(item)
            return nil
        } catch {
            return error
        }
    }

    /// Why the keyring cannot be used here, for diagnostics (`tokencache doctor`).
    public enum Problem: Sendable, Equatable {
        /// libsecret (or GLib) is not installed.
        case libsecretMissing
        /// There is no D-Bus session bus to reach a Secret Service on.
        case noSessionBus
        /// No Secret Service answers on the session bus.
        case noSecretService
        /// The default collection is locked.
        case locked
        /// The Secret Service has no default collection.
        case noDefaultCollection
        /// Anything else the Secret Service reported.
        case failed
    }

    /// Whether a keyring is usable here: `nil` when it is, otherwise what is wrong and the
    /// error that says why and how to fix it.
    public static func diagnose() -> (problem: Problem, error: CacheStorageError)? {
        let library: Libsecret
        do {
            library = try Libsecret.shared()
        } catch {
            return (.libsecretMissing, error)
        }
        guard let failure = probeFailure(library) else { return nil }
        let (problem, reason) = classify(failure)
        return (problem, CacheStorageError(code: .unavailable, location: "keyring", reason: reason))
    }

    static func explain(_ failure: Libsecret.Failure, location: String) -> CacheStorageError {
        CacheStorageError(code: .unavailable, location: location, reason: classify(failure).reason)
    }

    /// What a Secret Service failure means, and what to do about it.
    private static func classify(_ failure: Libsecret.Failure) -> (problem: Problem, reason: String) {
        let message = failure.message
        if message.contains("autolaunch") || message.contains("Could not connect") || message.contains("DBUS_SESSION_BUS_ADDRESS") {
            return (.noSessionBus, "there is no D-Bus session bus (\(message)). Run inside a desktop session or under dbus-run-session with a Secret Service started, or use encrypted:PATH?passphrase-env=VAR")
        } else if message.contains("not provided by any .service files") || message.contains("ServiceUnknown") {
            return (.noSecretService, "no Secret Service answers on the session bus (\(message)). Install and start one (Debian: apt-get install gnome-keyring), or use encrypted:PATH?passphrase-env=VAR")
        } else if message.lowercased().contains("locked") {
            return (.locked, "the keyring collection is locked (\(message)). Unlock it (for example gnome-keyring-daemon --unlock, or log in to the desktop), then try again")
        } else if message.contains("Object does not exist") || message.contains("No such") {
            return (.noDefaultCollection, "the Secret Service has no default collection (\(message)). Create and unlock the login keyring (printf PASSWORD | gnome-keyring-daemon --unlock), then try again")
        }
        return (.failed, "the Secret Service failed: \(failure.domain) \(failure.code): \(message)")
    }
}

import Foundation
public import TokenCache

/// Parses the store SPEC strings the `tokencache` command and apps use to name a store.
///
/// ``open(_:options:lockTimeout:)`` gives the persistent cache for a SPEC, with the lock
/// the store's peers use (`<path>.lockfile` beside a file).
///
/// | SPEC | store |
/// |---|---|
/// | `file:PATH` | ``FileStorage``: a plain MSAL JSON file |
/// | `encrypted:PATH` | ``EncryptedFileStorage`` with its data key in the keyring |
/// | `encrypted:PATH?passphrase-env=VAR` | ... with a passphrase from an environment variable |
/// | `encrypted:PATH?passphrase-file=FILE` | ... with a passphrase from a file (mode 0600) |
/// | `encrypted:PATH?key-file=FILE` | ... with a raw 256-bit key from a file (mode 0600) |
/// | `keyring:msal-extensions?signal=PATH` | ``KeyringStorage`` as msal-extensions stores it |
/// | `keyring:azure-identity?signal=PATH[&cae=true]` | ... as azure-identity (Python) stores it |
/// | `keyring:msal-dotnet?signal=PATH` | ... as MSAL .NET stores it (base64) |
/// | `keyring:custom?signal=PATH&schema=S[&attr.NAME=VALUE...][&label=L][&encoding=raw\|base64]` | any item |
/// | `sqlite:PATH` | ``SQLiteTokenCache``: a database with one row per entry |
/// | `sqlite:PATH?encrypt=keyring` | ... with each entry encrypted, the key in the keyring |
/// | `sqlite:PATH?passphrase-env=VAR`, `?passphrase-file=FILE`, `?key-file=FILE` | ... with the key from a passphrase or key file |
public enum StoreSpec {
    /// The token cache a SPEC names: a ``SQLiteTokenCache`` for `sqlite:`, otherwise a
    /// `PersistentTokenCache` over the store with the cross-process lock its peers use.
    ///
    /// - Throws: ``CacheStorageError`` with code `invalidSpec` for an unknown form.
    public static func open(_ spec: String, options: PersistentTokenCache.Options = .init(), lockTimeout: Duration = .seconds(5)) throws(CacheStorageError) -> any TokenCacheStore {
        if spec.hasPrefix("sqlite:") { return try sqlite(spec, busyTimeout: lockTimeout) }
        return try openPersistent(spec, options: options, lockTimeout: lockTimeout)
    }

    /// The persistent cache for a SPEC that names a serialized store (not `sqlite:`): its
    /// store and the cross-process lock beside it.
    ///
    /// - Throws: ``CacheStorageError`` with code `invalidSpec` for an unknown form.
    public static func openPersistent(_ spec: String, options: PersistentTokenCache.Options = .init(), lockTimeout: Duration = .seconds(5)) throws(CacheStorageError) -> PersistentTokenCache {
        let storage = try parse(spec)
        return PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: storage.location, timeout: lockTimeout), options: options)
    }

    private static func sqlite(_ spec: String, busyTimeout: Duration) throws(CacheStorageError) -> SQLiteTokenCache {
        let (path, options) = try splitQuery(String(spec.dropFirst("sqlite:".count)), spec: spec)
        guard !path.isEmpty else {
            throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "sqlite: needs a path, for example sqlite:~/.cache/tokens.db")
        }
        let source: EncryptionKeySource?
        if options.count == 1, options[0] == ("encrypt", "keyring") {
            source = .keyring
        } else {
            source = try keySource(options, spec: spec, usage: "sqlite: takes one of ?encrypt=keyring, ?passphrase-env=VAR, ?passphrase-file=PATH or ?key-file=PATH (none: entries are stored in the clear)")
        }
        return SQLiteTokenCache(path: path, keySource: source, options: SQLiteTokenCache.Options(busyTimeout: busyTimeout))
    }

    /// `spec` as an error may show it: the values of options other than the known,
    /// non-secret ones are replaced by `***`, in case a passphrase was typed into one.
    static func shown(_ spec: String) -> String {
        guard let question = spec.firstIndex(of: "?") else { return spec }
        let known: Set<String> = ["passphrase-env", "passphrase-file", "key-file", "signal", "schema", "label", "encoding", "cae", "encrypt"]
        let options = spec[spec.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { option -> String in
            guard let equals = option.firstIndex(of: "=") else { return String(option) }
            let name = String(option[..<equals])
            return known.contains(name) || name.hasPrefix("attr.") ? String(option) : name + "=***"
        }
        return String(spec[...question]) + options.joined(separator: "&")
    }

    /// The key source named by `passphrase-env`, `passphrase-file` or `key-file`; `nil` for
    /// no options.
    package static func keySource(_ options: [(key: String, value: String)], spec: String, usage: String) throws(CacheStorageError) -> EncryptionKeySource? {
        switch (options.count, options.first?.key) {
        case (0, _): return nil
        case (1, "passphrase-env"): return .passphraseEnvironment(options[0].value)
        case (1, "passphrase-file"): return .passphraseFile((options[0].value as NSString).expandingTildeInPath)
        case (1, "key-file"): return .keyFile((options[0].value as NSString).expandingTildeInPath)
        default: throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: usage)
        }
    }

    private static func keyring(_ rest: String, spec: String) throws(CacheStorageError) -> KeyringStorage {
        let (name, options) = try splitQuery(rest, spec: spec)
        func value(_ key: String) -> String? { options.last { $0.key == key }?.value }
        guard let signal = value("signal"), !signal.isEmpty else {
            throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "keyring: needs ?signal=PATH, the file whose time tells other processes the item changed (msal-extensions' location)")
        }
        let profile: KeyringProfile
        switch name {
        case "msal-extensions":
            profile = .msalExtensions(signalPath: signal)
        case "azure-identity":
            profile = .azureIdentity(cae: value("cae") == "true")
        case "msal-dotnet":
            profile = .msalDotNet
        case "custom":
            guard let schema = value("schema"), !schema.isEmpty else {
                throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "keyring:custom needs &schema=NAME")
            }
            var attributes: [String: String] = [:]
            for option in options where option.key.hasPrefix("attr.") { attributes[String(option.key.dropFirst(5))] = option.value }
            guard let encoding = KeyringProfile.Encoding(rawValue: value("encoding") ?? "raw") else {
                throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "encoding= takes raw or base64")
            }
            profile = KeyringProfile(schema: schema, attributes: attributes, label: value("label") ?? "", encoding: encoding)
        default:
            throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "unknown keyring profile \"\(name)\"; use msal-extensions, azure-identity, msal-dotnet or custom")
        }
        return KeyringStorage(profile: profile, signalPath: signal)
    }

    /// Splits `PATH?name=value&name=value`; values are percent-decoded.
    package static func splitQuery(_ text: String, spec: String) throws(CacheStorageError) -> (String, [(key: String, value: String)]) {
        guard let mark = text.firstIndex(of: "?") else { return (text, []) }
        var options: [(key: String, value: String)] = []
        for pair in text[text.index(after: mark)...].split(separator: "&") {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "\"\(pair)\" is not NAME=VALUE")
            }
            let value = String(pair[pair.index(after: equals)...])
            options.append((String(pair[..<equals]), value.removingPercentEncoding ?? value))
        }
        return (String(text[..<mark]), options)
    }

    /// The serialized store a SPEC names (every form but `sqlite:`, whose rows are not one
    /// serialized document).
    ///
    /// - Throws: ``CacheStorageError`` with code `invalidSpec` for an unknown form.
    public static func parse(_ spec: String) throws(CacheStorageError) -> any CacheStorage {
        guard let colon = spec.firstIndex(of: ":") else {
            throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "a store is written KIND:LOCATION, for example file:~/.azure/msal_token_cache.json")
        }
        let kind = spec[..<colon]
        let rest = String(spec[spec.index(after: colon)...])
        switch kind {
        case "file":
            guard !rest.isEmpty else {
                throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "file: needs a path, for example file:~/.azure/msal_token_cache.json")
            }
            return FileStorage(path: rest)
        case "encrypted":
            let (path, options) = try splitQuery(rest, spec: spec)
            guard !path.isEmpty else {
                throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "encrypted: needs a path, for example encrypted:~/.cache/tokens.bin?passphrase-env=TOKENCACHE_PASSPHRASE")
            }
            let source = try keySource(options, spec: spec, usage: "encrypted: takes one of ?passphrase-env=VAR, ?passphrase-file=PATH or ?key-file=PATH (none: the key is kept in the keyring)") ?? .keyring
            return EncryptedFileStorage(path: path, keySource: source)
        case "keyring":
            return try keyring(rest, spec: spec)
        case "sqlite":
            throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "sqlite: is a database of entries, not a serialized store; open it with StoreSpec.open, or export it with tokencache copy")
        default:
            throw CacheStorageError(code: .invalidSpec, location: shown(spec), reason: "unknown store kind \"\(kind)\"; supported: file:PATH, encrypted:PATH[?passphrase-env=VAR|passphrase-file=PATH|key-file=PATH], keyring:PROFILE?signal=PATH, sqlite:PATH[?encrypt=keyring|passphrase-env=VAR|passphrase-file=PATH|key-file=PATH]")
        }
    }
}

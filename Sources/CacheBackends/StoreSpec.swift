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
public enum StoreSpec {
    /// The persistent cache for a SPEC: its store and the cross-process lock beside it.
    ///
    /// - Throws: ``CacheStorageError`` with code `invalidSpec` for an unknown form.
    public static func open(_ spec: String, options: PersistentTokenCache.Options = .init(), lockTimeout: Duration = .seconds(5)) throws(CacheStorageError) -> PersistentTokenCache {
        let storage = try parse(spec)
        return PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: storage.location, timeout: lockTimeout), options: options)
    }

    private static func keyring(_ rest: String, spec: String) throws(CacheStorageError) -> KeyringStorage {
        let (name, options) = try splitQuery(rest, spec: spec)
        func value(_ key: String) -> String? { options.last { $0.key == key }?.value }
        guard let signal = value("signal"), !signal.isEmpty else {
            throw CacheStorageError(code: .invalidSpec, location: spec, reason: "keyring: needs ?signal=PATH, the file whose time tells other processes the item changed (msal-extensions' location)")
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
                throw CacheStorageError(code: .invalidSpec, location: spec, reason: "keyring:custom needs &schema=NAME")
            }
            var attributes: [String: String] = [:]
            for option in options where option.key.hasPrefix("attr.") { attributes[String(option.key.dropFirst(5))] = option.value }
            guard let encoding = KeyringProfile.Encoding(rawValue: value("encoding") ?? "raw") else {
                throw CacheStorageError(code: .invalidSpec, location: spec, reason: "encoding= takes raw or base64")
            }
            profile = KeyringProfile(schema: schema, attributes: attributes, label: value("label") ?? "", encoding: encoding)
        default:
            throw CacheStorageError(code: .invalidSpec, location: spec, reason: "unknown keyring profile \"\(name)\"; use msal-extensions, azure-identity, msal-dotnet or custom")
        }
        return KeyringStorage(profile: profile, signalPath: signal)
    }

    /// Splits `PATH?name=value&name=value`; values are percent-decoded.
    static func splitQuery(_ text: String, spec: String) throws(CacheStorageError) -> (String, [(key: String, value: String)]) {
        guard let mark = text.firstIndex(of: "?") else { return (text, []) }
        var options: [(key: String, value: String)] = []
        for pair in text[text.index(after: mark)...].split(separator: "&") {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw CacheStorageError(code: .invalidSpec, location: spec, reason: "\"\(pair)\" is not NAME=VALUE")
            }
            let value = String(pair[pair.index(after: equals)...])
            options.append((String(pair[..<equals]), value.removingPercentEncoding ?? value))
        }
        return (String(text[..<mark]), options)
    }

    /// The store a SPEC names.
    ///
    /// - Throws: ``CacheStorageError`` with code `invalidSpec` for an unknown form.
    public static func parse(_ spec: String) throws(CacheStorageError) -> any CacheStorage {
        guard let colon = spec.firstIndex(of: ":") else {
            throw CacheStorageError(code: .invalidSpec, location: spec, reason: "a store is written KIND:LOCATION, for example file:~/.azure/msal_token_cache.json")
        }
        let kind = spec[..<colon]
        let rest = String(spec[spec.index(after: colon)...])
        switch kind {
        case "file":
            guard !rest.isEmpty else {
                throw CacheStorageError(code: .invalidSpec, location: spec, reason: "file: needs a path, for example file:~/.azure/msal_token_cache.json")
            }
            return FileStorage(path: rest)
        case "encrypted":
            let (path, options) = try splitQuery(rest, spec: spec)
            guard !path.isEmpty else {
                throw CacheStorageError(code: .invalidSpec, location: spec, reason: "encrypted: needs a path, for example encrypted:~/.cache/tokens.bin?passphrase-env=TOKENCACHE_PASSPHRASE")
            }
            let source: EncryptionKeySource
            switch (options.count, options.first?.key) {
            case (0, _): source = .keyring
            case (1, "passphrase-env"): source = .passphraseEnvironment(options[0].value)
            case (1, "passphrase-file"): source = .passphraseFile((options[0].value as NSString).expandingTildeInPath)
            case (1, "key-file"): source = .keyFile((options[0].value as NSString).expandingTildeInPath)
            default:
                throw CacheStorageError(code: .invalidSpec, location: spec, reason: "encrypted: takes one of ?passphrase-env=VAR, ?passphrase-file=PATH or ?key-file=PATH (none: the key is kept in the keyring)")
            }
            return EncryptedFileStorage(path: path, keySource: source)
        case "keyring":
            return try keyring(rest, spec: spec)
        default:
            throw CacheStorageError(code: .invalidSpec, location: spec, reason: "unknown store kind \"\(kind)\"; supported: file:PATH, encrypted:PATH[?passphrase-env=VAR|passphrase-file=PATH|key-file=PATH], keyring:PROFILE?signal=PATH")
        }
    }
}

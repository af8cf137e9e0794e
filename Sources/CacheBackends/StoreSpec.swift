import Foundation
import TokenCache

/// The syntax of store SPECs, shared by ``StoreDescription/init(spec:)`` and the SPEC
/// parsers other modules register (PostgreSQL's).
package enum StoreSpec {
    /// The key source of a database SPEC (`sqlite:`, `postgres://`): `?encrypt=keyring`
    /// (the Secret Service), `?encrypt=kernel`, or one of `passphrase-env`,
    /// `passphrase-file`, `key-file`; `nil` for none.
    package static func databaseKeySource(_ options: [(key: String, value: String)], spec: String, kind: String) throws(CacheStorageError) -> EncryptionKeySource? {
        if options.count == 1, options[0].key == "encrypt", let source = keyring(named: options[0].value) { return source }
        return try keySource(options, spec: spec, usage: "\(kind) takes one of ?encrypt=keyring, ?encrypt=kernel, ?passphrase-env=VAR, ?passphrase-file=PATH or ?key-file=PATH (none: entries are stored in the clear)")
    }

    /// The key source of an `encrypted:` SPEC: `?key=keyring` (the Secret Service),
    /// `?key=kernel`, `?key=auto` or none (the Secret Service when it answers, else the
    /// kernel keyring), or one of `passphrase-env`, `passphrase-file`, `key-file`.
    package static func fileKeySource(_ options: [(key: String, value: String)], spec: String) throws(CacheStorageError) -> EncryptionKeySource {
        if options.count == 1, options[0].key == "key", let source = options[0].value == "auto" ? .automatic : keyring(named: options[0].value) { return source }
        let usage = "encrypted: takes one of ?key=keyring, ?key=kernel, ?passphrase-env=VAR, ?passphrase-file=PATH or ?key-file=PATH (none: a data key in the Secret Service when it answers, else in the kernel keyring)"
        return try keySource(options, spec: spec, usage: usage) ?? .automatic
    }

    /// The keyring a random data key is kept in: `keyring` (the Secret Service) or `kernel`.
    private static func keyring(named name: String) -> EncryptionKeySource? {
        switch name {
        case "keyring": return .keyring
        case "kernel": return .kernelKeyring
        default: return nil
        }
    }

    /// `spec` as an error may show it: the values of options other than the known,
    /// non-secret ones are replaced by `***`, in case a passphrase was typed into one.
    package static func shown(_ spec: String) -> String {
        guard let question = spec.firstIndex(of: "?") else { return spec }
        let known: Set<String> = ["passphrase-env", "passphrase-file", "key-file", "signal", "schema", "label", "encoding", "cae", "encrypt"]
        let options = spec[spec.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { option -> String in
            guard let equals = option.firstIndex(of: "=") else { return String(option) }
            let name = String(option[..<equals])
            let value = option[option.index(after: equals)...]
            let isKeyring = name == "key" && ["keyring", "kernel", "auto"].contains(value)
            return known.contains(name) || isKeyring || name.hasPrefix("attr.") ? String(option) : name + "=***"
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

    /// The profile and signal file of a `keyring:` SPEC's `rest` (what follows the colon).
    package static func keyring(_ rest: String, spec: String) throws(CacheStorageError) -> (KeyringProfile, signal: String) {
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
        return (profile, signal)
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
}

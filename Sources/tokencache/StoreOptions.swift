import ArgumentParser
import CacheBackends
import CachePostgres
import Foundation
import MSALLite
import TokenCache

/// The `--store SPEC` option every command shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The cache to use, e.g. file:~/.azure/msal_token_cache.json.", valueName: "SPEC"))
    var store: String
    @Flag(name: .customLong("reset-if-key-lost"), help: "When the store's data key is gone for good (a kernel-keyring key after a reboot), move the store aside to PATH.key-lost-TIME and start an empty cache instead of failing.")
    var resetIfKeyLost = false

    func open() throws -> StoreSession {
        let session = try StoreSession(spec: store, options: PersistentTokenCache.Options(recoverLostKey: resetIfKeyLost))
        if resetIfKeyLost, let persistent = session.persistent {
            try persistent.read { _ in }
            if let moved = persistent.quarantined {
                FileHandle.standardError.write(Data("tokencache: the store's data key was gone, so the store was moved to \(moved) and an empty cache started; sign in again\n".utf8))
            }
        }
        if VerboseLog.isOn, let persistent = session.persistent, let encrypted = persistent.storage as? EncryptedFileStorage {
            _ = try? persistent.read { _ in }
            VerboseLog.debug("encryption key", ["source": encrypted.keyOrigin ?? "none yet: a new cache chooses when it is first written"])
        }
        return session
    }
}

/// The app a command acts for: `--client-id` and `--authority`.
struct AppOptions: ParsableArguments {
    @Option(name: .customLong("client-id"), help: "The app's client id.")
    var clientID: String
    @Option(help: "The app's authority, e.g. https://login.microsoftonline.com/common.")
    var authority: String

    func parsedAuthority() throws -> Authority {
        try Authority(authority)
    }
}

/// Parses repeated `--data NAME=VALUE` options.
func parseRequestData(_ items: [String]) throws -> [String: String] {
    var data: [String: String] = [:]
    for item in items {
        guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
            throw ValidationError("--data takes NAME=VALUE, got \"\(item.prefix(40))\"")
        }
        data[String(item[..<equals])] = String(item[item.index(after: equals)...])
    }
    return data
}

/// One command's use of a store.
struct StoreSession {
    let description: StoreDescription
    let store: any TokenCacheStore
    let lockTimeout: Duration

    init(spec: String, lockTimeout: Duration = .seconds(5), options: PersistentTokenCache.Options = .init()) throws {
        description = try StoreSession.describe(spec)
        VerboseLog.debug("opening the store", ["kind": "\(description.kindName)", "lock_timeout": "\(lockTimeout)"])
        store = try description.open(lockTimeout: lockTimeout, options: options)
        self.lockTimeout = lockTimeout
        VerboseLog.debug("store opened", ["location": "\(store.location)", "encrypted": "\(store.isEncrypted)"])
    }

    var location: String { store.location }

    /// The serialized store's persistent cache, or `nil` for a database store.
    var persistent: PersistentTokenCache? { store as? PersistentTokenCache }

    /// The cross-process lock writers of this store take (for a database, the lock file
    /// beside it, which only cooperating tools such as `with-lock` use).
    var lock: any CacheLock { persistent?.lock ?? FileLock(path: description.lockPath ?? location + ".lockfile", timeout: lockTimeout) }

    /// The description of the store `spec` names; every kind the command knows, the
    /// PostgreSQL store included, is readable.
    static func describe(_ spec: String) throws(CacheStorageError) -> StoreDescription {
        _ = registered
        return try StoreDescription(spec: spec)
    }

    private static let registered: Void = StoreDescription.registerPostgres()
}

/// Turns any error into the documented exit code and one line on standard error.
enum CLIFailure {
    /// Writes `error` to standard error as one line (`tokencache: MESSAGE`): line breaks
    /// in it, such as those of a provider's error description, become spaces.
    static func report(_ error: any Error) {
        FileHandle.standardError.write(Data("tokencache: \(oneLine("\(error)"))\(hint(for: error))\n".utf8))
    }

    /// The command that helps with `error`, after the library's own advice (which speaks
    /// of the library, not of this tool).
    static func hint(for error: any Error) -> String {
        if (error as? MSALError)?.code == .untrustedAuthority, (error as? MSALError)?.server?.error == "invalid_instance" {
            return " (for an identity provider you trust, add --no-validate-authority)"
        }
        let storeError = error as? CacheStorageError ?? (error as? MSALError)?.underlying as? CacheStorageError
        switch storeError?.code {
        case .damaged?: return " (tokencache doctor --store SPEC shows what else is wrong)"
        case .wrongKey?: return " (tokencache rekey moves a store to another key source)"
        case .keyLost?: return " (for encrypted:PATH, --reset-if-key-lost moves the file aside and starts an empty cache)"
        default: return ""
        }
    }

    static func exitCode(for error: any Error) -> Int32 {
        switch error {
        case let error as TokenCacheError:
            return error.code == .invalidArgument ? 64 : 65
        case let error as CacheStorageError:
            switch error.code {
            case .permissionDenied, .insecurePath, .wrongKey, .keyUnavailable, .keyLost: return 77
            case .damaged, .incompatible: return 65
            case .invalidSpec: return 64
            case .lockTimeout, .timedOut: return 75
            default: return 69
            }
        case let error as InputFileError:
            return error.insecure ? 77 : error.missing ? 66 : 65
        case is ValidationError:
            return 64
        case is MSALPythonUnavailable:
            return 69
        default:
            return 70
        }
    }
}

/// A command's input file (such as `--response`) could not be read.
struct InputFileError: Error, CustomStringConvertible {
    let path: String
    let missing: Bool
    let reason: String
    /// Whether the file is readable by others than its owner (a secret's file).
    var insecure = false
    var description: String { "\(path): \(reason)" }
}

extension ParsableCommand {
    /// Runs `body`, mapping errors to one stderr line and the documented exit code.
    func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ExitCode {
            throw error
        } catch {
            CLIFailure.report(error)
            throw ExitCode(CLIFailure.exitCode(for: error))
        }
    }
}

/// Reads a file that holds a secret (a client secret, a private key): it must be a regular
/// file of this user's that no one else may read or write (mode 0600 or stricter), as ssh
/// asks of a private key. The checks and the read are made on one descriptor opened without
/// following a link, so the file cannot be swapped between them; at most 1 MiB is read.
func readPrivateFile(_ path: String) throws -> Data {
    let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    guard descriptor >= 0 else {
        let missing = errno == ENOENT
        let reason = missing ? "no such file. Check the path" : errno == ELOOP ? "it is a symbolic link; name the file itself" : "the file cannot be read. Check its permissions"
        throw InputFileError(path: path, missing: missing, reason: reason, insecure: errno == ELOOP)
    }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == getuid(), info.st_mode & 0o077 == 0 else {
        throw InputFileError(path: path, missing: false, reason: "it holds a secret, so it must be a regular file of yours that only you can read: chmod 600 it", insecure: true)
    }
    let limit = 1 << 20
    guard info.st_size <= limit else { throw InputFileError(path: path, missing: false, reason: "it is larger than 1 MiB, which no secret or key file is") }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while data.count <= limit {
        let count = read(descriptor, &buffer, buffer.count)
        guard count >= 0 else { throw InputFileError(path: path, missing: false, reason: "the file cannot be read. Check its permissions") }
        if count == 0 { break }
        data.append(contentsOf: buffer[..<count])
    }
    return data
}

/// Reads a file named on the command line (`-` for standard input).
func readInputFile(_ path: String) throws -> Data {
    if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
    guard FileManager.default.fileExists(atPath: path) else {
        throw InputFileError(path: path, missing: true, reason: "no such file. Check the path")
    }
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        throw InputFileError(path: path, missing: false, reason: "it is a folder, not a file. Name the file itself")
    }
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw InputFileError(path: path, missing: false, reason: "the file cannot be read. Check its permissions")
    }
    defer { try? handle.close() }
    do {
        return try handle.readToEnd() ?? Data()
    } catch {
        throw InputFileError(path: path, missing: false, reason: "the file cannot be read: \(error.localizedDescription)")
    }
}

/// The current time in Unix seconds, or `--now` when given.
func resolveNow(_ now: Int64?) -> Int64 {
    now ?? Int64(Date().timeIntervalSince1970)
}

/// Splits `--scopes "A B"` the way MSAL Python splits a scope string.
func splitScopes(_ scopes: String) -> [String] {
    scopes.split(whereSeparator: { $0.isWhitespace }).map(String.init)
}

/// Prints `text` to standard output.
func emit(_ text: String) {
    print(text)
}

/// Prints `value` as indented JSON with snake_case keys, sorted (the `--json` output of
/// `inspect` and `repair`).
func emitJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    emit(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Writes a line to standard output at once, unbuffered.
func emitNow(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
public import CacheBackends
import Foundation

/// Where a PostgreSQL store lives and how to reach it, from a SPEC such as
/// `postgres://app@db.internal:5432/tokens?encrypt=keyring`.
///
/// What the SPEC leaves out comes from the libpq environment variables: `PGHOST`,
/// `PGPORT`, `PGUSER`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`. The password never
/// comes from the SPEC (a command line is visible to every user of the machine): it is
/// `PGPASSWORD`, or the matching line of the password file (`PGPASSFILE`, else
/// `~/.pgpass`), which must not be readable by others.
///
/// | query item | meaning |
/// |---|---|
/// | `schema=NAME` | the PostgreSQL schema holding the store's tables (default `tokencache`) |
/// | `encrypt=keyring` (Secret Service), `encrypt=kernel` (kernel keyring), `passphrase-env=VAR`, `passphrase-file=PATH`, `key-file=PATH` | encrypt each entry, as the SQLite store does |
/// | `sslmode=disable\|prefer\|require\|verify-full` | TLS, as libpq's (default `prefer`) |
/// | `sslrootcert=FILE` | the CA certificates (PEM) `verify-full` checks the server against, for a private CA (default: the system's roots) |
/// | `l1=on` | keep an in-process cache in front, kept coherent with LISTEN/NOTIFY |
/// | `connect_timeout=SECONDS` | how long to wait for the server (default 10) |
public struct PostgresEndpoint: Sendable, Equatable {
    /// How the connection uses TLS (libpq's `sslmode`).
    public enum TLSMode: String, Sendable, Equatable {
        /// Never: plain TCP.
        case disable
        /// TLS when the server offers it, without checking its certificate.
        case prefer
        /// TLS always, without checking the server's certificate.
        case require
        /// TLS always, with the certificate checked against the system's roots and the host name.
        case verifyFull = "verify-full"
    }

    /// The server's host name or address.
    public var host: String
    /// The server's port.
    public var port: Int
    /// The user to connect as.
    public var user: String
    /// The password, from `PGPASSWORD` or the password file; `nil` when neither has one.
    public var password: String?
    /// The database.
    public var database: String
    /// The schema holding the store's tables.
    public var schema: String
    /// The TLS mode.
    public var tlsMode: TLSMode
    /// The CA certificates (a PEM file) that `verify-full` trusts instead of the system's
    /// roots, for a server whose certificate a private CA issued.
    public var rootCertificates: String?
    /// Where each entry's key comes from; `nil` for entries in the clear.
    public var keySource: EncryptionKeySource?
    /// Whether an in-process cache sits in front (see ``PostgresTokenCache``).
    public var inProcessCache: Bool
    /// How long to wait for the server, for a connection or an answer.
    public var timeout: Duration

    /// The store's name in messages and for its keyring entry: the SPEC without its query,
    /// but with a schema other than the default.
    public var location: String {
        let base = "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        return schema == PostgresEndpoint.defaultSchema ? base : base + "?schema=\(schema)"
    }

    /// The schema used when the SPEC names none.
    public static let defaultSchema = "tokencache"

    /// Creates an endpoint from its parts.
    public init(host: String, port: Int = 5432, user: String, password: String?, database: String, schema: String = PostgresEndpoint.defaultSchema,
                tlsMode: TLSMode = .prefer, rootCertificates: String? = nil, keySource: EncryptionKeySource? = nil, inProcessCache: Bool = false,
                timeout: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.schema = schema
        self.tlsMode = tlsMode
        self.rootCertificates = rootCertificates
        self.keySource = keySource
        self.inProcessCache = inProcessCache
        self.timeout = timeout
    }

    /// Whether `spec` names a PostgreSQL store (`postgres://` or `postgresql://`).
    public static func isPostgres(_ spec: String) -> Bool {
        spec.hasPrefix("postgres://") || spec.hasPrefix("postgresql://")
    }

    /// Parses a SPEC, filling what it leaves out from `environment` (the process's when
    /// `nil`) and the password file.
    ///
    /// - Throws: `CacheStorageError` `invalidSpec` for a malformed SPEC or one that carries
    ///   a password, `insecurePath` for a password file others can read.
    public init(spec: String, environment: [String: String]? = nil) throws(CacheStorageError) {
        let environment = environment ?? ProcessInfo.processInfo.environment
        func invalid(_ reason: String) -> CacheStorageError {
            CacheStorageError(code: .invalidSpec, location: PostgresEndpoint.redacted(spec), reason: reason + ". The form is postgres://USER@HOST:PORT/DATABASE[?schema=NAME&encrypt=keyring|kernel|passphrase-env=VAR|passphrase-file=PATH|key-file=PATH&sslmode=MODE&sslrootcert=FILE&l1=on]")
        }
        guard let schemeEnd = spec.range(of: "://"), PostgresEndpoint.isPostgres(spec) else { throw invalid("not a postgres:// SPEC") }
        let (rest, items) = try StoreSpec.splitQuery(String(spec[schemeEnd.upperBound...]), spec: PostgresEndpoint.redacted(spec))
        var authority = Substring(rest)
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }
        var user: String?
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            guard !credentials.contains(":") else {
                throw invalid("the SPEC carries a password, which other users can read on the command line. Remove it, and put it in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass)")
            }
            user = credentials.removingPercentEncoding
            authority = authority[authority.index(after: at)...]
        }
        var host = String(authority)
        var port: Int?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()) else { throw invalid("the port is not a number") }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let number = Int(authority[authority.index(after: colon)...]) else { throw invalid("the port is not a number") }
            port = number
        }
        if let port, !(1...65535).contains(port) { throw invalid("the port \(port) is out of range") }

        self.host = host.isEmpty ? environment["PGHOST"] ?? "localhost" : host
        self.port = port ?? environment["PGPORT"].flatMap { Int($0) } ?? 5432
        self.user = user.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        self.database = path.removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGDATABASE"] ?? self.user
        guard !self.host.hasPrefix("/") else { throw invalid("Unix-socket hosts are not supported; use a TCP host such as 127.0.0.1") }

        func value(_ name: String) -> String? { items.last { $0.key == name }?.value }
        schema = value("schema") ?? PostgresEndpoint.defaultSchema
        guard schema.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw invalid("schema=\(schema.prefix(40)) is not a plain lower-case identifier")
        }
        let mode = value("sslmode") ?? environment["PGSSLMODE"] ?? "prefer"
        guard let tlsMode = TLSMode(rawValue: mode) else { throw invalid("sslmode=\(mode.prefix(20)) is not one of disable, prefer, require, verify-full") }
        self.tlsMode = tlsMode
        rootCertificates = (value("sslrootcert") ?? environment["PGSSLROOTCERT"]).map { ($0 as NSString).expandingTildeInPath }
        switch value("l1") {
        case nil, "off": inProcessCache = false
        case "on": inProcessCache = true
        case let other?: throw invalid("l1=\(other.prefix(20)) is not on or off")
        }
        let seconds = value("connect_timeout") ?? environment["PGCONNECT_TIMEOUT"] ?? "10"
        guard let timeoutSeconds = Int(seconds), (1...3600).contains(timeoutSeconds) else { throw invalid("connect_timeout=\(seconds.prefix(20)) is not a number of seconds from 1 to 3600") }
        timeout = .seconds(timeoutSeconds)
        let known: Set<String> = ["schema", "sslmode", "sslrootcert", "l1", "connect_timeout", "encrypt", "passphrase-env", "passphrase-file", "key-file"]
        if let unknown = items.first(where: { !known.contains($0.key) }) { throw invalid("unknown query item \"\(unknown.key.prefix(30))\"") }
        let keyItems = items.filter { ["encrypt", "passphrase-env", "passphrase-file", "key-file"].contains($0.key) }
        keySource = try StoreSpec.databaseKeySource(keyItems, spec: PostgresEndpoint.redacted(spec), kind: "a postgres:// SPEC")
        if let fromEnvironment = environment["PGPASSWORD"] {
            password = fromEnvironment
            return
        }
        password = try PostgresEndpoint.passwordFromFile(host: self.host, port: self.port, database: database, user: self.user, environment: environment)
    }

    /// `spec` with anything after a `:` in its user part removed, for messages.
    static func redacted(_ spec: String) -> String {
        guard let schemeEnd = spec.range(of: "://"), let at = spec[schemeEnd.upperBound...].firstIndex(of: "@"),
              let colon = spec[schemeEnd.upperBound..<at].firstIndex(of: ":") else { return spec }
        return String(spec[..<colon]) + ":***" + String(spec[at...])
    }

    /// The password of the first matching line of the libpq password file, or `nil`.
    static func passwordFromFile(host: String, port: Int, database: String, user: String, environment: [String: String]) throws(CacheStorageError) -> String? {
        let path = environment["PGPASSFILE"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.pgpass")
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        guard info.st_mode & 0o077 == 0 else {
            throw CacheStorageError(code: .insecurePath, location: path, reason: "the password file can be read by other users. Run chmod 600 \(path)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CacheStorageError(code: .permissionDenied, location: path, reason: "the password file cannot be read. Check its owner and mode")
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#") {
            let fields = splitPasswordLine(line)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A password-file line's five fields, with `\:` and `\\` unescaped.
    private static func splitPasswordLine(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" && fields.count < 4 {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}

extension PostgresEndpoint: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The location: never the password.
    public var description: String { location }
    /// The location: never the password.
    public var debugDescription: String { location }
    /// Mirrors only the location, so `dump` and the debugger never show the password.
    public var customMirror: Mirror { Mirror(self, children: ["location": location]) }
}

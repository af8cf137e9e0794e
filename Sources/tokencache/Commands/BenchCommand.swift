import ArgumentParser
import CacheBackends
import Foundation
import TokenCache

/// `tokencache bench`: a quick lookup benchmark on this machine, on made-up users or on a
/// store of the user's own.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time access-token lookups on this machine: median and p99.",
        discussion: """
        Builds a cache of --users made-up users (an account, an ID token, a refresh token \
        and two access tokens each) in a temporary store of the chosen kind, which is \
        deleted afterwards, then looks up random users' access tokens (asking for part of \
        the stored scopes, as an app's silent call does) in batches of 64 for --seconds, \
        and prints the median and 99th percentile of a lookup. It touches no cache of yours.

        With --store SPEC, it times the cache you have instead, without writing to it: \
        opening it up to its first lookup, accounts(), and silent lookups of its own \
        users' and apps' access tokens (asking for one of each token's scopes), with how \
        many were hits, due for refresh or expired. --compare-msal-python runs MSAL Python's \
        acquire_token_silent on a private copy of the same cache in the same run (discovery \
        answered locally, nothing sent anywhere).

        Kinds: memory (a cache in this process), file (a plain JSON file through the file \
        store: each lookup checks the file has not changed), encrypted (the same, AES-256-GCM \
        with a key file), sqlite (a SQLite database; each lookup is a query).

        Examples:
          tokencache bench
          tokencache bench --users 100000 --kind sqlite
          tokencache bench --kind file --seconds 5 --json
          tokencache bench --store file:~/.azure/msal_token_cache.json
        """
    )

    /// Where the benchmark's cache lives.
    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case memory, file, encrypted, sqlite
    }

    @Option(help: "How many users the cache holds (1 to 1000000; default 10000).")
    var users: Int?
    @Option(help: "The store kind: memory, file, encrypted or sqlite (default memory).")
    var kind: Kind?
    @Option(help: ArgumentHelp("Time this store's own tokens instead, reading only.", valueName: "SPEC"))
    var store: String?
    @Flag(name: .customLong("compare-msal-python"), help: "With --store: MSAL Python's acquire_token_silent on a copy too (MSAL_PYTHON, else ./.venv/bin/python, else python3).")
    var compareMSALPython = false
    @Option(help: "How long to time lookups, in seconds (0.1 to 600).")
    var seconds = 2.0
    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if store != nil, users != nil || kind != nil {
            throw ValidationError("--store times a store you have; --users and --kind make up one, so give one or the other")
        }
        if compareMSALPython, store == nil { throw ValidationError("--compare-msal-python goes with --store") }
        if let users, !(1...1_000_000).contains(users) { throw ValidationError("--users must be between 1 and 1000000, got \(users)") }
        guard (0.1...600).contains(seconds) else { throw ValidationError("--seconds must be between 0.1 and 600, got \(seconds)") }
    }

    func run() throws {
        if let store {
            return try reportingErrors {
                let result = try StoreBench(spec: store, seconds: seconds, comparesMSALPython: compareMSALPython).run()
                if json { try emitJSON(result) } else { StoreBench.lines(result).forEach { emit($0) } }
            }
        }
        let users = self.users ?? 10_000
        let kind = self.kind ?? .memory
        try reportingErrors {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokencache-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(at: folder) }

            let built = ContinuousClock.now
            let cache = try SyntheticUsers.build(users)
            let store = try Progress.step("writing the \(kind.rawValue) store") { try open(cache, kind: kind, in: folder.path) }
            let buildTime = ContinuousClock.now - built

            var random = SystemRandomNumberGenerator()
            let timing = try LookupTiming.run("timing lookups", seconds: seconds,
                                              query: { SyntheticUsers.query(user: Int.random(in: 0..<users, using: &random)) },
                                              lookup: { try store.lookupAccessToken($0) },
                                              answered: { answer in if answer.token == nil { throw BenchMiss() } })
            let median = timing.median ?? 0, p99 = timing.p99 ?? 0
            if json {
                try emitJSON(BenchResult(users: users, kind: kind.rawValue, buildSeconds: buildTime.timeInterval, batches: timing.perLookup.count,
                                         lookupMedianMicroseconds: median * 1e6, lookupP99Microseconds: p99 * 1e6))
            } else {
                emit("\(users) users, \(kind.rawValue) store: built in \(String(format: "%.2f", buildTime.timeInterval)) s")
                emit("lookup: median \(Self.format(median)), p99 \(Self.format(p99)) (\(timing.perLookup.count) batches of 64 random users)")
            }
        }
    }

    /// The store to time, of `kind`, holding `cache`.
    private func open(_ cache: TokenCache, kind: Kind, in folder: String) throws -> any TokenCacheStore {
        let spec: String
        switch kind {
        case .memory:
            return cache
        case .file:
            spec = "file:\(folder)/cache.json"
        case .encrypted:
            let key = "\(folder)/cache.key"
            guard FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }), attributes: [.posixPermissions: 0o600]) else {
                throw InputFileError(path: key, missing: false, reason: "the benchmark's key file could not be written. Check the temporary folder (TMPDIR)")
            }
            spec = "encrypted:\(folder)/cache.bin?key-file=\(key)"
        case .sqlite:
            spec = "sqlite:\(folder)/cache.db"
        }
        try StoreDescription(spec: spec).open().replaceContents(with: cache)
        return try StoreDescription(spec: spec).open()
    }

    static func format(_ seconds: Double) -> String {
        seconds >= 1e-3 ? String(format: "%.2f ms", seconds * 1e3) : String(format: "%.2f µs", seconds * 1e6)
    }
}

/// A benchmark lookup found nothing: a bug, exit 70.
struct BenchMiss: Error, CustomStringConvertible {
    var description: String { "a benchmark lookup missed; the generated cache is not what the benchmark expects (please report this)" }
}

/// What `bench --json` prints.
struct BenchResult: Encodable {
    let users: Int
    let kind: String
    let buildSeconds: Double
    let batches: Int
    let lookupMedianMicroseconds: Double
    let lookupP99Microseconds: Double
}

/// Made-up users for `bench`: token responses shaped like Entra ID's, with random tokens.
enum SyntheticUsers {
    static let tenant = "00000000-0000-4000-8000-0000000000aa"
    static let clientID = "00000000-0000-4000-8000-0000000000cc"
    static let environment = "login.microsoftonline.com"
    static let scopeSets = [["User.Read", "Mail.Read", "openid", "profile", "offline_access"], ["https://management.azure.com/user_impersonation", "openid", "profile", "offline_access"]]

    static func userID(_ user: Int) -> String { String(format: "00000000-0000-4000-8000-%012x", user) }

    /// A silent lookup of `user`'s first access token, asking for part of its scopes.
    static func query(user: Int) -> AccessTokenQuery {
        AccessTokenQuery(clientID: clientID, environment: environment, realm: tenant, homeAccountID: "\(userID(user)).\(tenant)", scopes: ["User.Read"], now: now)
    }

    static let now = Int64(Date().timeIntervalSince1970)

    /// A cache of `count` users.
    static func build(_ count: Int) throws -> TokenCache {
        let cache = TokenCache()
        var progress = Progress("building \(count) users")
        for user in 0..<count {
            let id = userID(user)
            let clientInfo = Base64URL.encode(Data("{\"uid\":\"\(id)\",\"utid\":\"\(tenant)\"}".utf8))
            let claims = "{\"aud\":\"\(clientID)\",\"iss\":\"https://\(environment)/\(tenant)/v2.0\",\"oid\":\"\(id)\",\"preferred_username\":\"user\(user)@example.com\",\"tid\":\"\(tenant)\"}"
            let idToken = "eyJhbGciOiJub25lIn0." + Base64URL.encode(Data(claims.utf8)) + "." + randomToken(40)
            for (index, scopes) in scopeSets.enumerated() {
                var response: JSONObject = [
                    "token_type": "Bearer", "expires_in": 3599, "access_token": .string(randomToken(1200)),
                    "client_info": .string(clientInfo), "id_token": .string(idToken), "scope": .string(scopes.joined(separator: " ")),
                ]
                if index == 0 { response["refresh_token"] = .string(randomToken(800)) }
                try cache.add(response: response, context: TokenResponseContext(
                    clientID: clientID, requestedScopes: scopes, tokenEndpoint: "https://\(environment)/\(tenant)/oauth2/v2.0/token",
                    environment: environment, grantType: "authorization_code", now: now))
            }
            progress.update(user + 1, of: count)
        }
        progress.finish()
        return cache
    }

    /// Token-shaped text of `length` characters. The bytes come from a fast generator
    /// seeded once: the system's would cost a system call per byte here.
    private static func randomToken(_ length: Int) -> String {
        var bytes = Data(count: length * 3 / 4)
        bytes.withUnsafeMutableBytes { buffer in
            for index in buffer.indices { buffer[index] = UInt8(truncatingIfNeeded: generator.next()) }
        }
        return Base64URL.encode(bytes)
    }

    nonisolated(unsafe) private static var generator = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
}

/// SplitMix64: a fast generator for made-up tokens (not for anything secret).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

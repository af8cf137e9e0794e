// The benchmark harness: builds caches of N users and measures this library on them.
// Benchmarks/run.sh runs it next to MSAL Python on the same files and prints the table.
//
//   TokenCacheBenchmarks generate USERS PATH [NOW]  write a USERS-user cache in MSAL Python's format,
//                                              its tokens cached at NOW (Unix seconds; a fixed date by default)
//   TokenCacheBenchmarks measure PATH USERS    time lookup, accounts, serialize, deserialize (JSON)
//   TokenCacheBenchmarks load-memory PATH      peak memory of loading PATH, in a fresh process (JSON)
//   TokenCacheBenchmarks persistent PATH USERS time a locked write, a hit with nothing changed and
//                                              a reload after another writer, through the file store
//   TokenCacheBenchmarks stores PATH USERS     load and save through the plain, encrypted and keyring
//                                              stores, an unchanged hit and one response written
//                                              through each (JSON)
//   TokenCacheBenchmarks sqlite-import JSON DB [KEYFILE]   import a JSON cache into a SQLite store (JSON)
//   TokenCacheBenchmarks sqlite-generate USERS DB [KEYFILE] write a USERS-user SQLite store directly,
//                                              10,000 users per transaction (for sizes no JSON file fits)
//   TokenCacheBenchmarks sqlite DB USERS [KEYFILE]  time lookup, one response written and a lookup
//                                              after another connection's write, on a SQLite store (JSON)
//   TokenCacheBenchmarks postgres-generate USERS SPEC  write a USERS-user PostgreSQL store,
//                                              10,000 users per transaction
//   TokenCacheBenchmarks postgres SPEC USERS   time lookup without and with a warm L1, one response
//                                              written, and 4 concurrent writers, on a PostgreSQL store (JSON)
//   TokenCacheBenchmarks silent PATH USERS     time MSALLite's acquireTokenSilent served from the cache,
//                                              in memory and through the file store (JSON); PATH must
//                                              have been generated with NOW = the current time
//   TokenCacheBenchmarks first-lookup SPEC USERS   open a store in this fresh process and answer one
//                                              lookup (JSON)
//   TokenCacheBenchmarks load PATH [USERS COUNT [lookup]]  load PATH (read and parse), make COUNT
//                                              queries of its USERS' tokens and, with "lookup", answer
//                                              them (for Benchmarks/callgrind.sh)
//   TokenCacheBenchmarks add-one PATH OUT      write PATH with one more sign-in to OUT, as another
//                                              process's write (for callgrind.sh)
//   TokenCacheBenchmarks reload PATH OTHER     load PATH, then reload it from OTHER (for callgrind.sh)
import CacheBackends
import CachePostgres
import Foundation
import MSALLite
import TokenCache

let authority = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47"
let tokenEndpoint = authority + "/oauth2/v2.0/token"
let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
let clientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
let environment = "login.microsoftonline.com"
let baseNow: Int64 = 1_700_000_000
let scopeSets = [
    ["User.Read", "Mail.Read", "Calendars.Read", "openid", "profile", "offline_access"],
    ["https://management.azure.com/user_impersonation", "openid", "profile", "offline_access"],
    ["https://vault.azure.net/user_impersonation", "https://vault.azure.net/.default", "openid", "profile", "offline_access"],
]

func base64url(_ data: Data) -> String {
    Base64URL.encode(data)
}

func uid(_ user: Int) -> String { String(format: "%08x-%04x-4%03x-8000-%012x", user, user & 0xFFFF, user & 0xFFF, user) }

/// A token-shaped secret of about `length` characters, different for every call.
func fakeToken(_ seed: Int, length: Int) -> String {
    var generator = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    var text = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9."
    text.reserveCapacity(length)
    for _ in text.utf8.count..<length {
        generator ^= generator << 13; generator ^= generator >> 7; generator ^= generator << 17
        text.append(alphabet[Int(generator % 64)])
    }
    return text
}

func generate(users: Int, now: Int64 = baseNow) throws -> TokenCache {
    try generate(users: 0..<users, now: now)
}

func generate(users: Range<Int>, now: Int64 = baseNow) throws -> TokenCache {
    let cache = TokenCache()
    for user in users {
        let id = uid(user)
        let clientInfo = base64url(Data("{\"uid\":\"\(id)\",\"utid\":\"\(tenant)\"}".utf8))
        let claims = "{\"aud\":\"\(clientID)\",\"iss\":\"https://login.microsoftonline.com/\(tenant)/v2.0\",\"oid\":\"\(id)\",\"preferred_username\":\"user\(user)@contoso.com\",\"name\":\"User \(user)\",\"sub\":\"\(fakeToken(user, length: 43))\",\"tid\":\"\(tenant)\"}"
        let idToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + base64url(Data(claims.utf8)) + "." + fakeToken(user * 7 + 1, length: 342)
        for (index, scopes) in scopeSets.enumerated() {
            var response: JSONObject = [
                "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                "access_token": .string(fakeToken(user * 7 + 2 + index, length: 1500)),
                "client_info": .string(clientInfo), "id_token": .string(idToken),
                "scope": .string(scopes.joined(separator: " ")),
            ]
            if index == 0 { response["refresh_token"] = .string(fakeToken(user * 7 + 5, length: 900)) }
            try cache.add(response: response, context: TokenResponseContext(
                clientID: clientID, requestedScopes: scopes, tokenEndpoint: tokenEndpoint, environment: environment,
                grantType: "authorization_code", now: now))
        }
    }
    return cache
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// Times `body` over batches of `batch` calls; returns per-call seconds of each batch.
func batches(_ count: Int, batch: Int, _ body: (Int) -> Void) -> [Double] {
    var results: [Double] = []
    var call = 0
    for _ in 0..<count {
        let elapsed = seconds {
            for _ in 0..<batch {
                body(call)
                call += 1
            }
        }
        results.append(elapsed / Double(batch))
    }
    return results
}

func memoryFigure(_ field: String) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
    return 0
}

/// A silent lookup of a random user's token, asking for a strict subset of its scopes.
func randomQuery(users: Int, random: inout SystemRandomNumberGenerator) -> AccessTokenQuery {
    AccessTokenQuery(clientID: clientID, environment: environment, realm: tenant, homeAccountID: "\(uid(Int.random(in: 0..<users, using: &random))).\(tenant)", scopes: ["User.Read"], now: baseNow + 60)
}

/// A sign-in response of a user the generated caches do not have.
func newUserResponse(_ round: Int) -> (JSONObject, TokenResponseContext) {
    let response: JSONObject = [
        "token_type": "Bearer", "expires_in": 3599, "access_token": .string(fakeToken(round, length: 1500)),
        "refresh_token": .string(fakeToken(round + 1, length: 900)),
        "client_info": .string(base64url(Data("{\"uid\":\"new\(round)\",\"utid\":\"\(tenant)\"}".utf8))),
    ]
    return (response, TokenResponseContext(clientID: clientID, requestedScopes: scopeSets[0], tokenEndpoint: tokenEndpoint, environment: environment, grantType: "authorization_code", now: baseNow))
}

func sqliteStore(_ path: String, keyFile: String?) -> SQLiteTokenCache {
    SQLiteTokenCache(path: path, keySource: keyFile.map { .keyFile($0) })
}

/// Writes `users` generated users through `merge`, 10,000 per call (one transaction each in
/// the database stores); returns the seconds taken.
func generateInChunks(users: Int, merge: (TokenCache) throws -> Void) throws -> Double {
    var start = 0
    return try seconds {
        while start < users {
            let end = min(users, start + 10_000)
            try merge(try generate(users: start..<end))
            start = end
            FileHandle.standardError.write(Data("generated \(end) users\n".utf8))
        }
    }
}

func printJSON(_ object: [String: Double]) {
    let body = object.keys.sorted().map { "\"\($0)\": \(object[$0]!)" }.joined(separator: ", ")
    print("{\(body)}")
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: TokenCacheBenchmarks generate USERS PATH | measure PATH USERS | load-memory PATH\n".utf8))
    exit(64)
}
switch arguments[1] {
case "generate":
    let cache = try generate(users: Int(arguments[2])!, now: arguments.count > 4 ? Int64(arguments[4])! : baseNow)
    try FileStorage(path: arguments[3]).save(Data(cache.serialize()))
case "measure":
    let path = arguments[2]
    let users = Int(arguments[3])!
    let storage = FileStorage(path: path)
    let bytes = try storage.load()!
    let loadRuns = users >= 100_000 ? 3 : users >= 10_000 ? 5 : 20
    var cache = TokenCache()
    let deserialize = median((0..<loadRuns).map { _ in (try? seconds { cache = try TokenCache(serialized: bytes) }) ?? .nan })
    var serialized: [UInt8] = []
    let serialize = median((0..<loadRuns).map { _ in seconds { serialized = cache.serialize() } })
    precondition(serialized.count == bytes.count, "serialize changed the size")
    // A silent lookup asks for a strict subset of the stored scopes of a random user.
    var random = SystemRandomNumberGenerator()
    let queries = (0..<4096).map { _ -> AccessTokenQuery in
        let user = Int.random(in: 0..<users, using: &random)
        return AccessTokenQuery(clientID: clientID, environment: environment, realm: tenant, homeAccountID: "\(uid(user)).\(tenant)", scopes: ["User.Read"], now: baseNow + 60)
    }
    var hits = 0
    var secretBytes = 0
    let lookups = batches(400, batch: 256) { call in
        // Read the secret too: that is what a caller of a silent lookup gets.
        if case .hit(let token) = cache.lookupAccessToken(queries[call % queries.count]) {
            hits += 1
            secretBytes &+= token.secret?.utf8.count ?? 0
        }
    }
    precondition(hits == 400 * 256 && secretBytes > 0, "every lookup must hit")
    let accountRuns = users >= 10_000 ? 10 : 200
    let accounts = median((0..<accountRuns).map { _ in seconds { _ = cache.accounts(environment: environment) } })
    // The first call on a freshly loaded cache, before any answer is kept: a pass over the
    // Account section (MSAL Python's get_accounts makes one on every call).
    let accountsFirst = median((0..<3).map { _ -> Double in
        let fresh = try? TokenCache(serialized: bytes)
        return seconds { _ = fresh?.accounts(environment: environment) }
    })
    printJSON([
        "file_bytes": Double(bytes.count), "deserialize_s": deserialize, "serialize_s": serialize,
        "lookup_median_s": median(lookups), "lookup_p99_s": percentile(lookups, 0.99), "accounts_s": accounts,
        "accounts_first_s": accountsFirst,
    ])
case "silent":
    let path = arguments[2]
    let users = Int(arguments[3])!
    /// Every hit is served from the cache: a request to the network fails the run.
    struct NoNetwork: HTTPTransport {
        func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
            throw CocoaError(.featureUnsupported)
        }
    }
    func silentCalls(_ cache: any TokenCacheStore) async throws -> [Double] {
        let app = try PublicClientApplication(clientID: clientID, authority: authority, cache: cache,
                                              options: ApplicationOptions(http: HTTPOptions(transport: NoNetwork())))
        let accounts = try await app.accounts()
        precondition(accounts.count == users, "every user has an account")
        var random = SystemRandomNumberGenerator()
        let picks = (0..<4096).map { _ in accounts[Int.random(in: 0..<users, using: &random)] }
        var perCall: [Double] = []
        var hits = 0
        for batch in 0..<200 {
            let start = DispatchTime.now().uptimeNanoseconds
            for call in 0..<256 {
                // A strict subset of the stored scopes, as in MSAL Python's measurement.
                let result = try await app.acquireTokenSilent(scopes: ["User.Read"], account: picks[(batch * 256 + call) % picks.count])
                if result?.tokenSource == .cache, result?.accessToken.isEmpty == false { hits += 1 }
            }
            perCall.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / 256)
        }
        precondition(hits == 200 * 256, "every call must be served from the cache")
        return perCall
    }
    let memory = try await silentCalls(try TokenCache(serialized: try FileStorage(path: path).load()!))
    let file = try await silentCalls(try StoreDescription(spec: "file:" + path).open())
    printJSON(["memory_median_s": median(memory), "memory_p99_s": percentile(memory, 0.99),
               "file_median_s": median(file), "file_p99_s": percentile(file, 0.99)])
case "persistent":
    let path = arguments[2]
    let users = Int(arguments[3])!
    let cache = try StoreDescription(spec: "file:" + path).open()
    var random = SystemRandomNumberGenerator()
    func query() -> AccessTokenQuery {
        AccessTokenQuery(clientID: clientID, environment: environment, realm: tenant, homeAccountID: "\(uid(Int.random(in: 0..<users, using: &random))).\(tenant)", scopes: ["User.Read"], now: baseNow + 60)
    }
    _ = try cache.lookupAccessToken(query())
    usleep(50_000)
    _ = try cache.lookupAccessToken(query())
    // A hit with nothing changed: a stat of the file, then the in-memory lookup.
    let queries = (0..<4096).map { _ in query() }
    var hits = 0
    let hit = batches(200, batch: 256) { call in
        if case .hit(let token)? = try? cache.lookupAccessToken(queries[call % queries.count]), token.secret != nil { hits += 1 }
    }
    precondition(hits == 200 * 256, "every lookup must hit")
    // One token response written: lock, check, add, one atomic save.
    var writes: [Double] = []
    for round in 0..<5 {
        let response: JSONObject = [
            "token_type": "Bearer", "expires_in": 3599, "access_token": .string(fakeToken(round, length: 1500)),
            "refresh_token": .string(fakeToken(round + 1, length: 900)),
            "client_info": .string(base64url(Data("{\"uid\":\"new\(round)\",\"utid\":\"\(tenant)\"}".utf8))),
        ]
        let context = TokenResponseContext(clientID: clientID, requestedScopes: scopeSets[0], tokenEndpoint: tokenEndpoint, environment: environment, grantType: "authorization_code", now: baseNow)
        writes.append(try seconds { try cache.add(response: response, context: context) })
    }
    // A reload after another process's write.
    let other = try StoreDescription(spec: "file:" + path).open()
    var reloads: [Double] = []
    for round in 0..<5 {
        let response: JSONObject = ["access_token": .string("other-\(round)"), "expires_in": 3599]
        try other.add(response: response, context: TokenResponseContext(clientID: "other-app", requestedScopes: ["s\(round)"], tokenEndpoint: tokenEndpoint, now: baseNow))
        reloads.append(try seconds { _ = try cache.lookupAccessToken(query()) })
    }
    printJSON(["hit_median_s": median(hit), "write_median_s": median(writes), "reload_median_s": median(reloads)])
case "stores":
    let path = arguments[2]
    let users = Int(arguments[3])!
    let plain = FileStorage(path: path)
    let folder = (path as NSString).deletingLastPathComponent
    let keyPath = folder + "/bench.key"
    try Data((0..<32).map { UInt8($0) }).write(to: URL(fileURLWithPath: keyPath))
    chmod(keyPath, 0o600)
    let encrypted = EncryptedFileStorage(path: path + ".enc", keySource: .keyFile(keyPath))
    let text = try plain.load()!
    try encrypted.save(text)
    let runs = users >= 10_000 ? 5 : 20
    func loadAndSave(_ storage: any CacheStorage) throws -> (Double, Double) {
        var cache = TokenCache()
        let load = median(try (0..<runs).map { _ in try seconds { cache = try TokenCache(serialized: try storage.load()!) } })
        let save = median(try (0..<runs).map { _ in try seconds { try storage.save(Data(cache.serialize())) } })
        return (load, save)
    }
    let (plainLoad, plainSave) = try loadAndSave(plain)
    let (encryptedLoad, encryptedSave) = try loadAndSave(encrypted)
    var random = SystemRandomNumberGenerator()
    var newUser = 1_500_000_000
    /// An unchanged hit, then one token response written (lock, check, add, one save) through
    /// the store: medians, in seconds.
    func hitsAndWrites(_ storage: any CacheStorage) throws -> (hit: Double, write: Double) {
        let cache = PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: storage.location))
        let queries = (0..<4096).map { _ in
            AccessTokenQuery(clientID: clientID, environment: environment, realm: tenant, homeAccountID: "\(uid(Int.random(in: 0..<users, using: &random))).\(tenant)", scopes: ["User.Read"], now: baseNow + 60)
        }
        _ = try cache.lookupAccessToken(queries[0])
        usleep(50_000)
        _ = try cache.lookupAccessToken(queries[1])
        let hit = median(batches(200, batch: 256) { call in _ = try? cache.lookupAccessToken(queries[call % queries.count]) })
        let write = median(try (0..<runs).map { _ in
            let (response, context) = newUserResponse(newUser)
            newUser += 1
            return try seconds { _ = try cache.add(response: response, context: context) }
        })
        return (hit, write)
    }
    let plainFigures = try hitsAndWrites(plain)
    let encryptedFigures = try hitsAndWrites(encrypted)
    var result: [String: Double] = [
        "plain_load_s": plainLoad, "plain_save_s": plainSave, "encrypted_load_s": encryptedLoad, "encrypted_save_s": encryptedSave,
        "plain_hit_s": plainFigures.hit, "encrypted_hit_s": encryptedFigures.hit,
        "plain_write_s": plainFigures.write, "encrypted_write_s": encryptedFigures.write,
    ]
    // A keyring item travels in one D-Bus message, which the bus caps (128 MiB by default);
    // the keyring column stops at caches well below that.
    if KeyringStorage.diagnose() == nil, text.count < 32_000_000 {
        let keyring = KeyringStorage(profile: .msalExtensions(signalPath: path + ".signal"), signalPath: path + ".signal")
        try keyring.save(text)
        let keyringFigures = try hitsAndWrites(keyring)
        result["keyring_hit_s"] = keyringFigures.hit
        result["keyring_write_s"] = keyringFigures.write
        try keyring.remove()
    }
    // The encrypted file by where its key is: a key file, the kernel keyring, and the
    // Secret Service where one answers. One token response written (as above), and a new
    // process's open and first lookup (the median of three processes).
    var sources: [(name: String, source: EncryptionKeySource, spec: String)] = [
        ("keyfile", .keyFile(keyPath), "key-file=" + keyPath), ("kernel", .kernelKeyring, "key=kernel"),
    ]
    if KeyringStorage.diagnose() == nil { sources.append(("keyring", .keyring, "key=keyring")) }
    for (name, source, option) in sources {
        let sealedPath = path + "." + name + ".enc"
        let storage = EncryptedFileStorage(path: sealedPath, keySource: source)
        try storage.save(text)
        result["encrypted_\(name)_write_s"] = try hitsAndWrites(storage).write
        let firsts = try (0..<3).map { _ in
            let child = Process()
            let output = Pipe()
            child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            child.arguments = ["first-lookup", "encrypted:" + sealedPath + "?" + option, String(users)]
            child.standardOutput = output
            try child.run()
            let answer = output.fileHandleForReading.readDataToEndOfFile()
            child.waitUntilExit()
            guard case .object(let figures)? = try? JSONValue(parsing: answer), case .number(let first)? = figures["first_lookup_s"], let value = first.doubleValue else {
                fatalError("first-lookup of the \(name)-keyed file failed")
            }
            return value
        }
        result["encrypted_\(name)_first_s"] = median(firsts)
        try? FileManager.default.removeItem(atPath: sealedPath)
        try? FileManager.default.removeItem(atPath: sealedPath + ".keysignal")
    }
    try? FileManager.default.removeItem(atPath: keyPath)
    try? FileManager.default.removeItem(atPath: path + ".enc")
    printJSON(result)
case "sqlite-import":
    let cache = try TokenCache(serialized: try FileStorage(path: arguments[2]).load()!)
    let store = sqliteStore(arguments[3], keyFile: arguments.count > 4 ? arguments[4] : nil)
    let elapsed = try seconds { try store.replaceContents(with: cache) }
    printJSON(["import_s": elapsed, "db_bytes": Double(try store.health().sizeBytes)])
case "sqlite-generate":
    let store = sqliteStore(arguments[3], keyFile: arguments.count > 4 ? arguments[4] : nil)
    let elapsed = try generateInChunks(users: Int(arguments[2])!, merge: store.merge)
    printJSON(["import_s": elapsed, "db_bytes": Double(try store.health().sizeBytes)])
case "sqlite":
    let path = arguments[2]
    let users = Int(arguments[3])!
    let keyFile = arguments.count > 4 ? arguments[4] : nil
    let store = sqliteStore(path, keyFile: keyFile)
    var random = SystemRandomNumberGenerator()
    let queries = (0..<4096).map { _ in randomQuery(users: users, random: &random) }
    var hits = 0
    var secretBytes = 0
    _ = try store.lookupAccessToken(queries[0])
    let lookups = batches(200, batch: 64) { call in
        if case .hit(let token)? = try? store.lookupAccessToken(queries[call % queries.count]) {
            hits += 1
            secretBytes &+= token.secret?.utf8.count ?? 0
        }
    }
    precondition(hits == 200 * 64 && secretBytes > 0, "every lookup must hit")
    // One token response written: one transaction of five rows, flushed to disk.
    var writes: [Double] = []
    for round in 0..<40 {
        let (response, context) = newUserResponse(1_000_000_000 + round)
        writes.append(try seconds { try store.add(response: response, context: context) })
    }
    // A lookup right after another connection (as another process would) wrote.
    let other = sqliteStore(path, keyFile: keyFile)
    var afterWrite: [Double] = []
    for round in 0..<40 {
        let response: JSONObject = ["access_token": .string("other-\(round)"), "expires_in": 3599]
        try other.add(response: response, context: TokenResponseContext(clientID: "other-app", requestedScopes: ["s\(round)"], tokenEndpoint: tokenEndpoint, now: baseNow))
        let query = queries[round]
        afterWrite.append(try seconds { _ = try store.lookupAccessToken(query) })
    }
    let health = try store.health()
    printJSON([
        "lookup_median_s": median(lookups), "lookup_p99_s": percentile(lookups, 0.99), "write_median_s": median(writes),
        "write_p99_s": percentile(writes, 0.99), "after_write_median_s": median(afterWrite), "db_bytes": Double(health.sizeBytes),
    ])
case "postgres-generate":
    let store = try PostgresTokenCache(spec: arguments[3])
    let elapsed = try generateInChunks(users: Int(arguments[2])!, merge: store.merge)
    printJSON(["import_s": elapsed, "db_bytes": Double(try store.health().sizeBytes)])
case "postgres":
    let spec = arguments[2]
    let users = Int(arguments[3])!
    let store = try PostgresTokenCache(spec: spec)
    let cached = try PostgresTokenCache(spec: spec + (spec.contains("?") ? "&" : "?") + "l1=on")
    var random = SystemRandomNumberGenerator()
    let queries = (0..<4096).map { _ in randomQuery(users: users, random: &random) }
    func timeLookups(_ store: PostgresTokenCache, rounds: Int) -> [Double] {
        var hits = 0
        let times = batches(rounds, batch: 64) { call in
            if case .hit? = try? store.lookupAccessToken(queries[call % queries.count]) { hits += 1 }
        }
        precondition(hits == rounds * 64, "every lookup must hit")
        return times
    }
    _ = try store.lookupAccessToken(queries[0])
    let lookups = timeLookups(store, rounds: 40)
    // Warm the L1 with every query's partition, then time lookups answered from memory.
    for query in queries { _ = try cached.lookupAccessToken(query) }
    let warm = timeLookups(cached, rounds: 200)
    var writes: [Double] = []
    for round in 0..<60 {
        let (response, context) = newUserResponse(2_000_000_000 + round)
        writes.append(try seconds { try store.add(response: response, context: context) })
    }
    // 4 instances (each its own connection) writing new sign-ins at once for 3 seconds.
    let writers = 4
    /// One slot per writer thread, each written only by its own thread.
    struct Counts: @unchecked Sendable { let slots: UnsafeMutableBufferPointer<Int> }
    let counts = Counts(slots: .allocate(capacity: writers))
    counts.slots.initialize(repeating: 0)
    let instances = try (0..<writers).map { _ in try PostgresTokenCache(spec: spec) }
    let deadline = Date().addingTimeInterval(3)
    let elapsedWriters = seconds {
        DispatchQueue.concurrentPerform(iterations: writers) { writer in
            var round = 0
            while Date() < deadline {
                let (response, context) = newUserResponse(3_000_000_000 + writer * 1_000_000 + round)
                if (try? instances[writer].add(response: response, context: context)) != nil { counts.slots[writer] += 1 }
                round += 1
            }
        }
    }
    let total = counts.slots.reduce(0, +)
    let health = try store.health()
    printJSON([
        "lookup_median_s": median(lookups), "lookup_p99_s": percentile(lookups, 0.99),
        "l1_lookup_median_s": median(warm), "l1_lookup_p99_s": percentile(warm, 0.99),
        "write_median_s": median(writes), "write_p99_s": percentile(writes, 0.99),
        "writers4_per_s": Double(total) / elapsedWriters, "db_bytes": Double(health.sizeBytes),
    ])
case "first-lookup":
    let users = Int(arguments[3])!
    var random = SystemRandomNumberGenerator()
    let query = randomQuery(users: users, random: &random)
    var found = false
    var first: (any TokenCacheStore)?
    var description: StoreDescription?
    let parse = try seconds { description = try StoreDescription(spec: arguments[2]) }
    let firstOpen = try seconds { first = try description!.open() } + parse
    let elapsed = try seconds {
        found = try first!.lookupAccessToken(query).token != nil
    } + firstOpen
    precondition(found, "the first lookup must hit")
    // The parts: opening a second store on the same database, and its first lookup.
    var again: (any TokenCacheStore)?
    let open = try seconds { again = try StoreDescription(spec: arguments[2]).open() }
    let lookup = try seconds { _ = try again?.lookupAccessToken(query) }
    printJSON(["first_lookup_s": elapsed, "first_open_s": firstOpen, "first_parse_s": parse, "second_open_s": open, "second_lookup_s": lookup])
case "load-memory":
    let path = arguments[2]
    let before = memoryFigure("VmRSS")
    let storage = FileStorage(path: path)
    let data = try storage.load()!
    let cache = try TokenCache(serialized: data, location: path)
    let peak = memoryFigure("VmHWM")
    let after = memoryFigure("VmRSS")
    let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    printJSON(["file_bytes": Double(size), "peak_bytes": Double(peak - before), "retained_bytes": Double(after - before), "entries": Double(cache.entryCounts.values.reduce(0, +))])
case "load":
    let path = arguments[2]
    let cache = try TokenCache(serialized: try FileStorage(path: path).load()!, location: path)
    if arguments.count > 4, let users = Int(arguments[3]), let count = Int(arguments[4]) {
        // The queries are made whether or not they are asked, so that the difference of two
        // runs is the lookups alone.
        let queries = (0..<count).map { call in
            AccessTokenQuery(clientID: clientID, environment: environment, realm: tenant, homeAccountID: "\(uid((call &* 7919) % users)).\(tenant)", scopes: ["User.Read"], now: baseNow + 60)
        }
        if arguments.count > 5, arguments[5] == "lookup" {
            var hits = 0
            for query in queries {
                if case .hit = cache.lookupAccessToken(query) { hits += 1 }
            }
            precondition(hits == count, "every lookup must hit")
        }
    }
case "add-one":
    let cache = try TokenCache(serialized: try FileStorage(path: arguments[2]).load()!)
    let response: JSONObject = [
        "token_type": "Bearer", "expires_in": 3599, "access_token": .string(fakeToken(1, length: 1500)), "refresh_token": .string(fakeToken(2, length: 900)),
        "client_info": .string(base64url(Data("{\"uid\":\"another\",\"utid\":\"\(tenant)\"}".utf8))),
    ]
    try cache.add(response: response, context: TokenResponseContext(clientID: clientID, requestedScopes: scopeSets[0], tokenEndpoint: tokenEndpoint, environment: environment, grantType: "authorization_code", now: baseNow))
    try FileStorage(path: arguments[3]).save(Data(cache.serialize()))
case "reload":
    let cache = try TokenCache(serialized: try FileStorage(path: arguments[2]).load()!)
    try cache.replace(withSerialized: try FileStorage(path: arguments[3]).load()!)
default:
    exit(64)
}

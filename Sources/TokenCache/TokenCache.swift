public import Foundation

/// An MSAL-compatible token cache held in memory, with indexed lookups.
///
/// The cache reads and writes MSAL Python's `SerializableTokenCache` format byte for byte,
/// keeping every section, entry and field it does not model. Lookups use indexes on the
/// fields MSAL Python matches, so their cost depends on how many tokens one account or app
/// has, not on how many users the cache holds.
///
/// One instance may be used from many threads and tasks at once: every operation takes an
/// internal lock for its whole duration, and every mutation (a token response, a removal)
/// is one atomic change.
///
/// ## Topics
/// ### Reading and writing
/// - ``init(serialized:location:)``
/// - ``serialize()``
/// ### Adding tokens
/// - ``add(response:context:)``
/// ### Queries
/// - ``accounts(environment:aliases:username:)``
/// - ``lookupAccessToken(_:)``
/// - ``refreshTokenCandidates(clientID:environment:homeAccountID:)``
/// ### Removal
/// - ``removeAccount(homeAccountID:environment:clientID:now:)``
/// - ``removeExpiredAccessTokens(now:)``
public final class TokenCache: @unchecked Sendable {
    // @unchecked: `document` and `generation` are only touched while `lock` is held.
    private let lock = NSLock()
    private var document: CacheDocument
    private var generation: UInt64 = 0
    /// The size of the last text read or written, to size the next output buffer.
    private var sizeHint = 0
    /// How many bytes of entries reloads patched in since the last full parse (see
    /// `DocumentPatch`): the loaded text they leave unused.
    private var patchedBytes = 0
    private var patchedReloads = 0
    /// The last accounts question, the Account section's revision it was answered at, and
    /// the answer.
    private var lastAccounts: (question: AccountsQuestion, revision: UInt64, answer: [Account])?

    /// How many reloads were patches rather than full parses (for tests).
    var patchedReloadCount: Int { lock.withLock { patchedReloads } }

    /// Creates an empty cache.
    public init() {
        document = CacheDocument()
    }

    /// Reads a cache from the text MSAL Python's `serialize()` (or another MSAL SDK) wrote.
    ///
    /// Empty input is an empty cache, as in MSAL Python. Anything MSAL Python would reject
    /// or crash on is rejected with a ``TokenCacheError``: invalid JSON or UTF-8, a byte
    /// order mark, trailing data, a top level that is not an object, or a known section,
    /// entry or field of the wrong type.
    ///
    /// - Parameters:
    ///   - serialized: The file's bytes.
    ///   - location: Where the bytes came from, used in error messages.
    /// - Throws: ``TokenCacheError`` naming `location` and the problem.
    public convenience init(serialized: some DataProtocol, location: String? = nil) throws(TokenCacheError) {
        self.init()
        try replace(withSerialized: serialized, location: location)
    }

    /// Replaces the whole content with `serialized` (a reload). On error the content is
    /// left as it was.
    ///
    /// When the text is in MSAL Python's layout and most entries are those already loaded,
    /// byte for byte, the loaded ones are kept and only the changed or new entries are
    /// parsed; the result is the same as a full parse.
    ///
    /// - Throws: ``TokenCacheError`` naming `location` and the problem.
    public func replace(withSerialized serialized: some DataProtocol, location: String? = nil) throws(TokenCacheError) {
        _ = try reload(withSerialized: serialized, location: location, patching: true, when: nil)
    }

    /// What a reload may require before it installs its document.
    struct ReloadCondition {
        /// The ``changeCount`` the cache must still have: nothing changed it meanwhile.
        let changeCount: UInt64
        /// Checked while the cache's lock is held, just before installing.
        let allowed: () -> Bool
    }

    /// ``replace(withSerialized:location:)``, patching only when `patching`, and installing
    /// only when `condition` (if any) holds; returns whether the content was replaced.
    func reload(withSerialized serialized: some DataProtocol, location: String?, patching: Bool, when condition: ReloadCondition?) throws(TokenCacheError) -> Bool {
        if patching, let pending = patch(serialized) {
            if install(pending, when: condition) { return true }
            if let condition, !holds(condition) { return false }
        }
        let parsed = try TokenCache.parse(serialized, location: location)
        let previous = lock.withLock { () -> CacheDocument? in
            if let condition, !(generation == condition.changeCount && condition.allowed()) { return nil }
            defer {
                document = parsed
                generation &+= 1
                sizeHint = serialized.count
                patchedBytes = 0
            }
            return document
        }
        guard let previous else { return false }
        TokenCache.release(previous)
        return true
    }

    /// Whether `condition` holds now.
    func holds(_ condition: ReloadCondition) -> Bool {
        lock.withLock { generation == condition.changeCount && condition.allowed() }
    }

    /// A document patched from the loaded one (see `DocumentPatch`), not installed yet.
    struct PendingPatch {
        let document: CacheDocument
        let changedBytes: Int
        let length: Int
        /// The ``changeCount`` of the document it was patched from.
        let base: UInt64
    }

    /// The loaded document patched to `serialized`, when only a few entries changed;
    /// `nil` when it must be parsed in full.
    private func patch(_ serialized: some DataProtocol) -> PendingPatch? {
        patch { base, budget in
            (try? JSONParser.withBytes(serialized) { bytes throws(JSONSyntaxError) in DocumentPatch.patch(base, with: bytes, budget: budget) }) ?? nil
        }
    }

    /// The same, reading the new text in pieces from `reader`, so that it is never all in
    /// memory.
    func patch(reading reader: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) -> PendingPatch? {
        patch { base, budget in DocumentPatch.patch(base, reading: reader, budget: budget) }
    }

    /// Runs `make` on the loaded document and the bytes of changed entries a patch may
    /// still add: once the patches since the last full parse add up to a quarter of the
    /// text, a full parse lets go of the loaded text they replaced.
    private func patch(_ make: (CacheDocument, Int) -> (document: CacheDocument, changedBytes: Int, length: Int)?) -> PendingPatch? {
        let (base, generationOfBase, budget) = lock.withLock { (document, generation, sizeHint / 4 - patchedBytes) }
        guard base.entryCount > 0, budget > 0, let made = make(base, budget) else { return nil }
        return PendingPatch(document: made.document, changedBytes: made.changedBytes, length: made.length, base: generationOfBase)
    }

    /// Installs `patch` unless the cache changed since its document was read, `condition`
    /// does not hold, or the patches would add up to more than a quarter of the text.
    func install(_ patch: PendingPatch, when condition: ReloadCondition?) -> Bool {
        let previous = lock.withLock { () -> CacheDocument? in
            guard generation == patch.base, patchedBytes + patch.changedBytes <= patch.length / 4 else { return nil }
            if let condition, !(generation == condition.changeCount && condition.allowed()) { return nil }
            defer {
                document = patch.document
                generation &+= 1
                sizeHint = patch.length
                patchedBytes += patch.changedBytes
                patchedReloads += 1
            }
            return document
        }
        guard let previous else { return false }
        TokenCache.release(previous)
        return true
    }

    static func parse(_ serialized: some DataProtocol, location: String?) throws(TokenCacheError) -> CacheDocument {
        if serialized.isEmpty { return CacheDocument() }
        // Entries written exactly as MSAL Python writes them stay as slices of these bytes.
        let source = SourceText(serialized as? Data ?? Data(serialized))
        let result = source.data.withUnsafeBytes { bytes -> Result<CacheDocument, TokenCacheError> in
            var loader = EntryLoader(source: source, bytes: bytes)
            let document: JSONParser.Document
            do throws(JSONSyntaxError) {
                document = try JSONParser.parseDocument(bytes) { section, key, range, members throws(JSONSyntaxError) in
                    try loader.summarize(section: section, key: key, range: range, members: members)
                }
            } catch {
                if case .stopped = error.kind, let failure = loader.failure {
                    return .failure(location.map { failure.at($0) } ?? failure)
                }
                return .failure(TokenCacheError.syntax(error).at(location ?? "cache"))
            }
            do throws(TokenCacheError) {
                switch document {
                case .members(let members): return .success(try CacheDocument(members: members, loader: &loader))
                case .value(let value):
                    throw TokenCacheError(code: .invalidSchema, reason: "the top level is \(value.typeName), but an MSAL cache is a JSON object")
                }
            } catch {
                return .failure(location.map { error.at($0) } ?? error)
            }
        }
        return try result.get()
    }

    /// The cache as MSAL Python's `serialize()` writes it: UTF-8 (in fact ASCII) JSON with
    /// a 4-space indent and no trailing newline.
    public func serialize() -> [UInt8] {
        let (snapshot, hint) = lock.withLock { (document, sizeHint) }
        let output = snapshot.serialized(capacityHint: max(hint + hint / 8, snapshot.entryCount * 700) + 64)
        lock.withLock { sizeHint = output.count }
        return output
    }

    /// A number that changes whenever the content changes: compare two readings to learn
    /// whether anything was modified in between.
    public var changeCount: UInt64 { lock.withLock { generation } }

    /// The number of entries in each known section.
    public var entryCounts: [CredentialType: Int] {
        lock.withLock {
            Dictionary(uniqueKeysWithValues: CredentialType.allCases.map { ($0, document.section($0).count) })
        }
    }

    /// The names of the top-level sections, in file order, including ones other SDKs wrote.
    public var sectionNames: [String] { lock.withLock { document.order } }

    /// Every entry of one section, in file order.
    public func entries<Entry: CacheEntry>(_ type: Entry.Type) -> [Entry] {
        let section = lock.withLock { document.section(Entry.credentialType) }
        return section.entries.map { Entry.stored($0.key, $0.value) }
    }

    /// Runs `body` on the document under the lock; counts a change when `body` reports one.
    func mutate<R, E: Error>(_ body: (inout CacheDocument) throws(E) -> (R, changed: Bool)) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        let (result, changed) = try body(&document)
        if changed { generation &+= 1 }
        return result
    }

    /// Runs `body` on the document under the lock, without changing it.
    func read<R, E: Error>(_ body: (CacheDocument) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        // Borrow the document in place: copying it out of the class would retain every
        // section's storage on each lookup.
        return try withUnsafeMutablePointer(to: &document) { pointer throws(E) in try body(pointer.pointee) }
    }

    /// The answer to `question` at the Account section's `revision`: the one kept, when it
    /// was asked at that revision, else `answer()`, kept. Called under the lock.
    func answeredAccounts(_ question: AccountsQuestion, revision: UInt64, _ answer: () -> [Account]) -> [Account] {
        if let last = lastAccounts, last.revision == revision, last.question == question { return last.answer }
        let found = answer()
        lastAccounts = (question, revision, found)
        return found
    }

    /// Lets go of a replaced document. Freeing tens of thousands of entries takes tens of
    /// milliseconds, so a large one is freed on a background thread instead of delaying the
    /// lookup that triggered the reload.
    private static func release(_ old: CacheDocument) {
        guard old.entryCount > 10_000 else { return }
        DispatchQueue.global(qos: .utility).async { withExtendedLifetime(old) {} }
    }

    /// Copies every section, entry and field of `other` into this cache, replacing what it
    /// held (a lossless copy).
    public func replace(with other: TokenCache) {
        let (copy, size, patched) = other.lock.withLock { (other.document, other.sizeHint, other.patchedBytes) }
        lock.withLock {
            document = copy
            generation &+= 1
            sizeHint = size
            patchedBytes = patched
        }
    }
}

/// What an `accounts` call asks.
struct AccountsQuestion: Equatable {
    let environment: String
    let aliases: [String]
    let username: String?
    let includeCloudShell: Bool
}

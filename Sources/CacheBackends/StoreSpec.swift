public import TokenCache

/// Parses the store SPEC strings the `tokencache` command and apps use to name a store.
///
/// ``open(_:options:lockTimeout:)`` gives the persistent cache for a SPEC, with the lock
/// the store's peers use (`<path>.lockfile` beside a file).
///
/// | SPEC | store |
/// |---|---|
/// | `file:PATH` | ``FileStorage``: a plain MSAL JSON file |
public enum StoreSpec {
    /// The persistent cache for a SPEC: its store and the cross-process lock beside it.
    ///
    /// - Throws: ``CacheStorageError`` with code `invalidSpec` for an unknown form.
    public static func open(_ spec: String, options: PersistentTokenCache.Options = .init(), lockTimeout: Duration = .seconds(5)) throws(CacheStorageError) -> PersistentTokenCache {
        let storage = try parse(spec)
        return PersistentTokenCache(storage: storage, lock: FileLock(forCacheAt: storage.location, timeout: lockTimeout), options: options)
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
        default:
            throw CacheStorageError(code: .invalidSpec, location: spec, reason: "unknown store kind \"\(kind)\"; supported: file:PATH")
        }
    }
}

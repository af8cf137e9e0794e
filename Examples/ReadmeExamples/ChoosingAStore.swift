import CacheBackends
import CachePostgres
import TokenCache

func choosingAStore(folder: String, database: PostgresEndpoint) throws -> [any TokenCacheStore] {
    let stores: [StoreDescription] = [
        .file(folder + "/msal_token_cache.json"),             // plain MSAL JSON, shared with MSAL Python
        .encrypted(folder + "/tokens.bin"),                    // AES-256-GCM, its data key in the keyring
        .encrypted(folder + "/tokens-p.bin", key: .passphrase(env: "APP_CACHE_PASSPHRASE")),
        .keyring(.msalExtensions(signalPath: folder + "/signal"), signal: folder + "/signal"),
        .sqlite(folder + "/tokens.db", key: .keyFile(folder + "/tokens.key")),
        .postgres(database),                                   // many app instances on one database
    ]
    return try stores.map { try $0.open() }
}

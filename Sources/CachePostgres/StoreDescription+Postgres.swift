public import CacheBackends

extension StoreDescription {
    /// A PostgreSQL store (see ``PostgresTokenCache``) at `endpoint`.
    ///
    /// - Parameters:
    ///   - endpoint: Where the store lives and how to reach it.
    ///   - options: The store's retries and L1 size; by default it retries for as long as
    ///     `open(lockTimeout:options:)` is told to wait.
    public static func postgres(_ endpoint: PostgresEndpoint, options: PostgresTokenCache.Options? = nil) -> StoreDescription {
        .external(ExternalStore(location: endpoint.location, keySource: endpoint.keySource) { waitFor in
            PostgresTokenCache(endpoint: endpoint, options: options ?? PostgresTokenCache.Options(retryFor: waitFor))
        })
    }

    /// Lets `StoreDescription(spec:)` read `postgres://` and `postgresql://` SPECs
    /// (see ``PostgresEndpoint``). Call it once at start-up in an app that takes its store
    /// as a SPEC; apps that never do need not link PostgresNIO.
    public static func registerPostgres() {
        register(schemes: ["postgres://", "postgresql://"]) { spec throws(CacheStorageError) in
            .postgres(try PostgresEndpoint(spec: spec))
        }
    }
}

// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "TokenCache",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TokenCache", targets: ["TokenCache"]),
        .library(name: "CacheBackends", targets: ["CacheBackends"]),
        .library(name: "CachePostgres", targets: ["CachePostgres"]),
        .library(name: "MSALLite", targets: ["MSALLite"]),
        .library(name: "MSALHummingbird", targets: ["MSALHummingbird"]),
        .executable(name: "tokencache", targets: ["tokencache"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.9.0"..<"6.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // TLS with a pinned server certificate (Service Fabric's managed identity endpoint);
        // PostgresNIO builds it already.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        // The web-app integration (MSALHummingbird) and its example; no other target uses it.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        // `swift package generate-documentation` (scripts/docs.sh).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Pure Swift: the MSAL schema, the byte-exact JSON codec and the indexed queries.
        .target(
            name: "TokenCache",
            dependencies: ["CTextScan", .product(name: "OrderedCollections", package: "swift-collections"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Wide (SIMD) scans of the cache's JSON text.
        .target(name: "CTextScan"),
        // Where a cache lives: plain and encrypted files, the keyring, SQLite.
        .target(name: "CacheBackends", dependencies: ["TokenCache", "COpenSSL", "CSQLite", "CKeyctl"]),
        // keyctl(2) and add_key(2), for data keys in the kernel keyring (no libkeyutils).
        .target(name: "CKeyctl"),
        // libcrypto (AES-256-GCM, scrypt) for the encrypted stores.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // libsqlite3 for the SQLite store.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The PostgreSQL store, in its own module so apps that do not use it do not build
        // or link PostgresNIO.
        .target(
            name: "CachePostgres",
            dependencies: [
                "TokenCache", "CacheBackends",
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Token acquisition on top of the cache: discovery, the OAuth flows, HTTP. SwiftNIO
        // serves the loopback redirect of desktop sign-ins.
        .target(
            name: "MSALLite",
            dependencies: [
                "TokenCache", "COpenSSL", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Web apps and web APIs on Hummingbird 2: sign-in, sign-out, tokens for the signed-in
        // user, bearer-token validation and on-behalf-of calls. Its own module, so the
        // libraries never depend on a web framework.
        .target(
            name: "MSALHummingbird",
            dependencies: [
                "MSALLite", "TokenCache", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "tokencache",
            dependencies: [
                "TokenCache", "CacheBackends", "CachePostgres", "MSALLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The README's Swift examples, compiled so they stay true to the API.
        .executableTarget(
            name: "ReadmeExamples",
            dependencies: ["TokenCache", "CacheBackends", "CachePostgres", "MSALLite"],
            path: "Examples/ReadmeExamples"
        ),
        // The web app example: a page, a protected API and the API it calls for the user.
        .executableTarget(
            name: "WebAppExample",
            dependencies: ["MSALHummingbird", "MSALLite", "TokenCache", "CacheBackends", "CachePostgres",
                           .product(name: "Hummingbird", package: "hummingbird"), .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")],
            path: "Examples/WebApp"
        ),
        // Helpers for this package's tests: the real Python peers, temporary folders.
        .target(name: "TokenCacheTesting", dependencies: ["TokenCache"]),
        .testTarget(name: "TokenCacheTests", dependencies: ["TokenCache", "TokenCacheTesting", "CTextScan"]),
        .testTarget(name: "CacheBackendsTests", dependencies: ["CacheBackends", "TokenCache", "TokenCacheTesting"]),
        .testTarget(name: "CachePostgresTests", dependencies: ["CachePostgres", "CacheBackends", "TokenCache", "TokenCacheTesting"]),
        .testTarget(name: "MSALLiteTests", dependencies: ["MSALLite", "TokenCache", "CacheBackends", "CachePostgres", "TokenCacheTesting", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "MSALHummingbirdTests", dependencies: [
            "MSALHummingbird", "MSALLite", "TokenCache", "CacheBackends", "CachePostgres", "TokenCacheTesting", "WebAppExample",
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(name: "tokencacheTests", dependencies: ["tokencache", "TokenCache", "CacheBackends", "CachePostgres", "MSALLite", "TokenCacheTesting"]),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer target, built only by scripts/fuzz.sh (its sanitizer flags apply to the
// whole build, so it stays out of the normal one).
if Context.environment["TOKENCACHE_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "TokenCacheFuzz", dependencies: ["TokenCache"], path: "Fuzz/TokenCacheFuzz"))
}

// The benchmark harness, built only by Benchmarks/run.sh.
if Context.environment["TOKENCACHE_BENCHMARKS"] != nil {
    package.targets.append(.executableTarget(name: "TokenCacheBenchmarks", dependencies: ["TokenCache", "CacheBackends", "CachePostgres", "MSALLite"], path: "Benchmarks/TokenCacheBenchmarks"))
    package.products.append(.executable(name: "TokenCacheBenchmarks", targets: ["TokenCacheBenchmarks"]))
}

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}

import CacheBackends
import CachePostgres
import Foundation
import TokenCache

// The README's Swift examples, one file per code block. Each is a function, compiled with
// the package. Most are not run here: they need a real cache file, the keyring or an
// identity provider. README.md shows each file whole (ReadmeExamplesTests checks that).
//
// `ReadmeExamples stores FOLDER POSTGRES_SPEC` runs choosingAStore: it opens every kind of
// store in FOLDER (the keyring ones need a Secret Service; the passphrase comes from
// APP_CACHE_PASSPHRASE), writes a token response into each and reads it back.

let arguments = CommandLine.arguments
if arguments.count == 4, arguments[1] == "stores" {
    let folder = arguments[2]
    let key = FileManager.default.createFile(atPath: folder + "/tokens.key", contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }),
                                             attributes: [.posixPermissions: 0o600])
    precondition(key, "cannot write the key file")
    let clientInfo = Data(#"{"uid":"ann","utid":"contoso"}"#.utf8).base64EncodedString()
    let response: JSONObject = [
        "access_token": "example-access-token", "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": "example-refresh-token", "client_info": .string(clientInfo),
    ]
    let now = Int64(Date().timeIntervalSince1970)
    let context = TokenResponseContext(clientID: "example-app", requestedScopes: ["User.Read"],
                                       tokenEndpoint: "https://login.microsoftonline.com/contoso/oauth2/v2.0/token", now: now)
    let query = AccessTokenQuery(clientID: "example-app", environment: "login.microsoftonline.com", realm: "contoso",
                                 homeAccountID: "ann.contoso", scopes: ["User.Read"], now: now)
    for store in try choosingAStore(folder: folder, database: try PostgresEndpoint(spec: arguments[3])) {
        try store.add(response: response, context: context)
        guard case .hit = try store.lookupAccessToken(query) else { fatalError("\(store.location): the token written was not found") }
        print("\(store.location): \(store.isEncrypted ? "encrypted" : "plain"), token written and found")
    }
} else {
    print("""
        The README's examples compile: usingTheCache (UsingTheCache.swift), storeBySpec
        (StoreBySpec.swift), choosingAStore (ChoosingAStore.swift) and acquiringTokens
        (AcquiringTokens.swift). Run `ReadmeExamples stores FOLDER POSTGRES_SPEC` to open
        every kind of store with choosingAStore.
        """)
}

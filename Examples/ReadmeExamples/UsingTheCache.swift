import Foundation
import TokenCache
import CacheBackends

func usingTheCache(responseBody: Data) throws {
    let storage = FileStorage(path: "~/.azure/msal_token_cache.json")
    let cache = try storage.load().map { try TokenCache(serialized: $0, location: storage.location) } ?? TokenCache()

    // Add what the token endpoint returned, as MSAL Python's TokenCache.add() would.
    try cache.add(responseJSON: responseBody, context: TokenResponseContext(
        clientID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        requestedScopes: ["User.Read", "openid", "profile", "offline_access"],
        tokenEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        grantType: "authorization_code",
        now: Int64(Date().timeIntervalSince1970)))

    // Silent lookup with MSAL's rules: scopes a subset, 5-minute margin, refresh_on.
    let account = cache.accounts(environment: "login.microsoftonline.com").first!
    switch cache.lookupAccessToken(AccessTokenQuery(
        clientID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46", environment: "login.microsoftonline.com",
        realm: "common", homeAccountID: account.homeAccountID, scopes: ["User.Read"],
        now: Int64(Date().timeIntervalSince1970))) {
    case .hit(let token): use(token.secret!)
    case .refreshDue(let token): refresh(orFallBackTo: token)
    case .miss: signIn()
    }
    try storage.save(Data(cache.serialize()))
}

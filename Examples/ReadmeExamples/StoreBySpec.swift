import TokenCache
import CacheBackends

func storeBySpec(response: JSONObject, context: TokenResponseContext, query: AccessTokenQuery) throws -> AccessTokenLookup {
    let store: any TokenCacheStore = try StoreSpec.open("sqlite:~/.cache/tokens.db?encrypt=keyring")
    try store.add(response: response, context: context)
    let result = try store.lookupAccessToken(query)
    return result
}

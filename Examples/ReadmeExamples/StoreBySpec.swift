import TokenCache
import CacheBackends

func storeBySpec(response: JSONObject, context: TokenResponseContext, query: AccessTokenQuery) throws -> AccessTokenLookup {
    let store = try StoreDescription(spec: "sqlite:~/.cache/tokens.db?encrypt=keyring").open()
    try store.add(response: response, context: context)
    let result = try store.lookupAccessToken(query)
    return result
}

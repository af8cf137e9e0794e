import MSALLite
import CacheBackends

func acquiringTokens() async throws {
    let app = try PublicClientApplication(
        clientID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        authority: "https://login.microsoftonline.com/organizations",
        cache: try StoreDescription.sqlite("~/.cache/tokens.db", key: .keyring).open())
    let scopes = ["https://graph.microsoft.com/User.Read"]
    if let account = try await app.accounts().first,
       let result = try await app.acquireTokenSilent(scopes: scopes, account: account) {
        use(result.accessToken)           // result.tokenSource: .cache or .identityProvider
    } else {
        let flow = try await app.initiateDeviceFlow(scopes: scopes)
        print(flow.message)               // "To sign in, open ... and enter the code ..."
        use(try await app.acquireToken(byDeviceFlow: flow).accessToken)
    }
}

import MSALLite
import Testing
import TokenCache

@Suite("Authority")
struct AuthorityTests {
    @Test("Entra, B2C, ADFS and CIAM authorities give the cache's environment and realm")
    func parsesAuthorities() throws {
        let common = try Authority("https://Login.MicrosoftOnline.com/common/")
        #expect(common.host == "login.microsoftonline.com")
        #expect(common.tenant == "common")
        #expect(common.tokenEndpoint == "https://Login.MicrosoftOnline.com/common/oauth2/v2.0/token")
        #expect(common.aliases == ["login.windows.net", "login.microsoft.com", "sts.windows.net"])
        let b2c = try Authority("https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin")
        #expect(b2c.tenant == "contoso.onmicrosoft.com")
        #expect(b2c.aliases.isEmpty)
        let adfs = try Authority("https://adfs.contoso.com/adfs")
        #expect(adfs.isADFS)
        #expect(adfs.tokenEndpoint == "https://adfs.contoso.com/adfs/oauth2/token")
        let ciam = try Authority("https://contoso.ciamlogin.com/")
        #expect(ciam.tenant == "contoso.onmicrosoft.com")
    }

    @Test("Anything but an https URL with a tenant is refused with invalidArgument")
    func refusesBadAuthorities() {
        for bad in ["http://login.microsoftonline.com/common", "https://login.microsoftonline.com", "https://login.microsoftonline.com/", "login.microsoftonline.com/common", "", "https:///common"] {
            #expect(throws: TokenCacheError.self) { try Authority(bad) }
        }
    }
}

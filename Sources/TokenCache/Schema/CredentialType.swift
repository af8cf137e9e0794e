/// A section of the MSAL cache document, named after the kind of entry it holds.
public struct CredentialType: RawRepresentable, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// The section name as it appears in the file.
    public let rawValue: String

    /// Creates a credential type from a section name.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// `AccessToken`.
    public static let accessToken = CredentialType(rawValue: "AccessToken")
    /// `RefreshToken`.
    public static let refreshToken = CredentialType(rawValue: "RefreshToken")
    /// `IdToken`.
    public static let idToken = CredentialType(rawValue: "IdToken")
    /// `Account`.
    public static let account = CredentialType(rawValue: "Account")
    /// `AppMetadata`.
    public static let appMetadata = CredentialType(rawValue: "AppMetadata")

    /// The five sections MSAL Python writes, in the order a first sign-in creates them.
    public static let allCases: [CredentialType] = [.accessToken, .account, .idToken, .refreshToken, .appMetadata]

    public var description: String { rawValue }
}

/// The `authority_type` values of Account entries.
public enum AuthorityType {
    /// Microsoft Entra ID and Microsoft accounts.
    public static let msSTS = "MSSTS"
    /// AD FS.
    public static let adfs = "ADFS"
    /// Azure Cloud Shell's pseudo-account.
    public static let cloudShell = "CLOUDSHELL"
}

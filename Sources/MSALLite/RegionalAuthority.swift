import Foundation
import Logging
import TokenCache

/// MSAL Python's regional token service for a confidential client's own tokens
/// (`azure_region`, `MSAL_FORCE_REGION`, `REGION_NAME`, IMDS): which region, and the
/// authority that serves it. The tokens are cached under the central authority, as MSAL
/// Python caches them.
extension ClientCore {
    /// MSAL Python's region name check: a lowercase DNS label that starts with a letter.
    static func isValidRegion(_ region: String) -> Bool {
        let bytes = Array(region.utf8)
        guard (1...63).contains(bytes.count), let first = bytes.first, let last = bytes.last else { return false }
        func letter(_ byte: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) }
        func digit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        return letter(first) && (letter(last) || digit(last)) && bytes.allSatisfy { letter($0) || digit($0) || $0 == UInt8(ascii: "-") }
    }

    /// The region configured for a confidential client: the option, else
    /// `MSAL_FORCE_REGION`; `nil` for none.
    ///
    /// - Throws: ``MSALError`` `invalidArgument` for a named region that is not a region
    ///   name (as MSAL Python refuses it when the app is created).
    static func configuredRegion(_ options: ApplicationOptions, confidential: Bool) throws(MSALError) -> AzureRegion? {
        let configured = options.azureRegion ?? (confidential ? options.environment["MSAL_FORCE_REGION"].map(AzureRegion.named) : nil)
        if case .named(let name)? = configured, !isValidRegion(name) {
            let source = options.azureRegion == nil ? "MSAL_FORCE_REGION" : "azureRegion"
            throw MSALError(code: .invalidArgument, reason: "\(source) is not a region name: it must be a lowercase DNS label that starts with a letter, such as westus2")
        }
        return configured
    }

    /// The authority of the regional token service for the app's own tokens, or `nil` to
    /// use the central one.
    nonisolated(nonsending)
    func regionalAuthority() async throws(MSALError) -> Authority? {
        guard credential != nil, !authority.isOIDC else { return nil }
        let region: String?
        switch try ClientCore.configuredRegion(options, confidential: true) {
        case nil, .none?:
            return nil
        case .named(let name)?:
            region = name
        case .detect?:
            region = await detectedRegion()
        }
        guard let region else { return nil }
        let regional: Authority
        do {
            regional = try Authority(authority.regional(region), allowingLoopbackHTTP: options.http.allowsPlainHTTPOnLoopback)
        } catch {
            throw MSALError(code: .invalidArgument, reason: "the regional authority for \(region) is not valid: \(error.reason)")
        }
        // The regional host is trusted as the central authority is: validate that first.
        _ = try await discovery.endpoints(of: authority)
        discovery.trust(regional.host)
        return regional
    }

    /// The region the process runs in: `REGION_NAME`, else the `location` of the virtual
    /// machine's instance metadata; `nil` when neither says one (a name that is not a
    /// region name is ignored, as MSAL Python ignores it).
    nonisolated(nonsending)
    func detectedRegion() async -> String? {
        // Detected once (a failed detection too: outside Azure, IMDS may take the whole
        // time-out to not answer), as MSAL Python detects when the app is created.
        if let known = detectedRegionName.withLock({ $0 }) { return known }
        var found: String?
        if let name = options.environment["REGION_NAME"], !name.isEmpty {
            found = name
        } else if let url = URL(string: "http://169.254.169.254/metadata/instance/compute?api-version=2021-02-01"),
                  let answer = try? await connection.getManagedIdentityToken(url, headers: ["Metadata": "true"], what: "the instance metadata (region)") {
            found = answer.string("location")
        }
        let region = found.flatMap { ClientCore.isValidRegion($0) ? $0 : nil }
        if region == nil { logger.info("no Azure region detected; the central token service is used") }
        detectedRegionName.withLock { $0 = .some(region) }
        return region
    }
}

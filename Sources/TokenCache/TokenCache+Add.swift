public import Foundation

/// What one mutation did: the entries it wrote and removed, by section and key.
public struct CacheChange: Sendable, Hashable {
    /// Entries written (created or replaced), in the order they were written.
    public package(set) var written: [EntryReference] = []
    /// Entries removed.
    public package(set) var removed: [EntryReference] = []

    /// A change that did nothing yet.
    package init() {}

    /// Whether nothing changed.
    public var isEmpty: Bool { written.isEmpty && removed.isEmpty }
}

/// Names one stored entry.
public struct EntryReference: Sendable, Hashable, CustomStringConvertible {
    /// Its section.
    public let type: CredentialType
    /// Its key.
    public let key: String

    /// Names the entry stored under `key` in section `type`.
    public init(type: CredentialType, key: String) {
        self.type = type
        self.key = key
    }

    public var description: String { "\(type)/\(key)" }

    /// Keys compare by their UTF-8 bytes (code points), as MSAL Python's dictionaries
    /// compare them and as the stores hold them, not by Swift's canonical equivalence.
    public static func == (lhs: EntryReference, rhs: EntryReference) -> Bool {
        lhs.type == rhs.type && lhs.key.utf8.elementsEqual(rhs.key.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(type)
        hasher.combine(EntryKey(key))
    }
}

extension TokenCache {
    /// Adds the tokens of a token endpoint response, exactly as MSAL Python 1.39's
    /// `TokenCache.add()` does, as one atomic change.
    ///
    /// Writes, in this order and where the response allows: the access token, the account
    /// (unless ``TokenResponseContext/skipAccountCreation``), the ID token, the refresh token
    /// and the app metadata. An entry under an existing key is replaced in place.
    ///
    /// - Parameters:
    ///   - response: The token endpoint's JSON body.
    ///   - context: The request it answers.
    /// - Returns: The entries written.
    /// - Throws: ``TokenCacheError`` with code `invalidResponse` or `invalidArgument` when the
    ///   response or context is unusable; the cache is then unchanged.
    @discardableResult
    public func add(response: JSONObject, context: TokenResponseContext) throws(TokenCacheError) -> CacheChange {
        let entries = try TokenResponseEntries.make(response: response, context: context)
        return mutate { document in
            let change = TokenCache.upsert(entries, into: &document)
            return (change, !change.isEmpty)
        }
    }

    /// Writes entries under the keys MSAL computes for them, each in place when its key exists.
    static func upsert(_ entries: [(CredentialType, JSONObject)], into document: inout CacheDocument) -> CacheChange {
        TokenResponseEntries.write(entries) { type, key, fields in
            document.withSection(type) { $0.upsert(fields, forKey: key) }
        }
    }

    /// Adds a token response given as JSON text.
    ///
    /// - Throws: ``TokenCacheError`` when the text is not a JSON object or the response is
    ///   unusable; the cache is then unchanged.
    @discardableResult
    public func add(responseJSON: some DataProtocol, context: TokenResponseContext) throws(TokenCacheError) -> CacheChange {
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(responseJSON)
        } catch {
            throw TokenCacheError(code: .invalidResponse, reason: "the response is not JSON: \(error.reason)")
        }
        guard case .object(let response) = parsed else {
            throw TokenCacheError(code: .invalidResponse, reason: "the response is \(parsed.typeName), but a token response is a JSON object")
        }
        return try add(response: response, context: context)
    }
}

/// Turns a token response into cache entries, following msal 1.39's `TokenCache.__add`.
package enum TokenResponseEntries {
    /// The entries MSAL Python writes for a token response, in its order, with their sections.
    package static func make(response: JSONObject, context: TokenResponseContext) throws(TokenCacheError) -> [(CredentialType, JSONObject)] {
        func bad(_ problem: String) -> TokenCacheError {
            TokenCacheError(code: .invalidResponse, reason: problem)
        }
        func optionalString(_ name: String) throws(TokenCacheError) -> String? {
            guard let value = response[name], value.isTruthy else { return nil }
            guard let string = value.stringValue else { throw bad("\"\(name)\" is \(value.typeName), but it must be a string") }
            return string
        }

        let endpoint = try TokenEndpoint(context.tokenEndpoint)
        let environment = context.environment ?? endpoint.host
        let realm = endpoint.tenant
        let now = context.now

        let accessToken = try optionalString("access_token")
        let refreshToken = try optionalString("refresh_token")
        let idToken = try optionalString("id_token")
        let claims = try idTokenClaims(response: response, idToken: idToken)
        let (clientInfo, homeAccountID) = try parseAccount(response: response, claims: claims)

        let scopes: [String]
        if let scope = response["scope"] {
            guard let text = scope.stringValue else { throw bad("\"scope\" is \(scope.typeName), but it must be a string") }
            scopes = PythonText.split(text).map(String.init)
        } else {
            scopes = context.requestedScopes
        }
        let target = CacheKey.target(scopes: scopes)
        let hidValue: JSONValue = homeAccountID.map(JSONValue.string) ?? .null

        var entries: [(CredentialType, JSONObject)] = []

        if let accessToken {
            let defaultExpiresIn: Int64
            if let expiresOn = response["expires_on"], expiresOn.isTruthy {
                guard let absolute = PythonText.int(expiresOn), (-2 * TokenResponseEntries.longestLifetime...2 * TokenResponseEntries.longestLifetime).contains(absolute) else {
                    throw bad("\"expires_on\" is not a whole number of seconds since 1970 within a hundred years")
                }
                defaultExpiresIn = absolute - now
            } else {
                defaultExpiresIn = 600
            }
            let expiresIn = try lifetime(response["expires_in"], name: "expires_in", default: defaultExpiresIn)
            let extExpiresIn = try lifetime(response["ext_expires_in"], name: "ext_expires_in", default: expiresIn)
            var at: JSONObject = [
                FieldName.credentialType: .string("AccessToken"),
                FieldName.secret: .string(accessToken),
                FieldName.homeAccountID: hidValue,
                FieldName.environment: .string(environment),
                FieldName.clientID: .string(context.clientID),
                FieldName.target: .string(target),
                FieldName.realm: .string(realm),
                FieldName.tokenType: response["token_type"] ?? .string("Bearer"),
                FieldName.cachedAt: .string(String(now)),
                FieldName.expiresOn: .string(String(now + expiresIn)),
                FieldName.extendedExpiresOn: .string(String(now + extExpiresIn)),
            ]
            if let keyID = context.requestData["key_id"] { at[FieldName.keyID] = .string(keyID) }
            if let hash = context.requestData[FieldName.userAssertionHash] { at[FieldName.userAssertionHash] = .string(hash) }
            let extKey = ExtendedCacheKey.compute(context.requestData)
            if !extKey.isEmpty { at[FieldName.extCacheKey] = .string(extKey) }
            if let refreshIn = response["refresh_in"] {
                guard case .number(let number) = refreshIn, number.isInteger, let seconds = number.int64Value,
                      (-TokenResponseEntries.longestLifetime...TokenResponseEntries.longestLifetime).contains(seconds) else {
                    throw bad("\"refresh_in\" is \(refreshIn.typeName), but it must be a whole number of seconds within a hundred years")
                }
                at[FieldName.refreshOn] = .string(String(now + seconds))
            }
            entries.append((.accessToken, at))
        }

        if clientInfo, !context.skipAccountCreation {
            let localAccountID: JSONValue = context.brokerAccountID.map(JSONValue.string)
                ?? claims?["oid"] ?? claims?["sub"] ?? .null
            var username: JSONValue = .string("")
            let fromClaims = claims.flatMap { $0.contains("preferred_username") ? $0["preferred_username"] : $0["upn"] }
            if let fromClaims, fromClaims.isTruthy {
                username = fromClaims
            } else if let fromRequest = context.requestData["username"], !fromRequest.isEmpty {
                username = .string(fromRequest)
            } else if let fromEvent = context.username, !fromEvent.isEmpty {
                username = .string(fromEvent)
            }
            var account: JSONObject = [
                FieldName.homeAccountID: hidValue,
                FieldName.environment: .string(environment),
                FieldName.realm: .string(realm),
                FieldName.localAccountID: localAccountID,
                FieldName.username: username,
                FieldName.authorityType: .string(context.authorityType ?? (realm == "adfs" ? AuthorityType.adfs : AuthorityType.msSTS)),
            ]
            if let grant = context.grantType, accountEstablishingGrants.contains(grant) {
                account[FieldName.accountSource] = .string(grant)
            }
            entries.append((.account, account))
        }

        if let idToken {
            entries.append((.idToken, [
                FieldName.credentialType: .string("IdToken"),
                FieldName.secret: .string(idToken),
                FieldName.homeAccountID: hidValue,
                FieldName.environment: .string(environment),
                FieldName.realm: .string(realm),
                FieldName.clientID: .string(context.clientID),
            ]))
        }

        if let refreshToken {
            var rt: JSONObject = [
                FieldName.credentialType: .string("RefreshToken"),
                FieldName.secret: .string(refreshToken),
                FieldName.homeAccountID: hidValue,
                FieldName.environment: .string(environment),
                FieldName.clientID: .string(context.clientID),
                FieldName.target: .string(target),
                FieldName.lastModificationTime: .string(String(now)),
            ]
            if let foci = response["foci"] { rt[FieldName.familyID] = foci }
            entries.append((.refreshToken, rt))
        }

        var metadata: JSONObject = [
            FieldName.clientID: .string(context.clientID),
            FieldName.environment: .string(environment),
        ]
        if let foci = response["foci"] { metadata[FieldName.familyID] = foci }
        entries.append((.appMetadata, metadata))
        return entries
    }

    /// Hands each entry to `write` under the key MSAL computes for it (skipping an entry
    /// without one, as MSAL Python does) and reports what was written.
    package static func write<E: Error>(_ entries: [(CredentialType, JSONObject)], _ write: (CredentialType, String, JSONObject) throws(E) -> Void) throws(E) -> CacheChange {
        var change = CacheChange()
        for (type, fields) in entries {
            guard let key = CacheKey.make(for: type, fields: fields) else { continue }
            try write(type, key, fields)
            change.written.append(EntryReference(type: type, key: key))
        }
        return change
    }

    static let accountEstablishingGrants: Set<String> = [
        "broker", "authorization_code", "password", "urn:ietf:params:oauth:grant-type:device_code", "user_fic",
    ]

    private static func lifetime(_ value: JSONValue?, name: String, default fallback: Int64) throws(TokenCacheError) -> Int64 {
        guard let value else { return fallback }
        guard let seconds = PythonText.int(value) else {
            throw TokenCacheError(code: .invalidResponse, reason: "\"\(name)\" is not a whole number of seconds")
        }
        guard (-longestLifetime...longestLifetime).contains(seconds) else {
            throw TokenCacheError(code: .invalidResponse, reason: "\"\(name)\" is \(seconds) seconds, beyond a hundred years: the answer is not a usable token response")
        }
        return seconds
    }

    /// The longest lifetime (`expires_in`, `ext_expires_in`, `refresh_in`) a token response
    /// may state: a hundred years. Larger values are refused rather than overflowing the
    /// cache's arithmetic.
    package static let longestLifetime: Int64 = 3_155_760_000

    /// The ID token's claims, decoded without validation as MSAL does; a broker's
    /// `id_token_claims` win.
    private static func idTokenClaims(response: JSONObject, idToken: String?) throws(TokenCacheError) -> JSONObject? {
        if let brokerClaims = response["id_token_claims"], brokerClaims.isTruthy {
            guard let object = brokerClaims.objectValue else {
                throw TokenCacheError(code: .invalidResponse, reason: "\"id_token_claims\" is \(brokerClaims.typeName), but it must be an object")
            }
            return object
        }
        guard let idToken else { return nil }
        let parts = idToken.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2 else {
            throw TokenCacheError(code: .invalidResponse, reason: "\"id_token\" is not a JWT (it has no payload part)")
        }
        guard let claims = decodeJSONObject(String(parts[1])) else {
            throw TokenCacheError(code: .invalidResponse, reason: "the payload of \"id_token\" is not base64url-encoded JSON object")
        }
        return claims
    }

    /// Whether an account can be created, and the home account id (MSAL's `__parse_account`).
    private static func parseAccount(response: JSONObject, claims: JSONObject?) throws(TokenCacheError) -> (Bool, String?) {
        if let encoded = response["client_info"] {
            guard let text = encoded.stringValue, let info = decodeJSONObject(text) else {
                throw TokenCacheError(code: .invalidResponse, reason: "\"client_info\" is not base64url-encoded JSON object")
            }
            if let uid = info["uid"], let utid = info["utid"] {
                guard let uidText = pythonStr(uid), let utidText = pythonStr(utid) else {
                    throw TokenCacheError(code: .invalidResponse, reason: "\"client_info\" has a uid or utid that is not a string")
                }
                return (true, "\(uidText).\(utidText)")
            }
        }
        if let claims, !claims.isEmpty {
            guard let sub = claims["sub"] else {
                throw TokenCacheError(code: .invalidResponse, reason: "the ID token has no \"sub\" claim, so no account can be named")
            }
            guard let subject = sub.stringValue else {
                throw TokenCacheError(code: .invalidResponse, reason: "the ID token's \"sub\" claim is \(sub.typeName), but it must be a string")
            }
            return (true, subject)
        }
        return (false, nil)
    }

    private static func pythonStr(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): return text
        case .number(let number) where number.isInteger: return number.text
        default: return nil
        }
    }

    private static func decodeJSONObject(_ base64: String) -> JSONObject? {
        guard let bytes = Base64URL.decode(base64), let value = try? JSONParser.parse(bytes) else { return nil }
        return value.objectValue
    }
}

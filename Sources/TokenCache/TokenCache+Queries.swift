extension TokenCache {
    /// Finds the access token for a silent request, with MSAL Python's rules: exact client,
    /// environment (then aliases), realm and account; requested scopes a subset of the
    /// stored ones; `key_id` and extended-cache-key isolation; a 5-minute expiry margin; and
    /// `refresh_on` asking for a proactive refresh with the cached token as fallback.
    ///
    /// Unlike MSAL Python, a lookup never writes: expired tokens are dropped by
    /// ``removeExpiredAccessTokens(now:)`` instead.
    public func lookupAccessToken(_ query: AccessTokenQuery) -> AccessTokenLookup {
        // The in-memory reader cannot fail.
        read { document in CacheQueries.lookupAccessToken(query, in: document) }
    }

    /// The refresh tokens a silent request may try, in MSAL Python's order (family first
    /// when the app's metadata says so, then the app's own, newest first), without repeats.
    public func refreshTokenCandidates(clientID: String, environment: String, homeAccountID: String) -> [RefreshToken] {
        read { document in
            CacheQueries.refreshTokenCandidates(clientID: clientID, environment: environment, homeAccountID: homeAccountID, in: document)
        }
    }

    /// The accounts MSAL Python's `get_accounts()` would list for an app whose authority
    /// host is `environment`; `aliases` are tried in order when it has none.
    public func accounts(environment: String, aliases: [String] = [], username: String? = nil) -> [Account] {
        read { document in
            CacheQueries.accounts(environment: environment, aliases: aliases, username: username, in: document)
        }
    }

    /// Signs an account out of an app and forgets it, with MSAL Python's scope: in
    /// `environment` (no aliases, any realm) it removes the account's refresh tokens that
    /// belong to `clientID` or to the app's family, all its access tokens, ID tokens and
    /// Account entries. App metadata stays. Like MSAL Python it also drops every access
    /// token that expired before `now`.
    ///
    /// Entries are removed under the key they are stored under, so entries other SDKs
    /// keyed differently are removed too.
    @discardableResult
    public func removeAccount(homeAccountID: String, environment: String, clientID: String, now: Int64) -> CacheChange {
        let environment = PythonText.lower(environment)
        return mutate { document in
            var change = CacheChange()
            func remove<Entry: CacheEntry>(_ entries: [Entry]) {
                guard !entries.isEmpty else { return }
                document.withSection(Entry.credentialType) { section in
                    for entry in entries where section.remove(forKey: entry.key) {
                        change.removed.append(EntryReference(type: Entry.credentialType, key: entry.key))
                    }
                }
            }
            let family = document.appMetadata(key: CacheKey.appMetadata(environment: environment, clientID: clientID))?.field(FieldName.familyID)
            let refreshTokens = document.entries(RefreshToken.self, homeAccountID: homeAccountID, environment: environment).filter { token in
                token.field(FieldName.clientID) == .string(clientID)
                    || (family?.isTruthy == true && token.field(FieldName.familyID) == family)
            }
            remove(refreshTokens)
            if document.accessTokens.count > 0 {
                change.removed += TokenCache.removeExpired(from: &document, now: now)
            }
            remove(document.entries(AccessToken.self, homeAccountID: homeAccountID, environment: environment))
            remove(document.entries(IdToken.self, homeAccountID: homeAccountID, environment: environment))
            remove(document.entries(Account.self, homeAccountID: homeAccountID, environment: environment))
            return (change, !change.isEmpty)
        }
    }

    /// Removes every access token whose `expires_on` is before `now`, in one pass.
    /// Refresh tokens, accounts and app metadata are kept.
    @discardableResult
    public func removeExpiredAccessTokens(now: Int64) -> CacheChange {
        mutate { document in
            var change = CacheChange()
            change.removed = TokenCache.removeExpired(from: &document, now: now)
            return (change, !change.isEmpty)
        }
    }

    private static func removeExpired(from document: inout CacheDocument, now: Int64) -> [EntryReference] {
        document.accessTokens.removeAll { _, entry in
            guard let expiresOn = entry.value(FieldName.expiresOnField).flatMap(PythonText.int) else { return false }
            return expiresOn < now
        }.map { EntryReference(type: .accessToken, key: $0) }
    }

    /// Replaces a refresh token's secret after a refresh-token grant rotated it, as MSAL
    /// Python's `update_rt` does, under the key the token is stored under. Returns `false`
    /// (and changes nothing) when the token is gone, for example because another process
    /// signed the account out: a refresh never re-creates removed entries.
    @discardableResult
    public func updateRefreshToken(key: String, newSecret: String, now: Int64) -> Bool {
        mutate { document in
            guard var fields = document.refreshTokens[key]?.fields else { return (false, false) }
            fields[FieldName.secret] = .string(newSecret)
            fields[FieldName.lastModificationTime] = .string(String(now))
            document.withSection(.refreshToken) { $0.upsert(fields, forKey: key) }
            return (true, true)
        }
    }
}

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
        accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: false)
    }

    /// The same, with Azure Cloud Shell's accounts when `includeCloudShell`.
    ///
    /// The answer is kept until the Account section changes, so asking again (an app that
    /// lists its accounts on each request) costs a comparison, not a pass over every account.
    public func accounts(environment: String, aliases: [String], username: String?, includeCloudShell: Bool) -> [Account] {
        let question = AccountsQuestion(environment: environment, aliases: aliases, username: username, includeCloudShell: includeCloudShell)
        return read { document in
            answeredAccounts(question, revision: document.accounts.revision) {
                CacheQueries.accounts(environment: environment, aliases: aliases, username: username, includeCloudShell: includeCloudShell, in: document)
            }
        }
    }

    /// Removes the app's own access tokens of `clientID` in `environments` (see
    /// `TokenCacheStore.removeAppTokens(clientID:environments:)`).
    @discardableResult
    public func removeAppTokens(clientID: String, environments: [String]) -> CacheChange {
        mutate { document in
            var change = CacheChange()
            for reference in CacheQueries.appTokens(clientID: clientID, environments: environments, in: document)
            where document.withSection(reference.type, { $0.remove(forKey: reference.key) }) {
                change.removed.append(reference)
            }
            return (change, !change.isEmpty)
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
        mutate { document in
            var change = CacheChange()
            let owned = CacheQueries.accountEntries(homeAccountID: homeAccountID, environment: environment, clientID: clientID, in: document)
            for reference in owned {
                let removed = document.withSection(reference.type) { $0.remove(forKey: reference.key) }
                if removed { change.removed.append(reference) }
            }
            if document.accessTokens.count > 0 {
                change.removed += TokenCache.removeExpired(from: &document, now: now)
            }
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
        }.map { EntryReference(type: .accessToken, key: $0.string) }
    }

    /// Replaces a refresh token's secret after a refresh-token grant rotated it, as MSAL
    /// Python's `update_rt` does, under the key the token is stored under. Returns `false`
    /// (and changes nothing) when the token is gone, for example because another process
    /// signed the account out: a refresh never re-creates removed entries.
    @discardableResult
    public func updateRefreshToken(key: String, newSecret: String, now: Int64) -> Bool {
        mutate { document in
            guard var fields = document.refreshTokens[key]?.fields else { return (false, false) }
            RefreshResult.rotate(&fields, secret: newSecret, now: now)
            document.withSection(.refreshToken) { $0.upsert(fields, forKey: key) }
            return (true, true)
        }
    }
}

extension TokenCache {
    /// Saves the result of a refresh-token grant, update-only: the refresh token that was
    /// used gets the new secret (when the server rotated it), and the access and ID tokens
    /// are added, but only if that refresh token still exists. No Account entry is ever
    /// created, so a refresh racing a sign-out never brings the account back.
    ///
    /// - Parameters:
    ///   - response: The token endpoint's response to the refresh-token grant.
    ///   - context: Its request; account creation is always skipped.
    ///   - refreshTokenKey: The key of the refresh token the request used.
    public func saveRefreshResult(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws(TokenCacheError) -> RefreshSaveOutcome {
        let result = try RefreshResult(response: response, context: context, refreshTokenKey: refreshTokenKey)
        return mutate { document in
            let outcome = result.save(used: document.refreshTokens[refreshTokenKey]?.fields) { type, key, fields in
                document.withSection(type) { $0.upsert(fields, forKey: key) }
            }
            return (outcome, outcome != .accountRemoved)
        }
    }
}

/// How a refresh-token grant's response is saved, by every store: update-only, without
/// creating an account, and with the rotated refresh token applied to the one that was used
/// rather than added anew.
package struct RefreshResult {
    /// The entries to add: the response without its refresh token, and no account.
    let entries: [(CredentialType, JSONObject)]
    /// The rotated refresh token's secret, if the server sent one.
    let rotated: String?
    let refreshTokenKey: String
    let now: Int64

    /// Works out what saving `response` writes.
    ///
    /// - Throws: ``TokenCacheError`` when the response is unusable.
    package init(response: JSONObject, context: TokenResponseContext, refreshTokenKey: String) throws(TokenCacheError) {
        var update = context
        update.skipAccountCreation = true
        var trimmed = response
        rotated = trimmed.removeValue(forKey: "refresh_token")?.stringValue
        entries = try TokenResponseEntries.make(response: trimmed, context: update)
        self.refreshTokenKey = refreshTokenKey
        now = context.now
    }

    /// Saves through `write` (an upsert of one entry under its key), given the fields of
    /// the refresh token that was used as the store holds them now, or `nil` when it is gone:
    /// then nothing is written.
    package func save<E: Error>(used: JSONObject?, _ write: (CredentialType, String, JSONObject) throws(E) -> Void) throws(E) -> RefreshSaveOutcome {
        guard var used else { return .accountRemoved }
        var change = try TokenResponseEntries.write(entries, write)
        if let rotated {
            RefreshResult.rotate(&used, secret: rotated, now: now)
            try write(.refreshToken, refreshTokenKey, used)
            change.written.append(EntryReference(type: .refreshToken, key: refreshTokenKey))
        }
        return .saved(change)
    }

    /// Gives a refresh token's fields a rotated secret, as MSAL Python's `update_rt` does.
    package static func rotate(_ fields: inout JSONObject, secret: String, now: Int64) {
        fields[FieldName.secret] = .string(secret)
        fields[FieldName.lastModificationTime] = .string(String(now))
    }
}

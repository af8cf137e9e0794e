public import Foundation
public import TokenCache

/// One step of a differential scenario, run both by MSAL Python (through
/// `Tests/Interop/msal_oracle.py`) and by this library.
public enum ScenarioOp {
    case add(response: JSONObject, context: TokenResponseContext)
    case serialize
    case reload
    case lookup(clientID: String, authority: String, scopes: [String], homeAccountID: String?, data: [String: String], now: Int64)
    case refreshCandidates(clientID: String, authority: String, scopes: [String], homeAccountID: String, now: Int64)
    case accounts(clientID: String, authority: String)
    case removeAccount(clientID: String, authority: String, homeAccountID: String, now: Int64)

    /// The op as the oracle reads it.
    public func oracleJSON() throws -> JSONValue {
        func strings(_ list: [String]) -> JSONValue { .array(list.map(JSONValue.string)) }
        switch self {
        case .add(let response, let context):
            var event: JSONObject = [
                "client_id": .string(context.clientID),
                "request_scope": strings(context.requestedScopes),
                "token_endpoint": .string(context.tokenEndpoint),
                "grant_type": context.grantType.map(JSONValue.string) ?? .null,
                "data": .object(JSONObject(sortedStrings: context.requestData)),
                "response": .object(response),
            ]
            if let environment = context.environment { event["environment"] = .string(environment) }
            if context.skipAccountCreation { event["skip_account_creation"] = .bool(true) }
            return .object(["op": "add", "now": .number(JSONNumber(context.now)), "event": .object(event)])
        case .serialize:
            return .object(["op": "serialize"])
        case .reload:
            return .object(["op": "reload"])
        case .lookup(let clientID, let authority, let scopes, let hid, let data, let now):
            let endpoint = try TokenEndpoint(authority)
            return .object([
                "op": "lookup", "client_id": .string(clientID), "authority": .string(authority), "scopes": strings(scopes),
                "home_account_id": hid.map(JSONValue.string) ?? .null, "environment": .string(endpoint.host),
                "data": .object(JSONObject(sortedStrings: data)), "now": .number(JSONNumber(now)),
            ])
        case .refreshCandidates(let clientID, let authority, let scopes, let hid, let now):
            let endpoint = try TokenEndpoint(authority)
            return .object([
                "op": "refresh_candidates", "client_id": .string(clientID), "authority": .string(authority), "scopes": strings(scopes),
                "home_account_id": .string(hid), "environment": .string(endpoint.host), "now": .number(JSONNumber(now)),
            ])
        case .accounts(let clientID, let authority):
            return .object(["op": "accounts", "client_id": .string(clientID), "authority": .string(authority)])
        case .removeAccount(let clientID, let authority, let hid, let now):
            let endpoint = try TokenEndpoint(authority)
            return .object([
                "op": "remove_account", "client_id": .string(clientID), "authority": .string(authority),
                "home_account_id": .string(hid), "environment": .string(endpoint.host), "now": .number(JSONNumber(now)),
            ])
        }
    }

    /// Runs the op on a store and returns the result in the oracle's terms. `reopen` gives
    /// a fresh instance of the store on the same data, for the `reload` op.
    public func run(on store: inout any TokenCacheStore, reopen: (any TokenCacheStore) throws -> any TokenCacheStore) throws -> JSONValue {
        switch self {
        case .add(let response, let context):
            try store.add(response: response, context: context)
            return .null
        case .serialize:
            return .string(String(decoding: try store.snapshot().serialize(), as: UTF8.self))
        case .reload:
            store = try reopen(store)
            return .null
        case .lookup(let clientID, let authority, let scopes, let hid, let data, let now):
            let endpoint = try TokenEndpoint(authority)
            let query = AccessTokenQuery(clientID: clientID, environment: endpoint.host, realm: endpoint.tenant, homeAccountID: hid, scopes: scopes, keyID: data["key_id"], requestData: data, now: now)
            switch try store.lookupAccessToken(query) {
            case .hit(let token): return .object(["result": "hit", "secret": .string(token.secret ?? "")])
            case .refreshDue(let token): return .object(["result": "refresh_due", "secret": .string(token.secret ?? "")])
            case .miss: return .object(["result": "miss", "secret": .null])
            }
        case .refreshCandidates(let clientID, let authority, _, let hid, _):
            let endpoint = try TokenEndpoint(authority)
            return .array(try store.refreshTokenCandidates(clientID: clientID, environment: endpoint.host, homeAccountID: hid).map { .string($0.secret ?? "") })
        case .accounts(_, let authority):
            let endpoint = try TokenEndpoint(authority)
            return .array(try store.accounts(environment: endpoint.host).map { $0.homeAccountID.map(JSONValue.string) ?? .null })
        case .removeAccount(let clientID, let authority, let hid, let now):
            let endpoint = try TokenEndpoint(authority)
            try store.removeAccount(homeAccountID: hid, environment: endpoint.host, clientID: clientID, now: now)
            return .null
        }
    }

    /// A short name for messages.
    public var label: String {
        switch self {
        case .add: return "add"
        case .serialize: return "serialize"
        case .reload: return "reload"
        case .lookup: return "lookup"
        case .refreshCandidates: return "refresh candidates"
        case .accounts: return "accounts"
        case .removeAccount: return "remove account"
        }
    }
}

extension JSONObject {
    /// An object of `strings`, its names sorted.
    public init(sortedStrings: [String: String]) {
        self.init()
        for key in sortedStrings.keys.sorted() { self[key] = .string(sortedStrings[key]!) }
    }
}

/// Runs scenarios through MSAL Python and returns, per cache, the result of each op.
public enum Oracle {
    /// The oracle's results for `caches`, each started from `initialFiles` when given.
    public static func run(_ caches: [[ScenarioOp]], initialFiles: [String?]? = nil) throws -> [[JSONValue]] {
        try withTemporaryDirectory { folder in
            var specs: [JSONValue] = []
            for (index, ops) in caches.enumerated() {
                var spec: JSONObject = ["ops": .array(try ops.map { try $0.oracleJSON() })]
                if let initial = initialFiles?[index] { spec["initial"] = .string(initial) }
                specs.append(.object(spec))
            }
            let scenario = folder.appendingPathComponent("scenario.json")
            let result = folder.appendingPathComponent("result.json")
            try Data(JSONValue.object(["caches": .array(specs)]).pythonJSONText.utf8).write(to: scenario)
            try PythonPeer.run([PythonPeer.script("msal_oracle.py"), scenario.path, result.path])
            let parsed = try JSONValue(parsing: try Data(contentsOf: result))
            guard case .array(let perCache)? = parsed.objectValue?["results"] else { throw PeerError(message: "the oracle wrote no results") }
            return perCache.map { value in
                if case .array(let ops) = value { return ops }
                return []
            }
        }
    }
}

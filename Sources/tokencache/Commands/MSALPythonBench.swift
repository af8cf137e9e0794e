import Foundation
import TokenCache

/// `bench --store SPEC --compare-msal-python`: MSAL Python's `acquire_token_silent` (and
/// `acquire_token_for_client` for app tokens) on a copy of the same cache, in the same run,
/// with discovery answered locally and every token request refused, so that nothing leaves
/// the machine. The copy lives in a private temporary folder and is deleted afterwards.
enum MSALPythonBench {
    /// What MSAL Python measured.
    struct Result: Encodable {
        let python: String
        let loadMilliseconds: Double
        let lookupMedianMicroseconds: Double
        let calls: Int
    }

    /// The interpreter: `MSAL_PYTHON`, else the project's `.venv/bin/python` in the current
    /// folder, else `python3` on the `PATH`.
    static func interpreter() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let chosen = environment["MSAL_PYTHON"], !chosen.isEmpty { return chosen }
        let venv = FileManager.default.currentDirectoryPath + "/.venv/bin/python"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }

    /// Runs MSAL Python on `cache` with `queries` (at most 200 of them are asked).
    static func run(_ cache: TokenCache, queries: [AccessTokenQuery]) throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokencache-bench-msal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }
        let copy = folder.appendingPathComponent("cache.json").path
        let sample = (0..<min(200, queries.count)).map { _ in queries[Int.random(in: 0..<queries.count)] }
        let asks: [JSONValue] = sample.map { query in
            .object(["client_id": .string(query.clientID), "authority": .string("https://\(query.environment)/\(query.realm)"),
                     "environment": .string(query.environment), "home_account_id": query.homeAccountID.map(JSONValue.string) ?? .null,
                     "scope": .string(query.scopes.first ?? "")])
        }
        guard FileManager.default.createFile(atPath: copy, contents: Data(try cache.serialize()), attributes: [.posixPermissions: 0o600]),
              FileManager.default.createFile(atPath: folder.appendingPathComponent("asks.json").path, contents: Data(JSONValue.array(asks).pythonJSONText.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw InputFileError(path: folder.path, missing: false, reason: "the copy for MSAL Python could not be written. Check the temporary folder (TMPDIR)")
        }
        let python = interpreter()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", script, copy, folder.appendingPathComponent("asks.json").path]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let answer = output.fileHandleForReading.readDataToEndOfFile()
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let object = (try? JSONValue(parsing: answer))?.objectValue,
              case .number(let load)? = object["load_s"], case .number(let median)? = object["median_s"], case .number(let calls)? = object["calls"],
              let loadSeconds = load.doubleValue, let medianSeconds = median.doubleValue, let callCount = calls.int64Value else {
            let reason = complaint.contains("No module named") ? "MSAL Python is not installed for \(python): pip install msal, or set MSAL_PYTHON"
                : "MSAL Python's run failed (\(oneLine(String(complaint.suffix(300)))))"
            throw MSALPythonUnavailable(reason: reason)
        }
        return Result(python: python, loadMilliseconds: loadSeconds * 1e3, lookupMedianMicroseconds: medianSeconds * 1e6, calls: Int(callCount))
    }

    /// The Python side: load the copy, then time each ask; discovery is answered locally
    /// and token requests are refused (an expired token's refresh fails at once).
    static let script = """
    import json, sys, time
    import msal

    class Answer:
        def __init__(self, status, body):
            self.status_code, self.text, self.headers = status, json.dumps(body), {}
        def raise_for_status(self):
            pass

    class Local:
        def get(self, url, params=None, headers=None, **kwargs):
            base = url.split("/v2.0/.well-known/")[0].split("/.well-known/")[0]
            return Answer(200, {"authorization_endpoint": base + "/oauth2/v2.0/authorize",
                                "token_endpoint": base + "/oauth2/v2.0/token", "issuer": base + "/v2.0"})
        def post(self, url, params=None, data=None, headers=None, **kwargs):
            return Answer(400, {"error": "invalid_grant", "error_description": "refused by the benchmark"})
        def close(self):
            pass

    path, asks_path = sys.argv[1], sys.argv[2]
    with open(asks_path, encoding="utf-8") as handle:
        asks = json.load(handle)
    start = time.perf_counter()
    cache = msal.SerializableTokenCache()
    with open(path, encoding="utf-8") as handle:
        cache.deserialize(handle.read())
    load = time.perf_counter() - start
    apps, times = {}, []
    for ask in asks:
        key = (ask["client_id"], ask["authority"], ask["home_account_id"] is None)
        if key not in apps:
            common = dict(authority=ask["authority"], token_cache=cache, http_client=Local(), instance_discovery=False, validate_authority=False)
            apps[key] = (msal.ConfidentialClientApplication(ask["client_id"], client_credential="benchmark", **common)
                         if ask["home_account_id"] is None else msal.PublicClientApplication(ask["client_id"], **common))
        app = apps[key]
        start = time.perf_counter()
        if ask["home_account_id"] is None:
            app.acquire_token_for_client([ask["scope"]])
        else:
            app.acquire_token_silent([ask["scope"]], {"home_account_id": ask["home_account_id"], "environment": ask["environment"]})
        times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"load_s": load, "median_s": times[len(times) // 2] if times else 0.0, "calls": len(times)}))
    """
}

/// MSAL Python could not be run for the comparison: exit 69.
struct MSALPythonUnavailable: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

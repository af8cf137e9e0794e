public import Foundation

extension JSONValue {
    /// Parses JSON text as Python's `json.loads` would (and rejects lone surrogates).
    ///
    /// - Throws: ``TokenCacheError`` with code `malformedJSON` or `invalidEncoding`.
    public init(parsing bytes: some DataProtocol) throws(TokenCacheError) {
        do {
            self = try JSONParser.parse(bytes)
        } catch {
            throw TokenCacheError.syntax(error)
        }
    }

    /// The value as Python's `json.dumps(value, indent=4)` writes it.
    public var pythonJSONText: String {
        String(decoding: pythonJSONBytes, as: UTF8.self)
    }

    /// The value as Python's `json.dumps(value)` writes it: one line, `", "` and `": "`
    /// between items (how MSAL Python writes a `claims` parameter).
    public var pythonCompactJSONText: String {
        var writer = PythonJSONWriter(indented: false)
        writer.write(self)
        return String(decoding: writer.output, as: UTF8.self)
    }
}

extension JSONValue {
    /// Parses JSON text held in memory the caller owns (a database column).
    package init(parsingRaw bytes: UnsafeRawBufferPointer) throws(TokenCacheError) {
        do {
            self = try JSONParser.parse(bytes)
        } catch {
            throw TokenCacheError.syntax(error)
        }
    }

    /// The value as Python's `json.dumps(value, indent=4)` writes it, as UTF-8 bytes.
    package var pythonJSONBytes: [UInt8] {
        var writer = PythonJSONWriter()
        writer.write(self)
        return writer.output
    }
}

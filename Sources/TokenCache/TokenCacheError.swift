/// The error thrown by the TokenCache module.
///
/// Every message names the cache (when it has a location), says what is wrong and what to
/// do about it, and never contains a token, key or other secret.
///
/// ## Topics
/// ### Codes
/// - ``Code-swift.struct``
public struct TokenCacheError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is. New codes may be added; match the ones you handle.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable {
            case malformedJSON
            case invalidEncoding
            case invalidSchema
            case invalidResponse
            case invalidArgument
        }

        let storage: Storage

        /// The cache text is not JSON that MSAL Python can read (syntax, BOM, truncation,
        /// trailing data).
        public static let malformedJSON = Code(storage: .malformedJSON)
        /// The cache text is not valid UTF-8, or has a character that cannot be kept.
        public static let invalidEncoding = Code(storage: .invalidEncoding)
        /// The JSON parses but breaks the MSAL cache schema (wrong top-level type, a section
        /// or entry that is not an object, a field of the wrong type).
        public static let invalidSchema = Code(storage: .invalidSchema)
        /// A token endpoint response is unusable (not an object, a field of the wrong type,
        /// an undecodable `id_token` or `client_info`).
        public static let invalidResponse = Code(storage: .invalidResponse)
        /// An argument passed to the API is invalid (for example an authority that is not an
        /// `https` URL with a tenant).
        public static let invalidArgument = Code(storage: .invalidArgument)

        public var description: String {
            switch storage {
            case .malformedJSON: return "malformed JSON"
            case .invalidEncoding: return "invalid encoding"
            case .invalidSchema: return "invalid cache schema"
            case .invalidResponse: return "invalid token response"
            case .invalidArgument: return "invalid argument"
            }
        }
    }

    /// The kind of problem.
    public let code: Code
    /// What is wrong, in one sentence, without secrets.
    public let reason: String
    /// Where the problem is: a file path or store location, when known.
    public var location: String?
    /// The byte offset of a syntax problem, when known.
    public var byteOffset: Int?

    /// Creates an error.
    public init(code: Code, reason: String, location: String? = nil, byteOffset: Int? = nil) {
        self.code = code
        self.reason = reason
        self.location = location
        self.byteOffset = byteOffset
    }

    /// Returns the same error attributed to `location`.
    public func at(_ location: String) -> TokenCacheError {
        var copy = self
        copy.location = location
        return copy
    }

    /// What to do about it.
    public var recoverySuggestion: String {
        switch code.storage {
        case .malformedJSON, .invalidEncoding, .invalidSchema:
            return "Nothing was changed. Restore the file from a backup, or move it aside to start with an empty cache (signing in again)."
        case .invalidResponse:
            return "Nothing was added to the cache. Check that the response is the token endpoint's JSON body."
        case .invalidArgument:
            return "Correct the argument and try again."
        }
    }

    public var description: String {
        let prefix = location.map { "\($0): " } ?? ""
        return "\(prefix)\(code): \(reason). \(recoverySuggestion)"
    }

    static func syntax(_ error: JSONSyntaxError) -> TokenCacheError {
        switch error.kind {
        case .invalidUTF8, .unpairedSurrogate:
            return TokenCacheError(code: .invalidEncoding, reason: error.reason, byteOffset: error.offset)
        default:
            return TokenCacheError(code: .malformedJSON, reason: error.reason, byteOffset: error.offset)
        }
    }
}

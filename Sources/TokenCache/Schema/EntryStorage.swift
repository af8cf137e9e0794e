import Foundation

/// The bytes of a loaded cache file, shared by the entries that were stored in it
/// verbatim.
final class SourceText: Sendable {
    let data: Data

    init(_ data: Data) {
        self.data = data
    }

    func withBytes<T>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        data.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
}

/// How a cache entry is held: either as a parsed object, or as its exact text in the file
/// it was loaded from plus the few fields that queries read.
///
/// Entries loaded from a file MSAL Python (or this library) wrote stay as text: loading
/// decodes only the fields in ``EntryStorage/summaryFields``, saving copies the text back
/// unchanged, and the secret is decoded only when asked for.
public struct EntryStorage: Sendable {
    enum Body: Sendable {
        case object(JSONObject)
        case text(SourceText, range: Range<Int>, secret: Range<Int>?)
    }

    let body: Body
    /// The fields queries read: every field for a parsed entry, those in
    /// ``summaryFields`` that are present for a text entry.
    let summary: JSONObject

    /// The fields a text entry keeps decoded.
    static let summaryFields: Set<String> = [
        FieldName.homeAccountID, FieldName.environment, FieldName.clientID, FieldName.realm, FieldName.target,
        FieldName.expiresOn, FieldName.refreshOn, FieldName.keyID, FieldName.extCacheKey, FieldName.familyID,
        FieldName.lastModificationTime, FieldName.localAccountID, FieldName.username, FieldName.authorityType,
        FieldName.accountSource,
    ]

    /// Holds a parsed entry.
    public init(fields: JSONObject) {
        body = .object(fields)
        summary = fields
    }

    init(text: SourceText, range: Range<Int>, secret: Range<Int>?, summary: JSONObject) {
        body = .text(text, range: range, secret: secret)
        self.summary = summary
    }

    /// All of the entry's fields, in file order. For a text entry this parses the text.
    public var fields: JSONObject {
        switch body {
        case .object(let fields):
            return fields
        case .text(let source, let range, _):
            let parsed = source.withBytes(range) { try? JSONParser.parse($0) }
            return parsed?.objectValue ?? JSONObject()
        }
    }

    /// One field's value, reading the summary when it has the field's name.
    func field(_ name: String) -> JSONValue? {
        if case .text = body, !EntryStorage.summaryFields.contains(name), name != FieldName.secret {
            return fields[name]
        }
        if name == FieldName.secret { return secretValue }
        return summary[name]
    }

    /// The `secret` field, decoded on demand for a text entry.
    var secretValue: JSONValue? {
        switch body {
        case .object(let fields):
            return fields[FieldName.secret]
        case .text(let source, _, let secret):
            guard let secret else { return nil }
            return source.withBytes(secret) { try? JSONParser.parse($0) }
        }
    }

    /// The exact text to write for a text entry.
    var text: (SourceText, Range<Int>)? {
        if case .text(let source, let range, _) = body { return (source, range) }
        return nil
    }
}

extension EntryStorage: Hashable {
    public static func == (lhs: EntryStorage, rhs: EntryStorage) -> Bool { lhs.fields == rhs.fields }
    public func hash(into hasher: inout Hasher) { hasher.combine(fields) }
}

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
/// decodes only the fields in `EntryStorage.summaryFields`, saving copies the text back
/// unchanged, and the secret is decoded only when asked for.
public struct EntryStorage: @unchecked Sendable {
    // @unchecked: `box` is a ManagedBuffer (never Sendable by declaration) that is fully
    // initialized in `Box.make` and never mutated afterwards.
    enum Body: Sendable {
        case object(JSONObject)
        case text(SourceText, range: Range<Int>, secret: Range<Int>?)
    }

    /// A decoded field of a text entry.
    struct SummaryField: Sendable {
        let ordinal: UInt8
        let value: JSONValue
    }

    struct Header {
        let body: Body
        let summaryCount: Int
    }

    /// One allocation shared by the section and its indexes: the body, followed in the
    /// same block by a text entry's summary (the fields queries read).
    private final class Box: ManagedBuffer<Header, SummaryField> {
        static func make(body: Body, summary: [SummaryField]) -> Box {
            let buffer = Box.create(minimumCapacity: summary.count) { _ in Header(body: body, summaryCount: summary.count) }
            buffer.withUnsafeMutablePointerToElements { elements in
                for (index, field) in summary.enumerated() { (elements + index).initialize(to: field) }
            }
            return unsafeDowncast(buffer, to: Box.self)
        }

        deinit {
            _ = withUnsafeMutablePointers { header, elements in elements.deinitialize(count: header.pointee.summaryCount) }
        }
    }

    private let box: Box

    var body: Body { box.header.body }

    /// Holds a parsed entry.
    public init(fields: JSONObject) {
        box = Box.make(body: .object(fields), summary: [])
    }

    init(text: SourceText, range: Range<Int>, secret: Range<Int>?, summary: [SummaryField]) {
        box = Box.make(body: .text(text, range: range, secret: secret), summary: summary)
    }

    /// The value of a field queries read; `field` must be one of the summarised fields.
    @inline(__always)
    func value(_ field: FieldName.Info) -> JSONValue? {
        box.withUnsafeMutablePointers { header, elements in
            switch header.pointee.body {
            case .object(let fields):
                return fields[field.name]
            case .text:
                for index in 0..<header.pointee.summaryCount where elements[index].ordinal == field.ordinal {
                    return elements[index].value
                }
                return nil
            }
        }
    }

    /// The string value of a field queries read.
    @inline(__always)
    func string(_ field: FieldName.Info) -> String? {
        if case .string(let text)? = value(field) { return text }
        return nil
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

    /// One field's value, from the summary when the field is summarised.
    func field(_ name: String) -> JSONValue? {
        guard case .text = body else { return fields[name] }
        if name == FieldName.secret { return secretValue }
        if let info = FieldName.info(named: name), info.isSummarised { return value(info) }
        return fields[name]
    }

    /// The `secret` field, decoded on demand for a text entry.
    var secretValue: JSONValue? {
        switch body {
        case .object(let fields):
            return fields[FieldName.secret]
        case .text(let source, _, let secret):
            guard let secret else { return nil }
            return source.withBytes(secret) { quoted in
                // Canonical text without a backslash is the string's printable ASCII itself.
                let inner = UnsafeRawBufferPointer(rebasing: quoted.dropFirst().dropLast())
                if !inner.contains(UInt8(ascii: "\\")) { return .string(String(decoding: inner, as: UTF8.self)) }
                return try? JSONParser.parse(quoted)
            }
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

extension EntryStorage: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The entry's fields with its `secret` shown as `<redacted>`: printing, dumping or
    /// inspecting an entry in a debugger never shows a token.
    public var description: String {
        var shown = fields
        if shown[FieldName.secret] != nil { shown[FieldName.secret] = .string(Redaction.placeholder) }
        return JSONValue.object(shown).pythonJSONText
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror { Mirror(self, children: ["fields": description], displayStyle: .struct) }
}

/// How secrets are shown where a value is printed, dumped or inspected.
package enum Redaction {
    /// What stands in place of a secret.
    package static let placeholder = "<redacted>"
}

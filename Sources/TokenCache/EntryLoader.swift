import OrderedCollections
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns the entries of a parsed cache into stored entries: text written exactly as MSAL
/// Python writes it is kept as a slice of the file with a small decoded summary; anything
/// else is parsed in full. Either way the schema rules are checked.
struct EntryLoader {
    let source: SourceText?
    let bytes: UnsafeRawBufferPointer
    /// The last value seen for each shared field: consecutive entries usually repeat it,
    /// and then share one string.
    private var lastShared = [(text: Range<Int>, value: JSONValue)?](repeating: nil, count: FieldName.table.count)
    /// The summary being built, reused from entry to entry.
    private var summary: [EntryStorage.SummaryField] = []

    init(source: SourceText?, bytes: UnsafeRawBufferPointer) {
        self.source = source
        self.bytes = bytes
    }

    /// The key `entry`, named `name`, is stored under: a slice of the source when the name
    /// is plain text there and the entry is held as text too (a parsed entry must not keep
    /// the file alive for its key alone).
    func key(_ name: JSONParser.EntryName, for entry: EntryStorage) -> EntryKey {
        switch name {
        case .plain(let range):
            guard let source, entry.text != nil else { return EntryKey(name.string(in: bytes)) }
            return EntryKey(text: source, range: range)
        case .decoded(let string):
            return EntryKey(string)
        }
    }

    mutating func load(_ entry: JSONParser.ParsedEntry, type: CredentialType, key: JSONParser.EntryName) throws(TokenCacheError) -> EntryStorage {
        switch entry {
        case .value(let value):
            guard case .object(let fields) = value else {
                throw TokenCacheError(code: .invalidSchema, reason: "entry \"\(key.string(in: bytes))\" in section \"\(type)\" is \(value.typeName), but it must be an object")
            }
            try SchemaRules.check(fields, type: type, key: key.string(in: bytes))
            return EntryStorage(fields: fields)
        case .stored(let entry):
            return entry
        }
    }

    /// The first schema error met while summarising during the parse.
    private(set) var failure: TokenCacheError?

    /// The summariser the parser calls for canonical entries: a stored entry, `nil` for a
    /// full parse, or a stop after recording a schema error in ``failure``.
    mutating func summarize(section: String, key: JSONParser.EntryName, range: Range<Int>, members: [CanonicalEntryScanner.Member]) throws(JSONSyntaxError) -> EntryStorage? {
        guard let source else { return nil }
        do {
            return try summarize(range: range, members: members, source: source, type: CredentialType(rawValue: section), key: key)
        } catch {
            failure = error
            throw JSONSyntaxError(kind: .stopped, offset: range.lowerBound)
        }
    }

    /// Decodes the checked and summarised fields of a canonical entry; `nil` when one of
    /// them holds a container, so that the full parse reports it.
    private mutating func summarize(range: Range<Int>, members: [CanonicalEntryScanner.Member], source: SourceText, type: CredentialType, key: JSONParser.EntryName) throws(TokenCacheError) -> EntryStorage? {
        summary.removeAll(keepingCapacity: true)
        var secret: Range<Int>?
        var expiresOn: JSONValue?
        var target: JSONValue?
        for member in members {
            let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[(member.name.lowerBound + 1)..<(member.name.upperBound - 1)])
            guard let info = FieldName.info(nameBytes) else { continue }
            if info.name == FieldName.secret {
                guard member.kind == .string else { return nil }
                secret = member.value
                continue
            }
            guard info.isString || info.isTime else { continue }
            let value: JSONValue
            if info.isShared, let previous = lastShared[info.ordinal], sameBytes(previous.text, member.value) {
                // The same text as the previous entry's: share its string, decode nothing.
                value = previous.value
            } else {
                guard let decoded = decodeScalar(member) else { return nil }
                value = decoded
                if info.isShared { lastShared[info.ordinal] = (member.value, decoded) }
            }
            try SchemaRules.checkField(info.name, value, isString: info.isString, isTime: info.isTime, type: type, key: key.string(in: bytes))
            if info.name == FieldName.expiresOn { expiresOn = value }
            if info.name == FieldName.target { target = value }
            guard info.isSummarised else { continue }
            summary.append(EntryStorage.SummaryField(ordinal: UInt8(info.ordinal), value: value))
        }
        try SchemaRules.checkEntry(type: type, key: key.string(in: bytes), expiresOn: expiresOn, target: target)
        return EntryStorage(text: source, range: range, secret: secret, summary: summary)
    }

    private func sameBytes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        a.count == b.count && memcmp(bytes.baseAddress! + a.lowerBound, bytes.baseAddress! + b.lowerBound, a.count) == 0
    }

    private func decodeString(_ range: Range<Int>) -> String {
        let inner = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
        if !inner.contains(UInt8(ascii: "\\")) {
            // Canonical text without escapes is printable ASCII.
            return String(decoding: inner, as: UTF8.self)
        }
        return (try? JSONParser.parse(UnsafeRawBufferPointer(rebasing: bytes[range])))?.stringValue ?? ""
    }

    private func decodeScalar(_ member: CanonicalEntryScanner.Member) -> JSONValue? {
        switch member.kind {
        case .string:
            return .string(decodeString(member.value))
        case .integer:
            return .number(JSONNumber(integerText: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[member.value]), as: UTF8.self)))
        case .literal:
            switch bytes[member.value.lowerBound] {
            case UInt8(ascii: "t"): return .bool(true)
            case UInt8(ascii: "f"): return .bool(false)
            default: return .null
            }
        case .object, .array:
            return nil
        }
    }
}

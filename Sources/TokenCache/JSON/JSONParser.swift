import OrderedCollections

/// Why a JSON text could not be read, with the byte offset of the problem.
struct JSONSyntaxError: Error, Sendable {
    enum Kind: Sendable {
        case empty
        case byteOrderMark
        case invalidUTF8
        case unexpectedEnd
        case unexpectedCharacter(UInt8)
        case controlCharacterInString
        case invalidEscape
        case unpairedSurrogate
        case invalidNumber
        case trailingData
        case nestingTooDeep
        /// The caller stopped the parse (it records why).
        case stopped
    }

    let kind: Kind
    let offset: Int

    var reason: String {
        switch kind {
        case .empty: return "the text is only white space"
        case .byteOrderMark: return "it starts with a UTF-8 byte order mark, which MSAL Python rejects"
        case .invalidUTF8: return "it is not valid UTF-8 (byte \(offset))"
        case .unexpectedEnd: return "the JSON ends early, at byte \(offset); the file looks truncated"
        case .unexpectedCharacter(let byte):
            let shown = (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
            return "invalid JSON: unexpected \(shown) at byte \(offset)"
        case .controlCharacterInString: return "invalid JSON: a control character inside a string at byte \(offset)"
        case .invalidEscape: return "invalid JSON: a bad escape sequence at byte \(offset)"
        case .unpairedSurrogate: return "a \\u escape at byte \(offset) is half of a UTF-16 surrogate pair, which cannot be represented"
        case .invalidNumber: return "invalid JSON: a malformed number at byte \(offset)"
        case .trailingData: return "extra data after the JSON document at byte \(offset); the file may hold two writes run together"
        case .nestingTooDeep: return "the JSON nests deeper than \(JSONParser.maximumDepth) levels at byte \(offset)"
        case .stopped: return "reading stopped at byte \(offset)"
        }
    }
}

/// A strict JSON reader that accepts what Python's `json.loads` accepts (including `NaN`
/// and `Infinity`, and repeated member names) and nothing else.
struct JSONParser {
    static let maximumDepth = 512

    let bytes: UnsafeRawBufferPointer
    var position = 0
    private var scratch: [UInt8] = []

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Parses one whole JSON document.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        try parseWhole(bytes) { parser throws(JSONSyntaxError) in try parser.parseValue(depth: 0) }
    }

    /// Runs `body` on a parser positioned at the document's first value, then checks that
    /// nothing but white space follows. Errors report bad UTF-8 first, as Python does.
    private static func parseWhole<T>(_ bytes: UnsafeRawBufferPointer, _ body: (inout JSONParser) throws(JSONSyntaxError) -> T) throws(JSONSyntaxError) -> T {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw JSONSyntaxError(kind: .byteOrderMark, offset: 0)
        }
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        if parser.position == bytes.count {
            try parser.checkUTF8()
            throw JSONSyntaxError(kind: .empty, offset: 0)
        }
        do throws(JSONSyntaxError) {
            let value = try body(&parser)
            parser.skipWhitespace()
            if parser.position != bytes.count {
                throw JSONSyntaxError(kind: .trailingData, offset: parser.position)
            }
            return value
        } catch {
            try parser.checkUTF8()
            throw error
        }
    }

    /// A member of a document's top-level object. Object values come as their members in
    /// order (repeated names included), so a caller that indexes them hashes each name once.
    enum TopLevelMember {
        case object(name: String, members: [(EntryName, ParsedEntry)])
        case other(name: String, value: JSONValue)
    }

    /// The name of a member of a section as read: where it is in the text when it is
    /// printable ASCII without a quote or backslash (so the text is its UTF-8), or decoded.
    enum EntryName {
        case plain(Range<Int>)
        case decoded(String)

        /// The name as a string.
        func string(in bytes: UnsafeRawBufferPointer) -> String {
            switch self {
            case .plain(let range): return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            case .decoded(let string): return string
            }
        }
    }

    /// A member of a known section: parsed, or left as text written exactly as MSAL
    /// Python writes entries.
    enum ParsedEntry {
        case value(JSONValue)
        case stored(EntryStorage)
    }

    /// Turns canonical entry text (its range and members) of a known section into a
    /// stored entry; `nil` asks for a full parse instead.
    typealias EntrySummarizer = (_ section: String, _ key: EntryName, _ range: Range<Int>, _ members: [CanonicalEntryScanner.Member]) throws(JSONSyntaxError) -> EntryStorage?

    /// A parsed document: the members of a top-level object, or any other value.
    enum Document {
        case members([TopLevelMember])
        case value(JSONValue)
    }

    /// Parses a whole document, handing back a top-level object as its members; entries of
    /// known sections written in MSAL Python's exact layout go through `summarize`.
    static func parseDocument(_ bytes: UnsafeRawBufferPointer, summarize: EntrySummarizer) throws(JSONSyntaxError) -> Document {
        try parseWhole(bytes) { parser throws(JSONSyntaxError) in
            if parser.bytes[parser.position] == UInt8(ascii: "{") {
                return .members(try parser.parseTopLevelMembers(summarize: summarize))
            }
            return .value(try parser.parseValue(depth: 0))
        }
    }

    /// Parses a whole JSON document held in any byte collection.
    static func parse(_ bytes: some Collection<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        try withBytes(bytes) { buffer throws(JSONSyntaxError) in try parse(buffer) }
    }

    /// Runs `body` on the bytes of `collection`, copying them only when they are not
    /// contiguous.
    static func withBytes<T>(_ collection: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws(JSONSyntaxError) -> T) throws(JSONSyntaxError) -> T {
        let direct = collection.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONSyntaxError) -> T in try body(UnsafeRawBufferPointer(buffer)) }
        }
        if let direct { return try direct.get() }
        let copy = Array(collection)
        return try copy.withUnsafeBytes { buffer in
            Result { () throws(JSONSyntaxError) -> T in try body(buffer) }
        }.get()
    }

    private func checkUTF8() throws(JSONSyntaxError) {
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return
            case .error: throw JSONSyntaxError(kind: .invalidUTF8, offset: offset)
            }
        }
    }

    // MARK: - Values

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard position < bytes.count else { throw JSONSyntaxError(kind: .unexpectedEnd, offset: position) }
        switch bytes[position] {
        case UInt8(ascii: "{"): return .object(try parseObject(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try parseArray(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "N"): try expectLiteral("NaN"); return .number(JSONNumber(Double.nan))
        case UInt8(ascii: "I"): try expectLiteral("Infinity"); return .number(JSONNumber(Double.infinity))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case let byte: throw JSONSyntaxError(kind: .unexpectedCharacter(byte), offset: position)
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONObject {
        var members = OrderedDictionary<String, JSONValue>()
        try parseMembers(depth: depth) { parser, key throws(JSONSyntaxError) in members[key] = try parser.parseValue(depth: depth) }
        return JSONObject(storage: members)
    }

    private mutating func parseTopLevelMembers(summarize: EntrySummarizer) throws(JSONSyntaxError) -> [TopLevelMember] {
        var members: [TopLevelMember] = []
        var scratch: [CanonicalEntryScanner.Member] = []
        try parseMembers(depth: 1) { parser, name throws(JSONSyntaxError) in
            guard try parser.peek() == UInt8(ascii: "{") else {
                members.append(.other(name: name, value: try parser.parseValue(depth: 1)))
                return
            }
            let known = CacheDocument.isKnown(name)
            var entries: [(EntryName, ParsedEntry)] = []
            try parser.parseMembers(depth: 2, name: { parser throws(JSONSyntaxError) in try parser.parseEntryName() }) { parser, key throws(JSONSyntaxError) in
                if known, try parser.peek() == UInt8(ascii: "{"),
                   let end = CanonicalEntryScanner.scan(parser.bytes, at: parser.position, level: 2, members: &scratch),
                   let stored = try summarize(name, key, parser.position..<end, scratch) {
                    entries.append((key, .stored(stored)))
                    parser.position = end
                } else {
                    entries.append((key, .value(try parser.parseValue(depth: 2))))
                }
            }
            members.append(.object(name: name, members: entries))
        }
        return members
    }

    /// Parses the object at `position`, handing each member's name to `handle`, which
    /// must consume the member's value (the parser is positioned at it).
    @inline(__always)
    private mutating func parseMembers(depth: Int, _ handle: (inout JSONParser, String) throws(JSONSyntaxError) -> Void) throws(JSONSyntaxError) {
        try parseMembers(depth: depth, name: { parser throws(JSONSyntaxError) in try parser.parseString(interning: true) }, handle)
    }

    /// The same, reading each name with `name`.
    @inline(__always)
    private mutating func parseMembers<Name>(depth: Int, name: (inout JSONParser) throws(JSONSyntaxError) -> Name,
                                             _ handle: (inout JSONParser, Name) throws(JSONSyntaxError) -> Void) throws(JSONSyntaxError) {
        guard depth <= JSONParser.maximumDepth else { throw JSONSyntaxError(kind: .nestingTooDeep, offset: position) }
        position += 1
        skipWhitespace()
        if try peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            guard try peek() == UInt8(ascii: "\"") else {
                throw JSONSyntaxError(kind: .unexpectedCharacter(bytes[position]), offset: position)
            }
            let key = try name(&self)
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else {
                throw JSONSyntaxError(kind: .unexpectedCharacter(bytes[position]), offset: position)
            }
            position += 1
            skipWhitespace()
            try handle(&self, key)
            skipWhitespace()
            let next = try peek()
            position += 1
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "}") { return }
            throw JSONSyntaxError(kind: .unexpectedCharacter(next), offset: position - 1)
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> [JSONValue] {
        guard depth <= JSONParser.maximumDepth else { throw JSONSyntaxError(kind: .nestingTooDeep, offset: position) }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if try peek() == UInt8(ascii: "]") {
            position += 1
            return elements
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            let next = try peek()
            position += 1
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "]") { return elements }
            throw JSONSyntaxError(kind: .unexpectedCharacter(next), offset: position - 1)
        }
    }

    // MARK: - Strings

    /// Reads an entry's name: its place in the text when it is plain, else decoded.
    private mutating func parseEntryName() throws(JSONSyntaxError) -> EntryName {
        let start = position + 1
        let plain = PlainText.prefix(bytes, from: start)
        if start + plain < bytes.count, bytes[start + plain] == UInt8(ascii: "\"") {
            position = start + plain + 1
            return .plain(start..<(start + plain))
        }
        return .decoded(try parseString())
    }

    private mutating func parseString(interning: Bool = false) throws(JSONSyntaxError) -> String {
        position += 1
        let start = position
        var sawNonASCII = false
        // Fast path: no escapes. Skip eight plain ASCII bytes at a time.
        while position < bytes.count {
            while position + 8 <= bytes.count {
                let word = bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
                if JSONParser.hasSpecialByte(word) { break }
                position += 8
            }
            guard position < bytes.count else { break }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let run = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
                position += 1
                if interning, !sawNonASCII, let known = FieldName.intern(run) { return known }
                return try makeString(run, nonASCII: sawNonASCII, offset: start)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw JSONSyntaxError(kind: .controlCharacterInString, offset: position) }
            if byte >= 0x80 { sawNonASCII = true }
            position += 1
        }
        guard position < bytes.count else { throw JSONSyntaxError(kind: .unexpectedEnd, offset: position) }
        // Slow path: copy the run so far, then decode escapes.
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<position]))
        while true {
            guard position < bytes.count else { throw JSONSyntaxError(kind: .unexpectedEnd, offset: position) }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let string = String(validating: scratch, as: UTF8.self) else {
                    throw JSONSyntaxError(kind: .invalidUTF8, offset: start)
                }
                return string
            case UInt8(ascii: "\\"):
                try parseEscape()
            case 0..<0x20:
                throw JSONSyntaxError(kind: .controlCharacterInString, offset: position)
            default:
                scratch.append(byte)
                position += 1
            }
        }
    }

    /// Whether any byte of `word` is a quote, a backslash, a control character or non-ASCII
    /// (the SWAR "has byte" tests).
    @inline(__always)
    static func hasSpecialByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let hasQuote = (quote &- ones) & ~quote & highs
        let hasBackslash = (backslash &- ones) & ~backslash & highs
        let hasControl = (word &- ones &* 0x20) & ~word & highs
        return (hasQuote | hasBackslash | hasControl | (word & highs)) != 0
    }

    private func makeString(_ run: UnsafeRawBufferPointer, nonASCII: Bool, offset: Int) throws(JSONSyntaxError) -> String {
        let utf8 = run.bindMemory(to: UInt8.self)
        if !nonASCII { return String(decoding: utf8, as: UTF8.self) }
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw JSONSyntaxError(kind: .invalidUTF8, offset: offset)
        }
        return string
    }

    private mutating func parseEscape() throws(JSONSyntaxError) {
        let escapeStart = position
        position += 1
        guard position < bytes.count else { throw JSONSyntaxError(kind: .unexpectedEnd, offset: position) }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""): scratch.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): scratch.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "/"): scratch.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var code = try parseHex4()
            if (0xD800...0xDBFF).contains(code) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                    throw JSONSyntaxError(kind: .unpairedSurrogate, offset: escapeStart)
                }
                position += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw JSONSyntaxError(kind: .unpairedSurrogate, offset: escapeStart)
                }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(code) {
                throw JSONSyntaxError(kind: .unpairedSurrogate, offset: escapeStart)
            }
            let scalar = Unicode.Scalar(code)!
            scratch.append(contentsOf: UTF8.encode(scalar)!)
        default:
            throw JSONSyntaxError(kind: .invalidEscape, offset: escapeStart)
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw JSONSyntaxError(kind: .unexpectedEnd, offset: bytes.count) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JSONSyntaxError(kind: .invalidEscape, offset: position)
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    // MARK: - Numbers and literals

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONNumber {
        let start = position
        if bytes[position] == UInt8(ascii: "-") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "I") {
                try expectLiteral("Infinity")
                return JSONNumber(-Double.infinity)
            }
        }
        guard position < bytes.count else { throw JSONSyntaxError(kind: .unexpectedEnd, offset: position) }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if isDigit(bytes[position]) {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        } else {
            throw JSONSyntaxError(kind: .invalidNumber, offset: start)
        }
        var isInteger = true
        // Python's scanner takes a fraction or exponent only when digits follow; otherwise
        // the number ends there and the next character is a syntax error of its own.
        if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "."), isDigit(bytes[position + 1]) {
            isInteger = false
            position += 1
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            var probe = position + 1
            if probe < bytes.count, bytes[probe] == UInt8(ascii: "+") || bytes[probe] == UInt8(ascii: "-") { probe += 1 }
            if probe < bytes.count, isDigit(bytes[probe]) {
                isInteger = false
                position = probe
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger {
            return JSONNumber(integerText: text == "-0" ? "0" : text)
        }
        guard let value = Double(text) else { throw JSONSyntaxError(kind: .invalidNumber, offset: start) }
        return JSONNumber(value)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        for index in 0..<count {
            guard position < bytes.count else { throw JSONSyntaxError(kind: .unexpectedEnd, offset: position) }
            guard bytes[position] == start[index] else {
                throw JSONSyntaxError(kind: .unexpectedCharacter(bytes[position]), offset: position)
            }
            position += 1
        }
    }

    func peek() throws(JSONSyntaxError) -> UInt8 {
        guard position < bytes.count else { throw JSONSyntaxError(kind: .unexpectedEnd, offset: position) }
        return bytes[position]
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }
}

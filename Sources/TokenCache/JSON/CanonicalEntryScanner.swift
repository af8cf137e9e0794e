/// Recognises an entry object written exactly as MSAL Python's `json.dumps(indent=4)`
/// writes entries (nested two levels deep), and records where its members are.
///
/// Text that passes is copied verbatim when the cache is saved, so the check is strict:
/// the exact indentation and separators, no repeated member names, strings that use only
/// the escapes Python writes (lower-case `\uXXXX` for control characters, DEL and every
/// non-ASCII character), and integers only. Anything else (other SDKs' formatting, floats,
/// raw UTF-8) returns `nil`, and the caller parses the entry in full instead.
struct CanonicalEntryScanner {
    /// How a member's value starts.
    enum Kind: Equatable {
        case string, integer, literal, object, array
    }

    /// A member of the entry: where its name and value are in the text.
    struct Member {
        let name: Range<Int>
        let value: Range<Int>
        let kind: Kind
    }

    private let bytes: UnsafeRawBufferPointer
    private var position: Int
    private var members: [Member]

    /// Scans the entry object at `start`, written at `level` (2 for cache entries), putting
    /// its top-level members in `members` (whose storage is reused). Returns the offset
    /// just past the object, or `nil`.
    static func scan(_ bytes: UnsafeRawBufferPointer, at start: Int, level: Int, members: inout [Member]) -> Int? {
        members.removeAll(keepingCapacity: true)
        var scanner = CanonicalEntryScanner(bytes: bytes, position: start, members: members)
        members = []
        defer { members = scanner.members }
        guard scanner.byte == UInt8(ascii: "{"), scanner.scanObject(level: level, recording: true) else { return nil }
        return scanner.position
    }

    private init(bytes: UnsafeRawBufferPointer, position: Int, members: [Member]) {
        self.bytes = bytes
        self.position = position
        self.members = members
    }

    private var byte: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func expect(_ expected: UInt8) -> Bool {
        guard byte == expected else { return false }
        position += 1
        return true
    }

    /// A newline and `level * 4` spaces.
    private mutating func expectIndent(_ level: Int) -> Bool {
        guard expect(0x0A) else { return false }
        var count = level * 4
        guard position + count <= bytes.count else { return false }
        // Four spaces at a time: an indent is a multiple of four.
        let spaces: UInt32 = 0x2020_2020
        while count > 0 {
            guard bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self) == spaces else { return false }
            position += 4
            count -= 4
        }
        return true
    }

    private mutating func scanValue(level: Int) -> Kind? {
        guard let byte else { return nil }
        switch byte {
        case UInt8(ascii: "{"): return scanObject(level: level, recording: false) ? .object : nil
        case UInt8(ascii: "["): return scanArray(level: level) ? .array : nil
        case UInt8(ascii: "\""): return scanString() ? .string : nil
        case UInt8(ascii: "t"): return scanLiteral("true") ? .literal : nil
        case UInt8(ascii: "f"): return scanLiteral("false") ? .literal : nil
        case UInt8(ascii: "n"): return scanLiteral("null") ? .literal : nil
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return scanInteger() ? .integer : nil
        default: return nil
        }
    }

    private mutating func scanObject(level: Int, recording: Bool) -> Bool {
        position += 1
        if expect(UInt8(ascii: "}")) { return true }
        // The entry's own names are checked against its recorded members (no array to
        // grow per entry); a nested object, which entries seldom hold, keeps its own.
        var names: [Range<Int>] = []
        while true {
            guard expectIndent(level + 1) else { return false }
            let nameStart = position
            guard byte == UInt8(ascii: "\""), scanString() else { return false }
            let name = nameStart..<position
            // Python writes each name once; a repeated one must go through the parser.
            if recording {
                guard members.count < 64, !members.contains(where: { sameBytes($0.name, name) }) else { return false }
            } else {
                guard names.count < 64, !names.contains(where: { sameBytes($0, name) }) else { return false }
                names.append(name)
            }
            guard expect(UInt8(ascii: ":")), expect(0x20) else { return false }
            let valueStart = position
            guard let kind = scanValue(level: level + 1) else { return false }
            if recording { members.append(Member(name: name, value: valueStart..<position, kind: kind)) }
            if expect(UInt8(ascii: ",")) { continue }
            return expectIndent(level) && expect(UInt8(ascii: "}"))
        }
    }

    private mutating func scanArray(level: Int) -> Bool {
        position += 1
        if expect(UInt8(ascii: "]")) { return true }
        while true {
            guard expectIndent(level + 1), scanValue(level: level + 1) != nil else { return false }
            if expect(UInt8(ascii: ",")) { continue }
            return expectIndent(level) && expect(UInt8(ascii: "]"))
        }
    }

    private func sameBytes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        return UnsafeRawBufferPointer(rebasing: bytes[a]).elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[b]))
    }

    /// A string as Python's `ensure_ascii` writes it.
    private mutating func scanString() -> Bool {
        position += 1
        while true {
            // Most of a cache is long strings of printable ASCII: pass them 16 bytes a step.
            position += PlainText.prefix(bytes, from: position)
            guard position < bytes.count else { return false }
            switch bytes[position] {
            case UInt8(ascii: "\""):
                position += 1
                return true
            case UInt8(ascii: "\\"):
                guard scanEscape() else { return false }
            default:
                return false  // a raw control character, DEL or non-ASCII byte
            }
        }
    }

    private mutating func scanEscape() -> Bool {
        position += 1
        guard let letter = byte else { return false }
        position += 1
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"),
             UInt8(ascii: "t"), UInt8(ascii: "b"), UInt8(ascii: "f"):
            return true
        case UInt8(ascii: "u"):
            guard let code = lowerHex4() else { return false }
            switch code {
            case 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x20...0x7E: return false  // written another way
            case 0xDC00...0xDFFF: return false
            case 0xD800...0xDBFF:
                guard expect(UInt8(ascii: "\\")), expect(UInt8(ascii: "u")), let low = lowerHex4() else { return false }
                return (0xDC00...0xDFFF).contains(low)
            default: return true
            }
        default:
            return false
        }
    }

    private mutating func lowerHex4() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let digit = bytes[position]
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(digit - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt32(digit - UInt8(ascii: "a") + 10)
            default: return nil
            }
            position += 1
        }
        return value
    }

    private mutating func scanInteger() -> Bool {
        let start = position
        _ = expect(UInt8(ascii: "-"))
        guard let first = byte, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { return false }
        position += 1
        if first == UInt8(ascii: "0") {
            // "0" alone; "-0" is written as "0".
            guard position - start == 1 else { return false }
        } else {
            while let digit = byte, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") { position += 1 }
        }
        // A fraction or exponent makes it a float, whose spelling Python normalises.
        if let next = byte, next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") { return false }
        return true
    }

    private mutating func scanLiteral(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        for index in 0..<count where bytes[position + index] != literal.utf8Start[index] { return false }
        position += count
        return true
    }
}

/// Writes JSON exactly as MSAL Python's `json.dumps(value, indent=4)` does, or, not
/// `indented`, as `json.dumps(value)` does.
///
/// Indented: four spaces per level, `", "`-free item separators with one member or element
/// per line. Not indented: all on one line, `", "` between items. Both: `": "` between a
/// name and its value, `{}` and `[]` for empty containers, ASCII-only output with
/// lower-case `\uXXXX` escapes (surrogate pairs above the BMP), `/` left alone, and no
/// trailing newline.
struct PythonJSONWriter {
    private(set) var output: [UInt8] = []
    /// Whether members and elements go on lines of their own (`indent=4`).
    let indented: Bool

    init(reservingCapacity capacity: Int = 0, indented: Bool = true) {
        output.reserveCapacity(capacity)
        self.indented = indented
    }

    mutating func write(_ value: JSONValue, level: Int = 0) {
        switch value {
        case .null: append("null")
        case .bool(let flag): append(flag ? "true" : "false")
        case .number(let number): append(number.text)
        case .string(let string): writeString(string)
        case .array(let elements): writeArray(elements, level: level)
        case .object(let object): writeObject(object, level: level)
        }
    }

    mutating func writeObject(_ object: JSONObject, level: Int) {
        writeMembers(count: object.count, level: level) { writer in
            object.storage.forEach { member in writer.append(member: member.key, value: member.value, level: level + 1) }
        }
    }

    /// Writes an object whose members are produced by `body`, which must emit exactly
    /// `count` members through `append(member:value:level:)` or `appendMember(_:level:body:)`.
    mutating func writeMembers(count: Int, level: Int, _ body: (inout PythonJSONWriter) -> Void) {
        if count == 0 {
            append("{}")
            return
        }
        output.append(UInt8(ascii: "{"))
        let outer = memberCount
        memberCount = 0
        body(&self)
        memberCount = outer
        newline(level: level)
        output.append(UInt8(ascii: "}"))
    }

    private var memberCount = 0

    /// Writes one member of the object being written at `level - 1`.
    mutating func append(member key: String, value: JSONValue, level: Int) {
        appendMember(key, level: level) { writer in writer.write(value, level: level) }
    }

    /// Writes one member whose value is produced by `body`.
    mutating func appendMember(_ key: String, level: Int, body: (inout PythonJSONWriter) -> Void) {
        appendMember(EntryKey(key), level: level, body: body)
    }

    /// Writes one member named by an entry key whose value is produced by `body`.
    mutating func appendMember(_ key: EntryKey, level: Int, body: (inout PythonJSONWriter) -> Void) {
        if memberCount > 0 { separate() }
        memberCount += 1
        newline(level: level)
        if !key.withUTF8({ writePlainString($0) }) { writeString(key.string) }
        output.append(UInt8(ascii: ":"))
        output.append(UInt8(ascii: " "))
        body(&self)
    }

    /// Appends text that is already in the writer's exact format.
    mutating func appendRaw(_ bytes: UnsafeRawBufferPointer) {
        // A typed buffer lets the array copy in one block.
        output.append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
    }

    private mutating func writeArray(_ elements: [JSONValue], level: Int) {
        if elements.isEmpty {
            append("[]")
            return
        }
        output.append(UInt8(ascii: "["))
        for (index, element) in elements.enumerated() {
            if index > 0 { separate() }
            newline(level: level + 1)
            write(element, level: level + 1)
        }
        newline(level: level)
        output.append(UInt8(ascii: "]"))
    }

    /// The item separator: `,` before a new line, `, ` on one line.
    private mutating func separate() {
        output.append(UInt8(ascii: ","))
        if !indented { output.append(0x20) }
    }

    private mutating func newline(level: Int) {
        guard indented else { return }
        let count = level * 4 + 1
        guard count <= PythonJSONWriter.indents.count else {
            output.append(0x0A)
            output.append(contentsOf: repeatElement(0x20, count: count - 1))
            return
        }
        // A newline and the indent in one copy.
        PythonJSONWriter.indents.withUnsafeBufferPointer { output.append(contentsOf: UnsafeBufferPointer(rebasing: $0[..<count])) }
    }

    /// A newline followed by the spaces of the deepest indent most documents reach.
    private static let indents: [UInt8] = [0x0A] + [UInt8](repeating: 0x20, count: 32)

    private mutating func append(_ text: String) {
        output.append(contentsOf: text.utf8)
    }

    mutating func writeString(_ string: String) {
        guard string.utf8.withContiguousStorageIfAvailable({ writePlainString(UnsafeRawBufferPointer($0)) }) != true else { return }
        output.append(UInt8(ascii: "\""))
        writeEscaped(string)
        output.append(UInt8(ascii: "\""))
    }

    /// Writes `utf8` in quotes when it is plain text (JSON holds it as it is); otherwise
    /// writes nothing and returns `false`.
    private mutating func writePlainString(_ utf8: UnsafeRawBufferPointer) -> Bool {
        guard PlainText.isPlain(utf8) else { return false }
        output.append(UInt8(ascii: "\""))
        appendRaw(utf8)
        output.append(UInt8(ascii: "\""))
        return true
    }

    private mutating func writeEscaped(_ string: String) {
        for scalar in string.unicodeScalars {
            let value = scalar.value
            switch value {
            case 0x22: append("\\\"")
            case 0x5C: append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0x08: append("\\b")
            case 0x0C: append("\\f")
            case 0x20...0x7E: output.append(UInt8(value))
            case 0x10000...:
                let offset = value - 0x10000
                appendUnicodeEscape(0xD800 + (offset >> 10))
                appendUnicodeEscape(0xDC00 + (offset & 0x3FF))
            default:
                appendUnicodeEscape(value)
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendUnicodeEscape(_ value: UInt32) {
        output.append(UInt8(ascii: "\\"))
        output.append(UInt8(ascii: "u"))
        for shift in stride(from: 12, through: 0, by: -4) {
            output.append(PythonJSONWriter.hexDigits[Int((value >> UInt32(shift)) & 0xF)])
        }
    }
}

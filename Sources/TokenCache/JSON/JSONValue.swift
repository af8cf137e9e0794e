import OrderedCollections

/// A JSON value that keeps everything MSAL Python keeps: member order, duplicate-free keys
/// (the last duplicate wins, at the first one's position) and numbers in Python's spelling.
///
/// Sections, entries and fields this library does not model are held as `JSONValue`s and
/// written back unchanged, so data from other MSAL SDKs survives a load and a save.
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, kept as the text MSAL Python would write for it.
    case number(JSONNumber)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object whose members keep their order.
    case object(JSONObject)

    /// The string, when this value is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The object, when this value is an object.
    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// Whether Python would treat this value as true in an `if`: not null, false, zero,
    /// an empty string, an empty array or an empty object.
    public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let value): return value
        case .number(let number): return !number.isZero
        case .string(let value): return !value.isEmpty
        case .array(let value): return !value.isEmpty
        case .object(let value): return !value.isEmpty
        }
    }

    /// The name of this value's JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON number, stored as the text Python's `json.dumps` writes for it.
///
/// Integers keep every digit (Python integers have no size limit); other numbers are
/// spelled as Python's `repr(float)` spells them, including `NaN` and `Infinity`, which
/// Python's JSON reader accepts.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number as MSAL Python writes it.
    public let text: String
    /// Whether the number is an integer (written without a fraction or exponent).
    public let isInteger: Bool

    /// Creates an integer number.
    public init(_ value: Int64) {
        text = String(value)
        isInteger = true
    }

    /// Creates a floating-point number, spelled as Python's `repr` spells it.
    public init(_ value: Double) {
        text = JSONNumber.pythonRepr(value)
        isInteger = false
    }

    init(integerText: String) {
        text = integerText
        isInteger = true
    }

    /// The number as a 64-bit integer, when it is an integer that fits.
    public var int64Value: Int64? { isInteger ? Int64(text) : nil }

    /// The number as a `Double`.
    public var doubleValue: Double? {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text)
        }
    }

    var isZero: Bool {
        if isInteger { return text == "0" }
        return doubleValue == 0
    }

    public var description: String { text }

    /// Python's `repr()` of a float: the shortest text that reads back to the same value,
    /// with an exponent below 1e-4 and from 1e16 on.
    static func pythonRepr(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        // Swift's description uses the same shortest round-trip digits and the same
        // switch-over points as Python's repr.
        return value.description
    }
}

/// A JSON object whose members keep their insertion order, as Python's `dict` does.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    var storage: OrderedDictionary<String, JSONValue>

    /// Creates an empty object.
    public init() { storage = [:] }

    /// Creates an object from members in order; a repeated name keeps the last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        storage = [:]
        for (key, value) in elements { storage[key] = value }
    }

    init(storage: OrderedDictionary<String, JSONValue>) { self.storage = storage }

    /// The member named `key`, or `nil` when there is none. Setting `nil` removes it;
    /// setting a new name appends it at the end, setting an existing one keeps its place.
    public subscript(key: String) -> JSONValue? {
        get { storage[key] }
        set { storage[key] = newValue }
    }

    /// The string member named `key`, or `nil` when it is missing or not a string.
    public func string(_ key: String) -> String? { storage[key]?.stringValue }

    /// The member names in order.
    public var keys: [String] { Array(storage.keys) }

    /// The number of members.
    public var count: Int { storage.count }

    /// Whether the object has no members.
    public var isEmpty: Bool { storage.isEmpty }

    /// Whether the object has a member named `key`.
    public func contains(_ key: String) -> Bool { storage.index(forKey: key) != nil }

    /// Removes the member named `key` and returns its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        storage.removeValue(forKey: key)
    }

    /// Iterates the members in order.
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        storage.elements.map { ($0.key, $0.value) }.makeIterator()
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral {
    /// A string value.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An integer value.
    public init(integerLiteral value: Int64) { self = .number(JSONNumber(value)) }
    /// A boolean value.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// `null`.
    public init(nilLiteral: ()) { self = .null }
}


extension JSONValue {
    /// The elements, when this value is an array; empty otherwise.
    package var items: [JSONValue] {
        if case .array(let items) = self { return items }
        return []
    }

    /// A whole number, or a string of one (AAD v1 and AD FS send `expires_in` as text).
    package var wholeNumber: Int64? {
        switch self {
        case .number(let number): return number.int64Value
        case .string(let text): return Int64(text)
        default: return nil
        }
    }
}

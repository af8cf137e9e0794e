#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// String operations with the exact semantics of the Python built-ins MSAL Python uses,
/// so keys, scope sets and timestamps come out the same in both libraries.
package enum PythonText {
    /// Python's `sorted()` of strings: by Unicode code point, which is UTF-8 byte order.
    static func sortedByCodePoint(_ strings: [String]) -> [String] {
        strings.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Python's `str.lower()`.
    static func lower(_ string: String) -> String {
        var isASCII = true
        for byte in string.utf8 where byte >= 0x80 {
            isASCII = false
            break
        }
        if isASCII {
            var needsChange = false
            for byte in string.utf8 where byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") {
                needsChange = true
                break
            }
            if !needsChange { return string }
            return String(decoding: string.utf8.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
        }
        // Per code point full lower-case mapping, plus the one context rule Python applies:
        // a capital sigma at the end of a word becomes the final sigma.
        let scalars = Array(string.unicodeScalars)
        var result = String.UnicodeScalarView()
        for (index, scalar) in scalars.enumerated() {
            if scalar.value == 0x03A3, isFinalSigma(scalars, at: index) {
                result.append(Unicode.Scalar(0x03C2)!)
            } else {
                result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(result)
    }

    private static func isFinalSigma(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        var before = index - 1
        while before >= 0, scalars[before].properties.isCaseIgnorable { before -= 1 }
        guard before >= 0, scalars[before].properties.isCased else { return false }
        var after = index + 1
        while after < scalars.count, scalars[after].properties.isCaseIgnorable { after += 1 }
        return after == scalars.count || !scalars[after].properties.isCased
    }

    /// Python's `str.split()` with no argument: split on runs of white space, dropping
    /// empty parts.
    static func split(_ string: String) -> [Substring] {
        string.split(whereSeparator: { character in
            character.unicodeScalars.allSatisfy(isWhitespace)
        })
    }

    /// Whether every string of `words` is one of the words of `text` split as Python's
    /// `str.split()` splits it: the scope-superset test. Allocation-free for ASCII text.
    static func containsAllWords(_ text: String, _ words: some Collection<String>) -> Bool {
        let fast = text.utf8.withContiguousStorageIfAvailable { buffer -> Bool? in
            guard !buffer.contains(where: { $0 >= 0x80 }) else { return nil }
            for word in words {
                let found = word.utf8.withContiguousStorageIfAvailable { wanted -> Bool in
                    var start = 0
                    while start < buffer.count {
                        while start < buffer.count, isASCIISpace(buffer[start]) { start += 1 }
                        var end = start
                        while end < buffer.count, !isASCIISpace(buffer[end]) { end += 1 }
                        if end - start == wanted.count, end > start,
                           memcmp(buffer.baseAddress! + start, wanted.baseAddress!, wanted.count) == 0 {
                            return true
                        }
                        start = end
                    }
                    return false
                } ?? split(text).contains { $0 == word }
                if !found { return false }
            }
            return true
        }
        if let fast, let result = fast { return result }
        let parts = split(text)
        return words.allSatisfy { word in parts.contains { $0 == word } }
    }

    @inline(__always)
    private static func isASCIISpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) || (byte >= 0x1C && byte <= 0x1F)
    }

    private static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
        case 0x80...: return scalar.properties.isWhitespace
        default: return false
        }
    }

    /// Python's `int(x)` applied to a cache or response field: integers, floats (truncated
    /// toward zero), booleans, and strings holding a base-10 integer (surrounding white
    /// space, a sign and single underscores between digits allowed). `nil` where Python
    /// would raise.
    package static func int(_ value: JSONValue) -> Int64? {
        switch value {
        case .bool(let flag): return flag ? 1 : 0
        case .number(let number):
            if number.isInteger { return number.int64Value }
            guard let double = number.doubleValue, double.isFinite,
                  double > -9.2e18, double < 9.2e18 else { return nil }
            return Int64(double.rounded(.towardZero))
        case .string(let string): return int(string)
        default: return nil
        }
    }

    /// Python's `int(s)` for a string.
    static func int(_ string: String) -> Int64? {
        // Fast path: plain ASCII digits, as every MSAL SDK writes them.
        var value: Int64 = 0
        var plain = !string.isEmpty && string.utf8.count <= 18
        if plain {
            for byte in string.utf8 {
                guard byte >= 48, byte <= 57 else { plain = false; break }
                value = value * 10 + Int64(byte - 48)
            }
            if plain { return value }
        }
        let trimmed = string.trimmingPythonWhitespace()
        var digits = Substring(trimmed)
        var negative = false
        if let first = digits.first, first == "+" || first == "-" {
            negative = first == "-"
            digits = digits.dropFirst()
        }
        guard let first = digits.first, first.isASCII, first.isNumber, let last = digits.last, last != "_" else { return nil }
        var cleaned = ""
        var previousUnderscore = false
        for character in digits {
            if character == "_" {
                if previousUnderscore { return nil }
                previousUnderscore = true
                continue
            }
            guard let ascii = character.asciiValue, ascii >= 48, ascii <= 57 else { return nil }
            previousUnderscore = false
            cleaned.append(character)
        }
        guard let magnitude = Int64(cleaned) else { return nil }
        return negative ? -magnitude : magnitude
    }
}

extension String {
    func trimmingPythonWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { character in
            character.unicodeScalars.allSatisfy { scalar in
                (0x09...0x0D).contains(scalar.value) || (0x1C...0x20).contains(scalar.value) || scalar.properties.isWhitespace
            }
        }
        var slice = Substring(self)
        while let first = slice.first, isSpace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isSpace(last) { slice = slice.dropLast() }
        return slice
    }
}

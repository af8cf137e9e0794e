#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The key a cache entry is stored under.
///
/// A key loaded from a file, where MSAL writes it as plain ASCII without escapes, stays the
/// bytes of the file it came from (no copy per entry); any other key holds its own string.
/// Keys compare and hash by their UTF-8 bytes, that is by code points as Python's `dict`
/// compares them, so two spellings Swift's `String` calls canonically equivalent stay two
/// keys, as they do in MSAL Python.
struct EntryKey: Hashable, Sendable, CustomStringConvertible {
    private enum Storage: Sendable {
        /// The key's bytes in a loaded file (between its quotes).
        case text(SourceText, start: UInt32, count: UInt32)
        case string(String)
    }

    private let storage: Storage

    init(_ string: String) {
        storage = .string(string)
    }

    /// The key spelled by `range` of `source`, which must be printable ASCII without a quote
    /// or backslash (so the text is the key's UTF-8).
    init(text source: SourceText, range: Range<Int>) {
        // Offsets in 32 bits: a key that ends past 4 GiB holds a string of its own.
        if let start = UInt32(exactly: range.lowerBound), let count = UInt32(exactly: range.count), UInt32(exactly: range.upperBound) != nil {
            storage = .text(source, start: start, count: count)
        } else {
            storage = .string(source.withBytes(range) { String(decoding: $0, as: UTF8.self) })
        }
    }

    /// The key as a string.
    var string: String {
        switch storage {
        case .string(let string): return string
        case .text(let source, let start, let count):
            return source.withBytes(Int(start)..<Int(start + count)) { String(decoding: $0, as: UTF8.self) }
        }
    }

    var description: String { string }

    /// Whether the key's bytes are a slice of a loaded file (for tests).
    var isText: Bool {
        if case .text = storage { return true }
        return false
    }

    /// Runs `body` on the key's UTF-8 bytes.
    func withUTF8<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch storage {
        case .text(let source, let start, let count):
            return source.withBytes(Int(start)..<Int(start + count), body)
        case .string(let string):
            if let result = string.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return result }
            var copy = string
            return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        }
    }

    static func == (lhs: EntryKey, rhs: EntryKey) -> Bool {
        if case .string(let left) = lhs.storage, case .string(let right) = rhs.storage {
            return left.utf8.elementsEqual(right.utf8)
        }
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                left.count == right.count && (left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
    }

    func hash(into hasher: inout Hasher) {
        withUTF8 { hasher.combine(bytes: $0) }
    }
}

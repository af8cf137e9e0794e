import Foundation
import OrderedCollections
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reloads a cache file that another process rewrote by patching the document loaded
/// before, instead of parsing every entry again.
///
/// A writer that adds one token response rewrites the whole file, but changes a few
/// entries. The patch walks the new text section by section, and where an entry's key and
/// bytes are those of the loaded entry at that place (one comparison at memory speed) it
/// keeps the loaded entry as it is: no scan, no decoding, no allocation. Only entries that
/// changed or are new are parsed, and entries that are gone are removed.
///
/// The result is exactly the document a full parse of the new text gives, or `nil`, and
/// the caller parses in full: whenever the text is not in MSAL Python's layout, sections
/// or other top-level members differ, entries moved, a new entry comes before old ones,
/// many entries went, or anything fails to parse or breaks a schema rule (so the full
/// parse reports the error).
struct DocumentPatch: ~Copyable {
    /// Reads the next bytes of the new text into a buffer and returns how many (0 at its end).
    typealias Reader = (UnsafeMutableRawBufferPointer) throws -> Int

    /// The part of the new text in hand: all of it, or a window that `reader` refills.
    private var bytes: UnsafeRawBufferPointer
    /// The window's memory when reading in pieces.
    private var window: UnsafeMutableRawBufferPointer?
    private let reader: Reader?
    /// How many bytes of `bytes` hold text; the offset of the next byte to look at.
    private var filled: Int
    private var position = 0
    /// How many bytes of text were let go from the window's front.
    private var dropped = 0
    private var atEnd: Bool
    private var scratch: [CanonicalEntryScanner.Member] = []
    /// The most ``changedBytes`` worth patching: past it, a full parse is cheaper and lets
    /// go of the loaded text.
    private let budget: Int
    /// The bytes of the entries parsed again and of the loaded entries they replaced or
    /// that went: how much text the patched document keeps that the file no longer has.
    private(set) var changedBytes = 0

    /// The most entries a patch removes from one section; more (a large clean-up) is
    /// cheaper to parse in full than to remove one by one.
    static let removalLimit = 256
    /// The window's first size when reading in pieces: small enough to stay in the
    /// processor's cache, so the text is never all in memory at once.
    static let windowSize = 1 << 20
    /// The largest entry a patch reads: a larger one is left to the full parse.
    static let largestEntry = 64 << 20
    /// How much text is first brought into the window for a key or a changed entry.
    static let firstLook = 64 << 10

    private init(bytes: UnsafeRawBufferPointer, budget: Int) {
        self.budget = budget
        self.bytes = bytes
        filled = bytes.count
        atEnd = true
        reader = nil
    }

    private init(reader: @escaping Reader, budget: Int) {
        self.budget = budget
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: DocumentPatch.windowSize, alignment: 16)
        window = memory
        bytes = UnsafeRawBufferPointer(memory)
        filled = 0
        atEnd = false
        self.reader = reader
    }

    deinit { window?.deallocate() }

    /// The text's length so far: all of it once ``patch(_:)`` has succeeded.
    private var length: Int { dropped + filled }

    /// `base` changed to what `bytes` hold, with how many bytes of entries changed and the
    /// text's length; `nil` when only a full parse can tell, or when more than `budget`
    /// bytes of entries changed.
    static func patch(_ base: CacheDocument, with bytes: UnsafeRawBufferPointer, budget: Int) -> (document: CacheDocument, changedBytes: Int, length: Int)? {
        var patch = DocumentPatch(bytes: bytes, budget: budget)
        return patch.patch(base)
    }

    /// The same, reading the new text in pieces from `reader` (the text is never all in
    /// memory: a reload of a large file then costs a comparison, not an allocation).
    static func patch(_ base: CacheDocument, reading reader: @escaping Reader, budget: Int) -> (document: CacheDocument, changedBytes: Int, length: Int)? {
        var patch = DocumentPatch(reader: reader, budget: budget)
        return patch.patch(base)
    }

    private mutating func patch(_ base: CacheDocument) -> (document: CacheDocument, changedBytes: Int, length: Int)? {
        guard base.opaque.isEmpty, !base.order.isEmpty else { return nil }
        guard expect(UInt8(ascii: "{")) else { return nil }
        var document = base
        for (index, name) in base.order.enumerated() {
            guard index == 0 || expect(UInt8(ascii: ",")) else { return nil }
            guard expectIndent(1), expectQuoted(name), expect(UInt8(ascii: ":")), expect(0x20) else { return nil }
            let type = CredentialType(rawValue: name)
            guard let changes = patchSection(base.section(type)) else { return nil }
            if changes.removed.isEmpty && changes.upserts.isEmpty { continue }
            document.withSection(type) { section in
                for key in changes.removed { section.remove(forKey: key) }
                for (key, entry) in changes.upserts { section.upsert(entry, forKey: key) }
            }
        }
        guard expectIndent(0), expect(UInt8(ascii: "}")), !ensure(1) else { return nil }
        return (document, changedBytes, length)
    }

    // MARK: - The window

    /// Whether `count` bytes from the position are in hand, reading more when there are
    /// more: the window's unread bytes move to its front and it grows when it must.
    private mutating func ensure(_ count: Int) -> Bool {
        if position + count <= filled { return true }
        guard !atEnd, let reader, var memory = window else { return false }
        if position > 0 {
            let kept = filled - position
            if kept > 0 { memory.baseAddress!.copyMemory(from: memory.baseAddress! + position, byteCount: kept) }
            dropped += position
            filled = kept
            position = 0
        }
        if count > memory.count {
            guard count <= DocumentPatch.largestEntry else { return false }
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, memory.count * 2), alignment: 16)
            larger.baseAddress!.copyMemory(from: memory.baseAddress!, byteCount: filled)
            memory.deallocate()
            memory = larger
            window = larger
        }
        while filled < memory.count {
            guard let got = try? reader(UnsafeMutableRawBufferPointer(rebasing: memory[filled...])), got > 0 else {
                atEnd = true
                break
            }
            filled += got
            if filled >= count { break }
        }
        bytes = UnsafeRawBufferPointer(memory)
        return position + count <= filled
    }

    /// What a section's new text changes.
    private struct SectionChanges {
        /// Keys of loaded entries that are gone.
        var removed: [EntryKey] = []
        /// Changed and new entries, in file order.
        var upserts: [(EntryKey, EntryStorage)] = []
    }

    /// Walks one section's object in the new text against the loaded section `old`.
    private mutating func patchSection(_ old: EntrySection) -> SectionChanges? {
        var changes = SectionChanges()
        let keys = old.entries.keys
        let values = old.entries.values
        // The first loaded entry not met yet: entries are met in order, or were removed.
        var next = 0
        guard expect(UInt8(ascii: "{")) else { return nil }
        if !expect(UInt8(ascii: "}")) {
            repeat {
                guard expectIndent(2) else { return nil }
                if next < keys.count, skipUnchanged(key: keys[next], entry: values[next]) {
                    next += 1
                    continue
                }
                guard changedBytes <= budget, let decoded = parseKey(), expect(UInt8(ascii: ":")), expect(0x20) else { return nil }
                // Keys compare by code points (their bytes), as in Python.
                let key = EntryKey(decoded)
                if let found = old.entries.index(forKey: key) {
                    // An entry met again later than its place, or before entries that are
                    // still to come: the order changed.
                    guard found >= next, changes.removed.count + (found - next) <= DocumentPatch.removalLimit else { return nil }
                    for gone in next..<found { remove(keys[gone], values[gone], into: &changes) }
                    next = found + 1
                    if let text = values[found].text, skipText(text) { continue }
                    if let text = values[found].text { changedBytes += text.1.count }
                } else {
                    // MSAL appends new entries: one before loaded entries still to come is
                    // another writer's order.
                    guard next == keys.count else { return nil }
                }
                guard let entry = parseEntry(key: decoded, type: old.type) else { return nil }
                changes.upserts.append((key, entry))
            } while expect(UInt8(ascii: ","))
            guard expectIndent(1), expect(UInt8(ascii: "}")) else { return nil }
        }
        guard changes.removed.count + (keys.count - next) <= DocumentPatch.removalLimit else { return nil }
        for gone in next..<keys.count { remove(keys[gone], values[gone], into: &changes) }
        return changedBytes <= budget ? changes : nil
    }

    private mutating func remove(_ key: EntryKey, _ entry: EntryStorage, into changes: inout SectionChanges) {
        changes.removed.append(key)
        if let text = entry.text { changedBytes += text.1.count }
    }

    // MARK: - Unchanged entries

    /// Moves past `"key": TEXT` when the new text holds exactly that, with the key written
    /// as plain ASCII (so its bytes are the key itself) and TEXT the loaded entry's text.
    private mutating func skipUnchanged(key: EntryKey, entry: EntryStorage) -> Bool {
        guard let text = entry.text else { return false }
        let keyLength = key.withUTF8 { $0.count }
        // The whole of `"key": TEXT` is in hand at once, so a mismatch can go back to its start.
        guard ensure(keyLength + 4 + text.1.count), bytes[position] == UInt8(ascii: "\"") else { return false }
        let start = position
        let here = bytes.baseAddress! + position + 1
        // A key loaded as a slice of a file is plain text already.
        let checked = key.isText
        let keyMatches = key.withUTF8 { keyBytes -> Bool in
            (checked || PlainText.isPlain(keyBytes)) && (keyBytes.isEmpty || memcmp(here, keyBytes.baseAddress!, keyBytes.count) == 0)
        }
        if keyMatches { position += 1 + keyLength }
        guard keyMatches, expect(UInt8(ascii: "\"")), expect(UInt8(ascii: ":")), expect(0x20), skipText(text) else {
            position = start
            return false
        }
        return true
    }

    /// Moves past the loaded text `text` when the new text holds exactly it here.
    private mutating func skipText(_ text: (SourceText, Range<Int>)) -> Bool {
        let (source, range) = text
        guard ensure(range.count) else { return false }
        let same = source.withBytes(range) { old in memcmp(bytes.baseAddress! + position, old.baseAddress!, old.count) == 0 }
        if same { position += range.count }
        return same
    }

    // MARK: - Changed entries

    /// The key at the position, decoded (with its escapes).
    private mutating func parseKey() -> String? {
        // Keys are short: one longer than the first look is left to the full parse.
        _ = ensure(DocumentPatch.firstLook)
        guard position < filled, bytes[position] == UInt8(ascii: "\"") else { return nil }
        var end = position + 1
        while end < filled, bytes[end] != UInt8(ascii: "\"") {
            end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
        }
        guard end < filled, case .string(let key)? = try? JSONParser.parse(UnsafeRawBufferPointer(rebasing: bytes[position...end])) else { return nil }
        position = end + 1
        return key
    }

    /// The entry at the position, in MSAL Python's layout, loaded as the full parse loads it:
    /// its text (copied out of the window) with the summary queries read.
    private mutating func parseEntry(key: String, type: CredentialType) -> EntryStorage? {
        // The entry's end is known once it is scanned: read more until it is in hand.
        var wanted = DocumentPatch.firstLook
        var scanned: Int?
        while scanned == nil {
            let whole = !ensure(wanted)
            guard position < filled, bytes[position] == UInt8(ascii: "{") else { return nil }
            let inHand = UnsafeRawBufferPointer(rebasing: bytes[..<filled])
            scanned = CanonicalEntryScanner.scan(inHand, at: position, level: 2, members: &scratch)
            // An entry in hand to its closing line that does not scan is in another layout.
            if scanned == nil && (whole || wanted >= DocumentPatch.largestEntry || containsEntryEnd()) { return nil }
            wanted *= 4
        }
        guard let end = scanned else { return nil }
        let source = SourceText(Data(UnsafeRawBufferPointer(rebasing: bytes[position..<end])))
        let entry = source.data.withUnsafeBytes { text -> EntryStorage? in
            guard CanonicalEntryScanner.scan(text, at: 0, level: 2, members: &scratch) == text.count else { return nil }
            var loader = EntryLoader(source: source, bytes: text)
            // `nil` for a container where a string belongs, and a schema error: the full
            // parse reports both as it should.
            return (try? loader.summarize(section: type.rawValue, key: .decoded(key), range: 0..<text.count, members: scratch)) ?? nil
        }
        guard let entry else { return nil }
        changedBytes += end - position
        position = end
        return entry
    }

    /// Whether the bytes in hand hold the line that closes an entry (`\n` and 8 spaces,
    /// then `}`).
    private func containsEntryEnd() -> Bool {
        var offset = position + 9
        while offset < filled, let found = memchr(bytes.baseAddress! + offset, Int32(UInt8(ascii: "}")), filled - offset) {
            let index = UnsafeRawPointer(bytes.baseAddress!).distance(to: UnsafeRawPointer(found))
            if bytes[index - 9] == 0x0A, (index - 8..<index).allSatisfy({ bytes[$0] == 0x20 }) { return true }
            offset = index + 1
        }
        return false
    }

    // MARK: - Layout

    private mutating func expect(_ byte: UInt8) -> Bool {
        guard ensure(1), bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// A newline and `level * 4` spaces.
    private mutating func expectIndent(_ level: Int) -> Bool {
        let count = level * 4
        guard ensure(1 + count), bytes[position] == 0x0A else { return false }
        for offset in (position + 1)..<(position + 1 + count) where bytes[offset] != 0x20 { return false }
        position += 1 + count
        return true
    }

    /// `"name"`, for a section name (plain ASCII). A mismatch ends the patch.
    private mutating func expectQuoted(_ name: String) -> Bool {
        guard expect(UInt8(ascii: "\"")) else { return false }
        for byte in name.utf8 where !expect(byte) { return false }
        return expect(UInt8(ascii: "\""))
    }
}

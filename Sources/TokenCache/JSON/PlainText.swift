import CTextScan

/// String text JSON holds as it is: printable ASCII (0x20 to 0x7E) other than `"` and `\`,
/// which MSAL Python's `json.dumps` writes unescaped. The one place the package calls the
/// wide scan of `CTextScan`.
enum PlainText {
    /// How many bytes of `bytes` from `start` on are plain.
    @inline(__always)
    static func prefix(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard start < bytes.count else { return 0 }
        return ctextscan_plain_prefix(bytes.baseAddress! + start, bytes.count - start)
    }

    /// Whether every byte of `bytes` is plain.
    @inline(__always)
    static func isPlain(_ bytes: UnsafeRawBufferPointer) -> Bool {
        prefix(bytes, from: 0) == bytes.count
    }
}

import CTextScan
import Testing

/// The wide scan of plain string text agrees with the byte-at-a-time rule at every byte
/// value, in every position of a vector step and of the tail after the last one.
@Suite("Wide text scan")
struct TextScanTests {
    static func isPlain(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
    }

    @Test("Every byte value at every position of a 40-byte run stops the scan exactly where the rule says")
    func everyByteEveryPosition() {
        for length in [0, 1, 15, 16, 17, 31, 32, 33, 40] {
            var run = [UInt8](repeating: UInt8(ascii: "a"), count: length)
            #expect(run.withUnsafeBufferPointer { ctextscan_plain_prefix($0.baseAddress, $0.count) } == length)
            for position in 0..<length {
                for value in 0...255 {
                    run[position] = UInt8(value)
                    let found = run.withUnsafeBufferPointer { ctextscan_plain_prefix($0.baseAddress, $0.count) }
                    let expected = Self.isPlain(UInt8(value)) ? length : position
                    if found != expected {
                        Issue.record("length \(length), byte 0x\(String(value, radix: 16)) at \(position): \(found), expected \(expected)")
                        return
                    }
                }
                run[position] = UInt8(ascii: "a")
            }
        }
    }
}

import Foundation

extension Data {
    /// Overwrites the bytes with zeros, for memory that held a secret, before it goes back.
    package mutating func wipe() {
        withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } }
    }
}

extension Array where Element == UInt8 {
    /// Overwrites the bytes with zeros, for memory that held a secret, before it goes back.
    package mutating func wipe() {
        withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } }
    }
}

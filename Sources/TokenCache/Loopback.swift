import Foundation

/// Whether `host` (a name, or an address with or without brackets) is this machine's
/// loopback: `localhost`, ::1 or 127.0.0.0/8. The one rule for the package: plain HTTP to a
/// local identity server, and which database servers are on this machine.
package func isLoopbackHost(_ host: String) -> Bool {
    let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    return host == "localhost" || host == "::1" || host.hasPrefix("127.")
}

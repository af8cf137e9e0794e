import Foundation

/// The data keys the library keeps in this user's kernel keyring, as tests see them
/// through `keyctl` (keyutils).
public enum KernelKeys {
    /// The name of the key of the cache at `path`.
    public static func description(_ path: String) -> String { "tokencache:data-key:" + path }

    /// The serial of the key of the cache at `path`, or `nil` when there is none.
    public static func serial(_ path: String) throws -> Int32? {
        let script = "keyctl search \"$(keyctl get_persistent @s)\" user \"$1\""
        let result = try CLIProcess.runProcess("/usr/bin/keyctl", ["session", "-", "/bin/sh", "-c", script, "sh", description(path)])
        return result.status == 0 ? Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) : nil
    }

    /// Takes the key of the cache at `path` out of the persistent keyring with keyctl, as a
    /// reboot would; `false` when there was none.
    @discardableResult
    public static func unlink(_ path: String) throws -> Bool {
        let script = "ring=$(keyctl get_persistent @s) && id=$(keyctl search \"$ring\" user \"$1\" 2>/dev/null) && keyctl unlink \"$id\" \"$ring\""
        return try CLIProcess.runProcess("/usr/bin/keyctl", ["session", "-", "/bin/sh", "-c", script, "sh", description(path)]).status == 0
    }
}

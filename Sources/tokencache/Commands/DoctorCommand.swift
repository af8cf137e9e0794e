import ArgumentParser
import CacheBackends
import Foundation
import TokenCache

/// `tokencache doctor`: which store kinds work on this machine, and how to fix the others.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check which store kinds work here, and say how to fix the ones that do not.",
        discussion: "Exit status 0 when every store kind works, 69 when one does not."
    )

    func run() throws {
        var healthy = true
        emit("file: ok (plain MSAL JSON, atomic writes, <path>.lockfile)")
        emit("encrypted (passphrase-env, passphrase-file, key-file): ok (AES-256-GCM, scrypt)")
        if let problem = KeyringStorage.diagnose() {
            healthy = false
            emit("keyring: unavailable: \(problem.reason)")
            emit("encrypted (key in the keyring, the default): unavailable, for the same reason")
        } else {
            emit("keyring: ok (Secret Service reachable, default collection unlocked)")
            emit("encrypted (key in the keyring, the default): ok")
        }
        emit(ProcessInfo.processInfo.environment["DBUS_SESSION_BUS_ADDRESS"].map { _ in "D-Bus session: DBUS_SESSION_BUS_ADDRESS is set" } ?? "D-Bus session: DBUS_SESSION_BUS_ADDRESS is not set")
        if !healthy { throw ExitCode(69) }
    }
}

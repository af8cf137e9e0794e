import ArgumentParser
import CacheBackends
import CachePostgres
import Foundation
import TokenCache

/// `tokencache doctor`: which store kinds work on this machine, and how to fix the others.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check which store kinds work here, and say how to fix the ones that do not.",
        discussion: """
        Checks libsecret, the D-Bus session and the keyring (and why it cannot be reached), the \
        kernel keyring (where encrypted:PATH keeps its key without a Secret Service), \
        SQLite and OpenSSL. With --store, also checks that store: its file and folder modes, \
        its lock file (who holds it, and whether that process still runs), that it opens \
        and reads and its entries follow MSAL's rules; for sqlite:, the database's integrity \
        (PRAGMA quick_check) and size; for postgres://, the server's version, the schema \
        version, size and partitions, and that every entry decodes. Each problem is printed \
        with the command that fixes it.

        Exit status 0 when everything works; with --store, 1 when the store has something \
        to fix, 65 when it is damaged, 77 when its key is wrong or it cannot be read, 69 \
        when it or (without --store) the keyring is unavailable.

        Examples:
          tokencache doctor
          tokencache doctor --store file:~/.azure/msal_token_cache.json
          tokencache doctor --store sqlite:~/.cache/tokens.db
        """
    )

    @Option(help: ArgumentHelp("A store to check as well.", valueName: "SPEC"))
    var store: String?

    func run() throws {
        var status: Int32 = 0
        if let store {
            var checkup = StoreCheckup(spec: store)
            checkup.run()
            printFindings(checkup.findings)
            status = checkup.status
        }
        emit("This machine")
        let keyring = KeyringStorage.diagnose()
        emit("  file: ok (plain MSAL JSON, atomic writes, <path>.lockfile)")
        emit("  sqlite: ok (libsqlite3 \(SQLiteTokenCache.libraryVersion), WAL)")
        emit("  encrypted (passphrase-env, passphrase-file, key-file): ok (AES-256-GCM, scrypt)")
        emit("  libsecret: \(keyring?.problem == .libsecretMissing ? "not installed" : "ok (libsecret-1.so.0)")")
        let bus = ProcessInfo.processInfo.environment["DBUS_SESSION_BUS_ADDRESS"]
        emit("  D-Bus session: \(bus == nil ? "DBUS_SESSION_BUS_ADDRESS is not set" : "DBUS_SESSION_BUS_ADDRESS is set")")
        var machine: [DoctorFinding] = []
        let kernel = KernelKeyringStatus.probe()
        if let problem = kernel.problem {
            emit("  kernel keyring: unavailable (\(problem.reason))")
            machine.append(DoctorFinding(problem: problem.reason, fix: "allow the keyctl and add_key system calls (for a container: a seccomp profile that permits them), or use encrypted:PATH?passphrase-env=VAR", status: 0))
        } else {
            emit("  kernel keyring: ok (\(kernel.summary); its keys are gone after a reboot)")
        }
        if let (problem, error) = keyring {
            emit("  keyring: unavailable")
            emit("  encrypted (key in the Secret Service): unavailable, for the same reason")
            machine.append(DoctorFinding(problem: error.reason, fix: Self.fix(for: problem), status: 69))
        } else {
            emit("  keyring: ok (Secret Service reachable, default collection unlocked)")
            emit("  encrypted (key in the Secret Service): ok")
        }
        let defaultSource = keyring == nil ? "the Secret Service" : kernel.problem == nil ? "the kernel keyring (no Secret Service here)" : nil
        emit("  encrypted (the default, encrypted:PATH): \(defaultSource.map { "ok, a new cache keeps its key in " + $0 } ?? "unavailable: neither keyring can be used here; name a passphrase or key file")")
        printFindings(machine)
        // With --store, the exit status is the store's (the keyring counts only if it uses it).
        let usesKeyring = store.map { (try? StoreSession.describe($0))?.usesKeyring ?? false } ?? true
        if usesKeyring, keyring != nil { status = max(status, 69) }
        if status != 0 { throw ExitCode(status) }
    }

    private func printFindings(_ findings: [DoctorFinding]) {
        guard !findings.isEmpty else { return }
        emit("  problems: \(findings.count)")
        findings.forEach { $0.print() }
    }

    /// The command that gets the keyring working, by what is wrong with it.
    static func fix(for problem: KeyringStorage.Problem) -> String {
        switch problem {
        case .libsecretMissing:
            return "sudo apt-get install libsecret-1-0 gnome-keyring"
        case .noSessionBus:
            return "run inside a desktop session, or start one with a keyring: dbus-run-session -- sh -c 'printf \"$KEYRING_PASSWORD\" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec tokencache doctor' (or use encrypted:PATH?passphrase-env=VAR, which needs no keyring)"
        case .noSecretService:
            return "sudo apt-get install gnome-keyring, then log in again (or start gnome-keyring-daemon --start --components=secrets in this session)"
        case .locked, .noDefaultCollection:
            return "printf \"$KEYRING_PASSWORD\" | gnome-keyring-daemon --unlock --components=secrets (or unlock the login keyring in the desktop's Passwords and Keys)"
        case .failed:
            return "restart the Secret Service (log out and in), or use encrypted:PATH?passphrase-env=VAR, which needs no keyring"
        }
    }
}

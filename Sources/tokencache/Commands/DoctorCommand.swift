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
        With --store, also checks that store: that it opens and reads, its protection, its \
        file modes and, for sqlite:, the database's integrity (PRAGMA quick_check) and size; \
        for postgres://, the server's version, the schema version, size and partitions, and \
        that every entry decodes.

        Exit status 0 when everything works, 69 when a store kind is unavailable, 65 when \
        the store is damaged, 77 when its key is wrong.

        Example: tokencache doctor --store sqlite:~/.cache/tokens.db
        """
    )

    @Option(help: ArgumentHelp("A store to check as well.", valueName: "SPEC"))
    var store: String?

    func run() throws {
        if let store { try check(store) }
        var healthy = true
        emit("file: ok (plain MSAL JSON, atomic writes, <path>.lockfile)")
        emit("sqlite: ok (libsqlite3 \(SQLiteTokenCache.libraryVersion), WAL)")
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

    private func emitEntries(_ counts: [CredentialType: Int]) {
        emit("entries: " + CredentialType.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", "))
    }

    /// Reports on one store; throws (and so exits non-zero) when it is damaged or locked.
    private func check(_ spec: String) throws {
        try reportingErrors {
            let session = try StoreSession(spec: spec)
            emit("store: \(session.location)")
            emit("encrypted: \(session.store.isEncrypted ? "yes" : "no")")
            for file in [session.location, session.location + "-wal", session.location + "-shm"] {
                var info = stat()
                guard lstat(file, &info) == 0 else { continue }
                let mode = info.st_mode & 0o777
                emit("mode \(file): \(String(mode, radix: 8))\(mode & 0o077 == 0 ? "" : " (others can read it: chmod 600 \(file))")")
            }
            if let database = session.store as? PostgresTokenCache {
                let health = try database.health()
                emit("server: PostgreSQL \(health.serverVersion)")
                guard health.exists else {
                    emit("store: not created yet (its tables are created on the first write)")
                    return
                }
                emit("schema version: \(health.schemaVersion)")
                emit("size: \(health.sizeBytes) bytes")
                emit("partitions: \(health.partitions)")
                emitEntries(health.entryCounts)
                _ = try session.store.snapshot()
                emit("readable: ok (every entry decoded)")
            } else if let database = session.store as? SQLiteTokenCache {
                let health = try database.health()
                guard health.exists else {
                    emit("database: not created yet (it is created on the first write)")
                    return
                }
                emit("schema version: \(health.schemaVersion)")
                emit("size: \(health.sizeBytes) bytes")
                emitEntries(health.entryCounts)
                emit("integrity: \(health.isOK ? "ok" : health.problems.prefix(5).joined(separator: "; "))")
                if !health.isOK {
                    emit("fix: restore the database from a backup, or export what is readable with tokencache copy and start a new one")
                    throw ExitCode(65)
                }
            } else {
                emitEntries(try session.store.snapshot().entryCounts)
                emit("readable: ok")
            }
        }
    }
}

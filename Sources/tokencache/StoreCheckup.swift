import ArgumentParser
import CacheBackends
import CachePostgres
import Foundation
import TokenCache

/// One problem `doctor` found, with the command that fixes it.
struct DoctorFinding {
    let problem: String
    let fix: String
    /// The exit status the problem earns: 1 for something to fix, or the documented code
    /// of the error it comes from.
    let status: Int32

    func print() {
        emit("  " + Terminal.problem("problem:") + " \(problem)")
        emit("    fix: \(fix)")
    }
}

/// `doctor --store SPEC`: the checks of one store. Each line it prints is a fact; each
/// problem comes with the command that fixes it.
struct StoreCheckup {
    let spec: String
    private(set) var findings: [DoctorFinding] = []

    init(spec: String) {
        self.spec = spec
    }

    /// The worst exit status among the findings, 0 when there are none.
    var status: Int32 {
        findings.map(\.status).max() ?? 0
    }

    /// Runs every check of the store, printing as it goes.
    mutating func run() {
        emit("Store \(spec)")
        let session: StoreSession
        do {
            session = try StoreSession(spec: spec)
        } catch {
            report(error)
            return
        }
        emit("  location: \(session.location)")
        emit("  encrypted: \(session.store.isEncrypted ? "yes" : "no")")
        let isFile = session.description.isSerialized && session.description.localPath != nil
        if let path = session.description.localPath { checkModes(of: path) }
        if isFile { checkLock(FileLock(forCacheAt: session.location)) }
        do {
            if let database = session.store as? PostgresTokenCache {
                try checkPostgres(database, session: session)
            } else if let database = session.store as? SQLiteTokenCache {
                try checkSQLite(database)
            } else if isFile, let storage = session.persistent?.storage {
                let raw = try RawCache(session.description, storage: storage)
                if let origin = raw.keyOrigin { emit("  key: \(origin)") }
                try checkDocument(raw)
            } else {
                emitEntries(try session.store.snapshot().entryCounts)
                emit("  readable: ok")
            }
        } catch {
            report(error)
        }
    }

    // MARK: - Files and the lock

    private mutating func checkModes(of location: String) {
        for file in [location, location + "-wal", location + "-shm"] {
            guard let mode = fileMode(file) else { continue }
            emit("  mode \(file): \(String(format: "%04o", mode))")
            if mode & 0o077 != 0 {
                findings.append(DoctorFinding(problem: "other users can read or change \(file) (mode \(String(format: "%04o", mode)))", fix: "chmod 600 \(Shell.quote(file))", status: 1))
            }
        }
        let folder = (location as NSString).deletingLastPathComponent
        let path = folder.isEmpty ? "." : folder
        guard let mode = fileMode(path) else { return }
        emit("  mode \(path): \(String(format: "%04o", mode))")
        if mode & 0o022 != 0 {
            findings.append(DoctorFinding(problem: "other users can add or replace files in \(path) (mode \(String(format: "%04o", mode))), so they could swap the cache", fix: "chmod 700 \(Shell.quote(path))", status: 1))
        }
    }

    private mutating func checkLock(_ lock: FileLock) {
        switch lock.status() {
        case .free:
            emit("  lock file: none (nobody is writing)")
        case let .held(pid, program) where pid > 0:
            emit("  lock file: held by process \(pid) (\(program)), which is running; writers wait for it")
        case .held:
            emit("  lock file: held by a process that does not name itself; writers wait for it")
        case let .abandoned(pid, program):
            emit("  lock file: abandoned")
            findings.append(DoctorFinding(problem: "the lock file names process \(pid) (\(program)), which is no longer running: it was stopped while writing. This library breaks such a lock by itself, but MSAL Python and .NET apps wait for it until they time out", fix: "rm \(Shell.quote(lock.path))", status: 1))
        case .abandonedEmpty:
            emit("  lock file: abandoned")
            findings.append(DoctorFinding(problem: "the lock file is empty and nobody holds it: its creator stopped before writing its process id. MSAL Python and .NET apps wait for it until they time out", fix: "rm \(Shell.quote(lock.path))", status: 1))
        }
    }

    // MARK: - Contents

    /// A file cache, read at the JSON level so a document the library refuses is still
    /// examined.
    private mutating func checkDocument(_ raw: RawCache) throws {
        emit("  size: \(raw.bytes.count) bytes")
        let report: CacheInspection
        do {
            report = try CacheInspection(document: raw.bytes, now: resolveNow(nil))
        } catch {
            findings.append(DoctorFinding(problem: "the cache is not an MSAL cache document: \(error)", fix: "mv \(Shell.quote(raw.location)) \(Shell.quote(raw.location + ".broken")), then sign in again (or put back a backup, such as \(raw.location).repair-backup-*)", status: 65))
            return
        }
        emit("  accounts: \(report.accounts.count), clients: \(report.clients.count)")
        if report.problems.isEmpty {
            emit("  readable: ok")
            return
        }
        let kinds = Set(report.problems.map(\.kind.rawValue)).sorted().joined(separator: ", ")
        findings.append(DoctorFinding(problem: "\(report.problems.count) entries break MSAL's rules (\(kinds)); `tokencache inspect --store \(Shell.quote(spec))` lists them", fix: "tokencache repair --store \(Shell.quote(spec))", status: 1))
    }

    private mutating func checkSQLite(_ database: SQLiteTokenCache) throws {
        let health = try database.health()
        guard health.exists else {
            emit("  database: not created yet (it is created on the first write)")
            return
        }
        emit("  schema version: \(health.schemaVersion)")
        emit("  size: \(health.sizeBytes) bytes")
        emitEntries(health.entryCounts)
        guard health.isOK else {
            emit("  integrity: damaged")
            let location = database.location
            findings.append(DoctorFinding(problem: "the database is damaged: \(health.problems.prefix(5).joined(separator: "; "))", fix: "tokencache copy --from \(Shell.quote(spec)) --to sqlite:\(Shell.quote(location + ".new")) (what is readable), then mv \(Shell.quote(location + ".new")) \(Shell.quote(location)); or put back a backup", status: 65))
            return
        }
        emit("  integrity: ok")
        // Every entry decoded and checked against its row: a row moved to another user or
        // edited outside this library is named.
        _ = try database.snapshot()
        emit("  readable: ok (every entry decoded and matches its row)")
    }

    private mutating func checkPostgres(_ database: PostgresTokenCache, session: StoreSession) throws {
        let endpoint = database.endpoint
        emit("  tls: \(endpoint.tlsMode.rawValue)\(endpoint.rootCertificates.map { ", CA \($0)" } ?? "")")
        if !isLoopbackHost(endpoint.host), endpoint.tlsMode != .verifyFull {
            findings.append(DoctorFinding(
                problem: "the server \(endpoint.host) is not on this machine and its certificate is not checked (sslmode=\(endpoint.tlsMode.rawValue)): whoever sits on the network path can pose as the database and read the tokens",
                fix: "add sslmode=verify-full to the SPEC, with sslrootcert=FILE (or PGSSLROOTCERT) when a private CA issued the server's certificate",
                status: 1))
        }
        let health = try database.health()
        emit("  server: PostgreSQL \(health.serverVersion)")
        guard health.exists else {
            emit("  store: not created yet (its tables are created on the first write)")
            return
        }
        emit("  schema version: \(health.schemaVersion)")
        emit("  size: \(health.sizeBytes) bytes")
        emit("  partitions: \(health.partitions)")
        emitEntries(health.entryCounts)
        _ = try session.store.snapshot()
        emit("  readable: ok (every entry decoded and matches its row)")
    }

    private func emitEntries(_ counts: [CredentialType: Int]) {
        emit("  entries: " + CredentialType.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", "))
    }

    /// Turns an error from opening or reading the store into a finding.
    private mutating func report(_ error: any Error) {
        let status = CLIFailure.exitCode(for: error)
        let fix: String
        switch (error as? CacheStorageError)?.code {
        case .wrongKey?:
            fix = "name the key the store was written with in the SPEC (?key-file=, ?passphrase-env= or ?passphrase-file=); without it its tokens cannot be read, so move the store aside and sign in again"
        case .keyUnavailable?:
            fix = "make the key source the SPEC names readable (the variable set, the file present and mode 0600), or name another one"
        case .permissionDenied?, .insecurePath?:
            fix = "run as the file's owner, or give the cache file mode 0600 in a folder of yours (chmod 600 FILE; chmod 700 FOLDER)"
        case .lockTimeout?, .timedOut?:
            fix = "wait for the writer that holds the lock to finish, or stop it, then run doctor again"
        case .invalidSpec?:
            fix = "see `tokencache --help` for the SPEC forms"
        default:
            if status == 65, let location = (error as? CacheStorageError)?.location {
                fix = "put back a backup of \(location), or move it aside and sign in again: mv \(Shell.quote(location)) \(Shell.quote(location + ".broken"))"
            } else {
                fix = "follow the advice in the problem, then run doctor again"
            }
        }
        findings.append(DoctorFinding(problem: "\(error)", fix: fix, status: status))
    }
}

/// Quoting for the commands `doctor` suggests.
enum Shell {
    /// `text`, single-quoted when the shell would otherwise read it differently.
    static func quote(_ text: String) -> String {
        let plain = text.allSatisfy { $0.isLetter || $0.isNumber || "/._-:=+,@%~".contains($0) }
        return plain && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

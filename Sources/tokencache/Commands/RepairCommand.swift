import ArgumentParser
import CacheBackends
import Foundation
import TokenCache

/// `tokencache repair`: fixes what `inspect` flags, after a backup, without losing a usable
/// token.
struct RepairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Fix the problems inspect reports, after writing a backup.",
        discussion: """
        Under the store's lock: duplicate entries keep the newest copy, entries under the \
        wrong key move to the key MSAL computes, unusable entries (no secret, an access token \
        without expires_on or with a null target) go, and a refresh token that still has its \
        secret is always kept. The store's file is first copied, as it is (still encrypted for \
        encrypted:), to PATH.repair-backup-TIME (mode 0600). A second repair changes nothing.

        Works on file: and encrypted: stores. Database stores check every write, so they \
        cannot hold these problems; a keyring item can be copied to a file with `tokencache copy`.

        Example: tokencache repair --store file:~/.azure/msal_token_cache.json
        """
    )

    @OptionGroup var store: StoreOptions
    @Flag(help: "Print JSON instead of text.")
    var json = false
    @Option(help: "The clock, in Unix seconds (default: now); it also names the backup.")
    var now: Int64?

    func run() throws {
        try reportingErrors {
            let description = try StoreSession.describe(store.store)
            guard description.isSerialized, description.localPath != nil else {
                throw ValidationError("repair works on file: and encrypted: stores; copy a keyring item to one with `tokencache copy` first (database stores check every write and need no repair)")
            }
            let clock = resolveNow(now)
            let persistent = try description.openPersistent()
            let outcome: Outcome = try persistent.lock.withLock {
                let raw = try RawCache(description, storage: persistent.storage)
                let report = try CacheInspection(document: raw.bytes, now: clock)
                guard let repaired = report.repairedDocument else { return Outcome(backup: nil, problems: report.problems) }
                let backup = "\(raw.location).repair-backup-\(clock)"
                try Self.writeBackup(of: raw.location, to: backup)
                try persistent.storage.save(Data(repaired))
                return Outcome(backup: backup, problems: report.problems)
            }
            if json {
                try emitJSON(outcome)
                return
            }
            guard let backup = outcome.backup else {
                emit(outcome.problems.isEmpty ? "nothing to repair" : "nothing repair can fix; \(outcome.problems.count) problem(s) left as they are (see inspect)")
                return
            }
            emit("backup: \(backup)")
            for problem in outcome.problems {
                emit("\(problem.fixable ? "fixed" : "left") [\(problem.kind.rawValue)] \(problem.section) \"\(problem.key)\": \(problem.fix)")
            }
            emit("repaired \(outcome.problems.filter(\.fixable).count) problem(s)")
        }
    }

    /// What repair did.
    struct Outcome: Encodable {
        let backup: String?
        let problems: [CacheInspection.Problem]
    }

    /// Copies the store's file byte for byte to `backup`, created 0600 and never over an
    /// existing file.
    static func writeBackup(of path: String, to backup: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let descriptor = open(backup, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw InputFileError(path: backup, missing: false, reason: "the backup cannot be created (\(String(cString: strerror(errno)))); nothing was changed")
        }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            throw InputFileError(path: backup, missing: false, reason: "the backup could not be written in full; nothing was changed")
        }
    }
}

import ArgumentParser
import Foundation

/// `tokencache`: inspect and change MSAL token caches from the command line.
@main
struct TokenCacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokencache",
        abstract: "Inspect and change MSAL-compatible token caches.",
        discussion: """
        A store is named by a SPEC: file:PATH, a plain MSAL JSON file shared with MSAL \
        Python (msal-extensions FilePersistence layout); encrypted:PATH, the same cache \
        encrypted with AES-256-GCM (?passphrase-env=VAR, ?passphrase-file=PATH or \
        ?key-file=PATH; without them the key is kept in the keyring).

        Exit codes: 0 ok, 1 problems found (inspect), 3 miss (or sign in again), 64 usage, 65 bad data (or a refusal \
        from the identity provider), 66 missing input file, 69 storage or provider \
        unavailable, 75 lock timeout or time-out, 77 permission denied, wrong key or a \
        refused client credential. A usage error is one line on standard error.

        --verbose (anywhere before --) logs what the command does on standard error, with \
        tokens, codes and passwords redacted. Progress of long operations is drawn on \
        standard error, and problems are coloured, only on a terminal (NO_COLOR turns colour off).

        Shell completions: tokencache --generate-completion-script bash|zsh|fish.
        """,
        subcommands: [
            AccountsCommand.self, TokensCommand.self, AddResponseCommand.self, LookupCommand.self,
            RemoveAccountCommand.self, PruneCommand.self, CopyCommand.self, WithLockCommand.self, RekeyCommand.self, DoctorCommand.self, BenchCommand.self,
            InspectCommand.self, RepairCommand.self,
            LoginCommand.self, TokenCommand.self, LogoutCommand.self,
        ]
    )
}

extension TokenCacheCommand {
    /// Parses and runs a command. A usage error prints one line, `tokencache: MESSAGE (see
    /// tokencache COMMAND --help)`, and exits 64; `--help` and the rest behave as usual.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        VerboseLog.take(from: &arguments)
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            guard !(error is ExitCode), exitCode(for: error) == .validationFailure else { exit(withError: error) }
            let message = message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
            let names = configuration.subcommands.map { $0._commandName }
            let command = (["tokencache"] + arguments.filter { names.contains($0) }.prefix(1)).joined(separator: " ")
            FileHandle.standardError.write(Data("tokencache: \(message) (see \(command) --help)\n".utf8))
            Foundation.exit(64)
        }
    }
}

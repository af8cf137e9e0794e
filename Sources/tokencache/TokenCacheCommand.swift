import ArgumentParser

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
        refused client credential.
        """,
        subcommands: [
            AccountsCommand.self, TokensCommand.self, AddResponseCommand.self, LookupCommand.self,
            RemoveAccountCommand.self, PruneCommand.self, CopyCommand.self, WithLockCommand.self, RekeyCommand.self, DoctorCommand.self,
            InspectCommand.self, RepairCommand.self,
            LoginCommand.self, TokenCommand.self, LogoutCommand.self,
        ]
    )
}

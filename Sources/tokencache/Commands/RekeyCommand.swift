import ArgumentParser
import TokenCache

/// `tokencache rekey`: re-encrypt a store under a new key or key source.
struct RekeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rekey",
        abstract: "Re-encrypt a cache under a new key or key source, keeping every entry.",
        discussion: """
        Both SPECs name the same file; the new one says how to encrypt it from now on.

        Example: tokencache rekey --store "encrypted:tokens.bin?passphrase-env=OLD" --to "encrypted:tokens.bin?key-file=new.key"
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(help: ArgumentHelp("The same store with its new key source.", valueName: "SPEC"))
    var to: String

    func run() throws {
        try reportingErrors {
            let old = try StoreSession(spec: store.store)
            let new = try StoreSession(spec: to)
            guard old.location == new.location else {
                throw ValidationError("--store and --to must name the same file (\(old.location) and \(new.location)); use copy to move a cache")
            }
            guard let oldCache = old.persistent, let newCache = new.persistent else {
                throw ValidationError("rekey works on encrypted: files; to re-encrypt a sqlite: store, copy it to a new path with the new key source (tokencache copy --from OLD --to NEW)")
            }
            let count = try oldCache.lock.withLock { () -> Int in
                guard let plaintext = try Progress.step("decrypting with the old key", { try oldCache.storage.load() }) else { return 0 }
                try Progress.step("encrypting with the new key and writing") { try newCache.storage.save(plaintext) }
                return try TokenCache(serialized: plaintext).entryCounts.values.reduce(0, +)
            }
            emit("Re-encrypted \(count) entries in \(new.location).")
        }
    }
}

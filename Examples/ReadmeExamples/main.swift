// The README's Swift examples, one file per code block. Each is a function, compiled with
// the package and not run here: every one needs a real cache file, the keyring or an
// identity provider. README.md shows each file whole (ReadmeExamplesTests checks that).

print("""
    The README's examples compile: usingTheCache (UsingTheCache.swift),
    storeBySpec (StoreBySpec.swift) and acquiringTokens (AcquiringTokens.swift).
    They are not run: they need a real cache file, the keyring or an identity provider.
    """)

import TokenCache

// libFuzzer entry point: the cache reader must never crash, and whatever it accepts must
// serialize to text it reads back to the same bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCacheReader(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let cache = try? TokenCache(serialized: Array(bytes)) else { return 0 }
    let written = cache.serialize()
    guard let reread = try? TokenCache(serialized: written), reread.serialize() == written else {
        fatalError("a cache the reader accepted did not round-trip")
    }
    _ = cache.accounts(environment: "login.microsoftonline.com")
    return 0
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import TokenCache

/// libsecret and GLib, loaded when first needed with `dlopen`, so a program that uses only
/// file, passphrase-encrypted or other stores runs on a machine without libsecret. Only the
/// non-variadic `…v_sync` functions are used. No C type leaves this file.
final class Libsecret: @unchecked Sendable {
    // @unchecked: the function pointers are set once in `init` and never change.

    /// A `GError **`. A `GError` is `{ guint32 domain; gint code; gchar *message; }`.
    private typealias ErrorOut = UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let schemaNew: @convention(c) (UnsafePointer<CChar>, Int32, OpaquePointer?) -> OpaquePointer?
    private let schemaUnref: @convention(c) (OpaquePointer?) -> Void
    private let store: @convention(c) (OpaquePointer?, OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>, UnsafePointer<CChar>, OpaquePointer?, ErrorOut?) -> Int32
    private let lookup: @convention(c) (OpaquePointer?, OpaquePointer?, OpaquePointer?, ErrorOut?) -> UnsafeMutablePointer<CChar>?
    private let clear: @convention(c) (OpaquePointer?, OpaquePointer?, OpaquePointer?, ErrorOut?) -> Int32
    private let passwordFree: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void
    private let hashTableNew: @convention(c) (UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?) -> OpaquePointer?
    private let hashTableInsert: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    private let hashTableUnref: @convention(c) (OpaquePointer?) -> Void
    private let strdup: @convention(c) (UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>?
    private let errorFree: @convention(c) (UnsafeMutableRawPointer?) -> Void
    private let quarkToString: @convention(c) (UInt32) -> UnsafePointer<CChar>?
    private let strHash: UnsafeRawPointer
    private let strEqual: UnsafeRawPointer
    private let free: UnsafeRawPointer

    /// The schema flag that matches items by attributes only, ignoring the schema name.
    /// The corresponding C constant is `SECRET_SCHEMA_DONT_MATCH_NAME`.
    static let dontMatchName: Int32 = 1 << 1

    private static let loaded: Result<Libsecret, CacheStorageError> = {
        do throws(CacheStorageError) { return .success(try Libsecret()) } catch { return .failure(error) }
    }()

    /// The library, loaded once.
    static func shared() throws(CacheStorageError) -> Libsecret { try loaded.get() }

    private init() throws(CacheStorageError) {
        guard let secret = dlopen("libsecret-1.so.0", RTLD_NOW | RTLD_GLOBAL) else {
            throw CacheStorageError(code: .unavailable, location: "keyring", reason: "libsecret is not installed (libsecret-1.so.0 could not be loaded). Install it (Debian: apt-get install libsecret-1-0 gnome-keyring), or use encrypted:PATH?passphrase-env=VAR")
        }
        let glib = dlopen("libglib-2.0.so.0", RTLD_NOW | RTLD_GLOBAL)
        func symbol(_ handle: UnsafeMutableRawPointer?, _ name: String) throws(CacheStorageError) -> UnsafeMutableRawPointer {
            guard let pointer = dlsym(handle, name) else {
                throw CacheStorageError(code: .unavailable, location: "keyring", reason: "the installed libsecret or GLib lacks \(name); install libsecret 0.18 or later")
            }
            return pointer
        }
        schemaNew = unsafeBitCast(try symbol(secret, "secret_schema_newv"), to: (@convention(c) (UnsafePointer<CChar>, Int32, OpaquePointer?) -> OpaquePointer?).self)
        schemaUnref = unsafeBitCast(try symbol(secret, "secret_schema_unref"), to: (@convention(c) (OpaquePointer?) -> Void).self)
        store = unsafeBitCast(try symbol(secret, "secret_password_storev_sync"), to: (@convention(c) (OpaquePointer?, OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>, UnsafePointer<CChar>, OpaquePointer?, ErrorOut?) -> Int32).self)
        lookup = unsafeBitCast(try symbol(secret, "secret_password_lookupv_sync"), to: (@convention(c) (OpaquePointer?, OpaquePointer?, OpaquePointer?, ErrorOut?) -> UnsafeMutablePointer<CChar>?).self)
        clear = unsafeBitCast(try symbol(secret, "secret_password_clearv_sync"), to: (@convention(c) (OpaquePointer?, OpaquePointer?, OpaquePointer?, ErrorOut?) -> Int32).self)
        passwordFree = unsafeBitCast(try symbol(secret, "secret_password_free"), to: (@convention(c) (UnsafeMutablePointer<CChar>?) -> Void).self)
        hashTableNew = unsafeBitCast(try symbol(glib, "g_hash_table_new_full"), to: (@convention(c) (UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?) -> OpaquePointer?).self)
        hashTableInsert = unsafeBitCast(try symbol(glib, "g_hash_table_insert"), to: (@convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32).self)
        hashTableUnref = unsafeBitCast(try symbol(glib, "g_hash_table_unref"), to: (@convention(c) (OpaquePointer?) -> Void).self)
        strdup = unsafeBitCast(try symbol(glib, "g_strdup"), to: (@convention(c) (UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>?).self)
        errorFree = unsafeBitCast(try symbol(glib, "g_error_free"), to: (@convention(c) (UnsafeMutableRawPointer?) -> Void).self)
        quarkToString = unsafeBitCast(try symbol(glib, "g_quark_to_string"), to: (@convention(c) (UInt32) -> UnsafePointer<CChar>?).self)
        strHash = UnsafeRawPointer(try symbol(glib, "g_str_hash"))
        strEqual = UnsafeRawPointer(try symbol(glib, "g_str_equal"))
        free = UnsafeRawPointer(try symbol(glib, "g_free"))
    }

    /// A failure reported by libsecret or the Secret Service, with its GError domain.
    struct Failure: Error {
        let domain: String
        let code: Int32
        let message: String
    }

    /// A schema plus attribute values: what identifies one item.
    struct Item {
        let schema: String
        let attributes: [String: String]
        let flags: Int32
    }

    private func withItem<R>(_ item: Item, _ body: (OpaquePointer?, OpaquePointer?) throws -> R) rethrows -> R {
        let names = hashTableNew(strHash, strEqual, free, nil)
        for name in item.attributes.keys { _ = hashTableInsert(names, strdup(name), nil) }  // SECRET_SCHEMA_ATTRIBUTE_STRING is 0
        let schema = schemaNew(item.schema, item.flags, names)
        hashTableUnref(names)
        defer { schemaUnref(schema) }
        let values = hashTableNew(strHash, strEqual, free, free)
        for (name, value) in item.attributes { _ = hashTableInsert(values, strdup(name), strdup(value)) }
        defer { hashTableUnref(values) }
        return try body(schema, values)
    }

    private func takeError(_ error: UnsafeMutableRawPointer?) -> Failure? {
        guard let error else { return nil }
        defer { errorFree(error) }
        let domain = quarkToString(error.load(as: UInt32.self)).map { String(cString: $0) } ?? "?"
        let code = error.load(fromByteOffset: 4, as: Int32.self)
        let message = error.load(fromByteOffset: 8, as: UnsafePointer<CChar>?.self).map { String(cString: $0) } ?? ""
        return Failure(domain: domain, code: code, message: message)
    }

    /// Stores `secret` (no NUL bytes) in the default collection. The corresponding C
    /// function is `secret_password_storev_sync`. The C string made of it is wiped after.
    func store(_ item: Item, label: String, secret: Data) throws(Failure) {
        var error: UnsafeMutableRawPointer?
        var text = [UInt8](secret) + [0]
        defer { text.wipe() }
        let ok = text.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { characters in
                withItem(item) { schema, attributes in store(schema, attributes, nil, label, characters.baseAddress!, nil, &error) }
            }
        }
        if let failure = takeError(error) { throw failure }
        guard ok != 0 else { throw Failure(domain: "secret-error", code: -1, message: "the Secret Service refused to store the item") }
    }

    /// The item's secret, or `nil` when there is none (or the collection is locked; libsecret
    /// does not tell these apart). The corresponding C function is
    /// `secret_password_lookupv_sync`.
    func lookup(_ item: Item) throws(Failure) -> Data? {
        var error: UnsafeMutableRawPointer?
        let found = withItem(item) { schema, attributes in lookup(schema, attributes, nil, &error) }
        if let failure = takeError(error) { throw failure }
        guard let found else { return nil }
        defer { passwordFree(found) }  // wipes the copy libsecret made
        return Data(bytes: found, count: strlen(found))
    }

    /// Deletes the item. The corresponding C function is `secret_password_clearv_sync`.
    func clear(_ item: Item) throws(Failure) {
        var error: UnsafeMutableRawPointer?
        _ = withItem(item) { schema, attributes in clear(schema, attributes, nil, &error) }
        if let failure = takeError(error) { throw failure }
    }
}

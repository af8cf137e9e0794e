import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// `encrypted:PATH` on a machine without a Secret Service: the data key in the kernel
/// keyring, the ladder between the two keyrings, a lost key, and who may read the key.
/// The keys are real keys in this user's persistent kernel keyring; each test takes its
/// own out again.
@Suite("Kernel keyring")
struct KernelKeyringTests {
    /// Runs `tokencache` as in an SSH session, a container or a CI runner: no D-Bus session
    /// bus, no display, and a runtime folder without a bus socket.
    static func headless(_ arguments: [String], in folder: URL) throws -> CLIProcess.Result {
        let runtime = folder.appendingPathComponent("runtime")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true)
        return try CLIProcess.runProcess(CLIProcess.executable, arguments, environment: ["XDG_RUNTIME_DIR": runtime.path],
                                         unsetting: ["DBUS_SESSION_BUS_ADDRESS", "DISPLAY"])
    }

    /// Signs `user` in to the cache `store`, headless or in the test's own environment.
    static func signIn(_ user: String, store: String, in folder: URL, headless: Bool = true) throws -> CLIProcess.Result {
        let response = folder.appendingPathComponent("r-\(user).json")
        try Data(PersistenceInteropTests.signIn(user).utf8).write(to: response)
        let arguments = PersistenceInteropTests.addArguments(store: store, response: response.path)
        return headless ? try Self.headless(arguments, in: folder) : try CLIProcess.run(arguments)
    }

    /// The key source byte of an encrypted file's header: 1 Secret Service, 4 kernel keyring.
    static func keySource(_ path: String) throws -> UInt8 {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        return bytes.count > 5 ? bytes[5] : 0
    }

    /// A digest of the cache's kernel key (never the key), read by the Python module.
    static func keyDigest(_ path: String) throws -> String {
        try PythonPeer.run([PythonPeer.script("encrypted_peer.py"), "keydigest", path]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("Without a D-Bus session, encrypted:PATH keeps its key in the kernel keyring: written, read back, no plaintext, named by doctor")
    func headlessRoundTrip() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.bin").path
            defer { _ = try? KernelKeys.unlink(path) }
            let added = try Self.signIn("kernel-user", store: "encrypted:\(path)", in: folder)
            #expect(added.status == 0, "\(added.stderr)")
            #expect(try Self.keySource(path) == 4)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            for plaintext in ["at-kernel-user", "rt-kernel-user", "AccessToken", "kernel-user"] {
                #expect(bytes.range(of: Data(plaintext.utf8)) == nil, "\(plaintext) is in the file")
            }
            let listed = try Self.headless(["accounts", "--store", "encrypted:\(path)"], in: folder)
            #expect(listed.status == 0, "\(listed.stderr)")
            #expect(listed.stdout.contains("kernel-user.tenant"))

            let doctor = try Self.headless(["doctor", "--store", "encrypted:\(path)"], in: folder)
            #expect(doctor.stdout.contains("key: a data key in the kernel keyring"), "\(doctor.stdout)")
            #expect(doctor.stdout.contains("kernel keyring: ok"))
            #expect(doctor.stdout.contains("encrypted (the default, encrypted:PATH): ok, a new cache keeps its key in the kernel keyring"))
            #expect(!doctor.stdout.contains("at-kernel-user") && !doctor.stderr.contains("at-kernel-user"))
            let verbose = try Self.headless(["--verbose", "accounts", "--store", "encrypted:\(path)"], in: folder)
            #expect(verbose.stderr.contains("source=a data key in the kernel keyring"), "\(verbose.stderr)")
            let inspect = try Self.headless(["inspect", "--store", "encrypted:\(path)"], in: folder)
            #expect(inspect.stdout.contains("key: a data key in the kernel keyring"), "\(inspect.stdout)")
        }
    }

    @Test("With the Secret Service, encrypted:PATH uses it; each file is read with the source its header names, or refused with 77 naming it",
          .enabled(if: PythonPeer.hasPrivateKeyring, "no private keyring: run under scripts/with-keyring.sh"))
    func ladder() throws {
        try withTemporaryDirectory { folder in
            let desktop = folder.appendingPathComponent("desktop.bin").path
            let server = folder.appendingPathComponent("server.bin").path
            defer { _ = try? KernelKeys.unlink(server) }
            let onDesktop = try Self.signIn("desktop-user", store: "encrypted:\(desktop)", in: folder, headless: false)
            #expect(onDesktop.status == 0, "\(onDesktop.stderr)")
            #expect(try Self.keySource(desktop) == 1)
            let doctor = try CLIProcess.run(["doctor", "--store", "encrypted:\(desktop)"])
            #expect(doctor.stdout.contains("key: a data key in the Secret Service keyring"), "\(doctor.stdout)")
            #expect(doctor.stdout.contains("encrypted (the default, encrypted:PATH): ok, a new cache keeps its key in the Secret Service"))

            let onServer = try Self.signIn("server-user", store: "encrypted:\(server)", in: folder)
            #expect(onServer.status == 0, "\(onServer.stderr)")
            #expect(try Self.keySource(server) == 4)

            // The kernel-keyed file, where the Secret Service answers: still the kernel's key.
            let serverOnDesktop = try CLIProcess.run(["accounts", "--store", "encrypted:\(server)"])
            #expect(serverOnDesktop.status == 0, "\(serverOnDesktop.stderr)")
            #expect(serverOnDesktop.stdout.contains("server-user.tenant"))
            let more = try Self.signIn("second-user", store: "encrypted:\(server)", in: folder, headless: false)
            #expect(more.status == 0, "\(more.stderr)")
            #expect(try Self.keySource(server) == 4)

            // The Secret-Service-keyed file without a Secret Service: 77, naming it.
            let before = try Data(contentsOf: URL(fileURLWithPath: desktop))
            let desktopOnServer = try Self.headless(["accounts", "--store", "encrypted:\(desktop)"], in: folder)
            #expect(desktopOnServer.status == 77, "\(desktopOnServer.stderr)")
            #expect(desktopOnServer.stderr.contains("Secret Service"))
            #expect(desktopOnServer.stderr.split(separator: "\n").count == 1)
            #expect(try Data(contentsOf: URL(fileURLWithPath: desktop)) == before)

            // An explicit source that is not the file's is a wrong key, as before.
            let wrong = try CLIProcess.run(["accounts", "--store", "encrypted:\(server)?key=keyring"])
            #expect(wrong.status == 77, "\(wrong.stderr)")
            #expect(wrong.stderr.contains("kernel keyring"))
        }
    }

    @Test("The kernel key lost: 77 saying why, the file untouched; --reset-if-key-lost moves it aside and starts an empty cache")
    func lostKey() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("cache.bin").path
            defer { _ = try? KernelKeys.unlink(path) }
            let added = try Self.signIn("lost-user", store: "encrypted:\(path)?key=kernel", in: folder)
            #expect(added.status == 0, "\(added.stderr)")
            #expect(try KernelKeys.unlink(path), "keyctl found no key to unlink")
            let before = try Data(contentsOf: URL(fileURLWithPath: path))

            for spec in ["encrypted:\(path)", "encrypted:\(path)?key=kernel"] {
                let failed = try Self.headless(["accounts", "--store", spec], in: folder)
                #expect(failed.status == 77, "\(failed.stderr)")
                #expect(failed.stderr.contains("the data key in the kernel keyring is gone, as it is after a reboot"), "\(failed.stderr)")
                #expect(failed.stderr.contains("cannot be decrypted") && failed.stderr.contains("rekey"))
                #expect(failed.stderr.split(separator: "\n").count == 1)
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

            let reset = try Self.headless(["accounts", "--store", "encrypted:\(path)", "--reset-if-key-lost"], in: folder)
            #expect(reset.status == 0, "\(reset.stderr)")
            #expect(reset.stderr.contains("key-lost-"))
            #expect(reset.stdout.contains("No accounts"))
            let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            let aside = names.filter { $0.hasPrefix("cache.bin.key-lost-") }
            #expect(aside.count == 1)
            if let name = aside.first {
                #expect(try Data(contentsOf: folder.appendingPathComponent(name)) == before)
            }
            #expect(try Self.keySource(path) == 4)
            let again = try Self.signIn("after-reset", store: "encrypted:\(path)", in: folder)
            #expect(again.status == 0, "\(again.stderr)")
            let listed = try Self.headless(["accounts", "--store", "encrypted:\(path)"], in: folder)
            #expect(listed.stdout.contains("after-reset.tenant") && !listed.stdout.contains("lost-user"))
        }
    }

    @Test("Processes making one cache's key at once all end up with the same key; ./ and .. in a path name the same key in Swift and Python",
          .enabled(if: PythonPeer.shouldRun, "MSAL Python venv missing: run the README's test command"))
    func racingProcessesAgree() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("raced/cache.bin").path
            defer { _ = try? KernelKeys.unlink(path) }
            let makers = try (0..<8).map { _ in try BackgroundProcess(PythonPeer.python, [PythonPeer.script("encrypted_peer.py"), "makekey", path]) }
            let digests = Set(makers.map { $0.wait().stdout.trimmingCharacters(in: .whitespacesAndNewlines) })
            #expect(digests.count == 1 && !digests.contains("none") && !digests.contains(""), "\(digests.count) different keys")
            // The same cache named another way: Swift writes with the key Python made.
            let spelled = folder.path + "/raced/./../raced//cache.bin"
            let added = try Self.signIn("spelled", store: "encrypted:\(spelled)?key=kernel", in: folder)
            #expect(added.status == 0, "\(added.stderr)")
            #expect(Set([try Self.keyDigest(path)]) == digests)
        }
    }

    @Test("Two caches get two keys; another user can neither find nor read this user's key",
          .enabled(if: PythonPeer.isCI || geteuid() == 0, "starts another user with setpriv, which needs root (as in CI)"))
    func keysArePerCacheAndPerUser() throws {
        try withTemporaryDirectory { folder in
            let first = folder.appendingPathComponent("a/cache.bin").path
            let second = folder.appendingPathComponent("b/cache.bin").path
            defer {
                _ = try? KernelKeys.unlink(first)
                _ = try? KernelKeys.unlink(second)
            }
            for (user, path) in [("first", first), ("second", second)] {
                let added = try Self.signIn(user, store: "encrypted:\(path)?key=kernel", in: folder)
                #expect(added.status == 0, "\(added.stderr)")
            }
            let digests = try [first, second].map(Self.keyDigest)
            #expect(!digests.contains("none"))
            #expect(digests[0] != digests[1])

            // Another user (nobody, uid 65534) looks for the first cache's key in its own
            // keyrings, asks for this user's persistent keyring, and reads the key by its
            // serial.
            let serial = try #require(try KernelKeys.serial(first))
            let probe = """
                import ctypes, errno, os, sys
                libc = ctypes.CDLL(None, use_errno=True)
                libc.syscall.restype = ctypes.c_long
                keyctl = {"x86_64": 250, "aarch64": 219}[os.uname().machine]
                def call(*args):
                    result = libc.syscall(ctypes.c_long(keyctl), *[a if isinstance(a, (bytes, ctypes.Array)) else ctypes.c_long(a) for a in args])
                    return result, ctypes.get_errno() if result < 0 else 0
                ring, _ = call(22, -1, -2)
                found, error = call(10, ring, b"user", sys.argv[1].encode(), 0)
                print("own:", "found" if found >= 0 else errno.errorcode[error])
                theirs, error = call(22, int(sys.argv[2]), -2)
                print("theirs:", "granted" if theirs >= 0 else errno.errorcode[error])
                buffer = ctypes.create_string_buffer(64)
                size, error = call(11, int(sys.argv[3]), buffer, 64)
                print("read:", "granted" if size >= 0 else errno.errorcode[error])
                """
            let other = try CLIProcess.runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", probe,
                                                                       KernelKeys.description(first), String(geteuid()), String(serial)])
            #expect(other.status == 0, "\(other.stderr)")
            #expect(other.stdout.contains("own: ENOKEY"), "\(other.stdout)")
            #expect(other.stdout.contains("theirs: EPERM"), "\(other.stdout)")
            #expect(other.stdout.contains("read: EACCES"), "\(other.stdout)")
        }
    }
}

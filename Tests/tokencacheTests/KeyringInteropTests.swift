import Foundation
import Testing
import TokenCache
import TokenCacheTesting

/// The keyring store against a real gnome-keyring in a private D-Bus session (the test
/// command runs the suite under scripts/with-keyring.sh), shared with msal-extensions'
/// LibsecretPersistence. Outside CI it is skipped without a keyring; in CI it always runs.
@Suite("Keyring shared with MSAL Python", .enabled(if: PythonPeer.hasPrivateKeyring, "no private keyring: run under scripts/with-keyring.sh"))
struct KeyringInteropTests {
    static func pythonAccounts(_ profile: String, _ signal: String) throws -> Set<String> {
        let output = try PythonPeer.run([PythonPeer.script("keyring_peer.py"), "accounts", profile, signal])
        guard case .array(let ids) = try JSONValue(parsing: Data(output.utf8)) else { return [] }
        return Set(ids.compactMap(\.stringValue))
    }

    static func response(_ user: String, in folder: URL) throws -> String {
        let file = folder.appendingPathComponent("r-\(user).json")
        try Data(PersistenceInteropTests.signIn(user).utf8).write(to: file)
        return file.path
    }

    @Test("The keyring is reachable here (a CI run without it fails)")
    func keyringIsReachable() throws {
        let doctor = try CLIProcess.run(["doctor"])
        #expect(doctor.status == 0, "\(doctor.stdout)")
        #expect(doctor.stdout.contains("keyring: ok"))
    }

    @Test("MSAL Python saves, we read; we save, MSAL Python reads", arguments: ["msal-extensions", "azure-identity"])
    func bothWays(profile: String) throws {
        try withTemporaryDirectory { folder in
            let signal = folder.appendingPathComponent("\(profile).cache").path
            let store = "keyring:\(profile)?signal=\(signal)"
            try PythonPeer.run([PythonPeer.script("keyring_peer.py"), "write", profile, signal, "py", "1", "1700000000"])
            let listed = try CLIProcess.run(["accounts", "--store", store, "--json"])
            #expect(listed.status == 0, "\(listed.stderr)")
            #expect(listed.stdout.contains("kppy-0.tenant"))
            let added = try CLIProcess.run(PersistenceInteropTests.addArguments(store: store, response: try KeyringInteropTests.response("swift-\(profile)", in: folder)))
            #expect(added.status == 0, "\(added.stderr)")
            #expect(try KeyringInteropTests.pythonAccounts(profile, signal) == ["kppy-0.tenant", "swift-\(profile).tenant"])
            // No plaintext copy appears beside the signal file.
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            for name in files where name.hasPrefix(profile) {
                let size = (try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.size] as? Int) ?? 0
                #expect(size == 0, "\(name) holds \(size) bytes; the keyring store must not write the cache to disk")
            }
        }
    }

    @Test("10 Swift and 10 MSAL Python writers on one keyring item lose nothing")
    func mixedWriters() throws {
        try withTemporaryDirectory { folder in
            let signal = folder.appendingPathComponent("shared.cache").path
            let store = "keyring:msal-extensions?signal=\(signal)"
            var writers: [BackgroundProcess] = []
            for writer in 0..<10 {
                var script = ""
                for index in 0..<2 {
                    let arguments = PersistenceInteropTests.addArguments(store: store, response: try KeyringInteropTests.response("ks\(writer)-\(index)", in: folder)).map { "'\($0)'" }.joined(separator: " ")
                    script += "'\(CLIProcess.executable)' \(arguments) || exit 1\n"
                }
                writers.append(try BackgroundProcess("/bin/sh", ["-c", script]))
                writers.append(try BackgroundProcess(PythonPeer.python, [PythonPeer.script("keyring_peer.py"), "write", "msal-extensions", signal, String(writer), "2", "1700000000"]))
            }
            for failure in BackgroundProcess.failures(writers) {
                Issue.record("a writer failed: \(failure.stderr.suffix(400))")
            }
            let expected = PersistenceInteropTests.writtenAccounts(prefixes: ["ks", "kp"], writers: 10, perWriter: 2)
            let found = try KeyringInteropTests.pythonAccounts("msal-extensions", signal)
            #expect(expected.subtracting(found).isEmpty, "lost: \(expected.subtracting(found).sorted())")
        }
    }

    @Test("encrypted:PATH keeps its data key in the keyring; without the key it is wrong-key, never plaintext")
    func encryptedWithKeyringKey() throws {
        try withTemporaryDirectory { folder in
            let path = folder.appendingPathComponent("tokens.bin").path
            let added = try CLIProcess.run(PersistenceInteropTests.addArguments(store: "encrypted:" + path, response: try KeyringInteropTests.response("kk", in: folder)))
            #expect(added.status == 0, "\(added.stderr)")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(bytes.prefix(4) == Data("TKCE".utf8))
            #expect(bytes.range(of: Data("at-kk".utf8)) == nil)
            #expect(try CLIProcess.run(["accounts", "--store", "encrypted:" + path]).stdout.contains("kk.tenant"))
            // Re-encrypt under a passphrase, then read it with that passphrase.
            let rekeyed = try CLIProcess.runProcess(CLIProcess.executable, ["rekey", "--store", "encrypted:" + path, "--to", "encrypted:\(path)?passphrase-env=REKEY_PASS"], environment: ["REKEY_PASS": "new passphrase"])
            #expect(rekeyed.status == 0, "\(rekeyed.stderr)")
            let reread = try CLIProcess.runProcess(CLIProcess.executable, ["accounts", "--store", "encrypted:\(path)?passphrase-env=REKEY_PASS"], environment: ["REKEY_PASS": "new passphrase"])
            #expect(reread.stdout.contains("kk.tenant"))
            #expect(try CLIProcess.run(["accounts", "--store", "encrypted:" + path]).status == 77)
        }
    }

    @Test("Headless: no bus, a bus without a Secret Service, a locked collection: each exit 69, nothing lost or written in plaintext")
    func headlessMatrix() throws {
        try withTemporaryDirectory { folder in
            let signal = folder.appendingPathComponent("h.cache").path
            let store = "keyring:msal-extensions?signal=\(signal)"
            let response = try KeyringInteropTests.response("headless", in: folder)

            let noBus = try CLIProcess.runProcess(CLIProcess.executable, PersistenceInteropTests.addArguments(store: store, response: response), unsetting: ["DBUS_SESSION_BUS_ADDRESS", "DISPLAY"])
            #expect(noBus.status == 69, "\(noBus.stderr)")
            #expect(noBus.stderr.contains("D-Bus"))
            #expect(try CLIProcess.runProcess(CLIProcess.executable, ["doctor"], unsetting: ["DBUS_SESSION_BUS_ADDRESS", "DISPLAY"]).status == 69)

            let config = folder.appendingPathComponent("bus.conf")
            try Data("""
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig><type>session</type><listen>unix:dir=\(folder.path)</listen>
            <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
            """.utf8).write(to: config)
            let bus = try BackgroundProcess("/usr/bin/dbus-daemon", ["--config-file=\(config.path)", "--nofork", "--print-address"])
            // SIGKILL: children of the test runner's worker threads start with SIGTERM blocked.
            defer { bus.send(SIGKILL); bus.wait() }
            #expect(bus.waitForOutput("unix:"))
            let address = bus.currentOutput().split(separator: "\n").first.map(String.init) ?? ""
            let noProvider = try CLIProcess.runProcess(CLIProcess.executable, PersistenceInteropTests.addArguments(store: store, response: response), environment: ["DBUS_SESSION_BUS_ADDRESS": address])
            #expect(noProvider.status == 69, "\(noProvider.stderr)")
            #expect(noProvider.stderr.contains("Secret Service"))

            // A locked collection, in a private session of its own so other tests keep theirs.
            let tc = CLIProcess.executable
            let add = PersistenceInteropTests.addArguments(store: store, response: response).map { "'\($0)'" }.joined(separator: " ")
            let script = """
            '\(tc)' \(add) || exit 10
            gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" >/dev/null || exit 11
            '\(tc)' accounts --store '\(store)'; echo "locked-read=$?"
            '\(tc)' \(add); echo "locked-write=$?"
            # Restart the daemon with the password: it unlocks the same keyring again.
            printf '%s' tokencache-test-keyring | gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null 2>&1
            i=0
            until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; do
              i=$((i + 1)); [ "$i" -le 250 ] || exit 12; sleep 0.02
            done
            '\(tc)' accounts --store '\(store)' --json
            """
            // Started from a clean signal state: the test runner's blocked signals would be
            // inherited by the nested bus, whose prompter activation then never finishes.
            let resetSignals = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGCHLD, signal.SIGPIPE)]; os.execv(sys.argv[1], sys.argv[1:])"
            let locked = try CLIProcess.runProcess("/usr/bin/python3", ["-c", resetSignals, PythonPeer.repositoryRoot.appendingPathComponent("scripts/with-keyring.sh").path, "/bin/sh", "-c", script])
            #expect(locked.status == 0, "\(locked.stdout) \(locked.stderr)")
            #expect(locked.stdout.contains("locked-read=69"))
            #expect(locked.stdout.contains("locked-write=69"))
            #expect(locked.stdout.contains("headless.tenant"), "the item written before locking must survive")
            #expect(locked.stderr.contains("locked"))
            // Nothing fell back to a plaintext file.
            let size = (try? FileManager.default.attributesOfItem(atPath: signal)[.size] as? Int) ?? 0
            #expect(size == 0)
        }
    }
}

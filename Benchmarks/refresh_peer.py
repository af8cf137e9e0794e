"""Benchmarks/refresh.sh's driver, and its MSAL Python peer: N processes started together,
all asking for the same user's access token, which has expired, against the local identity
server.

Usage: python refresh_peer.py run TOKENCACHE HTTP_BASE TLS_BASE CA_FILE FOLDER N [N ...]
           for each N: ours on a file: store, ours on a sqlite: store, and MSAL Python with
           msal-extensions on a file; one JSON line per N on standard output
       python refresh_peer.py msal BARRIER CACHE TLS_BASE CA_FILE SPAWNED
           one MSAL Python process (started by run)

Before each case the user signs in afresh (MSAL Python's password flow into a new file
through msal-extensions) while the server hands out access tokens that live 120 s, inside
MSAL's 5-minute margin, so every silent call must refresh; then the server goes back to
3600 s, so the first refresh yields a token the other processes can use. The sqlite: store is
a `tokencache copy` of that file. The server's record of requests is cleared before the N
processes start, and read after they end.

The common start is a barrier: the driver holds an exclusive flock on a file while the N
processes start and block on a shared lock of it, and releases it once /proc/locks shows all
N waiting. Ours block in flock(1) and then exec `tokencache token`: a process's time runs
from the release to its exit, executable start-up included. The MSAL Python processes start
the interpreter and import msal and msal_extensions before the barrier (that start-up is
measured on its own, from the spawn to the barrier); their time runs from the release to
the token in hand, read inside the process. Every process is killed 60 s after the release.
Nothing here prints a token.
"""
import collections
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import warnings

import msal
import msal_extensions

CLIENT_ID = "b7d1e5a0-0000-4000-8000-00000000be0c"  # a public client; the local server takes any id
SCOPES = ["https://graph.example/User.Read"]
USERNAME, PASSWORD = "ann@contoso.example", "pw-ann-1"
TENANT = "organizations"
TIMEOUT = 60  # seconds after the release before a process is killed


def median(values):
    """The benchmark harness's median and percentile (Benchmarks/TokenCacheBenchmarks)."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else None


def trust(ca_file):
    # requests lets these variables override a session's own `verify`.
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = ca_file
    # MSAL Python asks https://HOST/common/userrealm/ before a password sign-in; the local
    # server has none (as in Tests/Interop/msal_scenario.py).
    msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")


def application(cache_path, tls_base, ca_file):
    cache = msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(cache_path))
    return msal.PublicClientApplication(CLIENT_ID, authority=f"{tls_base}/{TENANT}", token_cache=cache, verify=ca_file,
                                        instance_discovery=False)


# ---------------------------------------------------------------------------------------------
# One MSAL Python process.

def peer(barrier, cache_path, tls_base, ca_file, spawned):
    trust(ca_file)
    ready = time.time()
    with open(barrier, encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        release = float(handle.read())
    report = {"startup_s": ready - float(spawned)}
    try:
        app = application(cache_path, tls_base, ca_file)
        accounts = app.get_accounts()
        # acquire_token_silent() is this call with its error dropped: the same decisions.
        result = app.acquire_token_silent_with_error(SCOPES, accounts[0]) if len(accounts) == 1 else None
        report["seconds"] = time.time() - release
        if result and "access_token" in result:
            report.update(exit=0, source=result.get("token_source"))
        else:
            report.update(exit=3, error=(result or {}).get("error") or ("%d accounts" % len(accounts) if len(accounts) != 1 else "no token"))
    except Exception as error:  # noqa: BLE001 - reported, never with a token: the type and the start of the message
        report.update(exit=1, error="%s: %s" % (type(error).__name__, str(error)[:100]))
    print(json.dumps(report), flush=True)
    sys.exit(report["exit"])


# ---------------------------------------------------------------------------------------------
# The driver.

class Server:
    def __init__(self, http_base):
        self.base = http_base

    def call(self, what, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/_control/{what}", data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)


def seed(server, cache_path, tls_base, ca_file):
    """A fresh sign-in into `cache_path` whose access token is due for a refresh."""
    server.call("config", {"expires_in": 120})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the password flow is deprecated, and fine for a test
            result = application(cache_path, tls_base, ca_file).acquire_token_by_username_password(USERNAME, PASSWORD, SCOPES)
    finally:
        server.call("config", {"expires_in": 3600})
    if "access_token" not in result:
        sys.exit("refresh: the sign-in that seeds the cache failed: %s" % result.get("error"))


def waiting_on(path):
    """How many lock requests are blocked on `path` (None when /proc/locks cannot be read)."""
    inode = ":%d" % os.stat(path).st_ino
    try:
        with open("/proc/locks", encoding="utf-8") as handle:
            return sum(1 for line in handle if "->" in line.split() and line.split()[-3].endswith(inode))
    except OSError:
        return None


def started_together(commands, barrier, case):
    """Runs `commands` released at once; returns the release time and per-process results."""
    gate = open(barrier, "w", encoding="utf-8")
    fcntl.flock(gate, fcntl.LOCK_EX)
    processes = []
    try:
        for index, command in enumerate(commands):
            with open(os.path.join(case, "%d.out" % index), "wb") as out, open(os.path.join(case, "%d.err" % index), "wb") as err:
                argv = command(time.time())
                processes.append(subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True))
        # Release once every process waits on the barrier (or after 60 s, or at a guess
        # where /proc/locks cannot be read).
        deadline = time.monotonic() + 60
        ready = waiting_on(barrier)
        while ready is not None and ready < len(commands) and time.monotonic() < deadline:
            time.sleep(0.01)
            ready = waiting_on(barrier)
        if ready is None:
            time.sleep(1 + 0.05 * len(commands))
        release, release_clock = time.time(), time.monotonic()
        gate.write(repr(release))
        gate.flush()
        fcntl.flock(gate, fcntl.LOCK_UN)
        ended = [None] * len(processes)

        def wait(index):
            processes[index].wait()
            ended[index] = time.monotonic() - release_clock

        waiters = [threading.Thread(target=wait, args=(i,), daemon=True) for i in range(len(processes))]
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join(max(0, release_clock + TIMEOUT - time.monotonic()))
        killed = 0
        for index, process in enumerate(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                killed += 1
        for waiter in waiters:
            waiter.join()
    finally:
        gate.close()
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    results = []
    for index, process in enumerate(processes):
        with open(os.path.join(case, "%d.out" % index), encoding="utf-8", errors="replace") as handle:
            out = handle.read()
        with open(os.path.join(case, "%d.err" % index), encoding="utf-8", errors="replace") as handle:
            err = handle.read().strip().splitlines()
        # The error's first line (ids and times, which differ between processes, come after).
        results.append({"exit": process.returncode, "exit_s": ended[index], "out": out, "err": err[0][:200] if err else None})
    return ready, killed, results


def summarize(server, n, ready, killed, processes):
    """What the server saw and how the processes fared; times of the processes that got a token."""
    requests = server.call("requests")
    refreshes = sum(1 for r in requests if r.get("endpoint") == "token" and r.get("grant_type") == "refresh_token")
    exits = collections.Counter(str(p["exit"]) for p in processes)
    sources = collections.Counter(p["source"] for p in processes if p.get("source"))
    errors = collections.Counter(p["error"] for p in processes if p.get("error") and p["exit"] != 0)
    times = [p["seconds"] for p in processes if p["exit"] == 0]
    case = {"processes": n, "ready_at_release": ready, "killed": killed,
            "refresh_requests": refreshes, "token_requests": sum(1 for r in requests if r.get("endpoint") == "token"),
            "exited_0": exits.get("0", 0), "exit_codes": dict(sorted(exits.items())), "token_sources": dict(sources),
            "errors": dict(errors.most_common(5)),
            "median_s": median(times), "p99_s": percentile(times, 0.99), "max_s": max(times) if times else None,
            "all_s": max(times) if len(times) == n else None,
            "exit_median_s": median([p["exit_s"] for p in processes if p["exit_s"] is not None])}
    startups = [p["startup_s"] for p in processes if p.get("startup_s") is not None]
    if startups:
        case["startup_median_s"] = median(startups)
        case["startup_max_s"] = max(startups)
    return case


def run_ours(server, tokencache, http_base, tls_base, ca_file, case, n, kind):
    cache = os.path.join(case, "cache.json")
    seed(server, cache, tls_base, ca_file)
    spec = "file:" + cache
    if kind == "sqlite":
        spec = "sqlite:" + os.path.join(case, "cache.db")
        subprocess.run([tokencache, "copy", "--from", "file:" + cache, "--to", spec], check=True, stdout=subprocess.DEVNULL)
    server.call("reset", {})
    barrier = os.path.join(case, "barrier")
    # flock(1) waits for the release on descriptor 9, then the shell becomes tokencache.
    argv = ["sh", "-c", 'exec 9<"$0"; flock -s 9; exec "$@" 9<&-', barrier, tokencache, "token", "--store", spec,
            "--client-id", CLIENT_ID, "--authority", f"{http_base}/{TENANT}", "--allow-loopback-http",
            "--scopes", " ".join(SCOPES), "--json"]
    ready, killed, results = started_together([lambda _spawned: argv] * n, barrier, case)
    processes = []
    for r in results:
        process = {"exit": r["exit"], "exit_s": r["exit_s"], "seconds": r["exit_s"], "error": r["err"]}
        try:
            process["source"] = json.loads(r["out"])["token_source"]
        except (ValueError, KeyError, TypeError):
            pass
        processes.append(process)
    return summarize(server, n, ready, killed, processes)


def run_msal(server, tls_base, ca_file, case, n):
    cache = os.path.join(case, "cache.json")
    seed(server, cache, tls_base, ca_file)
    server.call("reset", {})
    barrier = os.path.join(case, "barrier")

    def command(spawned):
        return [sys.executable, "-u", os.path.abspath(__file__), "msal", barrier, cache, tls_base, ca_file, repr(spawned)]

    ready, killed, results = started_together([command] * n, barrier, case)
    processes = []
    for r in results:
        try:
            process = json.loads(r["out"].strip().splitlines()[-1])
        except (ValueError, IndexError):
            process = {"error": r["err"] or "no report"}
        process.update(exit=r["exit"], exit_s=r["exit_s"])
        processes.append(process)
    return summarize(server, n, ready, killed, processes)


def drive(tokencache, http_base, tls_base, ca_file, folder, counts):
    trust(ca_file)
    server = Server(http_base)
    for n in counts:
        line = {"processes": n}
        for name, kind in (("ours_file", "file"), ("ours_sqlite", "sqlite"), ("msal", None)):
            case = os.path.join(folder, "%s-%d" % (name, n))
            os.makedirs(case)
            print("benchmark: %d process%s refreshing at once: %s" % (n, "" if n == 1 else "es", name), file=sys.stderr, flush=True)
            if kind:
                line[name] = run_ours(server, tokencache, http_base, tls_base, ca_file, case, n, kind)
            else:
                line[name] = run_msal(server, tls_base, ca_file, case, n)
        print(json.dumps(line), flush=True)


def main(argv):
    # A terminated driver still ends its processes (they run in sessions of their own).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if len(argv) >= 8 and argv[1] == "run":
        drive(argv[2], argv[3], argv[4], argv[5], argv[6], [int(n) for n in argv[7:]])
    elif len(argv) == 7 and argv[1] == "msal":
        peer(*argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
